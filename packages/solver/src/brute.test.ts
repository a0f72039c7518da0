import { describe, expect, it } from 'vitest';
import { bruteForce, thresholds } from './brute.test-util.js';
import { hsmCost } from './hsm.js';
import { realRecursion } from './naive.test-util.js';
import { predict } from './plan.js';

const ALPHAS = [1, 1.5, 2, 3.25];
const KINDS = {
  hsm: { hidden: true, internal: false },
  ism: { hidden: false, internal: true },
  msm: { hidden: true, internal: true },
} as const;

/** Budgets: every threshold 1 + i + j alpha, and just below it. */
function budgetsFor(T: number, alpha: number, s: keyof typeof KINDS, every = 1): number[] {
  const k = KINDS[s];
  const ts = thresholds(alpha, 1 + T * alpha + 1, k.hidden, k.internal).filter((_, i) => i % every === 0);
  return ts.flatMap((b) => (b > 1 ? [b, b - 1e-6] : [b]));
}

describe('exhaustive search of the abstract machine (ground truth)', () => {
  for (const s of ['hsm', 'ism', 'msm'] as const) {
    it(`${s}: the planner's forwards equal the optimum over all schedules, T <= 6, every budget`, () => {
      for (let T = 1; T <= 6; T++) {
        for (const alpha of ALPHAS) {
          for (const M of budgetsFor(T, alpha, s)) {
            const truth = bruteForce(T, M, alpha, KINDS[s]);
            const got = predict({
              steps: T,
              memory: { slots: M },
              strategy: s,
              costModel: { alpha },
            }).forwards;
            expect(got, `${s} T=${T} alpha=${alpha} M=${M}`).toBe(truth);
          }
        }
      }
    });
  }

  it('hsm, ism, msm at T = 7, every budget', () => {
    for (const alpha of ALPHAS) {
      for (const s of ['hsm', 'ism', 'msm'] as const) {
        for (const M of budgetsFor(7, alpha, s)) {
          const truth = bruteForce(7, M, alpha, KINDS[s]);
          const got = predict({ steps: 7, memory: { slots: M }, strategy: s, costModel: { alpha } }).forwards;
          expect(got, `${s} T=7 alpha=${alpha} M=${M}`).toBe(truth);
        }
      }
    }
  });

  it('hsm, ism, msm at T = 8 and 9 (a sample of budgets)', () => {
    for (const [T, every, maxSlots] of [
      [8, 3, 8],
      [9, 2, 5.5],
    ] as const) {
      for (const alpha of [1, 1.5, 3.25]) {
        for (const s of ['hsm', 'ism', 'msm'] as const) {
          const budgets = budgetsFor(T, alpha, s, every).filter((b) => b <= maxSlots);
          for (const M of budgets) {
            const truth = bruteForce(T, M, alpha, KINDS[s]);
            const got = predict({
              steps: T,
              memory: { slots: M },
              strategy: s,
              costModel: { alpha },
            }).forwards;
            expect(got, `${s} T=${T} alpha=${alpha} M=${M}`).toBe(truth);
          }
        }
      }
    }
  });

  it('hsm closed form equals the search', () => {
    for (let T = 1; T <= 7; T++) {
      for (let M = 1; M <= T + 1; M++) expect(hsmCost(T, M)).toBe(bruteForce(T, M, 1, KINDS.hsm));
    }
  });

  it('the real-valued recursions equal the search once "free the start" is an option', () => {
    for (let T = 1; T <= 6; T++) {
      for (const alpha of [1.5, 3.25]) {
        for (const s of ['ism', 'msm'] as const) {
          for (const M of budgetsFor(T, alpha, s)) {
            const truth = bruteForce(T, M, alpha, KINDS[s]);
            expect(realRecursion(T, M, alpha, { ...KINDS[s], free: true })).toBe(truth);
          }
        }
      }
    }
  });

  it('without it they miss schedules: ISM, T = 3, 2 slots, alpha = 1', () => {
    // forward 0->1 storing s_1, free h_0, forward 1->2 storing s_2, forward 2->3, backward 3..1: 3 forwards.
    expect(bruteForce(3, 2, 1, KINDS.ism)).toBe(3);
    expect(realRecursion(3, 2, 1, { ...KINDS.ism, free: false })).toBe(4);
    expect(realRecursion(3, 2, 1, { ...KINDS.ism, free: true })).toBe(3);
  });
});
