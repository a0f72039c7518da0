import type { StateBytes } from '@rewind/policy';
import type { CellBackendV1, GradientReadout } from '../backend.js';
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

interface Tracked {
  disposed: boolean;
  readonly owner: object;
}

type HiddenHandle = ReferenceHidden & Tracked & { readonly lent: boolean };
type InternalHandle = ReferenceInternal & Tracked & { readonly view: HiddenHandle };
type GradientHandle = ReferenceGradient & Tracked;
type AnyHandle = HiddenHandle | InternalHandle | GradientHandle;

const BYTES_PER_NUMBER = Float64Array.BYTES_PER_ELEMENT;

/**
 * Create the reference backend for one model and batch: Float64Array arithmetic, hand-written backward
 * steps, gradients and loss accumulated inside. Handles are checked: using or disposing a disposed
 * handle, disposing a lent one, running backward steps out of order or a step outside `1..T` throws.
 */
export function createReferenceBackend(model: ReferenceModel, batch: ReferenceBatch): ReferenceBackend {
  checkBatch(model, batch);
  const { cell, hiddenSize } = model.config;
  const T = batch.steps;
  const BH = batch.batchSize * hiddenSize;
  const vectors = STATE_VECTORS[cell];
  const sizes: StateBytes = {
    hidden: vectors.hidden * BH * BYTES_PER_NUMBER,
    internal: vectors.internal * BH * BYTES_PER_NUMBER,
  };
  const owner = {};
  const name = `reference/${cell}`;
  let live = 0;
  let grads = zeroGradients(model);
  let dInputs = new Float64Array(batch.inputs.length);
  let dInitial: Float64Array = new Float64Array((cell === 'lstm' ? 2 : 1) * BH);
  let loss = 0;
  let nextBackward = T;
  const calls = { forward: 0, backward: 0 };

  const lentBy = new WeakMap<HiddenHandle, InternalHandle>();
  const use = <H extends AnyHandle>(handle: unknown, kind: H['kind'], where: string): H => {
    const h = handle as Partial<AnyHandle> | null;
    if (typeof h !== 'object' || h === null || h.owner !== owner || h.kind !== kind) {
      throw new TypeError(`${name}: ${where} expects a ${kind} handle of this backend`);
    }
    if (h.disposed === true) throw new Error(`${name}: ${where} was given a disposed ${kind} handle`);
    if (kind === 'hidden' && (h as HiddenHandle).lent) {
      const parent = lentBy.get(h as HiddenHandle);
      if (parent?.disposed !== false)
        throw new Error(`${name}: ${where} was given a view of a disposed internal state`);
    }
    return h as H;
  };
  const checkStep = (t: number, where: string): void => {
    if (!Number.isInteger(t) || t < 1 || t > T)
      throw new RangeError(`${name}: ${where} step ${t} is outside 1..${T}`);
  };
  const hidden = (state: CellState): HiddenHandle => {
    live++;
    return { kind: 'hidden', state, owner, disposed: false, lent: false };
  };

  const backend: ReferenceBackend = {
    specificationVersion: 'rewind-backend-v1',
    name,
    steps: T,
    model,
    batch,
    alpha: sizes.internal / sizes.hidden,
    calls,
    stateBytes: () => ({ ...sizes }),
    initialState: () => hidden(initialCellState(model, batch)),
    forward(hPrev, t, keepInternal) {
      const prev = use<HiddenHandle>(hPrev, 'hidden', 'forward');
      checkStep(t, 'forward');
      calls.forward++;
      const out = stepForward(model, batch, prev.state, t, keepInternal);
      const h = hidden(out.next);
      if (out.internal === undefined) return { h };
      const view: HiddenHandle = { kind: 'hidden', state: out.next, owner, disposed: false, lent: true };
      const internal: InternalHandle = {
        kind: 'internal',
        step: t,
        data: out.internal,
        owner,
        disposed: false,
        view,
      };
      lentBy.set(view, internal);
      live++;
      return { h, internal };
    },
    hiddenOf(internal) {
      return use<InternalHandle>(internal, 'internal', 'hiddenOf').view;
    },
    backward(internal, dh, t) {
      const s = use<InternalHandle>(internal, 'internal', 'backward');
      const d = dh === null ? null : use<GradientHandle>(dh, 'gradient', 'backward');
      checkStep(t, 'backward');
      if (s.step !== t)
        throw new Error(`${name}: backward step ${t} was given the internal state of step ${s.step}`);
      if (t !== nextBackward && t !== T) {
        throw new Error(
          `${name}: backward step ${t} out of order; expected ${nextBackward} (or ${T} to start a pass)`,
        );
      }
      if ((t === T) !== (d === null)) {
        throw new Error(
          `${name}: backward step ${t} needs ${t === T ? 'no incoming gradient' : 'an incoming gradient'}`,
        );
      }
      calls.backward++;
      const step = stepBackward(model, batch, s.data, d?.state ?? null, t, grads, dInputs);
      loss += step.loss;
      if (t === 1) dInitial = flattenState(step.dPrev);
      nextBackward = t === 1 ? T : t - 1;
      live++;
      const g: GradientHandle = { kind: 'gradient', state: step.dPrev, owner, disposed: false };
      return g;
    },
    dispose(handle) {
      const h = handle as Partial<AnyHandle> | null;
      if (typeof h !== 'object' || h === null || h.owner !== owner) {
        throw new TypeError(`${name}: dispose expects a handle of this backend`);
      }
      if (h.kind === 'hidden' && (h as HiddenHandle).lent) {
        throw new Error(`${name}: dispose was given a lent hidden state (from hiddenOf)`);
      }
      if (h.disposed === true) throw new Error(`${name}: ${h.kind} handle disposed twice`);
      (h as AnyHandle).disposed = true;
      live--;
    },
    zeroGradients() {
      grads = zeroGradients(model);
      dInputs = new Float64Array(batch.inputs.length);
      dInitial = new Float64Array(dInitial.length);
      loss = 0;
      nextBackward = T;
    },
    loss: () => loss,
    readGradients(): GradientReadout {
      const parameters: Record<string, Float64Array> = {};
      for (const [key, value] of Object.entries(grads)) parameters[key] = value.slice();
      return { parameters, inputs: dInputs.slice(), initialState: dInitial.slice() };
    },
    liveHandles: () => live,
  };
  return backend;
}
