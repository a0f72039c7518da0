import { describe, expect, it } from 'vitest';
import {
  ChoiceTable,
  closedF,
  closedFromUnits,
  closedG,
  closedQuery,
  internalsF,
  internalsG,
  levelOneCost,
  saturationUnits,
  solveDp,
  trivialF,
  trivialG,
} from './dp.js';
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

describe('closed-form region (level one: cost max(t, 2t - 1 - j))', () => {
  // alpha = A / q: 1, 1.5, 2, 3.25, 4.5, 6, and a rounded one (e, q = 16).
  const CLOSED_GRIDS: [number, number][] = [
    [1, 1],
    [2, 3],
    [1, 2],
    [4, 13],
    [2, 9],
    [1, 6],
    [16, 44],
  ];
  for (const [q, A] of CLOSED_GRIDS) {
    for (const hidden of [false, true]) {
      it(`every closed cell and its choice equal the naive DP (q=${q}, A=${A}, ${hidden ? 'msm' : 'ism'})`, () => {
        const T = q >= 16 ? 40 : 70;
        const U = Math.min(closedFromUnits(T, q, A, true, hidden) + 2 * A, q >= 16 ? 300 : 400);
        const nv = naiveGrid(T, U, q, A, hidden, true);
        const table = new ChoiceTable(T, q, A, true, [], [], hidden);
        const F = (t: number, u: number) => nv.F[u]?.[t] as number;
        const G = (t: number, u: number) => nv.G[u]?.[t] as number;
        for (let u = 0; u <= U; u++) {
          for (const isG of [false, true]) {
            const t0 = isG ? closedG(u, q, A, T, true, hidden) : closedF(u, A, T, true, q, hidden);
            const j = isG ? internalsG(u, q, A, true) : internalsF(u, A, true);
            for (let t = 1; t <= t0; t++) {
              const X = isG ? G : F;
              expect(X(t, u), `${isG ? 'G' : 'F'} t=${t} u=${u}`).toBe(levelOneCost(t, j));
              // The closed choice is a move of the recursion that reaches the value.
              const code = table.choice(isG, t, u);
              const y = code >> 1;
              let c: number;
              if (code === 0) c = t + X(t - 1, u);
              else if (code % 2 === 0) c = y + G(t - y, u - q) + X(y, u);
              else if (isG && y === 1) c = 1 + F(t - 1, u - A + q);
              else c = y + F(t - y, u - A) + X(y - 1, u);
              expect(c, `choice ${code} of ${isG ? 'G' : 'F'} t=${t} u=${u}`).toBe(X(t, u));
            }
            // The lower bound holds everywhere.
            for (let t = t0 + 1; t <= T; t++)
              expect((isG ? G : F)(t, u)).toBeGreaterThanOrEqual(levelOneCost(t, j));
          }
          if (u >= closedFromUnits(T, q, A, true, hidden)) expect(closedG(u, q, A, T, true, hidden)).toBe(T);
        }
      });
    }
  }

  it('closedFromUnits is the first memory whose whole G column is closed', () => {
    for (const [q, A] of CLOSED_GRIDS) {
      for (const T of [1, 2, 3, 5, 10, 57, 1000, 10_000]) {
        for (const hidden of [false, true]) {
          const u = closedFromUnits(T, q, A, true, hidden);
          for (let v = u; v <= u + 3 * A; v++) expect(closedG(v, q, A, T, true, hidden)).toBe(T);
          if (u > 0) expect(closedG(u - 1, q, A, T, true, hidden)).toBeLessThan(T);
        }
      }
    }
  });

  it('a single closed query equals the DP (cost and smallest memory), ism and msm', () => {
    let seed = 777;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let closed = 0;
    for (let i = 0; i < 60; i++) {
      const [q, A] = CLOSED_GRIDS[rnd(CLOSED_GRIDS.length - 1)] as [number, number];
      const T = 2 + rnd(150);
      const from = closedFromUnits(T, q, A, true);
      const U = Math.max(0, from - A + rnd(3 * A));
      const hidden = rnd(2) === 0;
      const spec = { steps: T, units: U, q, A, hidden, internal: true, keepChoices: false };
      const top = solveDp(spec).top;
      const cq = closedQuery(spec);
      if (cq === undefined) continue;
      closed++;
      expect(cq.cost, `T=${T} U=${U} q=${q} A=${A}`).toBe(top[U]);
      let used = U;
      while (used > 0 && top[used - 1] === top[U]) used--;
      expect(cq.used).toBe(used);
      const nv = naiveGrid(T, U, q, A, hidden, true);
      expect(cq.cost).toBe(nv.G[U]?.[T]);
    }
    expect(closed).toBeGreaterThan(20);
  });

  it('skipped columns (u outside P_F / P_G) and the extended region equal the naive DP, rounded grids', () => {
    // alpha = e (16, 44: gcd 4, so 3 of 4 columns are copies), pi (16, 51), 5.3 (10, 53), 4.5, 3.25.
    for (const [q, A, T] of [
      [16, 44, 70],
      [16, 51, 60],
      [10, 53, 60],
      [2, 9, 90],
      [4, 13, 90],
    ] as const) {
      const U = 6 * A + 2 * q;
      const nv = naiveGrid(T, U, q, A, true, true);
      for (const t of [T, 23, 41]) {
        const fast = solveDp({ steps: t, units: U, q, A, hidden: true, internal: true, keepChoices: true });
        for (let u = 0; u <= U; u++) expect(fast.top[u], `q=${q} A=${A} t=${t} u=${u}`).toBe(nv.G[u]?.[t]);
      }
    }
  });

  it('the fast DP equals the naive one across the closed boundary, fractional alpha, larger T', () => {
    for (const [q, A, T] of [
      [2, 9, 180],
      [4, 13, 120],
      [2, 3, 200],
      [1, 6, 160],
    ] as const) {
      const from = closedFromUnits(T, q, A, true);
      const U = from + A;
      const nv = naiveGrid(T, U, q, A, true, true);
      const fast = solveDp({ steps: T, units: U, q, A, hidden: true, internal: true, keepChoices: false });
      for (let u = 0; u <= U; u++) expect(fast.top[u], `q=${q} A=${A} u=${u}`).toBe(nv.G[u]?.[T]);
    }
  });
});
