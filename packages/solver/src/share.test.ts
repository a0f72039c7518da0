import { encodeJson } from '@rewind/policy';
import { describe, expect, it } from 'vitest';
import { SolverError } from './errors.js';
import { SHARE_RANGE, SLOT_TOLERANCE } from './normalize.js';
import { memoryBudget, plan, predict } from './plan.js';
import type { StrategyName } from './types.js';

const PERCENTS = [0.5, 1, 2, 2.5, 3, 5, 7.5, 10, 12.5, 20, 25, 33, 50, 66.6, 75, 99, 100];
const STEPS = [1, 2, 3, 7, 10, 100, 500, 999, 1000, 1001, 4096];
const ALPHAS = [1, 1.5, 2, Math.E, 3, 3.25, 4.5, 6];
const SIZES: [number, number][] = [
  [65536, 294912],
  [65536, 262144],
  [4096, 4096],
  [131072, 393216],
  [1000, 4500],
  [3, 7],
];

describe('memory as a share of store-all', () => {
  it('means the same slots as share * (1 + T * alpha), the formula every caller used', () => {
    for (const T of STEPS) {
      for (const alpha of ALPHAS) {
        for (const p of PERCENTS) {
          const b = memoryBudget(T, { share: p / 100 }, { alpha });
          expect(b.slots).toBe((p / 100) * (1 + T * alpha));
          expect(b.storeAllSlots).toBe(1 + T * alpha);
          expect(b.alpha).toBe(alpha);
          expect(b.bytes).toBeUndefined();
        }
      }
    }
  });

  it('means the same bytes as floor(share * (hidden + T * internal)) with state sizes', () => {
    for (const T of STEPS) {
      for (const [hidden, internal] of SIZES) {
        for (const p of PERCENTS) {
          const b = memoryBudget(T, { share: p / 100, stateBytes: { hidden, internal } });
          expect(b.bytes).toBe(Math.floor((p / 100) * (hidden + T * internal)));
          expect(b.slots).toBe((b.bytes as number) / hidden);
          expect(b.alpha).toBe(internal / hidden);
          expect(b.storeAllBytes).toBe(hidden + T * internal);
        }
      }
    }
  });

  it('plans exactly the policy of the equivalent slot or byte budget', () => {
    const strategies: StrategyName[] = ['chen-sqrt', 'hsm', 'ism', 'msm', 'auto'];
    for (const T of [10, 100, 1000]) {
      for (const alpha of [1, 2.5, 4.5]) {
        for (const p of [1, 5, 20]) {
          for (const strategy of strategies) {
            const slots = (p / 100) * (1 + T * alpha);
            const a = attempt(() =>
              plan({ steps: T, memory: { share: p / 100 }, strategy, costModel: { alpha } }),
            );
            const b = attempt(() => plan({ steps: T, memory: { slots }, strategy, costModel: { alpha } }));
            expect(a).toEqual(b);
          }
        }
      }
    }
    const stateBytes = { hidden: 65536, internal: 294912 };
    for (const strategy of strategies) {
      const bytes = Math.floor(0.05 * (stateBytes.hidden + 1000 * stateBytes.internal));
      const a = plan({ steps: 1000, memory: { share: 0.05, stateBytes }, strategy });
      const b = plan({ steps: 1000, memory: { bytes, stateBytes }, strategy });
      expect(encodeJson(a)).toBe(encodeJson(b));
      expect(predict({ steps: 1000, memory: { share: 0.05, stateBytes }, strategy })).toEqual(
        predict({ steps: 1000, memory: { bytes, stateBytes }, strategy }),
      );
    }
  });

  it('keeps the schedules of the intended value when the share is computed in floating point', () => {
    // 5% of 1001 slots is 50.050000000000004 in floating point: the tolerance keeps it equal to 50.05.
    const a = memoryBudget(1000, { share: 0.05 });
    expect(a.slots).not.toBe(50.05);
    expect(Math.abs(a.slots - 50.05)).toBeLessThanOrEqual(50.05 * SLOT_TOLERANCE);
    expect(predict({ steps: 1000, memory: { share: 0.05 }, strategy: 'msm' }).forwards).toBe(
      predict({ steps: 1000, memory: { slots: 50.05 }, strategy: 'msm' }).forwards,
    );
    // Store-all fits at a share of 1 for every alpha, whatever the rounding of 1 + T * alpha.
    for (const alpha of ALPHAS) {
      for (const T of STEPS) {
        const p = predict({ steps: T, memory: { share: 1 }, strategy: 'store-all', costModel: { alpha } });
        expect(p.forwards).toBe(T);
      }
    }
  });

  it('resolves slot and byte budgets too, with their share of store-all', () => {
    expect(memoryBudget(1000, { slots: 50 })).toEqual({
      slots: 50,
      alpha: 1,
      storeAllSlots: 1001,
      share: 50 / 1001,
    });
    const sb = { hidden: 100, internal: 450 };
    expect(memoryBudget(10, { bytes: 2300, stateBytes: sb })).toEqual({
      slots: 23,
      bytes: 2300,
      stateBytes: sb,
      alpha: 4.5,
      storeAllSlots: 46,
      storeAllBytes: 4600,
      share: 0.5,
    });
  });

  it('refuses a share outside (0, 1] and malformed forms with the path and the allowed range', () => {
    for (const share of [0, -0.1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5%', null]) {
      const e = thrown(() => memoryBudget(100, { share } as never));
      expect(e.code).toBe('E_INVALID_ARGUMENT');
      expect(e.path).toBe('/memory/share');
      expect(e.expected).toBe(SHARE_RANGE);
      expect(e.message).toContain('<= 1');
      const p = thrown(() => plan({ steps: 100, memory: { share } as never, strategy: 'msm' }));
      expect(p.path).toBe('/memory/share');
    }
    expect(thrown(() => memoryBudget(100, { share: 0.1, slots: 3 } as never)).path).toBe('/memory/share');
    expect(thrown(() => memoryBudget(100, { share: 0.1, extra: 1 } as never)).path).toBe('/memory/extra');
    expect(
      thrown(() => memoryBudget(100, { share: 0.1, stateBytes: { hidden: 10, internal: 5 } })).path,
    ).toBe('/memory/stateBytes/internal');
    expect(
      thrown(() => memoryBudget(100, { share: 0.1, stateBytes: { hidden: 10, internal: 45 } }, { alpha: 2 }))
        .path,
    ).toBe('/costModel/alpha');
    expect(thrown(() => memoryBudget(0, { share: 0.1 })).path).toBe('/steps');
  });
});

describe('bounded emission', () => {
  it('stops emitting at maxInstructions with E_TOO_LARGE, and plans below it as before', () => {
    const req = { steps: 1000, memory: { slots: 1 }, strategy: 'recompute-all' } as const;
    const full = plan(req);
    expect(full.instructions.length).toBe(1998);
    expect(encodeJson(plan({ ...req, maxInstructions: 1998 }))).toBe(encodeJson(full));
    const e = thrown(() => plan({ ...req, maxInstructions: 1997 }));
    expect(e.code).toBe('E_TOO_LARGE');
    expect(e.path).toBe('/maxInstructions');
    expect(e.message).toContain('more than 1997 instructions');
    expect(predict({ ...req, maxInstructions: 1 }).forwards).toBe(500500);
    expect(thrown(() => plan({ ...req, maxInstructions: 0 })).code).toBe('E_INVALID_ARGUMENT');
  });
});

function attempt(f: () => unknown): unknown {
  try {
    return encodeJson(f() as never);
  } catch (e) {
    if (!(e instanceof SolverError)) throw e;
    return { code: e.code, minimum: e.minimum };
  }
}

function thrown(f: () => unknown): SolverError {
  try {
    f();
  } catch (e) {
    if (e instanceof SolverError) return e;
    throw e;
  }
  throw new Error('expected a SolverError');
}
