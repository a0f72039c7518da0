import type { Instruction, Policy, StateBytes } from '@rewind/policy';
import { verify } from '@rewind/policy';
import { createRng } from './reference/rng.js';

export interface PolicyHeader {
  readonly stateBytes?: StateBytes;
  readonly alpha?: number;
  readonly strategy?: string;
  /** Budget in slots; default: exactly the peak. */
  readonly slots?: number;
  /** Budget in bytes; default: exactly the peak when stateBytes is given. */
  readonly bytes?: number;
  /** Leave `budget.bytes` out even with stateBytes. */
  readonly noBytes?: boolean;
}

/** Wrap instructions into a policy whose totals (and tight budget) come from replaying it. */
export function makePolicy(
  steps: number,
  instructions: readonly Instruction[],
  header: PolicyHeader = {},
): Policy {
  const alpha =
    header.alpha ?? (header.stateBytes ? header.stateBytes.internal / header.stateBytes.hidden : 1);
  const draft: Policy = {
    format: 'rewind-policy',
    version: '1.0',
    steps,
    strategy: header.strategy ?? 'test',
    costModel: { alpha, forwardCost: 1, backwardCost: 1 },
    budget: { slots: 1e12 },
    ...(header.stateBytes ? { stateBytes: header.stateBytes } : {}),
    totals: { forwards: 0, backwards: 0, peakSlots: 0 },
    instructions,
  };
  const replay = verify(draft, { skipTotals: true, profile: false });
  if (!replay.ok) throw new Error(`test policy is invalid: ${replay.issue.code} ${replay.issue.message}`);
  const c = replay.counted;
  const totals = { forwards: c.forwards, backwards: c.backwards, peakSlots: c.peakSlots };
  const budget: { slots: number; bytes?: number } = { slots: header.slots ?? c.peakSlots };
  if (header.stateBytes && header.noBytes !== true) budget.bytes = header.bytes ?? c.peakBytes ?? 0;
  else if (header.bytes !== undefined) budget.bytes = header.bytes;
  const policy: Policy = {
    ...draft,
    budget,
    totals: c.peakBytes === undefined ? totals : { ...totals, peakBytes: c.peakBytes },
  };
  const check = verify(policy, { profile: false });
  if (!check.ok) throw new Error(`test policy fails verify: ${check.issue.code} ${check.issue.message}`);
  return policy;
}

/** Standard BPTT: one forward keeping every internal state, then every backward step. */
export function storeAll(steps: number, header: PolicyHeader = {}): Policy {
  return makePolicy(
    steps,
    [
      { op: 'forward', from: 0, to: steps, store: 'internal', stride: 1 },
      { op: 'backward', from: steps, to: 1 },
    ],
    { strategy: 'store-all', ...header },
  );
}

/** Keep only the initial state: run forward from it to every step, then that backward step. */
export function recomputeAll(steps: number, header: PolicyHeader = {}): Policy {
  const list: Instruction[] = [];
  for (let t = steps; t >= 1; t--) {
    list.push({ op: 'forward', from: 0, to: t });
    list.push({ op: 'backward', from: t, to: t });
  }
  return makePolicy(steps, list, { strategy: 'recompute-all', ...header });
}

/** Keep every hidden state, then recompute each step inside one backward range. */
export function hiddenAll(steps: number, header: PolicyHeader = {}): Policy {
  const list: Instruction[] = [];
  if (steps > 1) list.push({ op: 'forward', from: 0, to: steps - 1, store: 'hidden', stride: 1 });
  list.push({ op: 'backward', from: steps, to: 1 });
  return makePolicy(steps, list, { strategy: 'hidden-all', ...header });
}

/**
 * A random valid policy: a random walk on the abstract machine of docs/policy-format.md, with forwards
 * from any held state (storing hidden or internal checkpoints with random strides), backward ranges as
 * long as states are available, and occasional frees.
 */
export function randomPolicy(steps: number, seed: number, header: PolicyHeader = {}): Policy {
  const rng = createRng(seed);
  const int = (lo: number, hi: number): number => lo + Math.min(hi - lo, Math.floor(rng() * (hi - lo + 1)));
  const hidden = new Set<number>([0]);
  const internal = new Set<number>();
  let next = steps;
  let working = -1;
  const list: Instruction[] = [];
  const available = (t: number, first: boolean): boolean =>
    internal.has(t) || (first && working === t) || hidden.has(t - 1) || internal.has(t - 1);
  while (next > 0) {
    const r = rng();
    if (r < 0.4 && available(next, true)) {
      let to = next;
      const len = int(1, next);
      while (to > 1 && next - to + 1 < len && available(to - 1, false)) to--;
      list.push({ op: 'backward', from: next, to });
      for (let t = next; t >= to; t--) {
        for (const p of [...hidden]) if (p >= t - 1) hidden.delete(p);
        for (const p of [...internal]) if (p >= t) internal.delete(p);
      }
      next = to - 1;
      working = -1;
    } else if (r < 0.93) {
      const sources = [...hidden, ...internal].filter((p) => p < next);
      const from = sources[int(0, sources.length - 1)]!;
      const to = int(from + 1, next);
      const kindDraw = rng();
      const kind = kindDraw < 0.35 ? undefined : kindDraw < 0.65 ? 'hidden' : 'internal';
      if (kind === undefined) {
        list.push({ op: 'forward', from, to });
      } else {
        const stride = int(1, to - from);
        const held = kind === 'hidden' ? hidden : internal;
        const lastAlive = kind === 'hidden' ? next - 1 : next;
        const positions: number[] = [];
        for (let p = from + stride; p <= to; p += stride) positions.push(p);
        if (positions.every((p) => p <= lastAlive && !held.has(p))) {
          for (const p of positions) held.add(p);
          list.push(
            stride === to - from && rng() < 0.5
              ? { op: 'forward', from, to, store: kind }
              : { op: 'forward', from, to, store: kind, stride },
          );
        } else {
          list.push({ op: 'forward', from, to });
        }
      }
      working = to;
    } else {
      const candidates: Array<{ kind: 'hidden' | 'internal'; at: number }> = [
        ...[...hidden].filter((p) => p !== 0).map((at) => ({ kind: 'hidden' as const, at })),
        ...[...internal].map((at) => ({ kind: 'internal' as const, at })),
      ];
      if (candidates.length === 0) continue;
      const c = candidates[int(0, candidates.length - 1)]!;
      (c.kind === 'hidden' ? hidden : internal).delete(c.at);
      list.push({ op: 'free', kind: c.kind, at: c.at });
      working = -1;
    }
  }
  return makePolicy(steps, list, { strategy: 'random', ...header });
}
