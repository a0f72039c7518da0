/**
 * The model contract: what every backend, the reference backend and the app agree on about a recurrent
 * model and its batches. Written once here; backends import it and never restate it.
 *
 * - **Cells**: `rnn` (tanh), `lstm`, `gru`; their gate blocks, in order, and the tensors they carry.
 * - **Parameters**: row-major, by name: `W` (`G x I`), `U` (`G x H`), `b` (`G`), for a GRU also `bu` (`G`,
 *   the recurrent bias), and the head's `Wy` (`O x H`) and `by` (`O`), with `G = gates * H`. Gate blocks
 *   are `H` wide, in the order of `GATE_ORDER`: LSTM `i, f, g, o`; GRU `z, r, n` with
 *   `n = tanh(W_n x + b_n + r * (U_n h + bu_n))`, `h' = (1 - z) n + z h`.
 * - **Head**: a linear layer `y = Wy h + by`, then a softmax cross-entropy over `classes` (targets are class
 *   ids) or a mean squared error over `outputs` values.
 * - **Batches**: time-major. Step `t` (1-based) of sequence `r` is at `(t - 1) * B + r`; a dense input
 *   `x_t` of sequence `r` starts at `((t - 1) * B + r) * I`. `initialState` is `h_0` (`B*H`) followed for an
 *   LSTM by `c_0` (`B*H`).
 * - **Loss**: the mean over sequences and loss-carrying steps: step `t`'s term has weight
 *   `1 / (B * T)` (or `1 / B` at step `T` only, with `lossSteps: 'last'`); an MSE term is also divided by `O`.
 */
import { ExecutorError } from './errors.js';

/** The built-in recurrent cells. */
export const CELL_KINDS = ['rnn', 'lstm', 'gru'] as const;

/** A built-in recurrent cell: vanilla RNN (tanh), LSTM or GRU. */
export type CellKind = (typeof CELL_KINDS)[number];

/** The gate blocks of each cell, in their order inside `W`, `U` and `b`. */
export const GATE_ORDER: Readonly<Record<CellKind, readonly string[]>> = {
  rnn: ['a'],
  lstm: ['i', 'f', 'g', 'o'],
  gru: ['z', 'r', 'n'],
};

/** Gate blocks per cell (the length of `GATE_ORDER[cell]`). */
export const CELL_GATES: Readonly<Record<CellKind, number>> = {
  rnn: GATE_ORDER.rnn.length,
  lstm: GATE_ORDER.lstm.length,
  gru: GATE_ORDER.gru.length,
};

/** The tensors a cell carries from one step to the next, in order: `h`, and an LSTM's `c`. */
export const STATE_PARTS: Readonly<Record<CellKind, readonly string[]>> = {
  rnn: ['h'],
  lstm: ['h', 'c'],
  gru: ['h'],
};

/** The parameter names of the head, reserved in every model (user cells may not use them). */
export const HEAD_PARAMETERS = ['Wy', 'by'] as const;

/**
 * The loss head applied to `h_t` at the steps that carry a loss: a linear layer `y = Wy h + by`, then a
 * softmax cross-entropy over `classes` (targets are class ids) or a mean squared error over `outputs`.
 */
export type LossHead =
  | { readonly kind: 'softmax'; readonly classes: number }
  | { readonly kind: 'mse'; readonly outputs: number };

/** The width `O` of a head's output. */
export function headWidth(head: LossHead): number {
  return head.kind === 'softmax' ? head.classes : head.outputs;
}

/** The shape of a model with a built-in cell. */
export interface ModelShape {
  /** `'rnn'`, `'lstm'` or `'gru'`. */
  readonly cell: CellKind;
  /** Width `I` of an input `x_t` (the vocabulary size for one-hot token inputs). */
  readonly inputSize: number;
  /** Width `H` of `h_t` (and of an LSTM's `c_t`). */
  readonly hiddenSize: number;
  /** The per-step output and loss. */
  readonly head: LossHead;
}

/** The cell's own parameters, in the order backends feed them: `W`, `U`, `b`, and a GRU's `bu`. */
export function cellParameterNames(cell: CellKind): readonly string[] {
  return cell === 'gru' ? ['W', 'U', 'b', 'bu'] : ['W', 'U', 'b'];
}

