/** The model and batch a backend is created for, their checks, and their conversion to typed arrays. */
import {
  checkBatch as checkContractBatch,
  checkModelShape,
  ExecutorError,
  type ModelShape,
  parameterSizes,
  type SequenceBatch,
} from '@rewind/executor';
import type { HeadSpec } from '../graphs/cells.js';
import type { FloatType } from '../onnx/model.js';
import { allocFloat, type FloatArray, toFloat } from './tensors.js';

/**
 * A model of a built-in cell: its shape and its parameters in the layout of `@rewind/executor`'s model
 * contract (`parameterShapes`), so that a reference model can be passed as is.
 */
export interface CellModel {
  readonly config: ModelShape;
  readonly params: Readonly<Record<string, ArrayLike<number>>>;
}

export { headWidth, lossWeight } from '@rewind/executor';
export type { SequenceBatch };

/**
 * Check a batch against the model contract (`@rewind/executor`'s `checkBatch`): throws `ExecutorError`
 * `E_BATCH` naming the field. Inputs must be dense (`denseBatch` one-hot encodes token ids);
 * `stateWidth` is the numbers per sequence of the initial state (`h_0`, then `c_0`).
 */
export function checkBatch(
  batch: SequenceBatch,
  inputSize: number,
  head: HeadSpec,
  stateWidth: number,
  allowIds = false,
): void {
  if ((batch.inputKind ?? 'dense') !== 'dense' && !allowIds) {
    throw new ExecutorError(
      'E_BATCH',
      `/inputKind ONNX Runtime backends take dense inputs; one-hot encode the ids with denseBatch`,
      {
        path: '/inputKind',
      },
    );
  }
  checkContractBatch({ inputSize, head, stateWidth }, batch);
}

/** Check a built-in model's shape (`E_MODEL`) and the size of every parameter (`E_MODEL`, naming it). */
export function checkModel(model: CellModel): void {
  checkModelShape(model.config);
  for (const [name, size] of Object.entries(parameterSizes(model.config))) {
    const p = model.params[name];
    if (p === undefined) {
      throw new ExecutorError('E_MODEL', `/params/${name} is missing`, { path: `/params/${name}` });
    }
    if (p.length !== size) {
      throw new ExecutorError('E_MODEL', `/params/${name} must hold ${size} numbers, found ${p.length}`, {
        path: `/params/${name}`,
      });
    }
  }
}

/** The batch's arrays converted once for the runtime. */
export interface BatchArrays {
  /** The dense inputs, `T B I`; empty for a batch of token ids (see `ids`). */
  readonly inputs: FloatArray;
  /** The token ids (`T*B`, int64), for a batch of ids: the range graphs gather their projections. */
  readonly ids?: BigInt64Array;
  /** Softmax: class ids as int64; MSE: values. */
  readonly targets: BigInt64Array | FloatArray;
  /** `h_0`, then the further carried states (`c_0`), each `B*H`. */
  readonly initial: readonly FloatArray[];
}

/**
 * Convert a batch (checked) to `dtype` arrays. `carried` is the number of carried tensors of width `width`.
 */
export function batchArrays(
  batch: SequenceBatch,
  head: HeadSpec | undefined,
  dtype: FloatType,
  carried: number,
  width: number,
): BatchArrays {
  let inputs: FloatArray;
  let ids: BigInt64Array | undefined;
  if ((batch.inputKind ?? 'dense') === 'ids') {
    // The ids themselves; their one-hot rows are built where a product needs them, a range at a time.
    inputs = allocFloat(dtype, 0);
    ids = new BigInt64Array(batch.inputs.length);
    for (let r = 0; r < batch.inputs.length; r++) ids[r] = BigInt(batch.inputs[r] as number);
  } else {
    inputs = toFloat(dtype, batch.inputs);
  }
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
  return ids === undefined ? { inputs, targets, initial } : { inputs, ids, targets, initial };
}
