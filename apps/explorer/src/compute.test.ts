import { plan, predict } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import {
  computeFrontier,
  computeMain,
  costOfPolicy,
  frontierBudgets,
  toFailure,
  verifyPolicy,
} from './compute';
import { PAGE_STRATEGIES, type PageStrategy, type Settings } from './inputs';

const settings = (over: Partial<Settings> = {}): Settings => ({
  steps: 120,
  alpha: 1.5,
  backwardCost: 3,
  budget: 14,
  budgetUnit: 'slots',
  budgetSlots: 14,
  strategy: 'msm',
  ...over,
});

const req = (s: Settings, strategy: PageStrategy) => ({
  steps: s.steps,
  memory: { slots: s.budgetSlots },
  strategy,
  costModel: { alpha: s.alpha, backwardCost: s.backwardCost },
});

describe('computeMain', () => {
  it('plans and verifies the chosen strategy, with the totals predict gives', () => {
    const s = settings();
    const r = computeMain(s);
    expect(r.planned.ok).toBe(true);
    if (!r.planned.ok) return;
    const p = predict(req(s, 'msm'));
    expect(r.planned.cost).toMatchObject({
      strategy: 'msm',
      forwards: p.forwards,
      backwards: p.backwards,
      peakSlots: p.peakSlots,
      time: p.time,
    });
    expect(r.planned.cost.timeRatio).toBeCloseTo(p.timeRatio, 12);
    expect(r.planned.cost.memoryRatio).toBeCloseTo(p.memoryRatio, 12);
    expect(r.planned.counted.forwards).toBe(p.forwards);
    expect(r.planned.profile.time.length).toBeGreaterThan(1);
    expect(r.timings.plan).toBeGreaterThanOrEqual(0);
  });

  it('compares every page strategy at the same budget, as predict does', () => {
    const s = settings({ strategy: 'hsm' });
    const r = computeMain(s);
    expect(r.comparisons.map((c) => c.strategy)).toEqual([...PAGE_STRATEGIES]);
    for (const c of r.comparisons) {
      let expected: ReturnType<typeof predict> | undefined;
      try {
        expected = predict(req(s, c.strategy));
      } catch {
        expected = undefined;
      }
      if (expected === undefined) {
        expect(c.result.ok, c.strategy).toBe(false);
        continue;
      }
      expect(c.result.ok, c.strategy).toBe(true);
      if (c.result.ok) {
        expect(c.result.forwards, c.strategy).toBe(expected.forwards);
        expect(c.result.peakSlots, c.strategy).toBeCloseTo(expected.peakSlots, 9);
        expect(c.result.timeRatio, c.strategy).toBeCloseTo(expected.timeRatio, 12);
      }
    }
    const storeAll = r.comparisons.find((c) => c.strategy === 'store-all');
    expect(storeAll?.result).toMatchObject({ ok: false, code: 'E_BUDGET_TOO_SMALL', minimum: 1 + 120 * 1.5 });
  });

  it('reports a budget too small with the minimum, and still compares the others', () => {
    const r = computeMain(settings({ strategy: 'chen-sqrt', budgetSlots: 5, budget: 5 }));
    expect(r.planned).toMatchObject({ ok: false, code: 'E_BUDGET_TOO_SMALL', path: '/memory/slots' });
    expect(!r.planned.ok && r.planned.minimum).toBeGreaterThan(5);
    expect(r.comparisons.find((c) => c.strategy === 'msm')?.result.ok).toBe(true);
  });

  it('reports a budget below the initial state for every strategy', () => {
    const r = computeMain(settings({ budgetSlots: 0.5, budget: 0.5 }));
    expect(r.planned).toMatchObject({ ok: false, code: 'E_BUDGET_TOO_SMALL', minimum: 1 });
    expect(r.comparisons.every((c) => !c.result.ok)).toBe(true);
  });
});

describe('verifyPolicy and costOfPolicy', () => {
  it('computes the cost from the totals and the cost model', () => {
    const p = plan({ steps: 30, memory: { slots: 5 }, strategy: 'hsm', costModel: { backwardCost: 0 } });
    const c = costOfPolicy(p);
    expect(c.time).toBe(p.totals.forwards);
    expect(c.timeRatio).toBeCloseTo(p.totals.forwards / 30, 12);
  });

  it('turns a failed verification into a failure with code and path', () => {
    const p = plan({ steps: 30, memory: { slots: 5 }, strategy: 'hsm' });
    const bad = { ...p, totals: { ...p.totals, forwards: p.totals.forwards + 1 } };
    expect(verifyPolicy(bad)).toMatchObject({ ok: false, code: 'E_VERIFY_TOTALS', path: '/totals/forwards' });
  });

  it('turns any thrown value into a failure', () => {
    expect(toFailure(new Error('boom'))).toEqual({ ok: false, code: 'E_INTERNAL', message: 'boom' });
    expect(toFailure('text')).toEqual({ ok: false, code: 'E_INTERNAL', message: 'text' });
  });
});

describe('frontier', () => {
  it('uses every whole budget for small problems and ~60 log-spaced ones for large', () => {
    expect(frontierBudgets(10, 2, 7.5)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 7.5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    ]);
    const big = frontierBudgets(10_000, 1, 100);
    expect(big.length).toBeGreaterThan(40);
    expect(big.length).toBeLessThanOrEqual(62);
    expect(big[0]).toBe(1);
    expect(big[big.length - 1]).toBe(10_001);
    expect(big).toContain(100);
    expect([...big].sort((a, b) => a - b)).toEqual(big);
  });

  it('evaluates every strategy, and msm is never worse than the others', () => {
    const s = settings({ steps: 60, alpha: 1, backwardCost: 2 });
    const fr = computeFrontier(s);
    expect(fr.failures).toEqual([]);
    expect(fr.capped).toEqual([]);
    const strategies = new Set(fr.points.map((p) => p.strategy));
    expect([...strategies].sort()).toEqual([...PAGE_STRATEGIES].sort());
    const msm = new Map(
      fr.points.filter((p) => p.strategy === 'msm').map((p) => [p.budgetSlots, p.forwards]),
    );
    for (const p of fr.points) {
      const best = msm.get(p.budgetSlots);
      expect(best, `${p.strategy} at ${p.budgetSlots}`).toBeDefined();
      expect(best as number).toBeLessThanOrEqual(p.forwards);
    }
    // The frontier at the current budget agrees with the plan.
    const atBudget = fr.points.find((p) => p.strategy === 'msm' && p.budgetSlots === 14);
    expect(atBudget?.forwards).toBe(predict(req(s, 'msm')).forwards);
  });

  it('stops ism and msm where their table would exceed the cap', () => {
    const s = settings({ steps: 500, alpha: 1 });
    const fr = computeFrontier(s, 500 * 40);
    expect(fr.capped.map((c) => c.strategy).sort()).toEqual(['ism', 'msm']);
    for (const c of fr.capped) expect(c.upTo).toBeLessThanOrEqual(41);
    const msmBudgets = fr.points.filter((p) => p.strategy === 'msm').map((p) => p.budgetSlots);
    expect(Math.max(...msmBudgets)).toBeLessThanOrEqual(41);
    expect(fr.points.some((p) => p.strategy === 'hsm' && p.budgetSlots === 501)).toBe(true);
  });
});
