import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeJson } from './json.js';
import {
  bisectionPolicy,
  createRng,
  mutatePolicy,
  mutatePolicyDescribed,
  randomPolicy,
  simulatePolicy,
  storeAllPolicy,
} from './testing.js';
import type { Policy } from './types.js';
import { validate } from './validate.js';
import { verify } from './verify.js';

function expectVerified(p: Policy): void {
  const report = verify(p, { profile: false });
  if (!report.ok)
    throw new Error(
      `verify rejected ${p.strategy}: ${report.issue.code} at ${report.issue.path}: ${report.issue.message}`,
    );
  expect(report.counted.forwards).toBe(p.totals.forwards);
  expect(report.counted.backwards).toBe(p.totals.backwards);
  expect(report.counted.peakSlots).toBeCloseTo(p.totals.peakSlots, 9);
  expect(report.counted.peakBytes).toBe(p.totals.peakBytes);
}

describe('createRng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const draw = (seed: number | string): number[] => {
      const r = createRng(seed);
      return Array.from({ length: 8 }, () => r.uint32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw('abc')).toEqual(draw('abc'));
    expect(draw(42)).not.toEqual(draw(43));
    expect(draw('abc')).not.toEqual(draw('abd'));
  });

  it('draws in range', () => {
    const r = createRng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      const k = r.int(-3, 3);
      expect(Number.isInteger(k) && k >= -3 && k <= 3).toBe(true);
      seen.add(k);
    }
    expect(seen.size).toBe(7);
    expect(r.int(5, 5)).toBe(5);
    expect(r.pick(['only'])).toBe('only');
    expect(() => r.pick([])).toThrow(RangeError);
    const a = createRng(9).fork();
    const b = createRng(9).fork();
    expect(a.uint32()).toBe(b.uint32());
  });
});

describe('randomPolicy', () => {
  it('is deterministic in the seed', () => {
    const a = randomPolicy(createRng(5), { steps: 50 });
    const b = randomPolicy(createRng(5), { steps: 50 });
    expect(encodeJson(a)).toBe(encodeJson(b));
    expect(encodeJson(randomPolicy(createRng(6), { steps: 50 }))).not.toBe(encodeJson(a));
  });

  it('produces structurally valid policies that replay with their own totals and fit the budget', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 150 }), (seed, steps) => {
        const p = randomPolicy(createRng(seed), { steps });
        const v = validate(p);
        if (!v.ok) throw new Error(JSON.stringify(v.issues[0]));
        expect(v.policy).toEqual(p);
        const s = simulatePolicy(p);
        expect(s.error).toBeUndefined();
        expect(s.backwards).toBe(steps);
        expect(p.budget.slots).toBeGreaterThanOrEqual(p.totals.peakSlots);
        if (p.budget.bytes !== undefined) expect(p.budget.bytes).toBeGreaterThanOrEqual(p.totals.peakBytes!);
      }),
      { numRuns: 200 },
    );
  });

  it('covers every feature of the machine', () => {
    const rng = createRng('coverage');
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const p = randomPolicy(rng, { steps: rng.int(1, 100) });
      seen.add(p.stateBytes ? 'stateBytes' : 'no stateBytes');
      seen.add(p.budget.slots > p.totals.peakSlots ? 'slack' : 'tight');
      seen.add(p.meta ? 'meta' : 'no meta');
      for (const ins of p.instructions) {
        if (ins.op === 'forward') {
          seen.add(`forward ${ins.store ?? 'plain'} ${ins.stride === undefined ? 'default' : 'stride'}`);
          if (ins.to > 0 && ins.stride !== undefined && ins.stride > 1) seen.add('stride > 1');
        } else if (ins.op === 'free') seen.add(`free ${ins.kind}`);
        else seen.add(ins.from > ins.to ? 'backward range' : 'backward single');
      }
    }
    for (const feature of [
      'stateBytes',
      'no stateBytes',
      'slack',
      'tight',
      'meta',
      'no meta',
      'forward plain default',
      'forward hidden default',
      'forward hidden stride',
      'forward internal default',
      'forward internal stride',
      'stride > 1',
      'free hidden',
      'free internal',
      'backward range',
      'backward single',
    ]) {
      expect(seen, feature).toContain(feature);
    }
  });

  it('honours the options', () => {
    const p = randomPolicy(createRng(3), {
      steps: 30,
      alpha: 3.5,
      stateBytes: { hidden: 10, internal: 35 },
      strategy: 'fuzz.v1',
      meta: { run: 7 },
      budgetSlack: 0.5,
    });
    expect(p.costModel.alpha).toBe(3.5);
    expect(p.stateBytes).toEqual({ hidden: 10, internal: 35 });
    expect(p.strategy).toBe('fuzz.v1');
    expect(p.meta).toEqual({ run: 7 });
    expect(p.budget.slots).toBeCloseTo(p.totals.peakSlots * 1.5, 9);
    const q = randomPolicy(createRng(3), { steps: 30, stateBytes: false, meta: false });
    expect(q.stateBytes).toBeUndefined();
    expect(q.meta).toBeUndefined();
    expect(() => randomPolicy(createRng(1), { steps: 0 })).toThrow(RangeError);
  });
});