/** The shape of every parameter of a model: the cell's (`cellParameterNames`), then `Wy`, `by`. */
export function parameterShapes(shape: ModelShape): Record<string, readonly number[]> {
  const H = shape.hiddenSize;
  const G = CELL_GATES[shape.cell] * H;
  const O = headWidth(shape.head);
  const shapes: Record<string, readonly number[]> = { W: [G, shape.inputSize], U: [G, H], b: [G] };
  if (shape.cell === 'gru') shapes['bu'] = [G];
  shapes['Wy'] = [O, H];
  shapes['by'] = [O];
  return shapes;
}

/** The number of values of every parameter of a model. */
export function parameterSizes(shape: ModelShape): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, dims] of Object.entries(parameterShapes(shape))) {
    out[name] = dims.reduce((n, d) => n * d, 1);
  }
  return out;
}

function positiveInteger(path: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ExecutorError('E_MODEL', `${path} must be a positive integer, got ${describe(value)}`, {
      path,
    });
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * Check a loss head; throws `ExecutorError` `E_MODEL` with the offending path (a JSON pointer under `base`).
 */
export function checkHead(head: unknown, base = '/head'): asserts head is LossHead {
  const h = head as Partial<{ kind: unknown; classes: unknown; outputs: unknown }> | null;
  if (h === null || typeof h !== 'object' || (h.kind !== 'softmax' && h.kind !== 'mse')) {
    throw new ExecutorError(
      'E_MODEL',
      `${base} must be { kind: 'softmax', classes } or { kind: 'mse', outputs }, got ${describe(
        h === null || typeof h !== 'object' ? h : h.kind,
      )}`,
      { path: base },
    );
  }
  if (h.kind === 'softmax') positiveInteger(`${base}/classes`, h.classes);
  else positiveInteger(`${base}/outputs`, h.outputs);
}

/** Check a model shape; throws `ExecutorError` `E_MODEL` naming the offending field (a JSON pointer). */
export function checkModelShape(shape: ModelShape): void {
  if (!CELL_KINDS.includes(shape.cell)) {
    throw new ExecutorError(
      'E_MODEL',
      `/cell must be one of ${CELL_KINDS.join(', ')}, got ${describe(shape.cell)}`,
      { path: '/cell' },
    );
  }
  positiveInteger('/inputSize', shape.inputSize);
  positiveInteger('/hiddenSize', shape.hiddenSize);
  checkHead(shape.head);
}

/**
 * A batch of `B` sequences of `T` steps, time-major (see the module's documentation for the layout).
 *
 * `inputs` are dense (`T*B*I` numbers) or, with `inputKind: 'ids'`, token ids (`T*B` ids in `0..I-1`,
 * one-hot encoded by the backend). `targets` are class ids (`T*B`, softmax head) or values (`T*B*O`, MSE
 * head); with `lossSteps: 'last'` only step `T`'s are read.
 */
export interface SequenceBatch<TNumbers extends ArrayLike<number> = ArrayLike<number>> {
  /** `T`. */
  readonly steps: number;
  /** `B`. */
  readonly batchSize: number;
  /** Dense inputs (`T*B*I`) or token ids (`T*B`, with `inputKind: 'ids'`). */
  readonly inputs: TNumbers;
  /** `'dense'` (default) or `'ids'`. */
  readonly inputKind?: 'dense' | 'ids';
  /** Class ids (`T*B`) or values (`T*B*O`). */
  readonly targets: ArrayLike<number>;
  /** Which steps carry a loss term: every step (default) or only the last one. */
  readonly lossSteps?: 'all' | 'last';
  /** `h_0` (`B*H`), then an LSTM's `c_0` (`B*H`); zeros when absent. */
  readonly initialState?: TNumbers;
}

/** Whether step `t` carries a loss term, as its weight: `1 / (B T)`, or `1 / B` at `T` with `lossSteps: 'last'`, else 0. */
export function lossWeight(
  batch: Pick<SequenceBatch, 'steps' | 'batchSize' | 'lossSteps'>,
  t: number,
): number {
  const last = batch.lossSteps === 'last';
  if (last && t !== batch.steps) return 0;
  return 1 / (batch.batchSize * (last ? 1 : batch.steps));
}

/** Tokens with a loss term in a batch: `B * T`, or `B` with a loss at the last step only. */
export function lossTokens(batch: Pick<SequenceBatch, 'steps' | 'batchSize' | 'lossSteps'>): number {
  return batch.batchSize * (batch.lossSteps === 'last' ? 1 : batch.steps);
}

/** What `checkBatch` needs of a model: the input width, the head, and the width of the carried state. */
export interface BatchShape {
  readonly inputSize: number;
  readonly head: LossHead;
  /**
   * Numbers per sequence in a carried state: `H` times the carried tensors (`STATE_PARTS[cell].length`;
   * `2 H` for an LSTM).
   */
  readonly stateWidth: number;
}

function batchError(path: string, message: string): ExecutorError {
  return new ExecutorError('E_BATCH', `${path} ${message}`, { path });
}

function checkIds(path: string, values: ArrayLike<number>, limit: number, what: string): void {
  for (let i = 0; i < values.length; i++) {
    const k = values[i] as number;
    if (!Number.isInteger(k) || k < 0 || k >= limit) {
      throw batchError(`${path}/${i}`, `is ${what} ${String(k)}, outside 0..${limit - 1}`);
    }
  }
}

/**
 * Check that `batch` fits a model; throws `ExecutorError` `E_BATCH` naming the offending field (a JSON
 * pointer such as `/targets/17`), what it holds and what would fit.
 */
export function checkBatch(shape: BatchShape, batch: SequenceBatch): void {
  const { inputSize: I, head, stateWidth } = shape;
  for (const key of ['steps', 'batchSize'] as const) {
    const n = batch[key];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
      throw batchError(`/${key}`, `must be a positive integer, got ${describe(n)}`);
    }
  }
  const T = batch.steps;
  const B = batch.batchSize;
  const kind = batch.inputKind ?? 'dense';
  if (kind !== 'dense' && kind !== 'ids') {
    throw batchError('/inputKind', `must be 'dense' or 'ids', got ${describe(kind)}`);
  }
  const lossSteps = batch.lossSteps ?? 'all';
  if (lossSteps !== 'all' && lossSteps !== 'last') {
    throw batchError('/lossSteps', `must be 'all' or 'last', got ${describe(lossSteps)}`);
  }
  const length = (path: string, values: ArrayLike<number> | undefined, n: number, what: string): void => {
    const found = values === undefined || values === null ? undefined : values.length;
    if (found !== n) {
      throw batchError(
        path,
        `must hold ${what} = ${n} numbers, found ${found === undefined ? 'none' : found}`,
      );
    }
  };
  if (kind === 'ids') {
    length('/inputs', batch.inputs, T * B, 'T*B');
    checkIds('/inputs', batch.inputs, I, 'token id');
  } else {
    length('/inputs', batch.inputs, T * B * I, 'T*B*I');
  }
  if (head.kind === 'softmax') {
    length('/targets', batch.targets, T * B, 'T*B');
    checkIds('/targets', batch.targets, head.classes, 'class id');
  } else {
    length('/targets', batch.targets, T * B * head.outputs, 'T*B*O');
  }
  if (batch.initialState !== undefined) {
    length('/initialState', batch.initialState, B * stateWidth, `B*${stateWidth}`);
  }
}

/** One-hot encode `tokens` (each in `0..classes-1`) into `tokens.length * classes` numbers. */
export function oneHot(tokens: ArrayLike<number>, classes: number): Float64Array {
  const out = new Float64Array(tokens.length * classes);
  for (let i = 0; i < tokens.length; i++) {
    const k = tokens[i] as number;
    if (!Number.isInteger(k) || k < 0 || k >= classes) {
      throw new ExecutorError('E_BATCH', `token ${k} at /${i} is outside 0..${classes - 1}`, {
        path: `/${i}`,
      });
    }
    out[i * classes + k] = 1;
  }
  return out;
}

/** The batch with dense inputs: token-id inputs one-hot encoded over `inputSize`, dense ones as they are. */
export function denseBatch(batch: SequenceBatch, inputSize: number): SequenceBatch {
  if ((batch.inputKind ?? 'dense') === 'dense') return batch;
  const { inputKind: _ids, ...rest } = batch;
  return { ...rest, inputs: oneHot(batch.inputs, inputSize) };
}
