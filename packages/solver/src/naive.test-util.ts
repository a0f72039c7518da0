/**
 * Test oracles: the naive O(T^2 U) dynamic program on the memory grid, and the recursion on real-valued
 * memory. Both follow the recursions of dp.ts literally, with no search shortcut.
 */

export interface NaiveTables {
  /** F[u][t] and G[u][t]. */
  readonly F: Float64Array[];
  readonly G: Float64Array[];
}

export function naiveGrid(
  T: number,
  U: number,
  q: number,
  A: number,
  hidden: boolean,
  internal: boolean,
): NaiveTables {
  const F: Float64Array[] = [];
  const G: Float64Array[] = [];
  for (let u = 0; u <= U; u++) {
    const f = new Float64Array(T + 1);
    const g = new Float64Array(T + 1);
    F.push(f);
    G.push(g);
    for (const isG of [false, true]) {
      const X = isG ? g : f;
      for (let t = 1; t <= T; t++) {
        let best = t + (X[t - 1] as number);
        if (hidden && u >= q) {
          const R = G[u - q] as Float64Array;
          for (let y = 1; y < t; y++) best = Math.min(best, y + (R[t - y] as number) + (X[y] as number));
        }
        if (internal && u >= A) {
          const R = F[u - A] as Float64Array;
          for (let y = 1; y < t; y++) best = Math.min(best, y + (R[t - y] as number) + (X[y - 1] as number));
          if (isG && t >= 2) best = Math.min(best, 1 + ((F[u - A + q] as Float64Array)[t - 1] as number));
        }
        X[t] = best;
      }
    }
  }
  return { F, G };
}

/** The naive HSM table C[M][t] with M total slots (the start's included). */
export function naiveHsm(T: number, maxSlots: number): number[][] {
  const C: number[][] = [[]];
  for (let M = 1; M <= maxSlots; M++) {
    const row = [0];
    for (let t = 1; t <= T; t++) {
      let b = t + (row[t - 1] as number);
      if (M >= 2) {
        const R = C[M - 1] as number[];
        for (let y = 1; y < t; y++) b = Math.min(b, y + (R[t - y] as number) + (row[y] as number));
      }
      row.push(b);
    }
    C.push(row);
  }
  return C;
}

/**
 * The recursions on real-valued memory `m` (further slots beyond the start), memoised. `free` enables the
 * option the brief's derivation lacked: free a hidden start after storing the internal state one step later.
 */
export function realRecursion(
  T: number,
  budgetSlots: number,
  alpha: number,
  kinds: { hidden: boolean; internal: boolean; free: boolean },
): number {
  const eps = 1e-9;
  const memo = new Map<string, number>();
  const X = (isG: boolean, t: number, m: number): number => {
    if (t === 0) return 0;
    const key = `${isG ? 'g' : 'f'}${t}:${m.toFixed(9)}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let best = t + X(isG, t - 1, m);
    for (let y = 1; y < t; y++) {
      if (kinds.hidden && m >= 1 - eps) best = Math.min(best, y + X(true, t - y, m - 1) + X(isG, y, m));
      if (kinds.internal && m >= alpha - eps)
        best = Math.min(best, y + X(false, t - y, m - alpha) + X(isG, y - 1, m));
    }
    if (kinds.free && isG && kinds.internal && m >= alpha - eps && t >= 2) {
      best = Math.min(best, 1 + X(false, t - 1, m - alpha + 1));
    }
    memo.set(key, best);
    return best;
  };
  if (budgetSlots < 1 - eps) return Number.POSITIVE_INFINITY;
  return X(true, T, budgetSlots - 1);
}