describe('bisectionPolicy and storeAllPolicy', () => {
  it('replay for every small T and leaf size', () => {
    for (let T = 1; T <= 70; T++) {
      for (const leaf of [1, 2, 3, 8]) {
        const p = bisectionPolicy(T, { leaf });
        expect(simulatePolicy(p).ok, `T=${T} leaf=${leaf}`).toBe(true);
        expect(validate(p).ok).toBe(true);
      }
      expect(simulatePolicy(storeAllPolicy(T)).ok).toBe(true);
      expect(simulatePolicy(storeAllPolicy(T, { granular: true })).ok).toBe(true);
    }
  });

  it('bisection is compact, logarithmic in memory and iterative for T = 10^6', () => {
    const T = 1_000_000;
    const p = bisectionPolicy(T, { stateBytes: true });
    expect(p.instructions.length).toBeLessThan(T / 2);
    expect(p.totals.backwards).toBe(T);
    expect(p.totals.peakSlots).toBeLessThan(1 + Math.log2(T) + 2 * 8);
    expect(p.totals.forwards).toBeLessThan(T * Math.log2(T));
    expect(p.budget.bytes).toBe(p.totals.peakBytes);
    expect(simulatePolicy(p).ok).toBe(true);
  });

  it('store-all stores everything', () => {
    const p = storeAllPolicy(100, { alpha: 3 });
    expect(p.totals).toEqual({ forwards: 100, backwards: 100, peakSlots: 301 });
    expect(p.instructions).toHaveLength(2);
    expect(storeAllPolicy(100, { granular: true }).instructions).toHaveLength(200);
  });
});

