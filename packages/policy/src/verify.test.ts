import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors.js';
import type { Instruction, Policy } from './types.js';
import { assertVerified, verify } from './verify.js';

function policy(steps: number, instructions: Instruction[], extra: Partial<Policy> = {}): Policy {
  return {
    format: 'rewind-policy',
    version: '1.0',
    steps,
    strategy: 'test',
    costModel: { alpha: 2, forwardCost: 1, backwardCost: 2 },
    budget: { slots: 1e9 },
    totals: { forwards: 0, backwards: steps, peakSlots: 0 },
    instructions,
    ...extra,
  };
}

describe('verify', () => {
  it('counts a store-all schedule and records its memory profile', () => {
    const p = policy(3, [
      { op: 'forward', from: 0, to: 3, store: 'internal', stride: 1 },
      { op: 'backward', from: 3, to: 1 },
    ]);
    const r = verify(p, { skipTotals: true });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.counted).toEqual({ forwards: 3, backwards: 3, peakSlots: 7, peakHidden: 1, peakInternal: 3 });
    expect(Array.from(r.profile!.time)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(Array.from(r.profile!.internal)).toEqual([0, 1, 2, 3, 2, 1, 0]);
    expect(Array.from(r.profile!.hidden)).toEqual([1, 1, 1, 1, 1, 1, 0]);
  });

  it('uses the working state only right after a forward that ended at the step', () => {
    const bad = policy(2, [
      { op: 'forward', from: 0, to: 2 },
      { op: 'forward', from: 0, to: 1 },
      { op: 'backward', from: 2, to: 2 },
    ]);
    expect(verify(bad, { skipTotals: true })).toMatchObject({
      ok: false,
      issue: { code: 'E_VERIFY_NO_STATE' },
    });
  });

  it('recomputes a step from an internal checkpoint at t-1 and releases dead checkpoints', () => {
    const p = policy(3, [
      { op: 'forward', from: 0, to: 1, store: 'internal' },
      { op: 'forward', from: 1, to: 2, store: 'hidden' },
      { op: 'backward', from: 3, to: 1 },
    ]);
    const r = verify(p, { skipTotals: true });
    // 1 + 1 forwards, then steps 3 (from h2) and 2 (from s1) are recomputed; step 1 uses s1.
    expect(r).toMatchObject({ ok: true, counted: { forwards: 4, peakSlots: 4 } });
    if (r.ok) expect(Array.from(r.profile!.hidden).at(-1)).toBe(0);
  });

  it('refuses an initial state that does not fit the budget', () => {
    const p = policy(1, [{ op: 'forward', from: 0, to: 1 }], { budget: { slots: 0.5 } });
    expect(verify(p)).toMatchObject({ ok: false, issue: { code: 'E_VERIFY_BUDGET', path: '/budget/slots' } });
    const bytes = policy(1, [{ op: 'forward', from: 0, to: 1 }], {
      budget: { slots: 1, bytes: 3 },
      stateBytes: { hidden: 4, internal: 8 },
    });
    expect(verify(bytes)).toMatchObject({
      ok: false,
      issue: { code: 'E_VERIFY_BUDGET', path: '/budget/bytes' },
    });
    // Without stateBytes, budget.bytes is not checked.
    const unchecked = policy(
      1,
      [
        { op: 'forward', from: 0, to: 1 },
        { op: 'backward', from: 1, to: 1 },
      ],
      { budget: { slots: 1, bytes: 0 }, totals: { forwards: 1, backwards: 1, peakSlots: 1 } },
    );
    expect(verify(unchecked).ok).toBe(true);
  });

  it('reports a slot overrun in slots and a bytes overrun in bytes, never an undefined budget', () => {
    // Store-all over 3 steps holds 1 hidden + 3 internal checkpoints at its peak: 7 slots with alpha 2.
    const ins: Instruction[] = [
      { op: 'forward', from: 0, to: 3, store: 'internal', stride: 1 },
      { op: 'backward', from: 3, to: 1 },
    ];
    const stateBytes = { hidden: 100, internal: 250 };
    const message = (extra: Partial<Policy>): string => {
      const r = verify(policy(3, ins, extra), { skipTotals: true });
      expect(r.ok).toBe(false);
      return r.ok ? '' : r.issue.message;
    };
    // Slots over, no state sizes.
    expect(message({ budget: { slots: 6 } })).toBe(
      'live memory 7 slots exceeds the budget of 6 slots with 1 hidden and 3 internal checkpoints held',
    );
    // Slots over, state sizes known but no bytes budget: the bytes held are shown, no budget in bytes.
    expect(message({ budget: { slots: 6 }, stateBytes })).toBe(
      'live memory 7 slots (850 bytes) exceeds the budget of 6 slots with 1 hidden and 3 internal checkpoints held',
    );
    // Bytes over while the slots fit: reported in bytes, with how the bytes add up.
    const bytes = verify(policy(3, ins, { budget: { slots: 7, bytes: 849 }, stateBytes }), {
      skipTotals: true,
    });
    expect(bytes).toMatchObject({ ok: false, issue: { code: 'E_VERIFY_BUDGET', found: 850 } });
    expect(bytes.ok ? '' : bytes.issue.message).toBe(
      'live memory 850 bytes (1 x 100 hidden + 3 x 250 internal) exceeds the budget of 849 bytes with 1 hidden and 3 internal checkpoints held',
    );
    // Real-valued slots are shown without float noise: 1 + 3 x 1.1 is 4.300000000000001 in floats.
    const noisy = message({
      costModel: { alpha: 1.1, forwardCost: 1, backwardCost: 2 },
      budget: { slots: 4 },
    });
    expect(1 + 3 * 1.1).not.toBe(4.3);
    expect(noisy).toBe(
      'live memory 4.3 slots exceeds the budget of 4 slots with 1 hidden and 3 internal checkpoints held',
    );
    for (const extra of [
      { budget: { slots: 6 }, stateBytes },
      { budget: { slots: 7, bytes: 849 }, stateBytes },
    ]) {
      expect(message(extra)).not.toMatch(/undefined|NaN/);
    }
  });

  it('reports a budget overrun in the unit that was exceeded, with no undefined budget', () => {
    const store = [
      { op: 'forward', from: 0, to: 2, store: 'internal', stride: 1 },
      { op: 'backward', from: 2, to: 1 },
    ] as const satisfies Instruction[];
    const sb = { stateBytes: { hidden: 100, internal: 200 } };
    // 5 slots, 500 bytes: within 6 slots, over 450 bytes.
    const bytes = verify(policy(2, [...store], { ...sb, budget: { slots: 6, bytes: 450 } }), {
      skipTotals: true,
    });
    expect(bytes).toMatchObject({ ok: false, issue: { code: 'E_VERIFY_BUDGET', found: 500 } });
    if (!bytes.ok)
      expect(bytes.issue.message).toContain(
        'live memory 500 bytes (1 x 100 hidden + 2 x 200 internal) exceeds the budget of 450 bytes',
      );
    // Over the slots, the budget in bytes absent: no "undefined" in the message.
    const slots = verify(policy(2, [...store], { ...sb, budget: { slots: 4.1 } }), { skipTotals: true });
    expect(slots).toMatchObject({ ok: false, issue: { code: 'E_VERIFY_BUDGET', found: 5 } });
    if (!slots.ok) {
      expect(slots.issue.message).toContain(
        'live memory 5 slots (500 bytes) exceeds the budget of 4.1 slots',
      );
      expect(slots.issue.message).not.toContain('undefined');
    }
    const one = verify(policy(1, [{ op: 'forward', from: 0, to: 1 }], { budget: { slots: 0.5 } }));
    if (!one.ok) expect(one.issue.message).toContain('live memory 1 slot exceeds the budget of 0.5 slots');
  });

  it('refuses a backward after the pass is complete', () => {
    const p = policy(1, [
      { op: 'forward', from: 0, to: 1 },
      { op: 'backward', from: 1, to: 1 },
      { op: 'backward', from: 1, to: 1 },
    ]);
    expect(verify(p)).toMatchObject({
      ok: false,
      issue: { code: 'E_VERIFY_ORDER', path: '/instructions/2/from' },
    });
  });

  it('checks every total, peakBytes exactly', () => {
    const ins: Instruction[] = [
      { op: 'forward', from: 0, to: 2, store: 'hidden', stride: 1 },
      { op: 'backward', from: 2, to: 1 },
    ];
    const good = policy(2, ins, {
      stateBytes: { hidden: 10, internal: 30 },
      totals: { forwards: 4, backwards: 2, peakSlots: 2, peakBytes: 20 },
    });
    // h2 would be dead: the forward stores h1 only (stride 1 stores h1 and h2, so use to = 2 with h2 dead).
    expect(verify(good)).toMatchObject({ ok: false, issue: { code: 'E_VERIFY_DEAD' } });
    const fixed = {
      ...good,
      instructions: [{ op: 'forward', from: 0, to: 1, store: 'hidden' }, ...ins.slice(1)],
    };
    const r = verify(fixed as Policy);
    expect(r).toMatchObject({ ok: false, issue: { code: 'E_VERIFY_TOTALS', path: '/totals/forwards' } });
    const right = { ...fixed, totals: { forwards: 3, backwards: 2, peakSlots: 2, peakBytes: 20 } } as Policy;
    expect(assertVerified(right)).toMatchObject({ forwards: 3, peakBytes: 20 });
    const wrongBytes = { ...right, totals: { ...right.totals, peakBytes: 21 } };
    expect(() => assertVerified(wrongBytes)).toThrow(PolicyError);
    const wrongPeak = { ...right, totals: { ...right.totals, peakSlots: 2.000001 } };
    expect(verify(wrongPeak)).toMatchObject({ ok: false, issue: { path: '/totals/peakSlots' } });
    const withinTolerance = { ...right, totals: { ...right.totals, peakSlots: 2 + 1e-12 } };
    expect(verify(withinTolerance).ok).toBe(true);
  });

  it('replays T = 10^6 iteratively, without deep recursion', () => {
    const T = 1_000_000;
    const ins: Instruction[] = [{ op: 'forward', from: 0, to: T - 1, store: 'hidden', stride: 1 }];
    ins.push({ op: 'backward', from: T, to: 1 });
    const p = policy(T, ins, {
      costModel: { alpha: 3, forwardCost: 1, backwardCost: 2 },
      budget: { slots: T },
      totals: { forwards: 2 * T - 1, backwards: T, peakSlots: T },
    });
    const r = verify(p, { profile: false });
    expect(r).toMatchObject({ ok: true, counted: { forwards: 2 * T - 1, backwards: T, peakSlots: T } });
  });
});
