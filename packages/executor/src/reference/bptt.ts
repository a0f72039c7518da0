import type { CellInternal, CellState } from './cells.js';
import { checkBatch, type ReferenceBatch, type ReferenceModel } from './model.js';
import { flattenState, initialCellState, stepBackward, stepForward, zeroGradients } from './step.js';

/** The loss and every gradient of one batch, as plain arrays. */
export interface ReferenceGradients {
  readonly loss: number;
  /** Gradient per parameter name. */
  readonly parameters: Readonly<Record<string, Float64Array>>;
  /** Gradient at the inputs, in the layout of `batch.inputs`. */
  readonly inputs: Float64Array;
  /** Gradient at the initial state, in the layout of `batch.initialState`. */
  readonly initialState: Float64Array;
}

/**
 * Standard backpropagation through time, the test oracle: run every forward step keeping every internal
 * state, then every backward step from `T` down to 1. Shares the cell arithmetic with the reference
 * backend but nothing of the executor.
 */
export function standardBptt(model: ReferenceModel, batch: ReferenceBatch): ReferenceGradients {
  checkBatch(model, batch);
  const T = batch.steps;
  const internals: CellInternal[] = [];
  let state: CellState = initialCellState(model, batch);
  for (let t = 1; t <= T; t++) {
    const out = stepForward(model, batch, state, t, true);
    if (out.internal === undefined) throw new Error('forward kept no internal state');
    internals.push(out.internal);
    state = out.next;
  }
  const parameters = zeroGradients(model);
  const inputs = new Float64Array(batch.inputs.length);
  let loss = 0;
  let d: CellState | null = null;
  for (let t = T; t >= 1; t--) {
    const step = stepBackward(model, batch, internals[t - 1]!, d, t, parameters, inputs);
    loss += step.loss;
    d = step.dPrev;
  }
  if (d === null) throw new Error('no backward step ran');
  return { loss, parameters, inputs, initialState: flattenState(d) };
}