describe('simulatePolicy', () => {
  const base = storeAllPolicy(3, { alpha: 2, meta: false });

  it('counts totals and reports the first violation', () => {
    expect(simulatePolicy(base)).toMatchObject({ ok: true, forwards: 3, backwards: 3, peakSlots: 7 });
    const noSource: Policy = { ...base, instructions: [{ op: 'forward', from: 1, to: 2 }] };
    expect(simulatePolicy(noSource).error).toMatchObject({ code: 'E_VERIFY_NO_SOURCE', index: 0 });
    const order: Policy = { ...base, instructions: [{ op: 'backward', from: 2, to: 1 }] };
    expect(simulatePolicy(order).error).toMatchObject({ code: 'E_VERIFY_ORDER', index: 0 });
    const noState: Policy = { ...base, instructions: [{ op: 'backward', from: 3, to: 3 }] };
    expect(simulatePolicy(noState).error).toMatchObject({ code: 'E_VERIFY_NO_STATE', index: 0 });
    const dead: Policy = { ...base, instructions: [{ op: 'forward', from: 0, to: 3, store: 'hidden' }] };
    expect(simulatePolicy(dead).error).toMatchObject({ code: 'E_VERIFY_DEAD', index: 0 });
    const tight: Policy = { ...base, budget: { slots: 6.5 } };
    expect(simulatePolicy(tight).error).toMatchObject({ code: 'E_VERIFY_BUDGET', index: 0 });
    const totals: Policy = { ...base, totals: { ...base.totals, forwards: 4 } };
    expect(simulatePolicy(totals).error).toMatchObject({ code: 'E_VERIFY_TOTALS', index: -1 });
    expect(simulatePolicy(totals, { checkTotals: false }).ok).toBe(true);
    const incomplete: Policy = { ...base, instructions: base.instructions.slice(0, 1) };
    expect(simulatePolicy(incomplete).error).toMatchObject({ code: 'E_VERIFY_INCOMPLETE' });
    const notHeld: Policy = { ...base, instructions: [{ op: 'free', kind: 'internal', at: 1 }] };
    expect(simulatePolicy(notHeld).error).toMatchObject({ code: 'E_VERIFY_NOT_HELD' });
    const held: Policy = {
      ...base,
      instructions: [
        { op: 'forward', from: 0, to: 1, store: 'hidden' },
        { op: 'forward', from: 0, to: 2, store: 'hidden', stride: 1 },
      ],
    };
    expect(simulatePolicy(held).error).toMatchObject({ code: 'E_VERIFY_HELD', index: 1 });
  });

  it('tolerates rounding of real alpha within 1e-9', () => {
    const p = storeAllPolicy(10, { alpha: 0.1 + 0.2 + 1 });
    expect(simulatePolicy({ ...p, budget: { slots: p.totals.peakSlots * (1 - 1e-12) } }).ok).toBe(true);
    expect(
      simulatePolicy({ ...p, totals: { ...p.totals, peakSlots: p.totals.peakSlots * (1 + 1e-12) } }).ok,
    ).toBe(true);
    expect(simulatePolicy({ ...p, budget: { slots: p.totals.peakSlots * (1 - 1e-6) } }).ok).toBe(false);
  });
});

describe('mutatePolicy', () => {
  it('always yields a structurally valid policy that the reference replay rejects', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const rng = createRng(seed);
        const p = randomPolicy(rng, { steps: rng.int(1, 60) });
        const { policy, description } = mutatePolicyDescribed(rng, p);
        expect(validate(policy).ok, description).toBe(true);
        expect(simulatePolicy(policy).ok, description).toBe(false);
        expect(simulatePolicy(p).ok).toBe(true); // the original is untouched
      }),
      { numRuns: 200 },
    );
    const bis = bisectionPolicy(100);
    expect(simulatePolicy(mutatePolicy(createRng(1), bis)).ok).toBe(false);
  });
});

describe('generated policies against verify', () => {
  it('every randomPolicy verifies with the totals of its header', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 200 }), (seed, steps) => {
        expectVerified(randomPolicy(createRng(seed), { steps }));
      }),
      { numRuns: 150 },
    );
  });

  it('bisection and store-all verify, up to T = 10^6', () => {
    for (const T of [1, 2, 3, 10, 1000, 65_537]) {
      expectVerified(bisectionPolicy(T));
      expectVerified(bisectionPolicy(T, { leaf: 1, alpha: 1.25, stateBytes: true }));
      expectVerified(storeAllPolicy(T, { granular: T <= 1000 }));
    }
    expectVerified(bisectionPolicy(1_000_000));
  });

  it('verify rejects every mutant with the code of the reference replay', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const rng = createRng(seed);
        const p = randomPolicy(rng, { steps: rng.int(1, 80) });
        const { policy, description } = mutatePolicyDescribed(rng, p);
        const report = verify(policy, { profile: false });
        expect(report.ok, description).toBe(false);
        if (!report.ok) expect(report.issue.code, description).toBe(simulatePolicy(policy).error?.code);
      }),
      { numRuns: 300 },
    );
  });
});
