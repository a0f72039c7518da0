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
    expect(verify(p)).toMatchObject({ ok: false, issue: { code: 'E_VERIFY_BUDGET', path: '/budget' } });
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
      expect(bytes.issue.message).toContain('live memory 500 bytes exceeds the budget of 450 bytes');
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
