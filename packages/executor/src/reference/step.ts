import { lossWeight, parameterSizes } from '../model.js';
import { type CellInternal, type CellState, cellBackward, cellForward, type Dims } from './cells.js';
import { headStep, type ReferenceBatch, type ReferenceModel } from './model.js';

/** Sizes of `batch` through `model`. */
export function dimsOf(model: ReferenceModel, batch: ReferenceBatch): Dims {
  return { batch: batch.batchSize, input: model.config.inputSize, hidden: model.config.hiddenSize };
}

/** Zeroed gradient buffers, one per parameter. */
export function zeroGradients(model: ReferenceModel): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  for (const [name, size] of Object.entries(parameterSizes(model.config))) {
    out[name] = new Float64Array(size);
  }
  return out;
}

/** The initial state of `batch` (fresh arrays). */
export function initialCellState(model: ReferenceModel, batch: ReferenceBatch): CellState {
  const BH = batch.batchSize * model.config.hiddenSize;
  const init = batch.initialState;
  const h = init === undefined ? new Float64Array(BH) : init.slice(0, BH);
  if (model.config.cell !== 'lstm') return { h };
  const c = init === undefined ? new Float64Array(BH) : init.slice(BH, 2 * BH);
  return { h, c };
}

function inputAt(batch: ReferenceBatch, dims: Dims, t: number): Float64Array {
  const n = dims.batch * dims.input;
  return batch.inputs.subarray((t - 1) * n, t * n);
}

/** Forward step `t` of `batch` from `prev`. */
export function stepForward(
  model: ReferenceModel,
  batch: ReferenceBatch,
  prev: CellState,
  t: number,
  keep: boolean,
): { readonly next: CellState; readonly internal?: CellInternal } {
  const dims = dimsOf(model, batch);
  return cellForward(model.config.cell, model.params, dims, inputAt(batch, dims, t), prev, keep);
}

/**
 * Backward step `t`: adds step `t`'s loss gradient to `dNext` (null: zero), back-propagates through the
 * cell, accumulates into `grads` and `dInputs` (`T*B*I`), and returns the gradient at the previous state
 * with step `t`'s loss term.
 */
export function stepBackward(
  model: ReferenceModel,
  batch: ReferenceBatch,
  internal: CellInternal,
  dNext: CellState | null,
  t: number,
  grads: Readonly<Record<string, Float64Array>>,
  dInputs: Float64Array,
): { readonly dPrev: CellState; readonly loss: number } {
  const dims = dimsOf(model, batch);
  const BH = dims.batch * dims.hidden;
  const dh = dNext === null ? new Float64Array(BH) : dNext.h.slice();
  const lstm = model.config.cell === 'lstm';
  const dc = lstm ? (dNext?.c === undefined ? new Float64Array(BH) : dNext.c) : undefined;
  const weight = lossWeight(batch, t);
  const loss = weight > 0 ? headStep(model, batch, t, weight, internal.next.h, grads, dh) : 0;
  const dState: CellState = dc === undefined ? { h: dh } : { h: dh, c: dc };
  const n = dims.batch * dims.input;
  const dx = dInputs.subarray((t - 1) * n, t * n);
  const dPrev = cellBackward(
    model.config.cell,
    model.params,
    grads,
    dims,
    inputAt(batch, dims, t),
    internal,
    dState,
    dx,
  );
  return { dPrev, loss };
}

/** The gradient at a whole state as one array: `h`, then `c` for an LSTM. */
export function flattenState(state: CellState): Float64Array {
  if (state.c === undefined) return state.h.slice();
  const out = new Float64Array(state.h.length + state.c.length);
  out.set(state.h, 0);
  out.set(state.c, state.h.length);
  return out;
}
