import { type Policy, verify } from '@rewind/policy';
import { describe, expect, it } from 'vitest';
import { closedFromUnits } from './dp.js';
import { hsmCost } from './hsm.js';
import { naiveGrid } from './naive.test-util.js';
import { frontier, minimumMemory, plan, predict } from './plan.js';
import { replay } from './replay.test-util.js';
import type { PlanRequest, StrategyName } from './types.js';

const ALL: Exclude<StrategyName, 'auto'>[] = [
  'store-all',
  'recompute-all',
  'chen-sqrt',
  'chen-recursive',
  'hsm',
  'ism',
  'msm',
];

/** Plan, verify with @rewind/policy, replay independently, and compare with the prediction. */
function check(req: PlanRequest): Policy {
  const policy = plan(req);
  const report = verify(policy, { profile: false });
  if (!report.ok) throw new Error(`${JSON.stringify(req)}: ${JSON.stringify(report.issue)}`);
  const pred = predict(req);
  expect(report.counted.forwards).toBe(pred.forwards);
  expect(report.counted.backwards).toBe(req.steps);
  expect(report.counted.peakSlots).toBeCloseTo(pred.peakSlots, 9);
  expect(policy.totals.forwards).toBe(pred.forwards);
  expect(policy.totals.peakSlots).toBe(pred.peakSlots);
  expect(policy.strategy).toBe(pred.strategy);
  expect(pred.peakSlots).toBeLessThanOrEqual(policy.budget.slots * (1 + 1e-9));
  const mine = replay(policy);
  expect(mine.forwards).toBe(pred.forwards);
  expect(mine.peakSlots).toBeCloseTo(pred.peakSlots, 9);
  if ('bytes' in req.memory) {
    expect(report.counted.peakBytes).toBe(pred.peakBytes);
    expect(policy.totals.peakBytes).toBe(pred.peakBytes);
    expect(pred.peakBytes as number).toBeLessThanOrEqual(req.memory.bytes);
    expect(mine.peakBytes).toBe(pred.peakBytes);
  }
  return policy;
}

function tryCheck(req: PlanRequest): Policy | undefined {
  try {
    return check(req);
  } catch (e) {
    if ((e as { code?: string }).code === 'E_BUDGET_TOO_SMALL') return undefined;
    throw e;
  }
}

