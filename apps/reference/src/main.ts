import { parseArgs } from 'node:util';
import {
  contentHash,
  decodeBinary,
  decodeJson,
  encodeBinary,
  encodeJson,
  type Policy,
  PolicyError,
  verify,
} from '@rewind/policy';
import {
  type FrontierPoint,
  frontier,
  type MemorySpec,
  type PlanRequest,
  plan,
  predict,
  SolverError,
  STRATEGIES,
  type StrategyName,
} from '@rewind/solver';
import {
  formatBytes,
  type MemoryArg,
  parseCount,
  parseMemory,
  parseReal,
  parseStateBytes,
  UsageError,
} from './args.js';
import * as checkCell from './commands/check-cell.js';
import { type Io, Progress } from './io.js';
import { asciiChart } from './plot.js';
import {
  type BenchFile,
  type Figure,
  type ReportInput,
  renderSvg,
  reportFigures,
  reportHtml,
  type TrainFile,
} from './report.js';
import {
  BACKENDS,
  type BackendName,
  CELLS,
  type CellName,
  createRunner,
  type ModelSpec,
  RunnerError,
  type StepOutcome,
} from './runners.js';
import {
  type BenchPart,
  bench,
  benchMachine,
  mobyDick,
  parseSparsity,
  planFor,
  storeAllBytes,
  train,
  trainLoop,
} from './train.js';

/** Exit codes of the `rewind` command line. */
export const EXIT = {
  ok: 0,
  /** The policy is invalid or failed verification. */
  invalid: 1,
  /** Bad usage: unknown command or option, malformed value. */
  usage: 2,
  /** The memory budget is below the minimum any schedule of the strategy needs. */
  infeasible: 3,
  /** Anything else (I/O errors). */
  failure: 4,
} as const;

