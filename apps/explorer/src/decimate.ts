/**
 * Decimation: turning geometry with many more pieces than there are pixels into at most a few rectangles
 * per pixel column (or row), so that a timeline of 10^4 steps and 10^7 recomputations draws as fast as one
 * of 10 steps. Everything here works in pixel coordinates and is pure.
 */
import type { MemoryProfile } from '@rewind/policy';
import type { Lifetime, Segment } from './timeline';

/** Maps a data value to a pixel coordinate. */
export type Scale = (v: number) => number;

/** An axis-aligned rectangle in pixels. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** Merge sorted-by-start `[a, b]` pairs (flattened) that overlap or touch within `gap`. */
function mergeIntervals(flat: number[], gap: number): number[] {
  const n = flat.length / 2;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (i, j) => (flat[2 * i] as number) - (flat[2 * j] as number),
  );
  const out: number[] = [];
  for (const i of order) {
    const a = flat[2 * i] as number;
    const b = flat[2 * i + 1] as number;
    const last = out.length - 1;
    if (last > 0 && a <= (out[last] as number) + gap) {
      if (b > (out[last] as number)) out[last] = b;
    } else {
      out.push(a, b);
    }
  }
  return out;
}

/**
 * Rasterise line segments into pixel columns `0 .. width - 1`: for each column, the union of the vertical
 * extents the segments cover within it, snapped outwards to whole pixels (at least one pixel tall). Columns
 * with the same extents next to each other become one rectangle.
 */
export function rasterizeSegments(segments: readonly Segment[], sx: Scale, sy: Scale, width: number): Rect[] {
  const cols: number[][] = Array.from({ length: width }, () => []);
  const push = (c: number, ya: number, yb: number): void => {
    if (c < 0 || c >= width) return;
    const lo = Math.floor(Math.min(ya, yb));
    let hi = Math.ceil(Math.max(ya, yb));
    if (hi <= lo) hi = lo + 1;
    (cols[c] as number[]).push(lo, hi);
  };
  for (const s of segments) {
    const px0 = sx(s.x0);
    const px1 = sx(s.x1);
    const py0 = sy(s.y0);
    const py1 = sy(s.y1);
    const span = px1 - px0;
    if (span < 1e-9) {
      push(Math.floor(px0), py0, py1);
      continue;
    }
    const first = Math.max(0, Math.floor(px0));
    const last = Math.min(width - 1, Math.ceil(px1) - 1);
    for (let c = first; c <= last; c++) {
      const xa = Math.max(px0, c);
      const xb = Math.min(px1, c + 1);
      push(c, py0 + ((py1 - py0) * (xa - px0)) / span, py0 + ((py1 - py0) * (xb - px0)) / span);
    }
  }
  const rects: Rect[] = [];
  // Open rectangles of the previous column, keyed by their vertical extent.
  let open = new Map<string, { x: number; y: number; h: number }>();
  const flush = (m: Map<string, { x: number; y: number; h: number }>, end: number): void => {
    for (const r of m.values()) rects.push({ x: r.x, y: r.y, w: end - r.x, h: r.h });
  };
  for (let c = 0; c < width; c++) {
    const merged = mergeIntervals(cols[c] as number[], 0);
    const next = new Map<string, { x: number; y: number; h: number }>();
    for (let i = 0; i < merged.length; i += 2) {
      const y = merged[i] as number;
      const h = (merged[i + 1] as number) - y;
      const key = `${y},${h}`;
      const prev = open.get(key);
      if (prev !== undefined) {
        open.delete(key);
        next.set(key, prev);
      } else {
        next.set(key, { x: c, y, h });
      }
    }
    flush(open, c);
    open = next;
  }
  flush(open, width);
  return rects;
}

/**
 * Rasterise checkpoint lifetimes (horizontal lines) into pixel rows: for each row, the union of the
 * horizontal extents of the lifetimes drawn in it, `thickness` pixels tall and at least one pixel wide.
 */
export function rasterizeLifetimes(
  lifetimes: readonly Lifetime[],
  sx: Scale,
  sy: Scale,
  thickness: number,
): Rect[] {
  const rows = new Map<number, number[]>();
  for (const l of lifetimes) {
    const row = Math.round(sy(l.pos) - thickness / 2);
    let list = rows.get(row);
    if (list === undefined) {
      list = [];
      rows.set(row, list);
    }
    const a = sx(l.start);
    list.push(a, Math.max(sx(l.end), a + 1));
  }
  const rects: Rect[] = [];
  for (const [row, list] of [...rows.entries()].sort((p, q) => p[0] - q[0])) {
    const merged = mergeIntervals(list, 0.5);
    for (let i = 0; i < merged.length; i += 2) {
      const x = merged[i] as number;
      rects.push({ x, y: row, w: (merged[i + 1] as number) - x, h: thickness });
    }
  }
  return rects;
}

/** Per pixel column, the largest memory held during that column's time range. */
export interface Envelope {
  /** Peak slots (hidden + alpha * internal) in each column. */
  readonly max: Float64Array;
  /** The internal checkpoints' share of `max`, in slots. */
  readonly internalAtMax: Float64Array;
}

/**
 * The memory profile of `verify` (a step function with change points `time[i]`) reduced to its maximum per
 * pixel column: column `c` covers times `[c, c + 1) * duration / width`.
 */
export function profileEnvelope(
  profile: MemoryProfile,
  alpha: number,
  duration: number,
  width: number,
): Envelope {
  const max = new Float64Array(width).fill(-1);
  const internalAtMax = new Float64Array(width);
  const n = profile.time.length;
  const perCol = duration > 0 ? width / duration : 0;
  for (let i = 0; i < n; i++) {
    const start = profile.time[i] as number;
    const end = i + 1 < n ? (profile.time[i + 1] as number) : Math.max(start, duration);
    const inner = alpha * (profile.internal[i] as number);
    const v = (profile.hidden[i] as number) + inner;
    const c0 = Math.min(width - 1, Math.floor(start * perCol));
    // The value holds on [start, end): it reaches column floor(end * perCol) only if end is inside it.
    let c1 = Math.min(width - 1, Math.ceil(end * perCol) - 1);
    if (c1 < c0) c1 = c0;
    for (let c = c0; c <= c1; c++) {
      if (v > (max[c] as number)) {
        max[c] = v;
        internalAtMax[c] = inner;
      }
    }
  }
  // Columns no change point reached (none, unless width exceeds the duration) keep their left neighbour.
  for (let c = 0; c < width; c++) {
    if ((max[c] as number) < 0) {
      max[c] = c > 0 ? (max[c - 1] as number) : 0;
      internalAtMax[c] = c > 0 ? (internalAtMax[c - 1] as number) : 0;
    }
  }
  return { max, internalAtMax };
}
