import type { StateBytes } from '@rewind/policy';

/** A value, or a promise of it: backends may answer synchronously or asynchronously. */
export type MaybePromise<T> = T | PromiseLike<T>;

/** The version string of the backend interface this package implements and runs. */
export const BACKEND_SPECIFICATION_VERSION = 'rewind-backend-v1';

/** What forward step `t` produced. */
export interface ForwardResultV1<THidden, TInternal> {
  /** `h_t`, owned by the caller. */
  readonly h: THidden;
  /** `s_t`, owned by the caller: present exactly when the call asked to keep it. */
  readonly internal?: TInternal;
}

/**
 * Gradients accumulated by a backend since its last `zeroGradients()`, as plain numbers.
 *
 * A snapshot: later calls to the backend never change the arrays it returned.
 */
export interface GradientReadout {
  /** Gradient of the loss with respect to every parameter, by parameter name. */
  readonly parameters: Readonly<Record<string, ArrayLike<number>>>;
  /** Gradient with respect to the inputs `x_1 .. x_T` of the batch, in the backend's layout. */
  readonly inputs?: ArrayLike<number>;
  /** Gradient with respect to the initial state `h_0` (every part of it, e.g. `h_0` and `c_0`). */
  readonly initialState?: ArrayLike<number>;
}

/**
 * A recurrent cell over one batch, as seen by the executor: version 1 of the backend interface.
 *
 * One backend is created per model and batch: it owns the parameters, the inputs `x_1 .. x_T` and the
 * targets of the batch, and accumulates every gradient (parameters, inputs, initial state) and the loss
 * itself. The executor only moves opaque handles around and never looks inside them.
 *
 * **Handles.** `THidden` is whatever the cell carries from one step to the next (for an LSTM the pair
 * `(h, c)`), `TInternal` the internal state `s_t` (everything backward step `t` needs), `TGradient` a
 * gradient at a hidden state. Handles may be any values except `null` and `undefined`, and every live
 * handle must be distinct from every other (compared with `SameValueZero`).
 *
 * **Ownership.** Handles a method returns are owned by the caller, who releases each exactly once with
 * `dispose`; the one exception is `hiddenOf`, which lends a view of its argument. Handles passed as
 * arguments are only borrowed for the duration of the call: the backend never disposes or keeps them.
 *
 * **Losses.** The loss is a sum of per-step terms, each a function of `h_t` (a model with a loss at the
 * last step only has no term elsewhere). Backward step `t` adds step `t`'s own loss gradient to the
 * gradient `dh` arriving from step `t + 1` and adds step `t`'s term to the loss value. Since every
 * backward step runs exactly once per pass, while forward steps may be recomputed, the loss is counted
 * in `backward`, never in `forward`.
 *
 * **Asynchrony.** `initialState`, `forward`, `backward`, `zeroGradients`, `loss` and `readGradients`
 * may return promises; the executor awaits them one at a time and never overlaps two calls.
 */
export interface CellBackendV1<THidden = unknown, TInternal = unknown, TGradient = unknown> {
  /** Always `'rewind-backend-v1'`: the executor refuses backends of a version it does not know. */
  readonly specificationVersion: 'rewind-backend-v1';
  /** A short name for messages, e.g. `'reference/lstm'`. */
  readonly name: string;
  /** The sequence length `T` of the batch: the number of recurrent steps. */
  readonly steps: number;

  /**
   * Size in bytes of one hidden state and of one internal state: what a checkpoint of each kind holds.
   * Positive integers, constant for the backend's lifetime. Their ratio is the cell's `alpha`.
   */
  stateBytes(): StateBytes;

  /** A fresh handle holding the initial state `h_0`. */
  initialState(): MaybePromise<THidden>;

  /**
   * Compute forward step `t` (`1 <= t <= T`) from `hPrev = h_{t-1}` and the batch's input `x_t`.
   *
   * @param keepInternal - whether to return the internal state `s_t` as well; when false the backend
   * should not build or keep it.
   * @returns `h_t`, and `s_t` exactly when `keepInternal` is true.
   */
  forward(
    hPrev: THidden,
    t: number,
    keepInternal: boolean,
  ): MaybePromise<ForwardResultV1<THidden, TInternal>>;

  /**
   * The hidden state `h_t` held inside the internal state `s_t`, without computation. The result is lent:
   * it stays valid while `internal` is alive and is never passed to `dispose`.
   */
  hiddenOf(internal: TInternal): THidden;

  /**
   * Run backward step `t` (`T, T-1, .., 1`, each exactly once per pass).
   *
   * Adds step `t`'s loss term to the loss and its gradient to `dh` (`null` at `t = T`: nothing arrives
   * from beyond the last step), back-propagates through the cell using `internal = s_t`, accumulates the
   * parameter gradients and the gradient at the input `x_t`, and returns the gradient at `h_{t-1}`. At
   * `t = 1` the result is the gradient at the initial state, which the backend also records for
   * `readGradients`.
   */
  backward(internal: TInternal, dh: TGradient | null, t: number): MaybePromise<TGradient>;

  /** Release a handle returned by `initialState`, `forward` or `backward`. */
  dispose(handle: THidden | TInternal | TGradient): void;

  /** Reset every accumulated gradient and the loss to zero. */
  zeroGradients(): MaybePromise<void>;

  /** The loss accumulated by the backward steps since the last `zeroGradients()`. */
  loss(): MaybePromise<number>;

  /** A snapshot of the gradients accumulated since the last `zeroGradients()`. */
  readGradients(): MaybePromise<GradientReadout>;

  /**
   * Optional diagnostic: the number of handles the backend has handed out and not yet seen disposed.
   * Conformance tests use it to prove that nothing leaks.
   */
  liveHandles?(): number;
}

/** The current version of the backend interface. */
export type CellBackend<THidden = unknown, TInternal = unknown, TGradient = unknown> = CellBackendV1<
  THidden,
  TInternal,
  TGradient
>;

/** What forward step `t` produced, for the current version of the backend interface. */
export type ForwardResult<THidden, TInternal> = ForwardResultV1<THidden, TInternal>;
