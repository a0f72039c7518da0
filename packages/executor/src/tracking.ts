import type { CellBackendV1, ForwardResultV1, MaybePromise } from './backend.js';
import type { CellBackendV2, ForwardRangeResult } from './backend-v2.js';

type HandleKind = 'hidden' | 'internal' | 'gradient';

/** The backend methods a `HandleTracker` counts calls of. */
export type TrackedMethod =
  | 'stateBytes'
  | 'initialState'
  | 'forward'
  | 'hiddenOf'
  | 'backward'
  | 'dispose'
  | 'zeroGradients'
  | 'loss'
  | 'readGradients';

/** What a handle tracker has seen so far, whatever the version of the backend it wraps. */
export interface HandleCounts<TMethod extends string> {
  /** Handles handed out and not disposed yet. */
  readonly live: number;
  /** Handles handed out so far. */
  readonly acquired: number;
  /** Handles disposed so far. */
  readonly released: number;
  /** Calls per backend method. */
  readonly calls: Readonly<Record<TMethod, number>>;
  /** Every misuse seen, in words: a handle disposed twice, a lent handle disposed, a dead handle used. */
  readonly violations: readonly string[];
}

/** A backend wrapped by `trackHandles`, and what the wrapper has seen so far. */
export interface HandleTracker<THidden, TInternal, TGradient> extends HandleCounts<TrackedMethod> {
  /** The wrapped backend: pass it wherever the original would go. */
  readonly backend: CellBackendV1<THidden, TInternal, TGradient>;
}

function settle<T, U>(value: MaybePromise<T>, then: (v: T) => U): MaybePromise<U> {
  if (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  ) {
    return (value as PromiseLike<T>).then(then);
  }
  return then(value as T);
}

/** The bookkeeping both trackers share: live handles by kind, lent views, counts and violations. */
class Ledger<M extends string> {
  readonly live = new Map<unknown, HandleKind>();
  /** Lent hidden states (from `hiddenOf`) and the internal state each belongs to, and back. */
  private readonly lent = new Map<unknown, unknown>();
  private readonly lentBy = new Map<unknown, unknown>();
  readonly violations: string[] = [];
  acquired = 0;
  released = 0;

  constructor(
    private readonly name: string,
    readonly calls: Record<M, number>,
  ) {}

  fail(message: string): never {
    this.violations.push(message);
    throw new Error(`handle tracking (${this.name}): ${message}`);
  }

  add(handle: unknown, kind: HandleKind, where: string): void {
    if (handle === null || handle === undefined)
      this.fail(`${where} returned ${String(handle)} as a ${kind} handle`);
    if (this.live.has(handle)) this.fail(`${where} returned a ${kind} handle that is already live`);
    this.live.set(handle, kind);
    this.acquired++;
  }

  check(handle: unknown, kinds: readonly HandleKind[], where: string): void {
    const kind = this.live.get(handle);
    if (kind !== undefined) {
      if (!kinds.includes(kind))
        this.fail(`${where} was given a ${kind} handle, expected ${kinds.join(' or ')}`);
      return;
    }
    if (kinds.includes('hidden') && this.lent.has(handle)) {
      if (!this.live.has(this.lent.get(handle)))
        this.fail(`${where} was given a lent hidden state whose internal state is disposed`);
      return;
    }
    this.fail(`${where} was given a handle that is not live (disposed, or never handed out)`);
  }

  lend(view: unknown, internal: unknown): void {
    this.lent.set(view, internal);
    this.lentBy.set(internal, view);
  }

  release(handle: unknown): void {
    if (!this.live.has(handle)) {
      this.fail(
        this.lent.has(handle)
          ? 'dispose was given a lent hidden state (from hiddenOf)'
          : 'dispose was given a handle that is not live (disposed twice, or never handed out)',
      );
    }
    this.live.delete(handle);
    if (this.lentBy.has(handle)) {
      // What it lent dies with it: a later use is reported as a use of a dead handle.
      this.lent.delete(this.lentBy.get(handle));
      this.lentBy.delete(handle);
    }
    this.released++;
  }

  /** The tracker object both wrappers return. */
  tracker<B>(backend: B) {
    const ledger = this;
    return {
      backend,
      get live() {
        return ledger.live.size;
      },
      get acquired() {
        return ledger.acquired;
      },
      get released() {
        return ledger.released;
      },
      calls: this.calls,
      violations: this.violations,
    };
  }
}

/** The calls both versions share, counted and checked the same way. */
function passThrough<THidden, TInternal, TGradient>(
  inner: Pick<
    CellBackendV1<THidden, TInternal, TGradient>,
    'stateBytes' | 'initialState' | 'dispose' | 'zeroGradients' | 'loss' | 'readGradients'
  >,
  ledger: Ledger<'stateBytes' | 'initialState' | 'dispose' | 'zeroGradients' | 'loss' | 'readGradients'>,
) {
  const { calls } = ledger;
  return {
    stateBytes() {
      calls.stateBytes++;
      return inner.stateBytes();
    },
    initialState() {
      calls.initialState++;
      return settle(inner.initialState(), (h) => {
        ledger.add(h, 'hidden', 'initialState()');
        return h;
      });
    },
    dispose(handle: THidden | TInternal | TGradient) {
      calls.dispose++;
      ledger.release(handle);
      inner.dispose(handle);
    },
    zeroGradients() {
      calls.zeroGradients++;
      return inner.zeroGradients();
    },
    loss() {
      calls.loss++;
      return inner.loss();
    },
    readGradients() {
      calls.readGradients++;
      return inner.readGradients();
    },
  };
}

