import type { CellBackendV1, MaybePromise } from './backend.js';
import type {
  BackwardRangeRequest,
  CellBackendV2,
  ForwardRangeRequest,
  ForwardRangeResult,
} from './backend-v2.js';
import { ExecutorError } from './errors.js';

function isThenable<T>(value: MaybePromise<T>): value is PromiseLike<T> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function missingInternal(name: string, t: number): ExecutorError {
  return new ExecutorError(
    'E_BACKEND_CONTRACT',
    `backend ${name} returned no internal state for forward step ${t} although it was asked to keep it`,
  );
}

/** A version 1 backend seen through the version 2 interface: every range runs step by step. */
class AdaptedV1<THidden, TInternal, TGradient> implements CellBackendV2<THidden, TInternal, TGradient> {
  readonly specificationVersion = 'rewind-backend-v2' as const;
  readonly name: string;
  readonly steps: number;
  readonly liveHandles?: () => number;
  private readonly inner: CellBackendV1<THidden, TInternal, TGradient>;

  constructor(inner: CellBackendV1<THidden, TInternal, TGradient>) {
    this.inner = inner;
    this.name = inner.name;
    this.steps = inner.steps;
    const live = inner.liveHandles;
    if (live !== undefined) this.liveHandles = () => live.call(inner);
  }

  stateBytes() {
    return this.inner.stateBytes();
  }

  initialState(): MaybePromise<THidden> {
    return this.inner.initialState();
  }

  hiddenOf(internal: TInternal): THidden {
    return this.inner.hiddenOf(internal);
  }

  dispose(handle: THidden | TInternal | TGradient): void {
    this.inner.dispose(handle);
  }

  zeroGradients(): MaybePromise<void> {
    return this.inner.zeroGradients();
  }

  loss(): MaybePromise<number> {
    return this.inner.loss();
  }

  readGradients() {
    return this.inner.readGradients();
  }

  /** Dispose what a failed range made and did not hand out; the first error is the one reported. */
  private discard(handles: readonly unknown[]): void {
    for (const handle of handles) {
      try {
        this.inner.dispose(handle as THidden);
      } catch {
        // The range already failed.
      }
    }
  }

  async forwardRange(request: ForwardRangeRequest<THidden>): Promise<ForwardRangeResult<THidden, TInternal>> {
    const v1 = this.inner;
    const a = request.from;
    const b = request.to;
    const store = request.store;
    const stride = store === undefined ? 0 : store.stride;
    const keepsInternal = store?.kind === 'internal';
    const kept: (THidden | TInternal)[] = [];
    let working: TInternal | undefined;
    let h = request.start;
    let hOwned = false;
    try {
      for (let t = a + 1; t <= b; t++) {
        const stored = stride > 0 && (t - a) % stride === 0;
        const keepInternal = (stored && keepsInternal) || (t === b && request.keepWorking);
        const r = v1.forward(h, t, keepInternal);
        const out = isThenable(r) ? await r : r;
        const internal = out.internal;
        if (internal !== undefined && !keepInternal) v1.dispose(internal);
        if (hOwned) v1.dispose(h);
        h = out.h;
        hOwned = true;
        if (keepInternal && internal === undefined) throw missingInternal(this.name, t);
        if (stored && !keepsInternal) {
          kept.push(h);
          hOwned = false;
        }
        if (keepInternal) {
          if (stored) kept.push(internal as TInternal);
          else working = internal;
        }
      }
    } catch (error) {
      if (hOwned) {
        hOwned = false;
        kept.push(h);
      }
      if (working !== undefined) kept.push(working);
      this.discard(kept);
      throw error;
    }
    if (hOwned) v1.dispose(h);
    return working === undefined ? { kept } : { kept, working };
  }

  async backwardRange(request: BackwardRangeRequest<THidden, TInternal, TGradient>): Promise<TGradient> {
    const v1 = this.inner;
    const sources = request.sources;
    let dh = request.dh;
    let dhOwned = false;
    try {
      for (let t = request.from, i = 0; t >= request.to; t--, i++) {
        const source = sources[i] as { internal?: TInternal; recomputeFrom?: THidden };
        let state = source.internal;
        const recompute = state === undefined;
        if (recompute) {
          const r = v1.forward(source.recomputeFrom as THidden, t, true);
          const out = isThenable(r) ? await r : r;
          v1.dispose(out.h);
          if (out.internal === undefined) throw missingInternal(this.name, t);
          state = out.internal;
        }
        let g: TGradient;
        try {
          const r = v1.backward(state as TInternal, dh, t);
          g = isThenable(r) ? await r : r;
        } finally {
          if (recompute) v1.dispose(state as TInternal);
        }
        if (dhOwned) v1.dispose(dh as TGradient);
        dh = g;
        dhOwned = true;
      }
    } catch (error) {
      if (dhOwned) this.discard([dh]);
      throw error;
    }
    return dh as TGradient;
  }
}

/**
 * Run a version 1 backend through the version 2 interface: every range is computed step by step with
 * `forward` and `backward`, in exactly the order, with exactly the arguments, that version 1 executors
 * used, and every transient handle (intermediate states, recomputed internal states, intermediate
 * gradients) is disposed inside the range. `runPolicy` applies it to every version 1 backend itself.
 */
export function adaptV1<THidden, TInternal, TGradient>(
  backend: CellBackendV1<THidden, TInternal, TGradient>,
): CellBackendV2<THidden, TInternal, TGradient> {
  return new AdaptedV1(backend);
}
