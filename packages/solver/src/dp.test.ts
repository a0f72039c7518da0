import { describe, expect, it } from 'vitest';
import { saturationUnits, solveDp, trivialF, trivialG } from './dp.js';
import { naiveGrid } from './naive.test-util.js';

const GRIDS: [number, number][] = [
  [1, 1],
  [2, 3],
  [1, 2],
  [4, 13],
  [1, 3],
  [3, 4],
  [5, 7],
  [16, 17],
];

describe('fast dynamic program', () => {
  for (const [q, A] of GRIDS) {
    for (const [hidden, internal] of [
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      it(`equals the naive one (q=${q}, A=${A}, hidden=${hidden}, internal=${internal})`, () => {
        const T = q >= 16 ? 24 : 45;
        const U = Math.min(saturationUnits(T, q, A, hidden, internal) + 2, q >= 4 ? 120 : 150);
        const naive = naiveGrid(T, U, q, A, hidden, internal);
        const fast = solveDp({ steps: T, units: U, q, A, hidden, internal, keepChoices: true });
        for (let u = 0; u <= U; u++) {
          expect(fast.top[u], `u=${u}`).toBe(naive.G[u]?.[T]);
        }
        // Every cell, through a smaller T (the columns do not depend on T beyond their length).
        for (const t of [1, 2, 3, 7, 20, T]) {
          const part = solveDp({ steps: t, units: U, q, A, hidden, internal, keepChoices: false });
          for (let u = 0; u <= U; u++) expect(part.top[u], `t=${t} u=${u}`).toBe(naive.G[u]?.[t]);
        }
      });
    }
  }

  it('has the closed-form regions it skips', () => {
    const q = 2;
    const A = 3;
    const T = 30;
    const U = 90;
    const naive = naiveGrid(T, U, q, A, true, true);
    for (let u = 0; u <= U; u++) {
      for (let t = 1; t <= trivialF(u, A, T, true); t++) expect(naive.F[u]?.[t]).toBe(t);
      for (let t = 1; t <= trivialG(u, q, A, T, true); t++) expect(naive.G[u]?.[t]).toBe(t);
    }
    expect(naive.G[saturationUnits(T, q, A, true, true)]?.[T]).toBe(T);
    expect(naive.G[saturationUnits(T, q, A, true, true) - 1]?.[T]).toBeGreaterThan(T);
  });

  it('is monotone in memory and MSM <= HSM, ISM', () => {
    const T = 60;
    const [q, A] = [2, 3];
    const U = 100;
    const msm = solveDp({ steps: T, units: U, q, A, hidden: true, internal: true, keepChoices: false }).top;
    const ism = solveDp({ steps: T, units: U, q, A, hidden: false, internal: true, keepChoices: false }).top;
    const hsm = solveDp({ steps: T, units: U, q, A, hidden: true, internal: false, keepChoices: false }).top;
    for (let u = 1; u <= U; u++) {
      expect(msm[u]).toBeLessThanOrEqual(msm[u - 1] as number);
      expect(msm[u]).toBeLessThanOrEqual(ism[u] as number);
      expect(msm[u]).toBeLessThanOrEqual(hsm[u] as number);
    }
  });
});

describe('fast dynamic program, random sizes', () => {
  it('equals the naive one on 40 random (T, U, q, A, kinds)', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 40; i++) {
      const T = 2 + rnd(90);
      const q = 1 + rnd(4);
      const A = q + rnd(3 * q + 1);
      const U = rnd(Math.min(160, T * A));
      const kinds = rnd(3);
      const hidden = kinds !== 1;
      const internal = kinds !== 0;
      const naive = naiveGrid(T, U, q, A, hidden, internal);
      const fast = solveDp({ steps: T, units: U, q, A, hidden, internal, keepChoices: false });
      for (let u = 0; u <= U; u++)
        expect(fast.top[u], `T=${T} U=${U} q=${q} A=${A} u=${u}`).toBe(naive.G[u]?.[T]);
    }
  });
});