/**
 * Wrap a backend so that every handle it hands out is tracked: the wrapper counts live handles and
 * method calls, and detects misuse by its caller (a handle disposed twice, a lent handle disposed, a
 * disposed handle or one of the wrong kind passed back). Misuse is recorded in `violations` and thrown
 * as an `Error`. Meant for tests and debugging; it costs a map lookup per handle.
 */
export function trackHandles<THidden, TInternal, TGradient>(
  inner: CellBackendV1<THidden, TInternal, TGradient>,
): HandleTracker<THidden, TInternal, TGradient> {
  const ledger = new Ledger<TrackedMethod>(inner.name, {
    stateBytes: 0,
    initialState: 0,
    forward: 0,
    hiddenOf: 0,
    backward: 0,
    dispose: 0,
    zeroGradients: 0,
    loss: 0,
    readGradients: 0,
  });
  const { calls } = ledger;
  const add = (h: unknown, kind: HandleKind, where: string) => ledger.add(h, kind, where);
  const check = (h: unknown, kinds: readonly HandleKind[], where: string) => ledger.check(h, kinds, where);

  const backend: CellBackendV1<THidden, TInternal, TGradient> = {
    specificationVersion: inner.specificationVersion,
    name: inner.name,
    steps: inner.steps,
    ...passThrough(inner, ledger),
    forward(hPrev, t, keepInternal) {
      calls.forward++;
      check(hPrev, ['hidden'], `forward(t=${t})`);
      return settle(inner.forward(hPrev, t, keepInternal), (out: ForwardResultV1<THidden, TInternal>) => {
        add(out.h, 'hidden', `forward(t=${t})`);
        if (out.internal !== undefined) add(out.internal, 'internal', `forward(t=${t})`);
        return out;
      });
    },
    hiddenOf(internal) {
      calls.hiddenOf++;
      check(internal, ['internal'], 'hiddenOf');
      const h = inner.hiddenOf(internal);
      ledger.lend(h, internal);
      return h;
    },
    backward(internal, dh, t) {
      calls.backward++;
      check(internal, ['internal'], `backward(t=${t})`);
      if (dh !== null) check(dh, ['gradient'], `backward(t=${t})`);
      return settle(inner.backward(internal, dh, t), (g) => {
        add(g, 'gradient', `backward(t=${t})`);
        return g;
      });
    },
  };
  const liveHandles = inner.liveHandles;
  if (liveHandles !== undefined) backend.liveHandles = () => liveHandles.call(inner);
  return ledger.tracker(backend);
}

/** The version 2 backend methods a `HandleTrackerV2` counts calls of. */
export type TrackedMethodV2 =
  | 'stateBytes'
  | 'initialState'
  | 'forwardRange'
  | 'hiddenOf'
  | 'backwardRange'
  | 'dispose'
  | 'zeroGradients'
  | 'loss'
  | 'readGradients';

/** A version 2 backend wrapped by `trackHandlesV2`, and what the wrapper has seen so far. */
export interface HandleTrackerV2<THidden, TInternal, TGradient> extends HandleCounts<TrackedMethodV2> {
  /** The wrapped backend: pass it wherever the original would go. */
  readonly backend: CellBackendV2<THidden, TInternal, TGradient>;
}

/**
 * The version 2 counterpart of `trackHandles`: wraps a `CellBackendV2` so that every handle it hands out
 * (initial states, the checkpoints and working state of forward ranges, gradients) is tracked, and every
 * handle a range borrows (its start, its sources, its incoming gradient) is checked to be live and of the
 * right kind. Misuse is recorded in `violations` and thrown as an `Error`.
 */
export function trackHandlesV2<THidden, TInternal, TGradient>(
  inner: CellBackendV2<THidden, TInternal, TGradient>,
): HandleTrackerV2<THidden, TInternal, TGradient> {
  const ledger = new Ledger<TrackedMethodV2>(inner.name, {
    stateBytes: 0,
    initialState: 0,
    forwardRange: 0,
    hiddenOf: 0,
    backwardRange: 0,
    dispose: 0,
    zeroGradients: 0,
    loss: 0,
    readGradients: 0,
  });
  const { calls } = ledger;
  const add = (h: unknown, kind: HandleKind, where: string) => ledger.add(h, kind, where);
  const check = (h: unknown, kind: HandleKind, where: string) => ledger.check(h, [kind], where);

  const backend: CellBackendV2<THidden, TInternal, TGradient> = {
    specificationVersion: inner.specificationVersion,
    name: inner.name,
    steps: inner.steps,
    ...passThrough(inner, ledger),
    forwardRange(request) {
      calls.forwardRange++;
      const where = `forwardRange(${request.from}..${request.to})`;
      check(request.start, 'hidden', where);
      const kind: HandleKind = request.store?.kind ?? 'hidden';
      return settle(inner.forwardRange(request), (out: ForwardRangeResult<THidden, TInternal>) => {
        for (const handle of out.kept) add(handle, kind, where);
        if (out.working !== undefined) add(out.working, 'internal', where);
        return out;
      });
    },
    hiddenOf(internal) {
      calls.hiddenOf++;
      check(internal, 'internal', 'hiddenOf');
      const h = inner.hiddenOf(internal);
      ledger.lend(h, internal);
      return h;
    },
    backwardRange(request) {
      calls.backwardRange++;
      const where = `backwardRange(${request.from}..${request.to})`;
      for (const source of request.sources) {
        if ('internal' in source) check(source.internal, 'internal', where);
        else check(source.recomputeFrom, 'hidden', where);
      }
      if (request.dh !== null) check(request.dh, 'gradient', where);
      return settle(inner.backwardRange(request), (g) => {
        add(g, 'gradient', where);
        return g;
      });
    },
  };
  const liveHandles = inner.liveHandles;
  if (liveHandles !== undefined) backend.liveHandles = () => liveHandles.call(inner);
  return ledger.tracker(backend);
}