const HELP: Readonly<Record<string, string>> = {
  main: `rewind: memory-efficient backpropagation through time

Usage: rewind <command> [options]

Commands:
  plan       plan the optimal schedule for a sequence length and memory budget, write a policy
  cost       predict forwards, memory and time of a strategy without writing a policy
  verify     verify a policy file (JSON or binary) and print its totals
  frontier   the memory/compute trade-off of every strategy for one sequence length
  demo       a short end-to-end run on the built-in defaults
  check-cell check a user cell's ONNX backward against finite differences of its forward

Run 'rewind <command> --help' for a command's options.

Exit codes: 0 success, 1 invalid policy, 2 usage error, 3 budget below the minimum, 4 other failure.`,
  plan: `Usage: rewind plan --steps T --memory M [options]

Options:
  --steps T            sequence length (required)
  --memory M           budget: slots (120), bytes with a unit (64MiB, needs --state-bytes), or a share of
                       the store-all memory (5%) (required)
  --strategy S         ${STRATEGIES.join(' | ')} (default auto)
  --alpha A            internal-state size over hidden-state size, >= 1 (default 1)
  --backward-cost B    cost of a backward step in forward steps (default 2)
  --state-bytes H[:I]  bytes of a hidden (and internal) checkpoint; I defaults to ceil(H * alpha)
  --format F           json | binary (default json)
  --out FILE           write the policy there instead of standard output`,
  cost: `Usage: rewind cost --steps T --memory M [options] [--json]

Predicts the cost of a strategy without writing the policy. Takes the options of 'rewind plan';
--json prints one JSON object: strategy, steps, memory, forwards, backwards, peakMemory, timeRatio, ...`,
  verify: `Usage: rewind verify FILE|- [--json]

Reads a policy (JSON or binary, detected from its first bytes; '-' reads standard input), validates
and replays it, and prints what was counted, or the first error with its code and path.
Exits 1 if the policy is invalid.`,
  frontier: `Usage: rewind frontier --steps T [--alpha A] [--backward-cost B] [--strategies S,S] [--points N] [--json|--csv]

The memory/compute frontier: the cost of each strategy as a function of the memory budget.`,
  train: `Usage: rewind train [options]

Trains a character-level language model on Moby-Dick (bundled) under a memory budget, with a progress bar
(loss, speed, checkpoint memory), and prints a summary.

Options:
  --backend B        ${BACKENDS.join(' | ')} (default tfjs-wasm)
  --cell C           ${CELLS.join(' | ')} (default lstm)
  --steps T          sequence length (default 1000)
  --memory M         checkpoint budget: a share of store-all (5%), bytes (64MiB) or slots (default 5%)
  --strategy S       planner (default msm)
  --batch B          sequences per batch (default 32)
  --hidden H         hidden size (default 256)
  --iterations N     training steps (default 20)
  --learning-rate R  Adam step size (default 0.003)
  --clip C           global gradient-norm clipping (default 5)
  --sparsity S       sparsified backward: target share of zeroed gate gradients, e.g. 0.8 (default off)
  --seed N           seed of the weights and batches (default 1)
  --text FILE        train on this text instead of Moby-Dick
  --json             print the summary as one JSON object
  --json-out FILE    also write the loss curve and summary for 'rewind report --train FILE'`,
  bench: `Usage: rewind bench [options]

Measures peak checkpoint memory and time per iteration of store-all and other strategies, for each backend,
sequence length and budget given, in one run (the strategies interleaved), next to the cost model's predictions.

Options:
  --backend B,B      one or more of ${BACKENDS.join(', ')}, side by side (default tfjs-wasm)
  --cell C           ${CELLS.join(' | ')} (default lstm)
  --steps T,T        one or more sequence lengths (default 1000)
  --budgets P,P      budgets as shares of store-all memory in percent (default 5)
  --strategies S,S   strategies besides store-all (default chen-sqrt,hsm,ism,msm)
  --batch B, --hidden H, --seed N   the model (defaults 32, 256, 1)
  --iterations N     timed iterations per case (default 2)
  --out FILE         write the measurements for 'rewind report --bench FILE'
  --json             print the measurements as JSON`,
  report: `Usage: rewind report [--out DIR] [--steps T] [--alpha A] [--backward-cost B] [--bench FILE] [--train FILE]...

Writes DIR/report.html (self-contained) and one SVG per figure: the memory/compute frontier per strategy
(predicted, with measured points from a 'rewind bench --out' file), the headline point, the memory-over-time
profile of the msm policy at 5%, loss curves and the sparsity trade-off from 'rewind train --json-out' files.
Defaults: --out report, --steps 1000, --alpha 4.5, --backward-cost 2.`,
  demo: `Usage: rewind demo [--iterations N] [--steps T] [--batch B] [--hidden H]

About a minute on a CPU: plans the schedules of a character-level LSTM (tfjs, wasm) for 500-character
sequences of Moby-Dick at 5% of the checkpoint memory of standard BPTT, trains it under that budget
(default 40 iterations) so that the loss falls, and measures both schedules on one batch.`,
  'check-cell': checkCell.HELP,
};

type Values = Record<string, string | boolean | string[] | undefined>;

