/**
 * Version 2 of the backend interface: operations at the granularity of the policy's instructions, so that
 * a backend sees a whole range of steps at once (one fused run, one kernel launch, one transfer) instead of
 * guessing ranges from single steps. Version 1 backends keep running through `adaptV1` (see the executor's
 * `runPolicy`, which accepts both versions).
 */
import type { StateBytes } from '@rewind/policy';
import type { GradientReadout, MaybePromise } from './backend.js';

/** The version string of the range-level backend interface. */
export const BACKEND_V2_SPECIFICATION_VERSION = 'rewind-backend-v2';

/** A request to compute forward steps `from + 1 .. to`: a policy's `forward` instruction. */
export interface ForwardRangeRequest<THidden> {
  /** The state at position `from` (`h_from`): a hidden handle, or a lent view of an internal state. Borrowed. */
  readonly start: THidden;
  /** `a`, the position of `start`: `0 <= from < to <= T`. */
  readonly from: number;
  /** `b`, the last step computed. */
  readonly to: number;
  /**
   * The checkpoints to keep: one of `kind` at every position `from + i * stride`, `i = 1 ..
   * floor((to - from) / stride)`, in that order. Absent: keep none.
   */
  readonly store?: { readonly kind: 'hidden' | 'internal'; readonly stride: number };
  /**
   * Whether to also return the internal state `s_to` as working memory (the next instruction is a
   * backward range that starts at `to`). When `store` already keeps an internal checkpoint at `to`, the
   * backend returns that one in `kept` and no separate `working` handle.
   */
  readonly keepWorking: boolean;
}

/** What a forward range produced. Every handle is owned by the caller. */
export interface ForwardRangeResult<THidden, TInternal> {
  /** The checkpoints asked for by `store`, in position order: hidden handles or internal handles. */
  readonly kept: readonly (THidden | TInternal)[];
  /** `s_to`, when `keepWorking` was asked and no internal checkpoint at `to` was kept. */
  readonly working?: TInternal;
}

/** Where backward step `t` of a range gets its internal state `s_t`. Handles are borrowed. */
export type BackwardSource<THidden, TInternal> =
  /** A held internal state `s_t` (an internal checkpoint, or the working state of a forward range). */
  | { readonly internal: TInternal }
  /** A held state at position `t - 1`: the backend recomputes forward step `t` from it (rule 2.2.1). */
  | { readonly recomputeFrom: THidden };

/** A request to run backward steps `from, from - 1, .., to`: a policy's `backward` instruction. */
export interface BackwardRangeRequest<THidden, TInternal, TGradient> {
  /** `b`: the first backward step run (the executor's `next`). */
  readonly from: number;
  /** `a`: the last one, `1 <= to <= from`. */
  readonly to: number;
  /** `sources[i]` is the source of step `from - i`; `from - to + 1` entries. */
  readonly sources: readonly BackwardSource<THidden, TInternal>[];
  /** The gradient arriving at `h_from` from step `from + 1`; `null` when `from = T`. Borrowed. */
  readonly dh: TGradient | null;
}

/**
 * A recurrent cell over one batch, as seen by the executor: version 2 of the backend interface.
 *
 * Everything version 1 says of handles (opaque values, distinct while live), ownership (returned handles
 * are the caller's, disposed exactly once; arguments are borrowed), losses (counted in backward steps) and
 * asynchrony (one call at a time) holds here. What changes: forward and backward work arrives as whole
 * ranges, exactly as the policy's instructions state them, so that a backend can run a range as one
 * computation. A backend may compute a range in any way whose results equal running its steps one by one
 * (recomputed steps included), and SHOULD bound the working memory it uses beyond the checkpoints (e.g. a
 * fused backward range need not materialise the internal states it recomputes all at once).
 */
export interface CellBackendV2<THidden = unknown, TInternal = unknown, TGradient = unknown> {
  /** Always `'rewind-backend-v2'`. */
  readonly specificationVersion: 'rewind-backend-v2';
  /** A short name for messages. */
  readonly name: string;
  /** The sequence length `T`. */
  readonly steps: number;
  /** Bytes of one hidden and one internal checkpoint (positive integers, constant). */
  stateBytes(): StateBytes;
  /** A fresh handle holding `h_0`. */
  initialState(): MaybePromise<THidden>;
  /** Compute forward steps `from + 1 .. to` and keep what `store` and `keepWorking` ask for. */
  forwardRange(request: ForwardRangeRequest<THidden>): MaybePromise<ForwardRangeResult<THidden, TInternal>>;
  /** `h_t` inside the internal state `s_t`, lent (valid while `internal` lives; never disposed). */
  hiddenOf(internal: TInternal): THidden;
  /**
   * Run backward steps `from .. to` (recomputing the steps whose source says so), accumulating the loss and
   * every gradient as version 1's `backward` does; returns the gradient at `h_{to - 1}` (at `to = 1` the
   * gradient at the initial state, also recorded for `readGradients`).
   */
  backwardRange(request: BackwardRangeRequest<THidden, TInternal, TGradient>): MaybePromise<TGradient>;
  /** Release a handle returned by `initialState`, `forwardRange` or `backwardRange`. */
  dispose(handle: THidden | TInternal | TGradient): void;
  /** Reset every accumulated gradient and the loss to zero. */
  zeroGradients(): MaybePromise<void>;
  /** The loss accumulated since the last `zeroGradients()`. */
  loss(): MaybePromise<number>;
  /** A snapshot of the gradients accumulated since the last `zeroGradients()`. */
  readGradients(): MaybePromise<GradientReadout>;
  /** Optional diagnostic: handles handed out and not yet disposed. */
  liveHandles?(): number;
}
