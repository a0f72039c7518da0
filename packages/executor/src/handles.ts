/**
 * The handle bookkeeping and step order every backend of the interface enforces, written once: a backend
 * registers the handles it hands out and asks the book to check the ones it is given.
 */
import type { BackwardRangeRequest, ForwardRangeRequest } from './backend-v2.js';
import { ExecutorError } from './errors.js';

/** The kinds of handle of the backend interface. */
export type HandleKind = 'hidden' | 'internal' | 'gradient';

/** The codes a `HandleBook` fails with: a misused handle, or a step out of range or out of order. */
export type HandleErrorCode = 'E_HANDLE' | 'E_STEP';

/** Options of a `HandleBook`. */
export interface HandleBookOptions {
  /** The backend's name, which starts every message. */
  readonly name: string;
  /** The sequence length `T`. */
  readonly steps: number;
  /**
   * Builds the error thrown for a misuse (default: an `ExecutorError` with the code), so that a backend
   * can throw its own error class with the same codes.
   */
  readonly error?: (code: HandleErrorCode, message: string) => Error;
}

interface Entry {
  readonly kind: HandleKind;
  disposed: boolean;
  /** The position of a hidden state (`h_step`), the step of an internal state; undefined when unknown. */
  readonly step: number | undefined;
  /** A lent hidden view: the internal state it belongs to. */
  readonly lentBy: object | undefined;
  /** An internal state: its lent view, once made. */
  view: object | undefined;
}

/**
 * The bookkeeping of one backend's handles and step order, with one set of error codes:
 *
 * - `E_HANDLE`: a handle the book never registered (another backend's, or not a handle), of the wrong kind,
 *   disposed, a lent view used after its internal state was disposed, or a lent view disposed;
 * - `E_STEP`: a step outside `1..T`, a forward step from a state that is not `h_{t-1}` (when the state's
 *   position is known), a backward step given another step's internal state, out of order (`T, T-1, .., 1`,
 *   a new pass may start at `T` at any time) or with an incoming gradient at `T` (none arrives there) or
 *   without one below `T`; for ranges (version 2), also a malformed range, store or list of sources.
 *
 * Handles are the backend's own objects; the book keeps what it knows of them in a `WeakMap` and counts
 * the live ones (lent views do not count: they are never disposed by the caller).
 */
export class HandleBook {
  readonly name: string;
  readonly steps: number;
  private readonly entries = new WeakMap<object, Entry>();
  private readonly makeError: (code: HandleErrorCode, message: string) => Error;
  private liveCount = 0;
  private nextBackward: number;

  constructor(options: HandleBookOptions) {
    this.name = options.name;
    this.steps = options.steps;
    this.nextBackward = options.steps;
    this.makeError = options.error ?? ((code, message) => new ExecutorError(code, message));
  }

  /** Handles handed out and not yet disposed. */
  get live(): number {
    return this.liveCount;
  }

  /** Throw the book's error for `code`, with the backend's name in front of `message`. */
  fail(code: HandleErrorCode, message: string): never {
    throw this.makeError(code, `${this.name}: ${message}`);
  }

  private add(handle: object, entry: Entry, counted: boolean): void {
    if (this.entries.has(handle)) this.fail('E_HANDLE', `a ${entry.kind} handle was registered twice`);
    this.entries.set(handle, entry);
    if (counted) this.liveCount++;
  }

  /** Register a hidden state handed to the caller; `step` is its position `t` of `h_t`, when known. */
  hidden<H extends object>(handle: H, step?: number): H {
    this.add(handle, { kind: 'hidden', disposed: false, step, lentBy: undefined, view: undefined }, true);
    return handle;
  }

  /** Register the internal state of step `step` handed to the caller, and optionally its lent view now. */
  internal<S extends object>(handle: S, step: number, view?: object): S {
    this.add(handle, { kind: 'internal', disposed: false, step, lentBy: undefined, view: undefined }, true);
    if (view !== undefined) this.lend(handle, view);
    return handle;
  }

