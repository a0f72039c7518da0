/** The model options of `train`, `bench` and `demo`, and the training text. */
import { parseChoice, parseCount, parseReal, UsageError } from '../args.js';
import type { Io } from '../io.js';
import { LIMITS } from '../limits.js';
import { BACKENDS, type BackendName, CELLS, type CellName, type ModelSpec } from '../runners.js';
import { checkText, mobyDick, parseSparsity } from '../train.js';
import { type OptionSpec, str, type Values } from './command.js';

/** The most threads `--threads` takes (tfjs' threaded wasm build starts at most 8). */
const MAX_THREADS = 8;

export const MODEL_OPTIONS: readonly OptionSpec[] = [
  { name: 'backend', type: 'string', value: 'B', help: `${BACKENDS.join(' | ')} (default tfjs-wasm)` },
  { name: 'cell', type: 'string', value: 'C', help: `${CELLS.join(' | ')} (default lstm)` },
  {
    name: 'steps',
    type: 'string',
    value: 'T',
    help: `sequence length, 1 to ${LIMITS.trainSteps} (default 1000)`,
  },
  {
    name: 'batch',
    type: 'string',
    value: 'B',
    help: `sequences per batch, 1 to ${LIMITS.batch} (default 32)`,
  },
  { name: 'hidden', type: 'string', value: 'H', help: `hidden size, 1 to ${LIMITS.hidden} (default 256)` },
  {
    name: 'seed',
    type: 'string',
    value: 'N',
    help: 'seed of the weights and batches, 1 to 2147483647 (default 1)',
  },
  { name: 'learning-rate', type: 'string', value: 'R', help: 'Adam step size, > 0 and <= 1 (default 0.003)' },
  { name: 'clip', type: 'string', value: 'C', help: 'global gradient-norm clipping, > 0 (default 5)' },
  {
    name: 'sparsity',
    type: 'string',
    value: 'S',
    help: 'sparsified backward: target share of zeroed gate gradients in [0, 1), e.g. 0.8 (default off)',
  },
  {
    name: 'threads',
    type: 'string',
    value: 'N',
    help: 'threads of the CPU backends (tfjs-wasm, ort-cpu), 1 to 8 (default: one per core, at most 8)',
  },
  {
    name: 'text',
    type: 'string',
    value: 'FILE',
    help: `train on this UTF-8 text (at most ${LIMITS.textBytes / 2 ** 20} MiB, >= 2 distinct characters) instead of Moby-Dick`,
  },
];

/** The model spec from the options (validated). */
export function modelSpec(
  v: Values,
  defaults: { steps: number; batch: number; hidden: number; learningRate?: number },
  backend = str(v, 'backend') ?? 'tfjs-wasm',
  stepsText = str(v, 'steps'),
): ModelSpec {
  const sparsity = parseSparsity(str(v, 'sparsity'));
  return {
    backend: parseChoice<BackendName>('backend', backend, BACKENDS),
    cell: parseChoice<CellName>('cell', str(v, 'cell') ?? 'lstm', CELLS),
    steps: parseCount('steps', stepsText, defaults.steps, { max: LIMITS.trainSteps }),
    batch: parseCount('batch', str(v, 'batch'), defaults.batch, { max: LIMITS.batch }),
    hidden: parseCount('hidden', str(v, 'hidden'), defaults.hidden, { max: LIMITS.hidden }),
    seed: parseCount('seed', str(v, 'seed'), 1, { max: 2 ** 31 - 1 }),
    learningRate: parseReal('learning-rate', str(v, 'learning-rate'), defaults.learningRate ?? 0.003, {
      above: 0,
      max: 1,
    }),
    clipNorm: parseReal('clip', str(v, 'clip'), 5, { above: 0, max: 1e6 }),
    ...(sparsity === undefined ? {} : { sparsity }),
    ...(str(v, 'threads') === undefined
      ? {}
      : { threads: parseCount('threads', str(v, 'threads'), 1, { max: MAX_THREADS }) }),
  };
}

/** The training text (`--text FILE`, read with its size limit, or Moby-Dick), checked for `steps`. */
export async function readText(io: Io, v: Values, steps: number): Promise<string> {
  const file = str(v, 'text');
  if (file === undefined) return mobyDick();
  const bytes = await io.readFile(file, LIMITS.textBytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError('E_TEXT', `--text ${JSON.stringify(file)} is not UTF-8 text`);
  }
  checkText(text, steps, `--text ${JSON.stringify(file)}`);
  return text;
}
