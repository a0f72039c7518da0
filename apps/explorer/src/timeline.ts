/**
 * The geometry of a policy's timeline, in data coordinates: x is time counted in step computations
 * (forward and backward steps, as `verify` counts them), y is the sequence position. Replays the policy on
 * the abstract machine of docs/policy-format.md (which it assumes valid: verify it first) and records
 *
 * - forward segments, rising one position per step: the first computation of a position, or a
 *   recomputation of a position computed before;
 * - backward runs, descending one position per step (a run ends where a recomputation interrupts it);
 * - checkpoint lifetimes: from the moment a checkpoint is stored to the moment it is freed or dies.
 */
import type { Policy } from '@rewind/policy';

export type SegmentKind = 'forward' | 'recompute' | 'backward';

/** A straight piece of the timeline from (x0, y0) to (x1, y1); |y1 - y0| = x1 - x0 steps. */
export interface Segment {
  readonly kind: SegmentKind;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** A checkpoint held at `pos` from time `start` to time `end`. */
export interface Lifetime {
  readonly kind: 'hidden' | 'internal';
  readonly pos: number;
  readonly start: number;
  readonly end: number;
}

export interface Timeline {
  readonly steps: number;
  /** Total step computations: forwards + backwards. */
  readonly duration: number;
  readonly forwards: number;
  readonly backwards: number;
  /** Forward steps that recomputed a position computed before. */
  readonly recomputed: number;
  readonly segments: readonly Segment[];
  readonly lifetimes: readonly Lifetime[];
}

/** Replay `policy` (assumed valid) and return its timeline geometry. Linear in steps + instructions. */
export function timelineOf(policy: Policy): Timeline {
  const T = policy.steps;
  const segments: Segment[] = [];
  const lifetimes: Lifetime[] = [];
  // Start time of the held checkpoint at each position, or -1.
  const hidden = new Float64Array(T + 1).fill(-1);
  const internal = new Float64Array(T + 1).fill(-1);
  hidden[0] = 0;
  let time = 0;
  let forwards = 0;
  let backwards = 0;
  let recomputed = 0;
  // Highest position computed so far: positions at or below it are recomputed when computed again.
  let reached = 0;
  let working = -1;
  let sweptHidden = T + 1;
  let sweptInternal = T + 1;

  const release = (kind: 'hidden' | 'internal', pos: number): void => {
    const held = kind === 'hidden' ? hidden : internal;
    const start = held[pos] as number;
    if (start < 0) return;
    held[pos] = -1;
    lifetimes.push({ kind, pos, start, end: time });
  };

  const forwardSegment = (from: number, to: number): void => {
    // from < to; the part at or below `reached` is a recomputation.
    const split = Math.min(to, Math.max(from, reached));
    if (split > from) {
      segments.push({ kind: 'recompute', x0: time, y0: from, x1: time + (split - from), y1: split });
      recomputed += split - from;
    }
    if (to > split) {
      segments.push({
        kind: 'forward',
        x0: time + (split - from),
        y0: split,
        x1: time + (to - from),
        y1: to,
      });
    }
    if (to > reached) reached = to;
  };

  for (const ins of policy.instructions) {
    if (ins.op === 'forward') {
      const { from, to } = ins;
      forwardSegment(from, to);
      if (ins.store !== undefined) {
        const held = ins.store === 'hidden' ? hidden : internal;
        const stride = ins.stride ?? to - from;
        for (let p = from + stride; p <= to; p += stride) held[p] = time + (p - from);
      }
      time += to - from;
      forwards += to - from;
      working = to;
      continue;
    }
    if (ins.op === 'backward') {
      let runStart = -1;
      let runFrom = 0;
      const closeRun = (toPos: number): void => {
        if (runStart >= 0) {
          segments.push({ kind: 'backward', x0: runStart, y0: runFrom, x1: time, y1: toPos });
          runStart = -1;
        }
      };
      for (let t = ins.from; t >= ins.to; t--) {
        if ((internal[t] as number) < 0 && !(t === ins.from && working === ins.from)) {
          // Recompute forward step t from the state held at t - 1.
          closeRun(t);
          forwardSegment(t - 1, t);
          time += 1;
          forwards += 1;
        }
        if (runStart < 0) {
          runStart = time;
          runFrom = t;
        }
        time += 1;
        backwards += 1;
        for (let p = sweptHidden - 1; p >= t - 1; p--) release('hidden', p);
        if (t - 1 < sweptHidden) sweptHidden = t - 1;
        for (let p = sweptInternal - 1; p >= t; p--) release('internal', p);
        if (t < sweptInternal) sweptInternal = t;
      }
      closeRun(ins.to - 1);
      working = -1;
      continue;
    }
    release(ins.kind, ins.at);
    working = -1;
  }
  // A valid policy releases everything by the end; close what an incomplete one left open.
  for (let p = 0; p <= T; p++) {
    release('hidden', p);
    release('internal', p);
  }
  return { steps: T, duration: time, forwards, backwards, recomputed, segments, lifetimes };
}

/** The backward runs of a timeline as `[from, to]` position pairs (`from >= to`), in time order. */
export function backwardRuns(tl: Timeline): [number, number][] {
  return tl.segments.filter((s) => s.kind === 'backward').map((s) => [s.y0, s.y1 + 1]);
}