function options(
  args: string[],
  spec: Record<string, 'string' | 'boolean' | 'strings'>,
): { values: Values; positionals: string[] } {
  const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    help: { type: 'boolean' },
  };
  for (const [name, type] of Object.entries(spec)) {
    config[name] = type === 'strings' ? { type: 'string', multiple: true } : { type };
  }
  try {
    const { values, positionals } = parseArgs({
      args,
      options: config,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (e) {
    throw new UsageError('E_OPTION', (e as Error).message);
  }
}

const str = (v: Values, key: string): string | undefined =>
  typeof v[key] === 'string' ? (v[key] as string) : undefined;

const PLAN_OPTIONS = {
  steps: 'string',
  memory: 'string',
  strategy: 'string',
  alpha: 'string',
  'backward-cost': 'string',
  'state-bytes': 'string',
  format: 'string',
  out: 'string',
  json: 'boolean',
} as const;

/** Build the solver request from plan/cost options. */
export function planRequest(v: Values): PlanRequest {
  const steps = parseCount('steps', str(v, 'steps'));
  const alpha = parseReal('alpha', str(v, 'alpha'), 1, 1);
  const backwardCost = parseReal('backward-cost', str(v, 'backward-cost'), 2, 0);
  const strategyText = str(v, 'strategy') ?? 'auto';
  if (!STRATEGIES.includes(strategyText as StrategyName)) {
    throw new UsageError(
      'E_STRATEGY',
      `--strategy ${JSON.stringify(strategyText)} is not one of ${STRATEGIES.join(', ')}`,
    );
  }
  const memoryText = str(v, 'memory');
  if (memoryText === undefined) throw new UsageError('E_MISSING', '--memory is required');
  const memory: MemoryArg = parseMemory(memoryText);
  const stateBytesText = str(v, 'state-bytes');
  const stateBytes = stateBytesText === undefined ? undefined : parseStateBytes(stateBytesText, alpha);
  const storeAllSlots = 1 + steps * alpha;
  let spec: MemorySpec;
  if (memory.kind === 'bytes') {
    if (stateBytes === undefined) {
      throw new UsageError('E_STATE_BYTES', `--memory ${memoryText} is in bytes: give --state-bytes too`);
    }
    spec = { bytes: memory.bytes, stateBytes };
  } else {
    const slots = memory.kind === 'slots' ? memory.slots : (memory.percent / 100) * storeAllSlots;
    spec =
      stateBytes === undefined ? { slots } : { bytes: Math.floor(slots * stateBytes.hidden), stateBytes };
  }
  return { steps, memory: spec, strategy: strategyText as StrategyName, costModel: { alpha, backwardCost } };
}

function looksBinary(bytes: Uint8Array): boolean {
  return bytes[0] === 0x52 && bytes[1] === 0x57 && bytes[2] === 0x50 && bytes[3] === 0x4c;
}

/**
 * Skip the lines a package-manager script runner prints before a script's own output (blank lines and
 * lines starting with '>'), so that `pnpm rewind plan ... | pnpm rewind verify -` works as typed.
 */
export function skipRunnerBanner(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x0a || bytes[i] === 0x3e)) {
    if (bytes[i] === 0x3e) {
      while (i < bytes.length && bytes[i] !== 0x0a) i++;
    }
    i++;
  }
  return i === 0 ? bytes : bytes.subarray(Math.min(i, bytes.length));
}

/** Decode a policy in either encoding. */
export function decodeAny(bytes: Uint8Array): Policy {
  return looksBinary(bytes) ? decodeBinary(bytes) : decodeJson(bytes);
}

async function cmdPlan(args: string[], io: Io): Promise<number> {
  const { values } = options(args, PLAN_OPTIONS);
  if (values['help'] === true) return help(io, 'plan');
  const request = planRequest(values);
  const format = str(values, 'format') ?? 'json';
  if (format !== 'json' && format !== 'binary') {
    throw new UsageError('E_FORMAT', `--format ${JSON.stringify(format)} is not json or binary`);
  }
  const out = str(values, 'out');
  if (format === 'binary' && out === undefined && io.stdout.isTTY === true) {
    throw new UsageError(
      'E_TTY',
      'refusing to write a binary policy to a terminal: use --out FILE or a pipe',
    );
  }
  const policy = plan(request);
  const data = format === 'json' ? `${encodeJson(policy)}\n` : encodeBinary(policy);
  if (out === undefined) io.stdout.write(data);
  else {
    await io.writeFile(out, data);
    const t = policy.totals;
    io.stderr.write(
      `wrote ${out}: ${policy.strategy}, T=${policy.steps}, ${t.forwards} forwards, peak ${t.peakSlots} slots, ${policy.instructions.length} instructions, ${data.length} bytes\n`,
    );
  }
  return EXIT.ok;
}

async function cmdCost(args: string[], io: Io): Promise<number> {
  const { values } = options(args, PLAN_OPTIONS);
  if (values['help'] === true) return help(io, 'cost');
  const request = planRequest(values);
  const p = predict(request);
  const budgetSlots = 'slots' in request.memory ? request.memory.slots : undefined;
  const summary = {
    strategy: p.strategy,
    steps: p.steps,
    memory: budgetSlots ?? null,
    memoryBytes: 'bytes' in request.memory ? request.memory.bytes : null,
    forwards: p.forwards,
    backwards: p.backwards,
    peakMemory: p.peakSlots,
    peakBytes: p.peakBytes ?? null,
    time: p.time,
    timeRatio: p.timeRatio,
    memoryRatio: p.memoryRatio,
  };
  if (values['json'] === true) {
    io.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    const rows: [string, string][] = [
      ['strategy', String(p.strategy)],
      ['steps', String(p.steps)],
      ['forwards', `${p.forwards} (store-all: ${p.steps})`],
      ['backwards', String(p.backwards)],
      [
        'peak memory',
        `${round(p.peakSlots)} slots${p.peakBytes === undefined ? '' : ` (${formatBytes(p.peakBytes)})`}`,
      ],
      ['memory vs store-all', `${(100 * p.memoryRatio).toFixed(2)}%`],
      ['time vs store-all', `${p.timeRatio.toFixed(3)}x`],
    ];
    for (const [k, val] of rows) io.stdout.write(`${k.padEnd(20)} ${val}\n`);
  }
  return EXIT.ok;
}

