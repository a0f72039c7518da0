import type { StateBytes } from '@rewind/policy';
import type { CellBackendV1, GradientReadout } from '../backend.js';
import { HandleBook } from '../handles.js';
import { type CellInternal, type CellState, STATE_VECTORS } from './cells.js';
import { checkBatch, type ReferenceBatch, type ReferenceModel } from './model.js';
import { flattenState, initialCellState, stepBackward, stepForward, zeroGradients } from './step.js';

/** A hidden-state handle of the reference backend: `h_t` (and `c_t` for an LSTM). */
export interface ReferenceHidden {
  readonly kind: 'hidden';
  readonly state: CellState;
}

/** An internal-state handle of the reference backend: `s_t`. */
export interface ReferenceInternal {
  readonly kind: 'internal';
  readonly step: number;
  readonly data: CellInternal;
}

/** A gradient handle of the reference backend: the gradient at a hidden state. */
export interface ReferenceGradient {
  readonly kind: 'gradient';
  readonly state: CellState;
}

/** The reference backend: a `CellBackendV1` over a reference model and batch, with diagnostics. */
export interface ReferenceBackend
  extends CellBackendV1<ReferenceHidden, ReferenceInternal, ReferenceGradient> {
  readonly model: ReferenceModel;
  readonly batch: ReferenceBatch;
  /** Internal state bytes over hidden state bytes: the measured `alpha` of the cell. */
  readonly alpha: number;
  /** Forward and backward steps computed so far. */
  readonly calls: { readonly forward: number; readonly backward: number };
  /** Handles handed out and not disposed. */
  liveHandles(): number;
}

type HiddenHandle = ReferenceHidden;
type InternalHandle = ReferenceInternal & { readonly view: HiddenHandle };
type GradientHandle = ReferenceGradient;

const BYTES_PER_NUMBER = Float64Array.BYTES_PER_ELEMENT;

/** Bytes of one hidden and one internal state of the reference backend for batches of `batchSize`. */
export function referenceStateBytes(model: ReferenceModel, batchSize: number): StateBytes {
  const vectors = STATE_VECTORS[model.config.cell];
  const BH = batchSize * model.config.hiddenSize;
  return {
    hidden: vectors.hidden * BH * BYTES_PER_NUMBER,
    internal: vectors.internal * BH * BYTES_PER_NUMBER,
  };
}

/**
 * Create the reference backend for one model and batch: Float64Array arithmetic, hand-written backward
 * steps, gradients and loss accumulated inside. Handles and step order are checked by a `HandleBook`:
 * misuse throws `ExecutorError` `E_HANDLE` or `E_STEP`.
 */
export function createReferenceBackend(model: ReferenceModel, batch: ReferenceBatch): ReferenceBackend {
  checkBatch(model, batch);
  const { cell, hiddenSize } = model.config;
  const T = batch.steps;
  const BH = batch.batchSize * hiddenSize;
  const sizes = referenceStateBytes(model, batch.batchSize);
  const name = `reference/${cell}`;
  const book = new HandleBook({ name, steps: T });
  let grads = zeroGradients(model);
  let dInputs = new Float64Array(batch.inputs.length);
  let dInitial: Float64Array = new Float64Array((cell === 'lstm' ? 2 : 1) * BH);
  let loss = 0;
  const calls = { forward: 0, backward: 0 };
  const hidden = (state: CellState, step: number): HiddenHandle =>
    book.hidden({ kind: 'hidden', state }, step);

  const backend: ReferenceBackend = {
    specificationVersion: 'rewind-backend-v1',
    name,
    steps: T,
    model,
    batch,
    alpha: sizes.internal / sizes.hidden,
    calls,
    stateBytes: () => ({ ...sizes }),
    initialState: () => hidden(initialCellState(model, batch), 0),
    forward(hPrev, t, keepInternal) {
      const prev = book.forward<HiddenHandle>(hPrev, t);
      calls.forward++;
      const out = stepForward(model, batch, prev.state, t, keepInternal);
      const h = hidden(out.next, t);
      if (out.internal === undefined) return { h };
      const view: HiddenHandle = { kind: 'hidden', state: out.next };
      const internal: InternalHandle = { kind: 'internal', step: t, data: out.internal, view };
      return { h, internal: book.internal(internal, t, view) };
    },
    hiddenOf(internal) {
      return book.use<InternalHandle>(internal, 'internal', 'hiddenOf').view;
    },
    backward(internal, dh, t) {
      const { internal: s, dh: d } = book.backward<InternalHandle, GradientHandle>(internal, dh, t);
      calls.backward++;
      const step = stepBackward(model, batch, s.data, d?.state ?? null, t, grads, dInputs);
      loss += step.loss;
      if (t === 1) dInitial = flattenState(step.dPrev);
      return book.gradient<GradientHandle>({ kind: 'gradient', state: step.dPrev });
    },
    dispose(handle) {
      book.dispose(handle);
    },
    zeroGradients() {
      grads = zeroGradients(model);
      dInputs = new Float64Array(batch.inputs.length);
      dInitial = new Float64Array(dInitial.length);
      loss = 0;
      book.resetOrder();
    },
    loss: () => loss,
    readGradients(): GradientReadout {
      const parameters: Record<string, Float64Array> = {};
      for (const [key, value] of Object.entries(grads)) parameters[key] = value.slice();
      return { parameters, inputs: dInputs.slice(), initialState: dInitial.slice() };
    },
    liveHandles: () => book.live,
  };
  return backend;
}