describe('plan', () => {
  it('every strategy verifies with totals = prediction and peak <= budget (many T, budgets, alpha)', () => {
    let planned = 0;
    for (const alpha of [1, 1.5, 2.25, 3.25, Math.PI]) {
      for (const T of [1, 2, 3, 5, 8, 13, 31, 64, 100]) {
        const full = 1 + T * alpha;
        const budgets = [
          ...new Set([1, 1.5, 2, 3, 4, 0.05 * full, 0.1 * full, 0.25 * full, 0.5 * full, full, full + 3]),
        ];
        for (const slots of budgets) {
          for (const strategy of [...ALL, 'auto'] as const) {
            if (tryCheck({ steps: T, memory: { slots }, strategy, costModel: { alpha } })) planned++;
          }
        }
      }
    }
    expect(planned).toBeGreaterThan(1500);
  });

  it('byte budgets: peakBytes <= bytes, header carries bytes and stateBytes', () => {
    for (const [hidden, internal] of [
      [256, 256],
      [100, 150],
      [64, 208],
      [1000, 2718],
      [7, 100],
    ] as const) {
      for (const T of [1, 9, 40]) {
        for (const factor of [1, 2.5, 6, 0.3 * T]) {
          const bytes = Math.floor(factor * internal + hidden);
          for (const strategy of [...ALL, 'auto'] as const) {
            const p = tryCheck({ steps: T, memory: { bytes, stateBytes: { hidden, internal } }, strategy });
            if (p === undefined) continue;
            expect(p.budget.bytes).toBe(bytes);
            expect(p.stateBytes).toEqual({ hidden, internal });
            expect(p.costModel.alpha).toBe(internal / hidden);
          }
        }
      }
    }
  });

  it('store-all is standard BPTT: two instructions, T forwards, 1 + T alpha slots', () => {
    const p = check({ steps: 50, memory: { slots: 1000 }, strategy: 'store-all', costModel: { alpha: 2 } });
    expect(p.instructions).toEqual([
      { op: 'forward', from: 0, to: 50, store: 'internal', stride: 1 },
      { op: 'backward', from: 50, to: 1 },
    ]);
    expect(p.totals).toEqual({ forwards: 50, backwards: 50, peakSlots: 101 });
  });

  it('recompute-all costs T(T+1)/2 with one slot', () => {
    for (const T of [1, 2, 7, 100]) {
      const p = check({ steps: T, memory: { slots: 1 }, strategy: 'recompute-all' });
      expect(p.totals.forwards).toBe((T * (T + 1)) / 2);
      expect(p.totals.peakSlots).toBe(1);
      expect(predict({ steps: T, memory: { slots: 1 }, strategy: 'hsm' }).forwards).toBe((T * (T + 1)) / 2);
      expect(predict({ steps: T, memory: { slots: 1 }, strategy: 'msm' }).forwards).toBe((T * (T + 1)) / 2);
    }
  });

  it('hsm with ample memory costs 2T - 1 in three instructions and uses T - 1 slots', () => {
    const p = check({ steps: 40, memory: { slots: 100 }, strategy: 'hsm' });
    expect(p.totals.forwards).toBe(79);
    expect(p.totals.peakSlots).toBe(39);
    expect(p.instructions).toEqual([
      { op: 'forward', from: 0, to: 38, store: 'hidden', stride: 1 },
      { op: 'forward', from: 38, to: 40 },
      { op: 'backward', from: 40, to: 1 },
    ]);
  });

  it('msm never costs more than hsm or ism at the same memory, and auto picks msm', () => {
    for (const alpha of [1, 1.5, 2, 3.25]) {
      for (const T of [10, 57, 200]) {
        for (let slots = 1; slots <= 1 + T * alpha; slots += Math.max(1, Math.floor(T / 15))) {
          const req = (strategy: StrategyName): PlanRequest => ({
            steps: T,
            memory: { slots },
            strategy,
            costModel: { alpha },
          });
          const msm = predict(req('msm'));
          expect(msm.forwards).toBeLessThanOrEqual(predict(req('hsm')).forwards);
          expect(msm.forwards).toBeLessThanOrEqual(predict(req('ism')).forwards);
          for (const s of ['chen-sqrt', 'chen-recursive', 'store-all'] as const) {
            try {
              expect(msm.forwards).toBeLessThanOrEqual(predict(req(s)).forwards);
            } catch (e) {
              if ((e as { code?: string }).code !== 'E_BUDGET_TOO_SMALL') throw e;
            }
          }
          const auto = predict(req('auto'));
          expect(auto.strategy).toBe('msm');
          expect(auto.forwards).toBe(msm.forwards);
        }
      }
    }
  });

  it('uses only the memory that helps', () => {
    const p = predict({ steps: 100, memory: { slots: 10_000 }, strategy: 'msm' });
    expect(p.forwards).toBe(100);
    expect(p.peakSlots).toBe(99); // 99 internal states (alpha 1); h_0 is freed after s_1 is stored
    expect(p.budgetSlots).toBe(10_000);
    expect(p.usedSlots).toBe(99);
    const h = predict({ steps: 100, memory: { slots: 10_000 }, strategy: 'hsm' });
    expect(h.peakSlots).toBe(99);
    expect(hsmCost(100, 98)).toBeGreaterThan(hsmCost(100, 99));
  });

  it('the T = 1000 headline: 5% of store-all memory for about a third more time', () => {
    const p = predict({ steps: 1000, memory: { slots: 0.05 * 1001 }, strategy: 'msm' });
    expect(p.memoryRatio).toBeLessThanOrEqual(0.05);
    expect(p.timeRatio).toBeLessThan(1.4);
  });

  it('emits iteratively and compactly for long chains', () => {
    const p = check({ steps: 100_000, memory: { slots: 12 }, strategy: 'hsm' });
    expect(p.totals.forwards).toBe(hsmCost(100_000, 12));
    expect(p.instructions.length).toBeLessThan(1.25 * 100_000);
    const c = check({ steps: 20_000, memory: { slots: 300 }, strategy: 'chen-sqrt' });
    expect(c.meta?.['segmentLength']).toBeGreaterThan(1);
  });

  it('is deterministic', () => {
    const req: PlanRequest = {
      steps: 77,
      memory: { slots: 9.5 },
      strategy: 'msm',
      costModel: { alpha: 1.5 },
    };
    expect(plan(req)).toEqual(plan(req));
  });

  it('chen strategies choose a parameter that fits and report it in meta', () => {
    const T = 100;
    const p = check({ steps: T, memory: { slots: 25 }, strategy: 'chen-sqrt' });
    expect(p.meta?.['segmentLength']).toBeTypeOf('number');
    expect(p.totals.forwards).toBeLessThanOrEqual(2 * T);
    const r = check({ steps: T, memory: { slots: 9 }, strategy: 'chen-recursive' });
    expect(r.meta?.['depth']).toBeTypeOf('number');
    expect(r.totals.forwards).toBeLessThanOrEqual(T * (1 + Math.ceil(Math.log2(T))));
    expect(minimumMemory(T, 'chen-recursive')).toBe(1 + Math.ceil(Math.log2(T)));
    expect(minimumMemory(T, 'chen-sqrt')).toBeLessThan(2 * Math.sqrt(T) + 2);
  });
});