async function cmdVerify(args: string[], io: Io): Promise<number> {
  const { values, positionals } = options(args, { json: 'boolean' });
  if (values['help'] === true) return help(io, 'verify');
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) {
    throw new UsageError('E_MISSING', 'rewind verify takes one FILE (or - for standard input)');
  }
  const bytes = file === '-' ? skipRunnerBanner(await io.readStdin()) : await io.readFile(file);
  const json = values['json'] === true;
  let policy: Policy;
  try {
    policy = decodeAny(bytes);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    return reportInvalid(io, json, {
      code: e.code,
      path: e.path,
      message: e.message,
      issues: e.issues.length,
    });
  }
  const report = verify(policy, { profile: false });
  if (!report.ok) {
    const i = report.issue;
    return reportInvalid(io, json, {
      code: i.code,
      path: i.path,
      message: `${i.code} at ${i.path}: ${i.message}`,
    });
  }
  const c = report.counted;
  const result = {
    ok: true,
    format: looksBinary(bytes) ? 'binary' : 'json',
    strategy: policy.strategy,
    steps: policy.steps,
    instructions: policy.instructions.length,
    forwards: c.forwards,
    backwards: c.backwards,
    peakSlots: c.peakSlots,
    peakBytes: c.peakBytes ?? null,
    budgetSlots: policy.budget.slots,
    hash: contentHash(policy),
  };
  if (json) io.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    io.stdout.write(
      `valid ${result.format} policy: ${policy.strategy}, T=${policy.steps}, ${result.instructions} instructions\n` +
        `  forwards ${c.forwards}, backwards ${c.backwards}, peak ${round(c.peakSlots)} of ${round(policy.budget.slots)} slots` +
        `${c.peakBytes === undefined ? '' : ` (${formatBytes(c.peakBytes)})`}\n  ${result.hash}\n`,
    );
  }
  return EXIT.ok;
}

function reportInvalid(
  io: Io,
  json: boolean,
  e: { code: string; path: string; message: string; issues?: number },
): number {
  if (json) io.stdout.write(`${JSON.stringify({ ok: false, ...e })}\n`);
  else io.stderr.write(`invalid policy: ${e.message}\n`);
  return EXIT.invalid;
}

async function cmdFrontier(args: string[], io: Io): Promise<number> {
  const { values } = options(args, {
    steps: 'string',
    alpha: 'string',
    'backward-cost': 'string',
    strategies: 'string',
    points: 'string',
    json: 'boolean',
    csv: 'boolean',
  });
  if (values['help'] === true) return help(io, 'frontier');
  const steps = parseCount('steps', str(values, 'steps'));
  const alpha = parseReal('alpha', str(values, 'alpha'), 1, 1);
  const backwardCost = parseReal('backward-cost', str(values, 'backward-cost'), 2, 0);
  const points = parseCount('points', str(values, 'points'), 40);
  const strategies = (str(values, 'strategies') ?? 'msm,ism,hsm,chen-sqrt').split(',').map((s) => s.trim());
  for (const s of strategies) {
    if (!STRATEGIES.includes(s as StrategyName)) {
      throw new UsageError(
        'E_STRATEGY',
        `--strategies: ${JSON.stringify(s)} is not one of ${STRATEGIES.join(', ')}`,
      );
    }
  }
  // Budgets: log-spaced from 2 slots up to store-all.
  const storeAll = 1 + steps * alpha;
  const budgets: number[] = [];
  for (let i = 0; i < points; i++) {
    const b = Math.round(2 * (storeAll / 2) ** (i / Math.max(1, points - 1)) * 100) / 100;
    if (budgets.at(-1) !== b) budgets.push(b);
  }
  const progress = new Progress(io, 'frontier');
  const rows: FrontierPoint[] = [];
  for (const [i, s] of strategies.entries()) {
    progress.update(i, strategies.length, s);
    rows.push(
      ...frontier({ steps, costModel: { alpha, backwardCost }, strategies: [s as StrategyName], budgets }),
    );
  }
  progress.done();
  if (values['json'] === true) {
    io.stdout.write(`${JSON.stringify({ steps, alpha, backwardCost, points: rows })}\n`);
    return EXIT.ok;
  }
  if (values['csv'] === true) {
    io.stdout.write('strategy,memory,forwards,timeRatio\n');
    for (const r of rows) io.stdout.write(`${r.strategy},${r.budgetSlots},${r.forwards},${r.timeRatio}\n`);
    return EXIT.ok;
  }
  io.stdout.write(`Memory/compute frontier, T=${steps}, alpha=${alpha}, backward cost ${backwardCost}\n`);
  io.stdout.write(
    asciiChart(
      strategies.map((s) => ({
        name: s,
        points: rows
          .filter((r) => r.strategy === s)
          .map((r) => ({ x: r.budgetSlots / storeAll, y: r.timeRatio })),
      })),
      {
        xLabel: 'memory budget, share of store-all (log scale)',
        yLabel: 'time / store-all (log scale)',
        logX: true,
        logY: true,
        formatX: (x) => `${100 * x >= 10 ? (100 * x).toFixed(0) : (100 * x).toPrecision(2)}%`,
      },
    ),
  );
  return EXIT.ok;
}

