import { FORMAT_VERSION, type Instruction, type Policy, verify } from '@rewind/policy';
import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { PAGE_STRATEGIES } from './inputs';
import { backwardRuns, type Timeline, timelineOf } from './timeline';

function policyOf(steps: number, instructions: Instruction[], totals: Policy['totals'], slots = 100): Policy {
  return {
    format: 'rewind-policy',
    version: FORMAT_VERSION,
    steps,
    strategy: 'hand',
    costModel: { alpha: 1, forwardCost: 1, backwardCost: 1 },
    budget: { slots },
    totals,
    instructions,
  };
}

/** Checkpoints alive just after time `t`, by kind, from the lifetimes. */
function liveAt(tl: Timeline, t: number): { hidden: number; internal: number } {
  let hidden = 0;
  let internal = 0;
  for (const l of tl.lifetimes) {
    if (l.start <= t && t < l.end) {
      if (l.kind === 'hidden') hidden++;
      else internal++;
    }
  }
  return { hidden, internal };
}

describe('timelineOf', () => {
  it('draws store-all as one rising segment, one descending run and T internal lifetimes', () => {
    const p = policyOf(
      3,
      [
        { op: 'forward', from: 0, to: 3, store: 'internal', stride: 1 },
        { op: 'backward', from: 3, to: 1 },
      ],
      { forwards: 3, backwards: 3, peakSlots: 4 },
    );
    expect(verify(p).ok).toBe(true);
    const tl = timelineOf(p);
    expect(tl.duration).toBe(6);
    expect(tl.recomputed).toBe(0);
    expect(tl.segments).toEqual([
      { kind: 'forward', x0: 0, y0: 0, x1: 3, y1: 3 },
      { kind: 'backward', x0: 3, y0: 3, x1: 6, y1: 0 },
    ]);
    const byPos = [...tl.lifetimes].sort((a, b) => a.pos - b.pos || a.kind.localeCompare(b.kind));
    expect(byPos).toEqual([
      { kind: 'hidden', pos: 0, start: 0, end: 6 },
      { kind: 'internal', pos: 1, start: 1, end: 6 },
      { kind: 'internal', pos: 2, start: 2, end: 5 },
      { kind: 'internal', pos: 3, start: 3, end: 4 },
    ]);
    expect(backwardRuns(tl)).toEqual([[3, 1]]);
  });

  it('draws recompute-all as rising recomputations and one-step backward runs', () => {
    const ins: Instruction[] = [];
    for (let t = 3; t >= 1; t--)
      ins.push({ op: 'forward', from: 0, to: t }, { op: 'backward', from: t, to: t });
    const tl = timelineOf(policyOf(3, ins, { forwards: 6, backwards: 3, peakSlots: 1 }));
    expect(tl.segments.map((s) => [s.kind, s.x0, s.y0, s.x1, s.y1])).toEqual([
      ['forward', 0, 0, 3, 3],
      ['backward', 3, 3, 4, 2],
      ['recompute', 4, 0, 6, 2],
      ['backward', 6, 2, 7, 1],
      ['recompute', 7, 0, 8, 1],
      ['backward', 8, 1, 9, 0],
    ]);
    expect(tl.recomputed).toBe(3);
    expect(backwardRuns(tl)).toEqual([
      [3, 3],
      [2, 2],
      [1, 1],
    ]);
  });

  it('splits a forward into its recomputed part and its first computation', () => {
    const p = policyOf(
      4,
      [
        { op: 'forward', from: 0, to: 2, store: 'hidden', stride: 1 },
        { op: 'forward', from: 2, to: 4 },
        { op: 'backward', from: 4, to: 4 },
        { op: 'forward', from: 2, to: 3 },
        { op: 'backward', from: 3, to: 3 },
        { op: 'backward', from: 2, to: 1 },
      ],
      { forwards: 7, backwards: 4, peakSlots: 3 },
    );
    const report = verify(p);
    expect(report.ok).toBe(true);
    const tl = timelineOf(p);
    // Backward steps 2 and 1 recompute their forward steps from h_1 and h_0.
    expect(tl.forwards).toBe(report.counted.forwards);
    expect(tl.segments.filter((s) => s.kind !== 'backward').map((s) => [s.kind, s.y0, s.y1])).toEqual([
      ['forward', 0, 2],
      ['forward', 2, 4],
      ['recompute', 2, 3],
      ['recompute', 1, 2],
      ['recompute', 0, 1],
    ]);
  });

  it('ends a lifetime at a free instruction, and closes what an unfinished policy left held', () => {
    const p = policyOf(
      3,
      [
        { op: 'forward', from: 0, to: 3, store: 'hidden', stride: 1 },
        { op: 'free', kind: 'hidden', at: 3 },
      ],
      { forwards: 3, backwards: 0, peakSlots: 4 },
    );
    const tl = timelineOf(p);
    expect(tl.lifetimes.find((l) => l.pos === 3)).toEqual({ kind: 'hidden', pos: 3, start: 3, end: 3 });
    expect(tl.lifetimes.find((l) => l.pos === 2)).toEqual({ kind: 'hidden', pos: 2, start: 2, end: 3 });
  });

  it('interrupts a backward run where a step is recomputed', () => {
    const p2 = policyOf(
      3,
      [
        { op: 'forward', from: 0, to: 2, store: 'hidden', stride: 1 },
        { op: 'forward', from: 2, to: 3 },
        { op: 'backward', from: 3, to: 1 },
      ],
      { forwards: 5, backwards: 3, peakSlots: 3 },
    );
    expect(verify(p2).ok).toBe(true);
    const tl2 = timelineOf(p2);
    expect(backwardRuns(tl2)).toEqual([
      [3, 3],
      [2, 2],
      [1, 1],
    ]);
    expect(tl2.segments.map((s) => s.kind)).toEqual([
      'forward',
      'forward',
      'backward',
      'recompute',
      'backward',
      'recompute',
      'backward',
    ]);
  });

  describe.each([
    [40, 8, 1],
    [100, 16, 2],
    [257, 12, 1.5],
  ])('on solver plans (T = %i, %i slots, alpha %f)', (steps, slots, alpha) => {
    it.each(PAGE_STRATEGIES.filter((s) => s !== 'store-all' && s !== 'chen-sqrt'))('%s', (strategy) => {
      const p = plan({ steps, memory: { slots }, strategy, costModel: { alpha, backwardCost: 2 } });
      const report = verify(p);
      expect(report.ok).toBe(true);
      if (!report.ok || report.profile === undefined) return;
      const tl = timelineOf(p);
      expect(tl.forwards).toBe(p.totals.forwards);
      expect(tl.backwards).toBe(steps);
      expect(tl.duration).toBe(p.totals.forwards + steps);
      // Every position is computed for the first time exactly once.
      expect(tl.recomputed).toBe(p.totals.forwards - steps);
      const firstPass = tl.segments
        .filter((s) => s.kind === 'forward')
        .reduce((n, s) => n + (s.y1 - s.y0), 0);
      expect(firstPass).toBe(steps);
      // The backward runs cover T..1 in order, without gaps.
      let next = steps;
      for (const [from, to] of backwardRuns(tl)) {
        expect(from).toBe(next);
        expect(to).toBeLessThanOrEqual(from);
        next = to - 1;
      }
      expect(next).toBe(0);
      // Segments are unit-slope and tile time: their lengths add up to the duration.
      let covered = 0;
      for (const s of tl.segments) {
        expect(Math.abs(s.y1 - s.y0)).toBe(s.x1 - s.x0);
        covered += s.x1 - s.x0;
      }
      expect(covered).toBe(tl.duration);
      // The lifetimes reproduce verify's memory profile at every change point.
      const { time, hidden, internal } = report.profile;
      for (let i = 0; i < time.length; i++) {
        expect(liveAt(tl, time[i] as number), `at time ${time[i]}`).toEqual({
          hidden: hidden[i],
          internal: internal[i],
        });
      }
    });
  });

  it('draws chen-sqrt and store-all plans as verified', () => {
    for (const strategy of ['chen-sqrt', 'store-all'] as const) {
      const p = plan({ steps: 64, memory: { slots: 200 }, strategy });
      const tl = timelineOf(p);
      expect(tl.forwards).toBe(p.totals.forwards);
      expect(backwardRuns(tl).reduce((n, [a, b]) => n + a - b + 1, 0)).toBe(64);
    }
  });
});
