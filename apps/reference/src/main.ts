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

const STRATEGIES: readonly StrategyName[] = [
  'store-all',
  'recompute-all',
  'chen-sqrt',
  'chen-recursive',
  'hsm',
  'ism',
  'msm',
  'auto',
];

const HELP: Readonly<Record<string, string>> = {
  main: `rewind: memory-efficient backpropagation through time

Usage: rewind <command> [options]

Commands:
  plan       plan the optimal schedule for a sequence length and memory budget, write a policy
  cost       predict forwards, memory and time of a strategy without writing a policy
  verify     verify a policy file (JSON or binary) and print its totals
  frontier   the memory/compute trade-off of every strategy for one sequence length
  demo       a short end-to-end run on the built-in defaults

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
  report: `Usage: rewind report [--out DIR] [--steps T] [--alpha A] [--backward-cost B] [--bench FILE] [--train FILE]...

Writes DIR/report.html (self-contained) and one SVG per figure: the memory/compute frontier per strategy
(predicted, with measured points from a 'rewind bench --out' file), the headline point, the memory-over-time
profile of the msm policy at 5%, loss curves and the sparsity trade-off from 'rewind train --json-out' files.
Defaults: --out report, --steps 1000, --alpha 4.5, --backward-cost 2.`,
  demo: `Usage: rewind demo

Plans a schedule for a 1000-step sequence at 5% of the store-all memory, encodes it in both
encodings, decodes and verifies it, and compares it with the other strategies.`,
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
  const { values } = options(args, {});
  if (values['help'] === true) return help(io, 'demo');
  const steps = 1000;
  const alpha = 3;
  const costModel = { alpha, backwardCost: 2 };
  const storeAllSlots = 1 + steps * alpha;
  const budget = 0.05 * storeAllSlots;
  io.stdout.write(
    `Rewind demo: a ${steps}-step sequence, internal state ${alpha}x the hidden state, budget 5% of standard BPTT (${round(budget)} of ${storeAllSlots} slots)\n\n`,
  );
  const started = io.now();
  const policy = plan({ steps, memory: { slots: budget }, strategy: 'msm', costModel });
  const planned = io.now() - started;
  const json = encodeJson(policy);
  const binary = encodeBinary(policy);
  const back = decodeBinary(binary);
  const fromJson = decodeJson(json);
  const report = verify(back, { profile: false });
  if (!report.ok || encodeJson(fromJson) !== json || encodeJson(back) !== json) {
    io.stderr.write('demo: the policy did not round-trip and verify\n');
    return EXIT.failure;
  }
  io.stdout.write(
    `msm policy planned in ${planned.toFixed(1)} ms: ${policy.instructions.length} instructions, ` +
      `${json.length} bytes as JSON, ${binary.length} as binary; round-trips and verifies (${contentHash(policy).slice(0, 19)}...)\n\n`,
  );
  io.stdout.write(
    `${'strategy'.padEnd(16)}${'forwards'.padStart(10)}${'peak slots'.padStart(12)}${'memory'.padStart(9)}${'time'.padStart(9)}\n`,
  );
  for (const strategy of ['store-all', 'chen-sqrt', 'hsm', 'ism', 'msm'] as const) {
    const memory = strategy === 'store-all' ? storeAllSlots : budget;
    try {
      const p = predict({ steps, memory: { slots: memory }, strategy, costModel });
      io.stdout.write(
        `${strategy.padEnd(16)}${String(p.forwards).padStart(10)}${round(p.peakSlots).toString().padStart(12)}` +
          `${`${(100 * p.memoryRatio).toFixed(1)}%`.padStart(9)}${`${p.timeRatio.toFixed(3)}x`.padStart(9)}\n`,
      );
    } catch (e) {
      if (!(e instanceof SolverError)) throw e;
      io.stdout.write(`${strategy.padEnd(16)}  does not fit: ${e.message}\n`);
    }
  }
  const saved = 1 - report.counted.peakSlots / storeAllSlots;
  const p = predict({ steps, memory: { slots: budget }, strategy: 'msm', costModel });
  io.stdout.write(
    `\nmsm saves ${(100 * saved).toFixed(1)}% of the checkpoint memory for ${((p.timeRatio - 1) * 100).toFixed(1)}% more time per iteration.\n`,
  );
  return EXIT.ok;
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
  demo: cmdDemo,
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
