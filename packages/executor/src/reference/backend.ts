import type { StateBytes } from '@rewind/policy';
import type { CellBackendV1, GradientReadout } from '../backend.js';
import type {
  BackwardRangeRequest,
  CellBackendV2,
  ForwardRangeRequest,
  ForwardRangeResult,
} from '../backend-v2.js';
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

/**
 * The reference backend implementing version 2 of the interface natively: each range is one loop over its
 * steps, with no handle for the states it passes through, and a backward range recomputes one internal
 * state at a time. Its results are bitwise those of `createReferenceBackend`.
 */
export interface ReferenceBackendV2
  extends CellBackendV2<ReferenceHidden, ReferenceInternal, ReferenceGradient> {
  readonly model: ReferenceModel;
  readonly batch: ReferenceBatch;
  /** Internal state bytes over hidden state bytes: the measured `alpha` of the cell. */
  readonly alpha: number;
  /** Ranges run so far, and the forward (recomputations included) and backward steps computed in them. */
  readonly calls: {
    readonly forwardRange: number;
    readonly backwardRange: number;
    readonly forward: number;
    readonly backward: number;
  };
  /** Synchronous: `h_0`. */
  initialState(): ReferenceHidden;
  /** Synchronous: see `CellBackendV2.forwardRange`. */
  forwardRange(
    request: ForwardRangeRequest<ReferenceHidden>,
  ): ForwardRangeResult<ReferenceHidden, ReferenceInternal>;
  /** Synchronous: see `CellBackendV2.backwardRange`. */
  backwardRange(
    request: BackwardRangeRequest<ReferenceHidden, ReferenceInternal, ReferenceGradient>,
  ): ReferenceGradient;
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

/** The gradients and loss a reference backend accumulates. */
interface Accumulated {
  grads: Record<string, Float64Array>;
  dInputs: Float64Array;
  dInitial: Float64Array;
  loss: number;
}

function accumulator(model: ReferenceModel, batch: ReferenceBatch): Accumulated {
  const BH = batch.batchSize * model.config.hiddenSize;
  return {
    grads: zeroGradients(model),
    dInputs: new Float64Array(batch.inputs.length),
    dInitial: new Float64Array((model.config.cell === 'lstm' ? 2 : 1) * BH),
    loss: 0,
  };
}

/**
 * Create the reference backend for one model and batch as a version 2 backend, implemented natively with
 * ranges (not through `adaptV1`): the same Float64Array arithmetic, in the same order, as
 * `createReferenceBackend`, so that both give bitwise equal losses and gradients for any policy. Handles,
 * ranges and step order are checked by a `HandleBook` before any work: misuse throws `ExecutorError`
 * `E_HANDLE` or `E_STEP`.
 */
export function createReferenceBackendV2(model: ReferenceModel, batch: ReferenceBatch): ReferenceBackendV2 {
  checkBatch(model, batch);
  const T = batch.steps;
  const sizes = referenceStateBytes(model, batch.batchSize);
  const name = `reference-v2/${model.config.cell}`;
  const book = new HandleBook({ name, steps: T });
  let acc = accumulator(model, batch);
  const calls = { forwardRange: 0, backwardRange: 0, forward: 0, backward: 0 };
  const hidden = (state: CellState, step: number): HiddenHandle =>
    book.hidden({ kind: 'hidden', state }, step);
  const internal = (state: CellState, data: CellInternal, step: number): InternalHandle => {
    const view: HiddenHandle = { kind: 'hidden', state };
    return book.internal({ kind: 'internal', step, data, view }, step, view);
  };

  return {
    specificationVersion: 'rewind-backend-v2',
    name,
    steps: T,
    model,
    batch,
    alpha: sizes.internal / sizes.hidden,
    calls,
    stateBytes: () => ({ ...sizes }),
    initialState: () => hidden(initialCellState(model, batch), 0),
    forwardRange(request) {
      const start = book.forwardRange<HiddenHandle>(request);
      calls.forwardRange++;
      const a = request.from;
      const b = request.to;
      const kind = request.store?.kind;
      const stride = request.store?.stride ?? 0;
      const kept: (ReferenceHidden | ReferenceInternal)[] = [];
      let working: ReferenceInternal | undefined;
      let state = start.state;
      for (let t = a + 1; t <= b; t++) {
        const stored = stride > 0 && (t - a) % stride === 0;
        const keepInternal = (stored && kind === 'internal') || (t === b && request.keepWorking);
        const out = stepForward(model, batch, state, t, keepInternal);
        calls.forward++;
        state = out.next;
        if (stored && kind === 'hidden') kept.push(hidden(state, t));
        if (keepInternal) {
          const handle = internal(state, out.internal as CellInternal, t);
          if (stored) kept.push(handle);
          else working = handle;
        }
      }
      return working === undefined ? { kept } : { kept, working };
    },
    hiddenOf(handle) {
      return book.use<InternalHandle>(handle, 'internal', 'hiddenOf').view;
    },
    backwardRange(request) {
      book.backwardRange(request);
      calls.backwardRange++;
      const { sources } = request;
      let dh: CellState | null = request.dh === null ? null : (request.dh as GradientHandle).state;
      for (let t = request.from, i = 0; t >= request.to; t--, i++) {
        const source = sources[i] as { internal?: InternalHandle; recomputeFrom?: HiddenHandle };
        let data: CellInternal;
        if (source.internal !== undefined) data = source.internal.data;
        else {
          const out = stepForward(model, batch, (source.recomputeFrom as HiddenHandle).state, t, true);
          calls.forward++;
          data = out.internal as CellInternal;
        }
        const step = stepBackward(model, batch, data, dh, t, acc.grads, acc.dInputs);
        calls.backward++;
        acc.loss += step.loss;
        if (t === 1) acc.dInitial = flattenState(step.dPrev);
        dh = step.dPrev;
      }
      return book.gradient<GradientHandle>({ kind: 'gradient', state: dh as CellState });
    },
    dispose(handle) {
      book.dispose(handle);
    },
    zeroGradients() {
      acc = accumulator(model, batch);
      book.resetOrder();
    },
    loss: () => acc.loss,
    readGradients(): GradientReadout {
      const parameters: Record<string, Float64Array> = {};
      for (const [key, value] of Object.entries(acc.grads)) parameters[key] = value.slice();
      return { parameters, inputs: acc.dInputs.slice(), initialState: acc.dInitial.slice() };
    },
    liveHandles: () => book.live,
  };
}