const MODEL_OPTIONS = {
  backend: 'string',
  cell: 'string',
  steps: 'string',
  batch: 'string',
  hidden: 'string',
  seed: 'string',
  'learning-rate': 'string',
  clip: 'string',
  sparsity: 'string',
  text: 'string',
} as const;

function modelSpec(v: Values, defaults: { steps: number; batch: number; hidden: number }): ModelSpec {
  const backend = str(v, 'backend') ?? 'tfjs-wasm';
  if (!BACKENDS.includes(backend as BackendName)) {
    throw new UsageError(
      'E_BACKEND',
      `--backend ${JSON.stringify(backend)} is not one of ${BACKENDS.join(', ')}`,
    );
  }
  const cell = str(v, 'cell') ?? 'lstm';
  if (!CELLS.includes(cell as CellName)) {
    throw new UsageError('E_CELL', `--cell ${JSON.stringify(cell)} is not one of ${CELLS.join(', ')}`);
  }
  const sparsity = parseSparsity(str(v, 'sparsity'));
  return {
    backend: backend as BackendName,
    cell: cell as CellName,
    steps: parseCount('steps', str(v, 'steps'), defaults.steps),
    batch: parseCount('batch', str(v, 'batch'), defaults.batch),
    hidden: parseCount('hidden', str(v, 'hidden'), defaults.hidden),
    seed: parseCount('seed', str(v, 'seed'), 1),
    learningRate: parseReal('learning-rate', str(v, 'learning-rate'), 0.003, 0),
    clipNorm: parseReal('clip', str(v, 'clip'), 5, 0),
    ...(sparsity === undefined ? {} : { sparsity }),
  };
}

async function corpus(v: Values, io: Io): Promise<string> {
  const file = str(v, 'text');
  if (file === undefined) return mobyDick();
  return new TextDecoder().decode(await io.readFile(file));
}

function strategyArg(text: string): StrategyName {
  if (!STRATEGIES.includes(text as StrategyName)) {
    throw new UsageError('E_STRATEGY', `${JSON.stringify(text)} is not one of ${STRATEGIES.join(', ')}`);
  }
  return text as StrategyName;
}

