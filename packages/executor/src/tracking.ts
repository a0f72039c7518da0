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

/** A backend wrapped by `trackHandles`, and what the wrapper has seen so far. */
export interface HandleTracker<THidden, TInternal, TGradient> {
  /** The wrapped backend: pass it wherever the original would go. */
  readonly backend: CellBackendV1<THidden, TInternal, TGradient>;
  /** Handles handed out and not disposed yet. */
  readonly live: number;
  /** Handles handed out so far. */
  readonly acquired: number;
  /** Handles disposed so far. */
  readonly released: number;
  /** Calls per backend method. */
  readonly calls: Readonly<Record<TrackedMethod, number>>;
  /** Every misuse seen, in words: a handle disposed twice, a lent handle disposed, a dead handle used. */
  readonly violations: readonly string[];
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

/**
 * Wrap a backend so that every handle it hands out is tracked: the wrapper counts live handles and
 * method calls, and detects misuse by its caller (a handle disposed twice, a lent handle disposed, a
 * disposed handle or one of the wrong kind passed back). Misuse is recorded in `violations` and thrown
 * as an `Error`. Meant for tests and debugging; it costs a map lookup per handle.
 */
export function trackHandles<THidden, TInternal, TGradient>(
  inner: CellBackendV1<THidden, TInternal, TGradient>,
): HandleTracker<THidden, TInternal, TGradient> {
  const live = new Map<unknown, HandleKind>();
  /** Lent hidden states (from `hiddenOf`) and the internal state each belongs to. */
  const lent = new Map<unknown, unknown>();
  const lentBy = new Map<unknown, unknown>();
  const violations: string[] = [];
  const calls: Record<TrackedMethod, number> = {
    stateBytes: 0,
    initialState: 0,
    forward: 0,
    hiddenOf: 0,
    backward: 0,
    dispose: 0,
    zeroGradients: 0,
    loss: 0,
    readGradients: 0,
  };
  let acquired = 0;
  let released = 0;

  const fail = (message: string): never => {
    violations.push(message);
    throw new Error(`handle tracking (${inner.name}): ${message}`);
  };
  const add = (handle: unknown, kind: HandleKind, where: string): void => {
    if (handle === null || handle === undefined)
      fail(`${where} returned ${String(handle)} as a ${kind} handle`);
    if (live.has(handle)) fail(`${where} returned a ${kind} handle that is already live`);
    live.set(handle, kind);
    acquired++;
  };
  const check = (handle: unknown, kinds: readonly HandleKind[], where: string): void => {
    const kind = live.get(handle);
    if (kind !== undefined) {
      if (!kinds.includes(kind)) fail(`${where} was given a ${kind} handle, expected ${kinds.join(' or ')}`);
      return;
    }
    if (kinds.includes('hidden') && lent.has(handle)) {
      if (!live.has(lent.get(handle)))
        fail(`${where} was given a lent hidden state whose internal state is disposed`);
      return;
    }
    fail(`${where} was given a handle that is not live (disposed, or never handed out)`);
  };

  const backend: CellBackendV1<THidden, TInternal, TGradient> = {
    specificationVersion: inner.specificationVersion,
    name: inner.name,
    steps: inner.steps,
    stateBytes() {
      calls.stateBytes++;
      return inner.stateBytes();
    },
    initialState() {
      calls.initialState++;
      return settle(inner.initialState(), (h) => {
        add(h, 'hidden', 'initialState()');
        return h;
      });
    },
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
      lent.set(h, internal);
      lentBy.set(internal, h);
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
    dispose(handle) {
      calls.dispose++;
      if (!live.has(handle)) {
        fail(
          lent.has(handle)
            ? 'dispose was given a lent hidden state (from hiddenOf)'
            : 'dispose was given a handle that is not live (disposed twice, or never handed out)',
        );
      }
      live.delete(handle);
      if (lentBy.has(handle)) {
        // What it lent dies with it: a later use is reported as a use of a dead handle.
        lent.delete(lentBy.get(handle));
        lentBy.delete(handle);
      }
      released++;
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
  const liveHandles = inner.liveHandles;
  if (liveHandles !== undefined) backend.liveHandles = () => liveHandles.call(inner);

  return {
    backend,
    get live() {
      return live.size;
    },
    get acquired() {
      return acquired;
    },
    get released() {
      return released;
    },
    calls,
    violations,
  };
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
export interface HandleTrackerV2<THidden, TInternal, TGradient> {
  /** The wrapped backend: pass it wherever the original would go. */
  readonly backend: CellBackendV2<THidden, TInternal, TGradient>;
  /** Handles handed out and not disposed yet. */
  readonly live: number;
  /** Handles handed out so far. */
  readonly acquired: number;
  /** Handles disposed so far. */
  readonly released: number;
  /** Calls per backend method. */
  readonly calls: Readonly<Record<TrackedMethodV2, number>>;
  /** Every misuse seen, in words. */
  readonly violations: readonly string[];
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
  const live = new Map<unknown, HandleKind>();
  const lent = new Map<unknown, unknown>();
  const lentBy = new Map<unknown, unknown>();
  const violations: string[] = [];
  const calls: Record<TrackedMethodV2, number> = {
    stateBytes: 0,
    initialState: 0,
    forwardRange: 0,
    hiddenOf: 0,
    backwardRange: 0,
    dispose: 0,
    zeroGradients: 0,
    loss: 0,
    readGradients: 0,
  };
  let acquired = 0;
  let released = 0;

  const fail = (message: string): never => {
    violations.push(message);
    throw new Error(`handle tracking (${inner.name}): ${message}`);
  };
  const add = (handle: unknown, kind: HandleKind, where: string): void => {
    if (handle === null || handle === undefined)
      fail(`${where} returned ${String(handle)} as a ${kind} handle`);
    if (live.has(handle)) fail(`${where} returned a ${kind} handle that is already live`);
    live.set(handle, kind);
    acquired++;
  };
  const check = (handle: unknown, kind: HandleKind, where: string): void => {
    const found = live.get(handle);
    if (found !== undefined) {
      if (found !== kind) fail(`${where} was given a ${found} handle, expected ${kind}`);
      return;
    }
    if (kind === 'hidden' && lent.has(handle)) {
      if (!live.has(lent.get(handle)))
        fail(`${where} was given a lent hidden state whose internal state is disposed`);
      return;
    }
    fail(`${where} was given a handle that is not live (disposed, or never handed out)`);
  };

  const backend: CellBackendV2<THidden, TInternal, TGradient> = {
    specificationVersion: inner.specificationVersion,
    name: inner.name,
    steps: inner.steps,
    stateBytes() {
      calls.stateBytes++;
      return inner.stateBytes();
    },
    initialState() {
      calls.initialState++;
      return settle(inner.initialState(), (h) => {
        add(h, 'hidden', 'initialState()');
        return h;
      });
    },
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
      lent.set(h, internal);
      lentBy.set(internal, h);
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
    dispose(handle) {
      calls.dispose++;
      if (!live.has(handle)) {
        fail(
          lent.has(handle)
            ? 'dispose was given a lent hidden state (from hiddenOf)'
            : 'dispose was given a handle that is not live (disposed twice, or never handed out)',
        );
      }
      live.delete(handle);
      if (lentBy.has(handle)) {
        lent.delete(lentBy.get(handle));
        lentBy.delete(handle);
      }
      released++;
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
  const liveHandles = inner.liveHandles;
  if (liveHandles !== undefined) backend.liveHandles = () => liveHandles.call(inner);

  return {
    backend,
    get live() {
      return live.size;
    },
    get acquired() {
      return acquired;
    },
    get released() {
      return released;
    },
    calls,
    violations,
  };
}