  /**
   * Register `view` as the lent hidden state `h_step` inside `internal` (what `hiddenOf` returns), or
   * return the one registered before.
   */
  lend<H extends object>(internal: object, view: H): H {
    const parent = this.entry(internal, 'internal', 'hiddenOf');
    if (parent.view !== undefined) return parent.view as H;
    this.add(
      view,
      { kind: 'hidden', disposed: false, step: parent.step, lentBy: internal, view: undefined },
      false,
    );
    parent.view = view;
    return view;
  }

  /** The lent view registered for `internal`, or undefined when none was made yet. */
  viewOf<H extends object>(internal: unknown): H | undefined {
    return this.entry(internal, 'internal', 'hiddenOf').view as H | undefined;
  }

  /** Register a gradient handed to the caller. */
  gradient<G extends object>(handle: G): G {
    this.add(
      handle,
      { kind: 'gradient', disposed: false, step: undefined, lentBy: undefined, view: undefined },
      true,
    );
    return handle;
  }

  private entry(handle: unknown, kind: HandleKind, where: string): Entry {
    const found = typeof handle === 'object' && handle !== null ? this.entries.get(handle) : undefined;
    if (found === undefined || found.kind !== kind) {
      return this.fail('E_HANDLE', `${where} expects a ${kind} handle of this backend`);
    }
    if (found.disposed) return this.fail('E_HANDLE', `${where} was given a disposed ${kind} handle`);
    if (found.lentBy !== undefined && this.entries.get(found.lentBy)?.disposed !== false) {
      return this.fail('E_HANDLE', `${where} was given a view of a disposed internal state`);
    }
    return found;
  }

  /** Check that `handle` is a live handle of `kind` of this backend, and return it. */
  use<T>(handle: unknown, kind: HandleKind, where: string): T {
    this.entry(handle, kind, where);
    return handle as T;
  }

  /** Check a step number: an integer in `1..T`. */
  checkStep(t: number, where: string): void {
    if (!Number.isInteger(t) || t < 1 || t > this.steps) {
      this.fail('E_STEP', `${where} step ${t} is outside 1..${this.steps}`);
    }
  }

  /** Check the arguments of `forward(hPrev, t)`; returns `hPrev`. */
  forward<H>(hPrev: unknown, t: number): H {
    const entry = this.entry(hPrev, 'hidden', 'forward');
    this.checkStep(t, 'forward');
    if (entry.step !== undefined && entry.step !== t - 1) {
      this.fail('E_STEP', `forward step ${t} was given h_${entry.step}, expected h_${t - 1}`);
    }
    return hPrev as H;
  }

  /**
   * Check the arguments of `backward(internal, dh, t)` and advance the step order (the next backward step
   * is then `t - 1`, or `T` after step 1); returns them.
   */
  backward<S, G>(internal: unknown, dh: unknown, t: number): { internal: S; dh: G | null } {
    const s = this.entry(internal, 'internal', 'backward');
    if (dh !== null) this.entry(dh, 'gradient', 'backward');
    this.checkStep(t, 'backward');
    if (s.step !== t)
      this.fail('E_STEP', `backward step ${t} was given the internal state of step ${s.step}`);
    if (t !== this.nextBackward && t !== this.steps) {
      this.fail(
        'E_STEP',
        `backward step ${t} out of order; expected ${this.nextBackward} (or ${this.steps} to start a pass)`,
      );
    }
    if ((t === this.steps) !== (dh === null)) {
      this.fail(
        'E_STEP',
        `backward step ${t} needs ${t === this.steps ? 'no incoming gradient' : 'an incoming gradient'}`,
      );
    }
    this.nextBackward = t === 1 ? this.steps : t - 1;
    return { internal: internal as S, dh: dh as G | null };
  }