async function cmdTrain(args: string[], io: Io): Promise<number> {
  const { values } = options(args, {
    ...MODEL_OPTIONS,
    memory: 'string',
    strategy: 'string',
    iterations: 'string',
    json: 'boolean',
    'json-out': 'string',
  });
  if (values['help'] === true) return help(io, 'train');
  const spec = modelSpec(values, { steps: 1000, batch: 32, hidden: 256 });
  const memory = parseMemory(str(values, 'memory') ?? '5%');
  const strategy = strategyArg(str(values, 'strategy') ?? 'msm');
  const iterations = parseCount('iterations', str(values, 'iterations'), 20);
  const { summary, file } = await train(io, spec, memory, strategy, iterations, await corpus(values, io));
  const out = str(values, 'json-out');
  if (out !== undefined) await io.writeFile(out, `${JSON.stringify(file, null, 2)}\n`);
  if (values['json'] === true) {
    io.stdout.write(`${JSON.stringify(summary)}\n`);
    return EXIT.ok;
  }
  const s = summary;
  io.stdout.write(
    `${s.model}, B=${s.batch}, T=${s.steps}, ${s.strategy}, ${s.iterations} iterations\n` +
      `  loss ${s.initialLoss.toFixed(3)} -> ${s.loss.toFixed(3)} nats per character\n` +
      `  ${Math.round(s.tokensPerSecond)} tokens/s; ${s.forwards} forwards (${s.recomputes} recomputed) and ${s.backwards} backwards per iteration\n` +
      `  peak checkpoint memory ${formatBytes(s.peakCheckpointBytes)} of a ${formatBytes(s.budgetBytes)} budget; ` +
      `store-all would hold ${formatBytes(s.storeAllBytes)} (${(100 * s.memoryRatio).toFixed(1)}%)\n` +
      (s.sparsity === null
        ? ''
        : `  sparsified backward: ${(100 * s.sparsity).toFixed(1)}% of gate gradients zero, ${(100 * (s.skippableShare ?? 0)).toFixed(1)}% of backward multiply-accumulates skippable\n`),
  );
  return EXIT.ok;
}

async function cmdBench(args: string[], io: Io): Promise<number> {
  const { values } = options(args, {
    ...MODEL_OPTIONS,
    budgets: 'string',
    strategies: 'string',
    iterations: 'string',
    out: 'string',
    json: 'boolean',
  });
  if (values['help'] === true) return help(io, 'bench');
  const list = (key: string, fallback: string): string[] =>
    (str(values, key) ?? fallback).split(',').map((x) => x.trim());
  // Validate every backend and sequence length of the sweep before any work.
  const specs = list('backend', 'tfjs-wasm').flatMap((backend) =>
    list('steps', '1000').map((steps) =>
      modelSpec({ ...values, backend, steps }, { steps: 1000, batch: 32, hidden: 256 }),
    ),
  );
  const strategies = list('strategies', 'chen-sqrt,hsm,ism,msm').map(strategyArg);
  const percents = list('budgets', '5').map((p) => {
    const v = Number(p.replace(/%$/, ''));
    if (!(v > 0 && v <= 100))
      throw new UsageError('E_NUMBER', `--budgets: ${JSON.stringify(p)} is not a percentage`);
    return v;
  });
  const iterations = parseCount('iterations', str(values, 'iterations'), 2);
  const text = await corpus(values, io);
  const parts: BenchPart[] = [];
  for (const spec of specs) parts.push(await bench(io, spec, strategies, percents, iterations, text));
  const result: BenchFile = { machine: benchMachine(parts), runs: parts.flatMap((p) => p.runs) };
  const out = str(values, 'out');
  if (out !== undefined) await io.writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  if (values['json'] === true) {
    io.stdout.write(`${JSON.stringify(result)}\n`);
    return EXIT.ok;
  }
  const first = specs[0]!;
  io.stdout.write(
    `${result.machine}\n${first.cell.toUpperCase()}, B=${first.batch}, H=${first.hidden}; ratios against store-all of the same backend and T, measured (predicted)\n\n`,
  );
  io.stdout.write(
    `${'backend'.padEnd(12)}${'T'.padStart(7)} ${'strategy'.padEnd(12)}${'budget'.padStart(7)}${'checkpoints'.padStart(13)}${'memory'.padStart(18)}${'ms/iter'.padStart(10)}${'time'.padStart(18)}${'overhead'.padStart(10)}\n`,
  );
  for (const r of result.runs) {
    const m = r.measured;
    io.stdout.write(
      `${r.backend.padEnd(12)}${String(r.steps).padStart(7)} ${r.strategy.padEnd(12)}${`${r.budgetPercent}%`.padStart(7)}${formatBytes(m.peakCheckpointBytes).padStart(13)}` +
        `${`${(100 * m.memoryRatio).toFixed(2)}% (${(100 * r.predicted.memoryRatio).toFixed(2)}%)`.padStart(18)}` +
        `${m.msPerIteration.toFixed(0).padStart(10)}${`${m.timeRatio.toFixed(3)}x (${r.predicted.timeRatio.toFixed(3)}x)`.padStart(18)}` +
        `${`${(100 * (m.overheadShare ?? 0)).toFixed(2)}%`.padStart(10)}\n`,
    );
  }
  return EXIT.ok;
}

