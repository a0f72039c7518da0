import { DEFAULT_ROUNDS } from '@rewind/bench-kit';
import { STRATEGIES, type StrategyName } from '@rewind/solver';
import { EXIT, formatBytes, parseChoice, parseCount, parseList, parseMemory, UsageError } from '../args.js';
import { LIMITS } from '../limits.js';
import type { BenchFile } from '../report.js';
import { BACKENDS } from '../runners.js';
import { type BenchPart, bench, benchMachine } from '../train.js';
import { type Command, type OptionSpec, str } from './command.js';
import { MODEL_OPTIONS, modelSpec, readText } from './model.js';

export const benchCommand: Command = {
  name: 'bench',
  summary: 'measure memory and time of store-all and the planners on a backend, with their spread',
  usage: 'rewind bench [options]',
  description:
    'Measures peak checkpoint memory and time per iteration of store-all and other strategies, for each backend,\n' +
    "sequence length and budget given, next to the cost model's predictions. The strategies run in interleaved\n" +
    'rounds (every round samples one batch and runs every schedule on it, after one warm-up round); times are\n' +
    'medians over the rounds with their min-max, time ratios the median of the per-round ratios to store-all.\n' +
    'Runs during which other processes took more than a quarter of a core are counted, and left out when 3 or\n' +
    'more clean runs remain.\n' +
    'Interrupted (Ctrl-C), it keeps the rounds that completed, writes them and exits 130.',
  options: [
    ...MODEL_OPTIONS.map((o): OptionSpec => {
      // Backends and lengths take lists here: every combination is measured.
      if (o.name === 'backend') {
        return {
          ...o,
          value: 'B,B',
          help: `one or more of ${BACKENDS.join(', ')}, side by side (default tfjs-wasm)`,
        };
      }
      if (o.name === 'steps') {
        return {
          ...o,
          value: 'T,T',
          help: `one or more sequence lengths, 1 to ${LIMITS.trainSteps} (default 1000)`,
        };
      }
      return o;
    }),
    {
      name: 'budgets',
      type: 'string' as const,
      value: 'P,P',
      help: 'budgets as shares of store-all memory in percent, > 0 and <= 100 (default 5)',
    },
    {
      name: 'strategies',
      type: 'string' as const,
      value: 'S,S',
      help: 'strategies besides store-all (default chen-sqrt,hsm,ism,msm)',
    },
    {
      name: 'rounds',
      type: 'string' as const,
      value: 'N',
      help: `interleaved timed rounds, 1 to ${LIMITS.rounds} (default ${DEFAULT_ROUNDS})`,
    },
    {
      name: 'out',
      type: 'string' as const,
      value: 'FILE',
      help: "write the measurements for 'rewind report --bench FILE' (atomically)",
    },
    { name: 'json', type: 'boolean' as const, help: 'print the measurements as JSON' },
  ],
  keepsPartialResults: true,
  async run({ io, values }) {
    // Validate every backend, sequence length, budget, file and output path of the sweep before any work.
    const backends = parseList('backend', str(values, 'backend') ?? 'tfjs-wasm');
    const stepsList = parseList('steps', str(values, 'steps') ?? '1000');
    const specs = backends.flatMap((backend) =>
      stepsList.map((steps) => modelSpec(values, { steps: 1000, batch: 32, hidden: 256 }, backend, steps)),
    );
    const strategies = parseList('strategies', str(values, 'strategies') ?? 'chen-sqrt,hsm,ism,msm').map(
      (s) => parseChoice<StrategyName>('strategies', s, STRATEGIES),
    );
    const percents = parseList('budgets', str(values, 'budgets') ?? '5').map((p) => {
      const m = parseMemory(p.endsWith('%') ? p : `${p}%`, '--budgets');
      if (m.kind !== 'percent')
        throw new UsageError('E_NUMBER', `--budgets: ${JSON.stringify(p)} is not a percentage`);
      return m.percent;
    });
    const rounds = parseCount('rounds', str(values, 'rounds'), DEFAULT_ROUNDS, { max: LIMITS.rounds });
    const out = str(values, 'out');
    if (out !== undefined) await io.checkOutput(out, 'file');
    const text = await readText(io, values, Math.max(...specs.map((s) => s.steps)));
    const aborted = (): boolean => io.signal?.aborted === true;
    const parts: BenchPart[] = [];
    for (const spec of specs) {
      if (aborted()) break;
      try {
        parts.push(await bench(io, spec, strategies, percents, rounds, text));
      } catch (e) {
        // Interrupted before a round of this case completed: keep the cases that finished.
        if (aborted() && e instanceof RangeError) break;
        throw e;
      }
    }
    const interrupted = aborted();
    if (parts.length === 0) {
      io.stderr.write('rewind bench: interrupted before a round completed; nothing was written\n');
      return EXIT.interrupted;
    }
    const result: BenchFile = { machine: benchMachine(parts), runs: parts.flatMap((p) => p.runs) };
    if (out !== undefined) await io.writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    if (interrupted) {
      io.stderr.write(
        `rewind bench: interrupted; kept ${parts.length} of ${specs.length} backend and length cases, ${Math.min(...parts.map((p) => p.rounds))} or more rounds each${out === undefined ? '' : ` (written to ${out})`}\n`,
      );
    }
    if (values['json'] === true) {
      io.stdout.write(`${JSON.stringify(result)}\n`);
      return interrupted ? EXIT.interrupted : EXIT.ok;
    }
    const first = specs[0]!;
    io.stdout.write(
      `${result.machine}\n${first.cell.toUpperCase()}, B=${first.batch}, H=${first.hidden}; medians over ${rounds} interleaved rounds (min-max); ratios against store-all of the same backend and T, measured (predicted)\n\n`,
    );
    io.stdout.write(
      `${'backend'.padEnd(12)}${'T'.padStart(7)} ${'strategy'.padEnd(12)}${'budget'.padStart(7)}${'checkpoints'.padStart(13)}${'memory'.padStart(18)}${'ms/iter (min-max)'.padStart(20)}${'time (min-max)'.padStart(22)}${'predicted'.padStart(11)}${'overhead'.padStart(10)}\n`,
    );
    for (const r of result.runs) {
      const m = r.measured;
      const ms =
        m.msSpread === undefined ? '' : ` (${m.msSpread.min.toFixed(0)}-${m.msSpread.max.toFixed(0)})`;
      const tr =
        m.timeRatioSpread === undefined
          ? ''
          : ` (${m.timeRatioSpread.min.toFixed(2)}-${m.timeRatioSpread.max.toFixed(2)})`;
      io.stdout.write(
        `${r.backend.padEnd(12)}${String(r.steps).padStart(7)} ${r.strategy.padEnd(12)}${`${r.budgetPercent}%`.padStart(7)}${formatBytes(m.peakCheckpointBytes).padStart(13)}` +
          `${`${(100 * m.memoryRatio).toFixed(2)}% (${(100 * r.predicted.memoryRatio).toFixed(2)}%)`.padStart(18)}` +
          `${`${m.msPerIteration.toFixed(0)}${ms}`.padStart(20)}${`${m.timeRatio.toFixed(3)}x${tr}`.padStart(22)}` +
          `${`${r.predicted.timeRatio.toFixed(3)}x`.padStart(11)}${`${(100 * (m.overheadShare ?? 0)).toFixed(2)}%`.padStart(10)}\n`,
      );
    }
    const contaminated = result.runs.reduce((n, r) => n + (r.measured.contaminatedRounds ?? 0), 0);
    if (contaminated > 0) {
      io.stdout.write(
        `\n${contaminated} runs saw other processes take more than a quarter of a core; they are left out of a row's statistics where 3 or more clean runs remain, else kept (read such rows with care)\n`,
      );
    }
    return interrupted ? EXIT.interrupted : EXIT.ok;
  },
};
