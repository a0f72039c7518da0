/** The model and batch a backend is created for, their checks, and their conversion to typed arrays. */
import { OrtBackendError } from '../errors.js';
import type { CellKind, HeadSpec } from '../graphs/cells.js';
import type { FloatType } from '../onnx/model.js';
import { allocFloat, type FloatArray, toFloat } from './tensors.js';

/**
 * A model of a built-in cell: the shape of `@rewind/executor`'s `ReferenceModel`, so that a reference
 * model can be passed as is. Parameters by name, row-major: `W` (`gates*H x I`), `U` (`gates*H x H`),
 * `b` (`gates*H`), for a GRU `bu` (`gates*H`), and the head's `Wy` (`O x H`), `by` (`O`).
 */
export interface CellModel {
  readonly config: {
    readonly cell: CellKind;
    readonly inputSize: number;
    readonly hiddenSize: number;
    readonly head: HeadSpec;
  };
  readonly params: Readonly<Record<string, ArrayLike<number>>>;
}

/**
 * A batch: the shape of `@rewind/executor`'s `ReferenceBatch`. `inputs` holds `T*B*I` numbers (`x_t` of
 * sequence `r` at `((t-1)*B + r)*I`); `targets` class ids (`T*B`, softmax head) or values (`T*B*O`,
 * MSE head); `initialState` `h_0` (`B*H`), then `c_0` for an LSTM; zeros when absent.
 */
export interface SequenceBatch {
  readonly steps: number;
  readonly batchSize: number;
  readonly inputs: ArrayLike<number>;
  readonly targets: ArrayLike<number>;
  /** Which steps carry a loss term: every step (default) or only the last one. */
  readonly lossSteps?: 'all' | 'last';
  readonly initialState?: ArrayLike<number>;
}

function positive(name: string, n: unknown): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new OrtBackendError('E_BATCH', `${name} must be a positive integer, got ${String(n)}`);
  }
}

/** The width of a head's output. */
export function headWidth(head: HeadSpec): number {
  return head.kind === 'softmax' ? head.classes : head.outputs;
}

/** Check the parts of a batch common to every cell; `stateWidth` is the numbers of `h_0` (and `c_0`). */
export function checkBatch(
  batch: SequenceBatch,
  inputSize: number,
  head: HeadSpec,
  stateWidth: number,
): void {
  positive('steps', batch.steps);
  positive('batchSize', batch.batchSize);
  const T = batch.steps;
  const B = batch.batchSize;
  if (batch.inputs.length !== T * B * inputSize) {
    throw new OrtBackendError(
      'E_BATCH',
      `inputs must hold T*B*I = ${T * B * inputSize} numbers, found ${batch.inputs.length}`,
    );
  }
  if (head.kind === 'softmax') {
    if (batch.targets.length !== T * B) {
      throw new OrtBackendError(
        'E_BATCH',
        `targets must hold T*B = ${T * B} class ids, found ${batch.targets.length}`,
      );
    }
    for (let i = 0; i < batch.targets.length; i++) {
      const k = batch.targets[i] as number;
      if (!Number.isInteger(k) || k < 0 || k >= head.classes) {
        throw new OrtBackendError('E_BATCH', `target ${k} is outside 0..${head.classes - 1}`);
      }
    }
  } else if (batch.targets.length !== T * B * head.outputs) {
    throw new OrtBackendError('E_BATCH', `targets must hold T*B*O = ${T * B * head.outputs} numbers`);
  }
  if (batch.lossSteps !== undefined && batch.lossSteps !== 'all' && batch.lossSteps !== 'last') {
    throw new OrtBackendError('E_BATCH', `lossSteps must be 'all' or 'last', got ${String(batch.lossSteps)}`);
  }
  if (batch.initialState !== undefined && batch.initialState.length !== stateWidth * B) {
    throw new OrtBackendError(
      'E_BATCH',
      `initialState must hold ${stateWidth * B} numbers, found ${batch.initialState.length}`,
    );
  }
}

/** Check a built-in model's configuration and parameter sizes. */
export function checkModel(model: CellModel, expected: Readonly<Record<string, number>>): void {
  const c = model.config;
  if (c.cell !== 'rnn' && c.cell !== 'lstm' && c.cell !== 'gru') {
    throw new OrtBackendError('E_BATCH', `unknown cell ${String(c.cell)}; expected rnn, lstm or gru`);
  }
  positive('inputSize', c.inputSize);
  positive('hiddenSize', c.hiddenSize);
  positive('head width', headWidth(c.head));
  for (const [name, size] of Object.entries(expected)) {
    const p = model.params[name];
    if (p === undefined) throw new OrtBackendError('E_BATCH', `the model has no parameter ${name}`);
    if (p.length !== size)
      throw new OrtBackendError('E_BATCH', `parameter ${name} must hold ${size} numbers, found ${p.length}`);
  }
}

/** The weight of step `t`'s loss term (as the reference backend: a mean over the sequences and loss steps). */
export function lossWeight(batch: SequenceBatch, t: number): number {
  const last = batch.lossSteps === 'last';
  if (last && t !== batch.steps) return 0;
  return 1 / (batch.batchSize * (last ? 1 : batch.steps));
}

/** The batch's arrays converted once for the runtime. */
export interface BatchArrays {
  readonly inputs: FloatArray;
  /** Softmax: class ids as int64; MSE: values. */
  readonly targets: BigInt64Array | FloatArray;
  /** `h_0`, then the further carried states (`c_0`), each `B*H`. */
  readonly initial: readonly FloatArray[];
}

/** Convert a batch to `dtype` arrays. `carried` is the number of carried tensors of width `width`. */
export function batchArrays(
  batch: SequenceBatch,
  head: HeadSpec | undefined,
  dtype: FloatType,
  carried: number,
  width: number,
): BatchArrays {
  const inputs = toFloat(dtype, batch.inputs);
  let targets: BigInt64Array | FloatArray;
  if (head === undefined || head.kind === 'mse') targets = toFloat(dtype, batch.targets);
  else {
    targets = new BigInt64Array(batch.targets.length);
    for (let i = 0; i < batch.targets.length; i++) targets[i] = BigInt(batch.targets[i] as number);
  }
  const n = batch.batchSize * width;
  const initial: FloatArray[] = [];
  for (let k = 0; k < carried; k++) {
    const a = allocFloat(dtype, n);
    if (batch.initialState !== undefined) {
      for (let i = 0; i < n; i++) a[i] = batch.initialState[k * n + i] as number;
    }
    initial.push(a);
  }
  return { inputs, targets, initial };
}