async function cmdReport(args: string[], io: Io): Promise<number> {
  const { values } = options(args, {
    out: 'string',
    steps: 'string',
    alpha: 'string',
    'backward-cost': 'string',
    bench: 'string',
    train: 'strings',
  });
  if (values['help'] === true) return help(io, 'report');
  const out = str(values, 'out') ?? 'report';
  const readJson = async <T>(path: string): Promise<T> => {
    const text = new TextDecoder().decode(await io.readFile(path));
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new UsageError('E_INPUT', `${path} is not JSON`);
    }
  };
  const benchPath = str(values, 'bench');
  const trainPaths = Array.isArray(values['train']) ? values['train'] : [];
  const input: ReportInput = {
    steps: parseCount('steps', str(values, 'steps'), 1000),
    alpha: parseReal('alpha', str(values, 'alpha'), 4.5, 1),
    backwardCost: parseReal('backward-cost', str(values, 'backward-cost'), 2, 0),
    ...(benchPath === undefined ? {} : { bench: await readJson<BenchFile>(benchPath) }),
    trains: await Promise.all(trainPaths.map((p) => readJson<TrainFile>(p))),
  };
  const progress = new Progress(io, 'report');
  const figures = reportFigures(input);
  const rendered: { figure: Figure; svg: string }[] = [];
  for (const [i, figure] of figures.entries()) {
    progress.update(i, figures.length, figure.name);
    rendered.push({ figure, svg: await renderSvg(figure) });
  }
  progress.done();
  await io.makeDir(out);
  for (const { figure, svg } of rendered) await io.writeFile(`${out}/${figure.name}.svg`, svg);
  await io.writeFile(`${out}/report.html`, reportHtml(input, rendered));
  io.stdout.write(
    `wrote ${out}/report.html and ${rendered.length} figures: ${rendered.map((r) => `${r.figure.name}.svg`).join(', ')}\n`,
  );
  return EXIT.ok;
}

