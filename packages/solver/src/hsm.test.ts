import { describe, expect, it } from 'vitest';
import { beta, hsmBinomialBound, hsmCost, hsmLevel, hsmMaxSteps, hsmPowerBound, hsmSplit } from './hsm.js';
import { naiveHsm } from './naive.test-util.js';

describe('hsm closed form', () => {
  const T = 160;
  const MAXM = 14;
  const C = naiveHsm(T, MAXM);

  it('equals the naive dynamic program', () => {
    for (let M = 1; M <= MAXM; M++) {
      for (let t = 0; t <= T; t++) expect(hsmCost(t, M), `t=${t} M=${M}`).toBe(C[M]?.[t]);
    }
  });

  it('hsmSplit is an optimal first split', () => {
    for (let M = 2; M <= MAXM; M++) {
      const row = C[M] as number[];
      const right = C[M - 1] as number[];
      for (let t = 2; t <= T; t++) {
        const y = hsmSplit(t, M);
        expect(y).toBeGreaterThanOrEqual(1);
        expect(y).toBeLessThanOrEqual(t - 1);
        expect(y + (right[t - y] as number) + (row[y] as number), `t=${t} M=${M} y=${y}`).toBe(row[t]);
      }
    }
  });

  it('has the closed forms of recompute-all and of ample memory', () => {
    for (const t of [1, 2, 3, 10, 999, 100_000]) {
      expect(hsmCost(t, 1)).toBe((t * (t + 1)) / 2);
      expect(hsmCost(t, Math.max(1, t - 1))).toBe(2 * t - 1);
      expect(hsmCost(t, t + 5)).toBe(2 * t - 1);
    }
    expect(hsmCost(0, 3)).toBe(0);
    expect(hsmCost(5, 0.5)).toBe(Number.POSITIVE_INFINITY);
  });

  it('levels are the smallest r with C(M + r, r) >= t', () => {
    for (let M = 1; M <= 8; M++) {
      for (let t = 1; t <= 500; t++) {
        const r = hsmLevel(t, M);
        expect(beta(M, r)).toBeGreaterThanOrEqual(t);
        if (r > 0) expect(beta(M, r - 1)).toBeLessThan(t);
      }
    }
    expect(hsmMaxSteps(3, 2)).toBe(10);
    expect(beta(5, 0)).toBe(1);
    expect(beta(5, -1)).toBe(0);
  });

  it('stays below the binomial and power upper bounds', () => {
    for (const M of [1, 2, 3, 4, 5, 8, 13, 40]) {
      for (const t of [1, 2, 5, 17, 100, 1000, 12_345, 1_000_000]) {
        const c = hsmCost(t, M);
        const b = hsmBinomialBound(t, M);
        const p = hsmPowerBound(t, M);
        expect(c).toBeLessThanOrEqual(b);
        expect(b).toBeLessThanOrEqual(p);
        expect(p).toBeLessThanOrEqual(t * (2 + M * t ** (1 / M)));
      }
    }
  });

  it('is exact at the binomial points: C(beta(M,r), M) = (r+1) beta(M,r) - beta(M+1,r-1)', () => {
    for (let M = 1; M <= 6; M++) {
      for (let r = 1; r <= 6; r++) {
        const t = beta(M, r);
        expect(hsmCost(t, M)).toBe((r + 1) * t - beta(M + 1, r - 1));
        expect(hsmBinomialBound(t, M)).toBe((r + 1) * t);
      }
    }
  });
});
