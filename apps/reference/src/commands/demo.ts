import { pairedRatio } from '@rewind/bench-kit';
import { EXIT, formatBytes, parseCount } from '../args.js';
import { LIMITS } from '../limits.js';
import { createRunner, type StepOutcome } from '../runners.js';
import {
  budgetBytes,
  measureSchedules,
  mobyDick,
  planFor,
  planTable,
  roundTrip,
  trainLoop,
} from '../train.js';
import { type Command, str } from './command.js';
import { modelSpec } from './model.js';

const DEMO_ROUNDS = 5;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'a short end-to-end run on the built-in defaults (about a minute)',
  usage: 'rewind demo [--iterations N] [--steps T] [--batch B] [--hidden H] [--rounds N]',
  description:
    'About a minute on a CPU: plans the schedules of a character-level LSTM (tfjs, wasm) for 500-character\n' +
    'sequences of Moby-Dick at 5% of the checkpoint memory of standard BPTT, trains it under that budget\n' +
    '(default 40 iterations) so that the loss falls, and measures both schedules on the same batches in\n' +
    'interleaved rounds (median and min-max).',
  options: [
    {
      name: 'iterations',
      type: 'string',
      value: 'N',
      help: `training iterations, 1 to ${LIMITS.iterations} (default 40)`,
    },
    {
      name: 'steps',
      type: 'string',
      value: 'T',
      help: `sequence length, 1 to ${LIMITS.trainSteps} (default 500)`,
    },
    {
      name: 'batch',
      type: 'string',
      value: 'B',
      help: `sequences per batch, 1 to ${LIMITS.batch} (default 16)`,
    },
    { name: 'hidden', type: 'string', value: 'H', help: `hidden size, 1 to ${LIMITS.hidden} (default 128)` },
    {
      name: 'rounds',
      type: 'string',
      value: 'N',
      help: `interleaved rounds of the final measurement, 1 to ${LIMITS.rounds} (default ${DEMO_ROUNDS})`,
    },
  ],
  keepsPartialResults: true,
  async run({ io, values }) {
    const spec = modelSpec(values, { steps: 500, batch: 16, hidden: 128, learningRate: 0.01 });
    const iterations = parseCount('iterations', str(values, 'iterations'), 40, { max: LIMITS.iterations });
    const rounds = parseCount('rounds', str(values, 'rounds'), DEMO_ROUNDS, { max: LIMITS.rounds });
    const T = spec.steps;
    const runner = await createRunner(spec, mobyDick());
    try {
      const sb = runner.stateBytes;
      const alpha = sb.internal / sb.hidden;
      const { bytes: budget, storeAllBytes: all } = budgetBytes({ kind: 'percent', percent: 5 }, T, sb);
      io.stdout.write(
        `Rewind demo: a character-level ${runner.description} learns Moby-Dick from sequences of ${T} characters\n` +
          `(batch ${spec.batch}). Standard BPTT keeps ${formatBytes(all)} of checkpoints per pass; the budget here is 5%: ${formatBytes(budget)}.\n\n`,
      );
      // 1. Plan: every strategy at the budget, predicted by the cost model (alpha measured on the tensors).
      io.stdout.write(`Planned (alpha = ${alpha.toFixed(2)} measured, a backward step = 2 forwards):\n`);
      io.stdout.write(
        `  ${'strategy'.padEnd(14)}${'forwards'.padStart(9)}${'memory'.padStart(9)}${'time'.padStart(9)}\n`,
      );
      for (const row of planTable(T, sb, budget, all)) {
        io.stdout.write(
          row.refused !== undefined
            ? `  ${row.strategy.padEnd(14)}does not fit: ${row.refused}\n`
            : `  ${row.strategy.padEnd(14)}${String(row.forwards).padStart(9)}${`${(100 * (row.memoryRatio ?? 0)).toFixed(1)}%`.padStart(9)}` +
                `${`${(row.timeRatio ?? 0).toFixed(3)}x`.padStart(9)}\n`,
        );
      }
      const policy = planFor(T, sb, budget, 'msm', 2);
      const size = roundTrip(policy);
      io.stdout.write(
        `  the msm policy: ${policy.instructions.length} instructions, ${size} bytes in binary; decoded and verified\n\n`,
      );
      // 2. Train under the budget.
      io.stdout.write(`Training ${iterations} iterations with msm under ${formatBytes(budget)}:\n`);
      const loop = await trainLoop(io, runner, policy, iterations, 'train', spec.learningRate);
      const steps = loop.steps;
      if (loop.interrupted) {
        io.stderr.write(`rewind demo: interrupted after ${steps.length} of ${iterations} iterations\n`);
        return EXIT.interrupted;
      }
      const mean = (xs: StepOutcome[]): number => xs.reduce((n, x) => n + x.loss, 0) / xs.length;
      const k = Math.min(3, Math.max(1, Math.floor(steps.length / 3)));
      const before = mean(steps.slice(0, k));
      const after = mean(steps.slice(-k));
      io.stdout.write(
        `  loss ${before.toFixed(3)} -> ${after.toFixed(3)} nats per character (mean of the first and last ${k} iterations)\n\n`,
      );
      // 3. Measure both schedules on the same batches, in interleaved rounds.
      const storeAll = planFor(T, sb, all, 'store-all', 2);
      const [a, b] = await measureSchedules(
        io,
        runner,
        [
          { name: 'store-all', policy: storeAll },
          { name: 'msm', policy },
        ],
        rounds,
        'measure',
      );
      if (a === undefined || b === undefined) return EXIT.failure;
      const peak = (r: typeof a) => Math.max(...r.samples.map((s) => s.result.peakBytes));
      const ratio = pairedRatio(b, a);
      const sec = (ms: number) => (ms / 1000).toFixed(2);
      io.stdout.write(
        `Measured in ${a.completedRounds} interleaved rounds on the same batches (median, min-max):\n` +
          `  standard BPTT (store-all): ${formatBytes(peak(a)).padStart(10)} of checkpoints, ${sec(a.ms.median)} s (${sec(a.ms.min)}-${sec(a.ms.max)})\n` +
          `  rewind msm at 5%:          ${formatBytes(peak(b)).padStart(10)} of checkpoints, ${sec(b.ms.median)} s (${sec(b.ms.min)}-${sec(b.ms.max)})\n\n`,
      );
      io.stdout.write(
        `Rewind kept ${((100 * peak(b)) / peak(a)).toFixed(1)}% of the checkpoint memory of standard BPTT ` +
          `(saving ${(100 * (1 - peak(b) / peak(a))).toFixed(1)}%) for ${ratio.median.toFixed(2)}x the time per iteration ` +
          `(${ratio.min.toFixed(2)}-${ratio.max.toFixed(2)}x over the rounds), and the loss fell from ${before.toFixed(2)} to ${after.toFixed(2)}.\n`,
      );
      return a.completedRounds < rounds ? EXIT.interrupted : EXIT.ok;
    } finally {
      await runner.dispose();
    }
  },
};
