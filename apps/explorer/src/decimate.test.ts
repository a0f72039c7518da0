import { verify } from '@rewind/policy';
import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { profileEnvelope, type Rect, rasterizeLifetimes, rasterizeSegments } from './decimate';
import { linearScale } from './scale';
import type { Segment } from './timeline';
import { timelineOf } from './timeline';

const identity = (v: number) => v;

/** Whether pixel (x, y) (its centre) is inside one of the rectangles. */
const covered = (rects: readonly Rect[], x: number, y: number) =>
  rects.some((r) => x + 0.5 >= r.x && x + 0.5 <= r.x + r.w && y + 0.5 >= r.y && y + 0.5 <= r.y + r.h);

describe('rasterizeSegments', () => {
  it('covers a diagonal with one rectangle per column', () => {
    const seg: Segment = { kind: 'forward', x0: 0, y0: 10, x1: 10, y1: 0 };
    const rects = rasterizeSegments([seg], identity, identity, 20);
    expect(rects).toHaveLength(10);
    for (let c = 0; c < 10; c++) {
      const r = rects.find((q) => q.x === c);
      expect(r).toEqual({ x: c, y: 9 - c, w: 1, h: 1 });
    }
  });

  it('merges columns with the same extent into one rectangle', () => {
    const seg: Segment = { kind: 'forward', x0: 2, y0: 5.5, x1: 50, y1: 5.5 };
    expect(rasterizeSegments([seg], identity, identity, 100)).toEqual([{ x: 2, y: 5, w: 48, h: 1 }]);
  });

  it('keeps disjoint pieces of one column apart and merges overlapping ones', () => {
    const segs: Segment[] = [
      { kind: 'forward', x0: 0, y0: 0, x1: 0.5, y1: 3 },
      { kind: 'forward', x0: 0.2, y0: 2, x1: 0.3, y1: 4 },
      { kind: 'forward', x0: 0.5, y0: 10, x1: 0.9, y1: 12 },
    ];
    expect(rasterizeSegments(segs, identity, identity, 1)).toEqual([
      { x: 0, y: 0, w: 1, h: 4 },
      { x: 0, y: 10, w: 1, h: 2 },
    ]);
  });

  it('clips to the width and draws a zero-length segment as one pixel', () => {
    const segs: Segment[] = [
      { kind: 'forward', x0: -5, y0: 0, x1: 15, y1: 20 },
      { kind: 'backward', x0: 3, y0: 7, x1: 3, y1: 7 },
    ];
    const rects = rasterizeSegments(segs, identity, identity, 10);
    expect(Math.min(...rects.map((r) => r.x))).toBe(0);
    expect(Math.max(...rects.map((r) => r.x + r.w))).toBe(10);
    expect(covered(rects, 3, 7)).toBe(true);
  });

  it('reduces 10^5 segments to a bounded number of rectangles covering every segment', () => {
    const segs: Segment[] = [];
    let t = 0;
    for (let i = 0; i < 100_000; i++) {
      const len = 1 + (i % 50);
      segs.push({ kind: 'recompute', x0: t, y0: 0, x1: t + len, y1: len });
      t += len;
    }
    const width = 400;
    const height = 100;
    const sx = linearScale(0, t, 0, width);
    const sy = linearScale(0, 50, height, 0);
    const rects = rasterizeSegments(segs, sx, sy, width);
    expect(rects.length).toBeLessThanOrEqual(width * 2);
    // Spot-check: the pixel under the start and the end of some segments is covered.
    for (const s of [segs[0], segs[777], segs[99_999]] as Segment[]) {
      expect(
        covered(rects, Math.min(width - 1, Math.floor(sx(s.x0))), Math.min(height - 1, Math.floor(sy(s.y0)))),
      ).toBe(true);
    }
  });
});

describe('rasterizeLifetimes', () => {
  it('merges overlapping lifetimes on one row and keeps rows apart', () => {
    const rects = rasterizeLifetimes(
      [
        { kind: 'hidden', pos: 5, start: 0, end: 10 },
        { kind: 'hidden', pos: 5, start: 8, end: 20 },
        { kind: 'hidden', pos: 5, start: 30, end: 30 },
        { kind: 'hidden', pos: 9, start: 0, end: 4 },
      ],
      identity,
      identity,
      2,
    );
    expect(rects).toEqual([
      { x: 0, y: 4, w: 20, h: 2 },
      { x: 30, y: 4, w: 1, h: 2 },
      { x: 0, y: 8, w: 4, h: 2 },
    ]);
  });
});

describe('profileEnvelope', () => {
  it('takes the maximum of the step function in each column', () => {
    const profile = {
      time: Float64Array.from([0, 3, 4, 9]),
      hidden: Int32Array.from([1, 2, 1, 1]),
      internal: Int32Array.from([0, 1, 0, 2]),
    };
    const env = profileEnvelope(profile, 2, 10, 5);
    // Columns cover [0,2) [2,4) [4,6) [6,8) [8,10): values 1 on [0,3), 4 on [3,4), 1 on [4,9), 5 on [9,10).
    expect([...env.max]).toEqual([1, 4, 1, 1, 5]);
    expect([...env.internalAtMax]).toEqual([0, 2, 0, 0, 4]);
  });

  it('agrees with a brute-force maximum on a real profile', () => {
    const p = plan({ steps: 300, memory: { slots: 20 }, strategy: 'msm', costModel: { alpha: 1.5 } });
    const report = verify(p);
    if (!report.ok || report.profile === undefined) throw new Error('not verified');
    const { time, hidden, internal } = report.profile;
    const duration = timelineOf(p).duration;
    const width = 97;
    const env = profileEnvelope(report.profile, 1.5, duration, width);
    for (let c = 0; c < width; c++) {
      const lo = (c * duration) / width;
      const hi = ((c + 1) * duration) / width;
      let best = 0;
      for (let i = 0; i < time.length; i++) {
        const start = time[i] as number;
        const end = i + 1 < time.length ? (time[i + 1] as number) : duration;
        const overlaps = start < hi && (end > lo || (start >= lo && start === end));
        if (overlaps) best = Math.max(best, (hidden[i] as number) + 1.5 * (internal[i] as number));
      }
      expect(env.max[c], `column ${c}`).toBeCloseTo(best, 9);
    }
    expect(Math.max(...env.max)).toBeCloseTo(p.totals.peakSlots, 9);
  });
});
