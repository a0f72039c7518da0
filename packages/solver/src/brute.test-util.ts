/**
 * Ground truth: exhaustive shortest-path search over the states of the abstract machine of
 * docs/policy-format.md, independent of the dynamic programs. A state is (held hidden checkpoints, held
 * internal checkpoints, next backward step, whether the working state is that of step `next`); the moves
 * are every valid instruction (forward from any held state to any position with or without a store,
 * one backward step, free of any held checkpoint), each costing the forward computations it counts.
 * Multi-step instructions are sequences of these moves with the same cost and memory.
 */
export function bruteForce(
  T: number,
  budgetSlots: number,
  alpha: number,
  kinds: { hidden: boolean; internal: boolean },
): number {
  if (T > 9) throw new Error('bruteForce: T <= 9');
  const tol = budgetSlots * 1e-12;
  const pop = (x: number) => {
    let c = 0;
    while (x) {
      c += x & 1;
      x >>>= 1;
    }
    return c;
  };
  const fitsMem = (H: number, S: number) => pop(H) + alpha * pop(S) <= budgetSlots + tol;
  if (!fitsMem(1, 0)) return Number.POSITIVE_INFINITY;
  // key: H (10 bits) | S (10 bits) | next (4 bits) | w (1 bit)
  const key = (H: number, S: number, next: number, w: number) => ((H * 1024 + S) * 16 + next) * 2 + w;
  const dist = new Map<number, number>();
  const buckets: number[][] = [];
  const push = (d: number, k: number) => {
    let b = buckets[d];
    if (b === undefined) {
      b = [];
      buckets[d] = b;
    }
    b.push(k);
  };
  const relax = (d: number, H: number, S: number, next: number, w: number) => {
    const k = key(H, S, next, w);
    const old = dist.get(k);
    if (old === undefined || d < old) {
      dist.set(k, d);
      push(d, k);
    }
  };
  relax(0, 1, 0, T, 0);
  for (let d = 0; d < buckets.length; d++) {
    const bucket = buckets[d];
    if (bucket === undefined) continue;
    for (let bi = 0; bi < bucket.length; bi++) {
      const k = bucket[bi] as number;
      if (dist.get(k) !== d) continue;
      const w = k % 2;
      const next = Math.floor(k / 2) % 16;
      const S = Math.floor(k / 32) % 1024;
      const H = Math.floor(k / 32768);
      if (next === 0) return d;
      const held = (p: number) => ((H >> p) & 1) === 1 || (p >= 1 && ((S >> p) & 1) === 1);
      // backward step `next`
      const t = next;
      let c = -1;
      if ((S >> t) & 1) c = 0;
      else if (w === 1) c = 0;
      else if (held(t - 1)) c = 1;
      if (c >= 0) relax(d + c, H & ((1 << (t - 1)) - 1), S & ((1 << t) - 1), t - 1, 0);
      // forwards from any held state a to any b <= next (a forward without store that does not end at
      // `next` only costs)
      for (let a = 0; a < next; a++) {
        if (!held(a)) continue;
        for (let b = a + 1; b <= next; b++) {
          const cost = d + b - a;
          const wb = b === next ? 1 : 0;
          if (wb === 1) relax(cost, H, S, next, 1);
          if (kinds.hidden && b <= next - 1 && ((H >> b) & 1) === 0 && fitsMem(H | (1 << b), S)) {
            relax(cost, H | (1 << b), S, next, wb);
          }
          if (kinds.internal && ((S >> b) & 1) === 0 && fitsMem(H, S | (1 << b))) {
            relax(cost, H, S | (1 << b), next, wb);
          }
        }
      }
      // free any held checkpoint
      for (let p = 0; p <= T; p++) {
        if ((H >> p) & 1) relax(d, H & ~(1 << p), S, next, 0);
        if ((S >> p) & 1) relax(d, H, S & ~(1 << p), next, 0);
      }
    }
  }
  return Number.POSITIVE_INFINITY;
}

/** Every distinct budget threshold `1 + i + j * alpha` up to `max` (the only budgets where optima change). */
export function thresholds(alpha: number, max: number, hidden: boolean, internal: boolean): number[] {
  const out = new Set<number>();
  for (let i = 0; 1 + i <= max; i++) {
    if (!hidden && i > 0) break;
    for (let j = 0; 1 + i + j * alpha <= max; j++) {
      if (!internal && j > 0) break;
      out.add(1 + i + j * alpha);
    }
  }
  return [...out].sort((a, b) => a - b);
}
