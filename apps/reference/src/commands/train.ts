import { STRATEGIES, type StrategyName } from '@rewind/solver';
import { EXIT, formatBytes, PERCENT_RANGE, parseChoice, parseCount, parseMemory } from '../args.js';
import { LIMITS } from '../limits.js';
import { train } from '../train.js';
import { type Command, str } from './command.js';
import { MODEL_OPTIONS, modelSpec, readText } from './model.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a character-level language model under a memory budget',
  usage: 'rewind train [options]',
  description:
    'Trains a character-level language model on Moby-Dick (bundled) under a memory budget, with a progress bar\n' +
    '(loss, speed, checkpoint memory, time left), and prints a summary. A loss that is not a finite number\n' +
    'stops training with E_DIVERGED (exit 4). Interrupted (Ctrl-C), it finishes the iteration in progress,\n' +
    'prints and writes the summary of the iterations that finished, and exits 130.',
  options: [
    ...MODEL_OPTIONS,
    {
      name: 'memory',
      type: 'string',
      value: 'M',
      help: `checkpoint budget: ${PERCENT_RANGE} (5%), bytes (64MiB) or slots (default 5%)`,
    },
    {
      name: 'strategy',
      type: 'string',
      value: 'S',
      help: `planner, of ${STRATEGIES.join(', ')} (default msm)`,
    },
    {
      name: 'iterations',
      type: 'string',
      value: 'N',
      help: `training steps, 1 to ${LIMITS.iterations} (default 20)`,
    },
    { name: 'json', type: 'boolean', help: 'print the summary as one JSON object' },
    {
      name: 'json-out',
      type: 'string',
      value: 'FILE',
      help: "also write the loss curve and summary for 'rewind report --train FILE' (atomically)",
    },
  ],
  keepsPartialResults: true,
  async run({ io, values }) {
    // Every option, file and output path is checked before any work.
    const spec = modelSpec(values, { steps: 1000, batch: 32, hidden: 256 });
    const memory = parseMemory(str(values, 'memory') ?? '5%');
    const strategy = parseChoice<StrategyName>('strategy', str(values, 'strategy') ?? 'msm', STRATEGIES);
    const iterations = parseCount('iterations', str(values, 'iterations'), 20, { max: LIMITS.iterations });
    const out = str(values, 'json-out');
    if (out !== undefined) await io.checkOutput(out, 'file');
    const text = await readText(io, values, spec.steps);
    const result = await train(io, spec, memory, strategy, iterations, text);
    if (result.summary === undefined) {
      io.stderr.write('rewind train: interrupted before the first iteration finished; nothing was written\n');
      return EXIT.interrupted;
    }
    const { summary: s, file } = result;
    if (out !== undefined) await io.writeFile(out, `${JSON.stringify(file, null, 2)}\n`);
    if (s.interrupted) {
      io.stderr.write(
        `rewind train: interrupted after ${s.iterations} of ${iterations} iterations; the summary covers those${out === undefined ? '' : ` (written to ${out})`}\n`,
      );
    }
    if (values['json'] === true) io.stdout.write(`${JSON.stringify(s)}\n`);
    else {
      io.stdout.write(
        `${s.model}, B=${s.batch}, T=${s.steps}, ${s.strategy}, ${s.iterations} iterations${s.interrupted ? ` (interrupted; ${iterations} asked for)` : ''}\n` +
          `  loss ${s.initialLoss.toFixed(3)} -> ${s.loss.toFixed(3)} nats per character\n` +
          `  ${Math.round(s.tokensPerSecond)} tokens/s; ${s.forwards} forward steps (${s.recomputedSteps} recomputed: beyond the first pass) and ${s.backwards} backward steps per iteration\n` +
          `  peak checkpoint memory ${formatBytes(s.peakCheckpointBytes)} of a ${formatBytes(s.budgetBytes)} budget; ` +
          `store-all would hold ${formatBytes(s.storeAllBytes)} (${(100 * s.memoryRatio).toFixed(1)}%); ` +
          `the process peaked at ${formatBytes(s.peakRssBytes)} resident\n` +
          (s.sparsity === null
            ? ''
            : `  sparsified backward: ${(100 * s.sparsity).toFixed(1)}% of gate gradients zero, ${(100 * (s.skippableShare ?? 0)).toFixed(1)}% of backward multiply-accumulates skippable\n`),
      );
    }
    return s.interrupted ? EXIT.interrupted : EXIT.ok;
  },
};