async function cmdDemo(args: string[], io: Io): Promise<number> {
  const { values } = options(args, {
    iterations: 'string',
    steps: 'string',
    batch: 'string',
    hidden: 'string',
  });
  if (values['help'] === true) return help(io, 'demo');
  const spec: ModelSpec = {
    ...modelSpec(values, { steps: 500, batch: 16, hidden: 128 }),
    learningRate: 0.01,
  };
  const iterations = parseCount('iterations', str(values, 'iterations'), 40);
  const T = spec.steps;
  const runner = await createRunner(spec, mobyDick());
  try {
    const sb = runner.stateBytes;
    const alpha = sb.internal / sb.hidden;
    const all = storeAllBytes(T, sb);
    const budget = Math.floor(0.05 * all);
    io.stdout.write(
      `Rewind demo: a character-level ${runner.description} learns Moby-Dick from sequences of ${T} characters\n` +
        `(batch ${spec.batch}). Standard BPTT keeps ${formatBytes(all)} of checkpoints per pass; the budget here is 5%: ${formatBytes(budget)}.\n\n`,
    );
    // 1. Plan: every strategy at the budget, predicted by the cost model (alpha measured on the tensors).
    const costModel = { alpha, backwardCost: 2 };
    io.stdout.write(`Planned (alpha = ${alpha.toFixed(2)} measured, a backward step = 2 forwards):\n`);
    io.stdout.write(
      `  ${'strategy'.padEnd(14)}${'forwards'.padStart(9)}${'memory'.padStart(9)}${'time'.padStart(9)}\n`,
    );
    for (const strategy of ['store-all', 'chen-sqrt', 'hsm', 'ism', 'msm'] as const) {
      const memory = { bytes: strategy === 'store-all' ? all : budget, stateBytes: sb };
      try {
        const p = predict({ steps: T, memory, strategy, costModel });
        io.stdout.write(
          `  ${strategy.padEnd(14)}${String(p.forwards).padStart(9)}${`${(100 * p.memoryRatio).toFixed(1)}%`.padStart(9)}` +
            `${`${p.timeRatio.toFixed(3)}x`.padStart(9)}\n`,
        );
      } catch (e) {
        if (!(e instanceof SolverError)) throw e;
        io.stdout.write(`  ${strategy.padEnd(14)}does not fit: ${e.message}\n`);
      }
    }
    const policy = planFor(T, sb, budget, 'msm', 2);
    const binary = encodeBinary(policy);
    const back = decodeBinary(binary);
    if (!verify(back, { profile: false }).ok || encodeJson(back) !== encodeJson(policy)) {
      io.stderr.write('demo: the policy did not round-trip and verify\n');
      return EXIT.failure;
    }
    io.stdout.write(
      `  the msm policy: ${policy.instructions.length} instructions, ${binary.length} bytes in binary; decoded and verified\n\n`,
    );
    // 2. Train under the budget.
    io.stdout.write(`Training ${iterations} iterations with msm under ${formatBytes(budget)}:\n`);
    const steps = await trainLoop(io, runner, policy, iterations, 'train');
    const mean = (xs: StepOutcome[]): number => xs.reduce((n, x) => n + x.loss, 0) / xs.length;
    const k = Math.min(3, Math.max(1, Math.floor(steps.length / 3)));
    const before = mean(steps.slice(0, k));
    const after = mean(steps.slice(-k));
    io.stdout.write(
      `  loss ${before.toFixed(3)} -> ${after.toFixed(3)} nats per character (mean of the first and last ${k} iterations)\n\n`,
    );
    // 3. Measure both schedules on the same batch.
    const storeAll = planFor(T, sb, all, 'store-all', 2);
    const a = await runner.step(storeAll, { sameBatch: true });
    const b = await runner.step(policy, { sameBatch: true });
    io.stdout.write(
      'Measured on one batch:\n' +
        `  standard BPTT (store-all): ${formatBytes(a.peakBytes).padStart(10)} of checkpoints, ${a.seconds.toFixed(2)} s\n` +
        `  rewind msm at 5%:          ${formatBytes(b.peakBytes).padStart(10)} of checkpoints, ${b.seconds.toFixed(2)} s\n\n`,
    );
    io.stdout.write(
      `Rewind kept ${((100 * b.peakBytes) / a.peakBytes).toFixed(1)}% of the checkpoint memory of standard BPTT ` +
        `(saving ${(100 * (1 - b.peakBytes / a.peakBytes)).toFixed(1)}%) for ${(b.seconds / a.seconds).toFixed(2)}x the time per iteration, ` +
        `and the loss fell from ${before.toFixed(2)} to ${after.toFixed(2)}.\n`,
    );
    return EXIT.ok;
  } finally {
    await runner.dispose();
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function help(io: Io, topic: string): number {
  io.stdout.write(`${HELP[topic]}\n`);
  return EXIT.ok;
}

const COMMANDS: Readonly<Record<string, (args: string[], io: Io) => Promise<number>>> = {
  plan: cmdPlan,
  cost: cmdCost,
  verify: cmdVerify,
  frontier: cmdFrontier,
  report: cmdReport,
  train: cmdTrain,
  bench: cmdBench,
  demo: cmdDemo,
  'check-cell': checkCell.run,
};

/** Run the command line; returns the exit code. Errors are printed without stack traces. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    return help(io, rest[0] !== undefined && HELP[rest[0]] !== undefined ? rest[0] : 'main');
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    io.stderr.write(`rewind: unknown command ${JSON.stringify(command)}\n\n${HELP['main']}\n`);
    return EXIT.usage;
  }
  try {
    return await run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`rewind ${command}: ${e.message}\n(see 'rewind ${command} --help')\n`);
      return EXIT.usage;
    }
    if (e instanceof SolverError) {
      io.stderr.write(`rewind ${command}: ${e.code}: ${e.message}\n`);
      return e.code === 'E_BUDGET_TOO_SMALL' ? EXIT.infeasible : EXIT.usage;
    }
    if (e instanceof RunnerError) {
      io.stderr.write(`rewind ${command}: ${e.code}: ${e.message}\n`);
      return EXIT.failure;
    }
    if (e instanceof PolicyError) {
      io.stderr.write(`rewind ${command}: ${e.message}\n`);
      return EXIT.invalid;
    }
    const err = e as NodeJS.ErrnoException;
    if (typeof err.code === 'string' && typeof err.message === 'string') {
      io.stderr.write(`rewind ${command}: ${err.message}\n`);
      return EXIT.failure;
    }
    throw e;
  }
}