describe('closed-form region', () => {
  it('policies across its boundary verify and cost the naive optimum (fractional alpha)', () => {
    for (const [alpha, q, A] of [
      [4.5, 2, 9],
      [3.25, 4, 13],
      [1.5, 2, 3],
    ] as const) {
      const T = 150;
      const from = closedFromUnits(T, q, A, true);
      const maxU = from + 3 * q;
      const nv = { msm: naiveGrid(T, maxU, q, A, true, true), ism: naiveGrid(T, maxU, q, A, false, true) };
      for (let u = Math.max(0, from - 2 * A); u <= maxU; u++) {
        const slots = 1 + u / q;
        for (const strategy of ['ism', 'msm'] as const) {
          const p = check({ steps: T, memory: { slots }, strategy, costModel: { alpha } });
          expect(p.totals.forwards, `${strategy} alpha=${alpha} u=${u}`).toBe(nv[strategy].G[u]?.[T]);
        }
      }
    }
  });

  it('T = 10,000 at 5% of store-all memory: 2T - 1 - j forwards, for any alpha, without a table', () => {
    for (const alpha of [2, 4.5, 3.25]) {
      const T = 10_000;
      const req: PlanRequest = {
        steps: T,
        memory: { slots: 0.05 * (1 + T * alpha) },
        strategy: 'msm',
        costModel: { alpha },
        maxTableCells: 1,
      };
      const p = check(req);
      expect(p.totals.forwards).toBe(19_499);
    }
  });
});

describe('frontier', () => {
  it('matches predict at every point for T = 60', () => {
    const T = 60;
    for (const alpha of [1, 1.5, 4.5]) {
      const points = frontier({ steps: T, costModel: { alpha } });
      expect(points.length).toBeGreaterThan(5 * 60);
      for (const pt of points) {
        const p = predict({
          steps: T,
          memory: { slots: pt.budgetSlots },
          strategy: pt.strategy,
          costModel: { alpha },
        });
        expect(pt.forwards, `${pt.strategy} ${pt.budgetSlots}`).toBe(p.forwards);
        expect(pt.peakSlots, `${pt.strategy} ${pt.budgetSlots}`).toBeCloseTo(p.peakSlots, 9);
        expect(pt.time).toBe(p.time);
      }
    }
  });

  it('is non-increasing in memory for the optimal strategies', () => {
    const points = frontier({ steps: 300, strategies: ['hsm', 'ism', 'msm'], costModel: { alpha: 2 } });
    for (const s of ['hsm', 'ism', 'msm']) {
      const f = points.filter((p) => p.strategy === s).map((p) => p.forwards);
      for (let i = 1; i < f.length; i++) expect(f[i]).toBeLessThanOrEqual(f[i - 1] as number);
    }
  });
});