  /**
   * Check a version 2 `forwardRange` request before any work: `start` is a live hidden state at position
   * `from` (when its position is known), `0 <= from < to <= T`, `store` names a kind and a stride in
   * `1..to - from`, and `keepWorking` is a boolean. Returns `start`.
   */
  forwardRange<H>(request: ForwardRangeRequest<unknown>): H {
    const { from, to, store } = request;
    const entry = this.entry(request.start, 'hidden', 'forwardRange');
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from >= to || to > this.steps) {
      this.fail('E_STEP', `forwardRange ${from}..${to} is not a range 0 <= from < to <= ${this.steps}`);
    }
    if (entry.step !== undefined && entry.step !== from) {
      this.fail('E_STEP', `forwardRange from ${from} was given h_${entry.step}`);
    }
    if (store !== undefined) {
      if (store.kind !== 'hidden' && store.kind !== 'internal') {
        this.fail('E_STEP', `forwardRange store kind ${String(store.kind)}; expected hidden or internal`);
      }
      if (!Number.isInteger(store.stride) || store.stride < 1 || store.stride > to - from) {
        this.fail('E_STEP', `forwardRange store stride ${store.stride} is outside 1..${to - from}`);
      }
    }
    if (typeof request.keepWorking !== 'boolean') {
      this.fail('E_STEP', 'forwardRange keepWorking must be a boolean');
    }
    return request.start as H;
  }

  /**
   * Check a version 2 `backwardRange` request before any work, and advance the step order (the next
   * backward step is then `to - 1`, or `T` after step 1): `1 <= to <= from <= T`, `from` is the next
   * backward step (or `T`, to start a pass), an incoming gradient exactly below `T`, and one source per
   * step: the internal state of that step, or a hidden state at its position minus one (when known).
   */
  backwardRange(request: BackwardRangeRequest<unknown, unknown, unknown>): void {
    const { from, to, sources, dh } = request;
    if (!Number.isInteger(from) || !Number.isInteger(to) || to < 1 || to > from || from > this.steps) {
      this.fail('E_STEP', `backwardRange ${from}..${to} is not a range 1 <= to <= from <= ${this.steps}`);
    }
    if (from !== this.nextBackward && from !== this.steps) {
      this.fail(
        'E_STEP',
        `backwardRange from ${from} out of order; expected ${this.nextBackward} (or ${this.steps} to start a pass)`,
      );
    }
    if ((from === this.steps) !== (dh === null)) {
      this.fail(
        'E_STEP',
        `backwardRange from ${from} needs ${from === this.steps ? 'no incoming gradient' : 'an incoming gradient'}`,
      );
    }
    if (dh !== null) this.entry(dh, 'gradient', 'backwardRange');
    if (!Array.isArray(sources) || sources.length !== from - to + 1) {
      this.fail('E_STEP', `backwardRange ${from}..${to} needs ${from - to + 1} sources`);
    }
    for (let i = 0; i < sources.length; i++) {
      const t = from - i;
      const source = sources[i] as { readonly internal?: unknown; readonly recomputeFrom?: unknown };
      if (source?.internal !== undefined) {
        const s = this.entry(source.internal, 'internal', `backwardRange step ${t}`);
        if (s.step !== t) {
          this.fail('E_STEP', `backwardRange step ${t} was given the internal state of step ${s.step}`);
        }
      } else {
        const h = this.entry(source?.recomputeFrom, 'hidden', `backwardRange step ${t}`);
        if (h.step !== undefined && h.step !== t - 1) {
          this.fail(
            'E_STEP',
            `backwardRange step ${t} would recompute from h_${h.step}, expected h_${t - 1}`,
          );
        }
      }
    }
    this.nextBackward = to === 1 ? this.steps : to - 1;
  }

  /** Start the step order afresh (a new pass begins at `T`): call it from `zeroGradients`. */
  resetOrder(): void {
    this.nextBackward = this.steps;
  }

  /**
   * Check and record the disposal of a handle the caller owns; returns its kind so that the backend can
   * free what it holds. Disposing an internal state also ends its lent view.
   */
  dispose(handle: unknown): HandleKind {
    const found = typeof handle === 'object' && handle !== null ? this.entries.get(handle) : undefined;
    if (found === undefined) return this.fail('E_HANDLE', 'dispose expects a handle of this backend');
    if (found.lentBy !== undefined) {
      return this.fail('E_HANDLE', 'dispose was given a lent hidden state (from hiddenOf)');
    }
    if (found.disposed) return this.fail('E_HANDLE', `${found.kind} handle disposed twice`);
    found.disposed = true;
    this.liveCount--;
    if (found.view !== undefined) {
      const view = this.entries.get(found.view);
      if (view !== undefined) view.disposed = true;
    }
    return found.kind;
  }
}
