import { ExecutorError } from '../errors.js';
import {
  checkBatch as checkContractBatch,
  checkModelShape,
  headWidth,
  type ModelShape,
  oneHot,
  parameterSizes,
  type SequenceBatch,
  STATE_PARTS,
} from '../model.js';
import { addBias, addMatTVec, addMatVec, addOuter } from './cells.js';
import { createRng, fillUniform } from './rng.js';

/** The shape of a reference model (the model contract's `ModelShape`) and its seed. */
export interface ReferenceModelConfig extends ModelShape {
  /** Seed of the parameter initialisation (default 1). */
  readonly seed?: number;
}

/**
 * A reference model: its configuration and its parameters, by name.
 *
 * Parameters: `W` (`gates*H x I`), `U` (`gates*H x H`), `b` (`gates*H`), for a GRU also `bu`
 * (`3H`, the recurrent bias), and the head's `Wy` (`O x H`) and `by` (`O`). Gate blocks: LSTM `i, f, g,
 * o`; GRU `z, r, n`. The arrays may be changed in place (e.g. by an optimiser); backends read them at
 * every step.
 */
export interface ReferenceModel {
  readonly config: ReferenceModelConfig;
  readonly params: Readonly<Record<string, Float64Array>>;
}

/**
 * A batch for a reference model: the model contract's `SequenceBatch` with dense float64 inputs (and
 * `Int32Array` class ids or float64 values as targets).
 */
export interface ReferenceBatch extends SequenceBatch<Float64Array> {
  readonly targets: Int32Array | Float64Array;
  readonly inputKind?: 'dense';
}

function positive(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ExecutorError('E_OPTIONS', `/${name} must be a positive integer, got ${n}`, {
      path: `/${name}`,
    });
  }
}

/** Create a model with parameters drawn uniformly from `[-1/sqrt(H), 1/sqrt(H))`, deterministically from the seed. */
export function createReferenceModel(config: ReferenceModelConfig): ReferenceModel {
  checkModelShape(config);
  const rng = createRng(config.seed ?? 1);
  const scale = 1 / Math.sqrt(config.hiddenSize);
  const params: Record<string, Float64Array> = {};
  for (const [name, size] of Object.entries(parameterSizes(config))) {
    params[name] = fillUniform(new Float64Array(size), rng, scale);
  }
  return { config, params };
}

/** Options of `randomBatch`. */
export interface RandomBatchOptions {
  readonly steps: number;
  readonly batchSize: number;
  /** Seed of the data (default 1). */
  readonly seed?: number;
  readonly lossSteps?: 'all' | 'last';
  /**
   * One-hot inputs over `inputSize` tokens instead of dense ones in [-1, 1). With a softmax head over
   * the same vocabulary, the targets are then the next tokens (a language-model batch).
   */
  readonly oneHot?: boolean;
  /** A random initial state instead of zeros (default false). */
  readonly randomInitialState?: boolean;
}

/** A deterministic random batch that fits `model`. */
export function randomBatch(model: ReferenceModel, options: RandomBatchOptions): ReferenceBatch {
  const { steps: T, batchSize: B } = options;
  positive('steps', T);
  positive('batchSize', B);
  const { inputSize: I, hiddenSize: H, head, cell } = model.config;
  const rng = createRng((options.seed ?? 1) ^ 0x5bd1e995);
  const pick = (n: number): number => Math.min(n - 1, Math.floor(rng() * n));
  let inputs: Float64Array;
  let targets: Int32Array | Float64Array;
  if (options.oneHot === true) {
    // Sequence r is tokens[0..T] of its own; inputs are tokens 0..T-1 and, for a softmax head over the
    // same vocabulary, targets are tokens 1..T.
    const tokens = new Int32Array((T + 1) * B);
    for (let i = 0; i < tokens.length; i++) tokens[i] = pick(I);
    inputs = oneHot(tokens.subarray(0, T * B), I);
    if (head.kind === 'softmax' && head.classes === I) targets = tokens.slice(B);
    else
      targets =
        head.kind === 'softmax'
          ? Int32Array.from({ length: T * B }, () => pick(head.classes))
          : dense(T * B * head.outputs);
  } else {
    inputs = dense(T * B * I);
    targets =
      head.kind === 'softmax'
        ? Int32Array.from({ length: T * B }, () => pick(head.classes))
        : dense(T * B * head.outputs);
  }
  const batch: { -readonly [K in keyof ReferenceBatch]: ReferenceBatch[K] } = {
    steps: T,
    batchSize: B,
    inputs,
    targets,
  };
  if (options.lossSteps !== undefined) batch.lossSteps = options.lossSteps;
  if (options.randomInitialState === true) batch.initialState = dense(STATE_PARTS[cell].length * B * H);
  return batch;

  function dense(n: number): Float64Array {
    return fillUniform(new Float64Array(n), rng, 1);
  }
}

/** Check that `batch` fits `model` (the model contract's `checkBatch`): throws `ExecutorError` `E_BATCH`. */
export function checkBatch(model: ReferenceModel, batch: ReferenceBatch): void {
  const { inputSize, hiddenSize, head, cell } = model.config;
  if ((batch.inputKind ?? 'dense') !== 'dense') {
    throw new ExecutorError(
      'E_BATCH',
      `/inputKind the reference backend takes dense inputs (oneHot the ids)`,
      {
        path: '/inputKind',
      },
    );
  }
  checkContractBatch({ inputSize, head, stateWidth: STATE_PARTS[cell].length * hiddenSize }, batch);
}

/**
 * The head at step `t`: adds the loss term (weighted by `weight`) of `h` to the returned value, the
 * head's parameter gradients to `grads`, and the gradient at `h` to `dh`.
 */
export function headStep(
  model: ReferenceModel,
  batch: ReferenceBatch,
  t: number,
  weight: number,
  h: Float64Array,
  grads: Readonly<Record<string, Float64Array>>,
  dh: Float64Array,
): number {
  const { hiddenSize: H, head } = model.config;
  const B = batch.batchSize;
  const O = headWidth(head);
  const Wy = model.params['Wy']!;
  const y = new Float64Array(B * O);
  for (let r = 0; r < B; r++) y.set(model.params['by']!, r * O);
  addMatVec(y, Wy, h, B, O, H);
  const dy = new Float64Array(B * O);
  let loss = 0;
  if (head.kind === 'softmax') {
    for (let r = 0; r < B; r++) {
      const o = r * O;
      let max = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < O; k++) max = Math.max(max, y[o + k]!);
      let sum = 0;
      for (let k = 0; k < O; k++) {
        const e = Math.exp(y[o + k]! - max);
        dy[o + k] = e;
        sum += e;
      }
      const target = batch.targets[(t - 1) * B + r]!;
      loss += weight * (Math.log(sum) + max - y[o + target]!);
      for (let k = 0; k < O; k++) dy[o + k] = (weight * dy[o + k]!) / sum;
      dy[o + target]! -= weight;
    }
  } else {
    const w = weight / O;
    const base = (t - 1) * B * O;
    for (let i = 0; i < B * O; i++) {
      const e = y[i]! - batch.targets[base + i]!;
      loss += w * e * e;
      dy[i] = 2 * w * e;
    }
  }
  addOuter(grads['Wy']!, dy, h, B, O, H);
  addBias(grads['by']!, dy, B, O);
  addMatTVec(dh, Wy, dy, B, O, H);
  return loss;
}
