import { addBias, addMatTVec, addMatVec, addOuter, type CellKind, GATES } from './cells.js';
import { createRng, fillUniform } from './rng.js';

/**
 * The loss head applied to `h_t`: a softmax cross-entropy over `classes` (targets are class ids) or a
 * mean squared error over `outputs` values (targets are numbers), both through a linear layer `Wy, by`.
 */
export type LossHead =
  | { readonly kind: 'softmax'; readonly classes: number }
  | { readonly kind: 'mse'; readonly outputs: number };

/** The shape of a reference model. */
export interface ReferenceModelConfig {
  /** `'rnn'` (tanh), `'lstm'` or `'gru'`. */
  readonly cell: CellKind;
  /** Width of an input `x_t` (the vocabulary size, for one-hot inputs). */
  readonly inputSize: number;
  /** Width of `h_t` (and of the LSTM's `c_t`). */
  readonly hiddenSize: number;
  /** The per-step output and loss. */
  readonly head: LossHead;
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

/** A batch for a reference model: inputs, targets and the initial state of `batchSize` sequences. */
export interface ReferenceBatch {
  /** `T`. */
  readonly steps: number;
  /** `B`. */
  readonly batchSize: number;
  /** `T*B*I` numbers: `x_t` of sequence `r` at `((t-1)*B + r)*I`. */
  readonly inputs: Float64Array;
  /**
   * Softmax head: `T*B` class ids (`Int32Array`), sequence `r` at step `t` at `(t-1)*B + r`.
   * MSE head: `T*B*O` numbers. With `lossSteps: 'last'` only step `T`'s targets are read.
   */
  readonly targets: Int32Array | Float64Array;
  /** Which steps carry a loss term: every step (default) or only the last one. */
  readonly lossSteps?: 'all' | 'last';
  /** `h_0` as `B*H` numbers, followed for an LSTM by `c_0` (`B*H`); zeros when absent. */
  readonly initialState?: Float64Array;
}

function positive(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
}

function headWidth(head: LossHead): number {
  return head.kind === 'softmax' ? head.classes : head.outputs;
}

/** The shape `[rows, columns]` of every parameter of a model with this configuration. */
export function parameterShapes(config: ReferenceModelConfig): Record<string, readonly [number, number]> {
  const G = GATES[config.cell] * config.hiddenSize;
  const H = config.hiddenSize;
  const O = headWidth(config.head);
  const shapes: Record<string, readonly [number, number]> = {
    W: [G, config.inputSize],
    U: [G, H],
    b: [G, 1],
  };
  if (config.cell === 'gru') shapes['bu'] = [G, 1];
  shapes['Wy'] = [O, H];
  shapes['by'] = [O, 1];
  return shapes;
}

/** Create a model with parameters drawn uniformly from `[-1/sqrt(H), 1/sqrt(H))`, deterministically from the seed. */
export function createReferenceModel(config: ReferenceModelConfig): ReferenceModel {
  positive('inputSize', config.inputSize);
  positive('hiddenSize', config.hiddenSize);
  positive('head width', headWidth(config.head));
  if (!(config.cell in GATES)) throw new RangeError(`unknown cell ${String(config.cell)}`);
  const rng = createRng(config.seed ?? 1);
  const scale = 1 / Math.sqrt(config.hiddenSize);
  const params: Record<string, Float64Array> = {};
  for (const [name, [rows, cols]] of Object.entries(parameterShapes(config))) {
    params[name] = fillUniform(new Float64Array(rows * cols), rng, scale);
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

/** One-hot encode `tokens` (each in `0..classes-1`) into `tokens.length * classes` numbers. */
export function oneHot(tokens: ArrayLike<number>, classes: number): Float64Array {
  const out = new Float64Array(tokens.length * classes);
  for (let i = 0; i < tokens.length; i++) {
    const k = tokens[i]!;
    if (!Number.isInteger(k) || k < 0 || k >= classes)
      throw new RangeError(`token ${k} is outside 0..${classes - 1}`);
    out[i * classes + k] = 1;
  }
  return out;
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
  if (options.randomInitialState === true) batch.initialState = dense((cell === 'lstm' ? 2 : 1) * B * H);
  return batch;

  function dense(n: number): Float64Array {
    return fillUniform(new Float64Array(n), rng, 1);
  }
}

/** Check that `batch` fits `model`; throws a `RangeError` naming what does not. */
export function checkBatch(model: ReferenceModel, batch: ReferenceBatch): void {
  const { inputSize: I, hiddenSize: H, head, cell } = model.config;
  const { steps: T, batchSize: B } = batch;
  positive('steps', T);
  positive('batchSize', B);
  if (batch.inputs.length !== T * B * I) {
    throw new RangeError(`inputs must hold T*B*I = ${T * B * I} numbers, found ${batch.inputs.length}`);
  }
  if (head.kind === 'softmax') {
    if (batch.targets.length !== T * B) throw new RangeError(`targets must hold T*B = ${T * B} class ids`);
    for (const k of batch.targets) {
      if (!Number.isInteger(k) || k < 0 || k >= head.classes) {
        throw new RangeError(`target ${k} is outside 0..${head.classes - 1}`);
      }
    }
  } else if (batch.targets.length !== T * B * head.outputs) {
    throw new RangeError(`targets must hold T*B*O = ${T * B * head.outputs} numbers`);
  }
  const width = (cell === 'lstm' ? 2 : 1) * B * H;
  if (batch.initialState !== undefined && batch.initialState.length !== width) {
    throw new RangeError(`initialState must hold ${width} numbers, found ${batch.initialState.length}`);
  }
}

/** Whether step `t` of `batch` carries a loss term, and the weight of each of its terms. */
export function lossWeight(batch: ReferenceBatch, t: number): number {
  const last = batch.lossSteps === 'last';
  if (last && t !== batch.steps) return 0;
  return 1 / (batch.batchSize * (last ? 1 : batch.steps));
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
