/**
 * BPTT-HSM in closed form.
 *
 * With `M` slots (the start state's slot included) let `beta(M, r) = C(M + r, r)`. The optimal number of
 * forwards to run the backward pass of `t` steps is `C(t, M) = (r + 1) t - beta(M + 1, r - 1)`, where the
 * level `r` is the smallest integer with `beta(M, r) >= t`. The README gives the argument; the tests check
 * it against the naive dynamic program.
 */

const LIMIT = 2 ** 53;

/** `C(M + r, r)`, or `Infinity` once it exceeds `cap`; 0 for `r < 0`. */
export function beta(M: number, r: number, cap = LIMIT): number {
  if (r < 0) return 0;
  const k = Math.min(M, r);
  const base = M + r - k;
  let v = 1;
  for (let i = 1; i <= k; i++) {
    v = (v * (base + i)) / i;
    if (v > cap) return Number.POSITIVE_INFINITY;
  }
  return v;
}

/** The smallest `r >= 0` with `beta(M, r) >= t` (`t >= 1`, `M >= 1`). */
export function hsmLevel(t: number, M: number): number {
  if (t <= 1) return 0;
  if (M === 1) return t - 1;
  if (M === 2) {
    // (r + 1)(r + 2) / 2 >= t
    let r = Math.max(0, Math.ceil((Math.sqrt(8 * t + 1) - 3) / 2));
    while (r > 0 && (r * (r + 1)) / 2 >= t) r--;
    while (((r + 1) * (r + 2)) / 2 < t) r++;
    return r;
  }
  let hi = 1;
  while (beta(M, hi, t) < t) hi *= 2;
  let lo = hi >> 1;
  // beta(M, lo) < t <= beta(M, hi) unless lo == 0
  if (beta(M, lo, t) >= t) return lo;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (beta(M, mid, t) >= t) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The optimal number of forward step computations of BPTT-HSM for `steps` steps with `slots` hidden-state
 * slots, the slot of the start state included (`slots >= 1`; fractional slots are rounded down).
 * `hsmCost(t, 1) = t(t+1)/2` (recompute-all); `hsmCost(t, M) = 2t - 1` for `M >= t - 1`.
 */
export function hsmCost(steps: number, slots: number): number {
  const M = Math.floor(slots);
  if (steps <= 0) return 0;
  if (!(M >= 1)) return Number.POSITIVE_INFINITY;
  const r = hsmLevel(steps, M);
  return (r + 1) * steps - beta(M + 1, r - 1);
}

/**
 * A first split of an optimal HSM schedule for `t >= 2` steps with `M >= 2` slots: store the hidden state
 * `y` steps after the start, solve the right part (`t - y` steps, `M - 1` slots), then the left part
 * (`y` steps, `M` slots).
 */
export function hsmSplit(t: number, M: number): number {
  const r = hsmLevel(t, M);
  const y = Math.max(beta(M, r - 2), t - beta(M - 1, r));
  return Math.min(t - 1, Math.max(1, y));
}

/**
 * The binomial ("revolve"-type) bound: with `slots` slots, each step forwarded at most `r + 1` times,
 * one can run the backward pass of `C(slots + r, r)` steps. Returns that number of steps.
 */
export function hsmMaxSteps(slots: number, r: number): number {
  return beta(Math.floor(slots), r);
}

/**
 * Upper bound on `hsmCost(steps, slots)` from the binomial bound: `(r + 1) * steps` where `r` is the
 * smallest level with `C(slots + r, r) >= steps`.
 */
export function hsmBinomialBound(steps: number, slots: number): number {
  const M = Math.floor(slots);
  if (steps <= 0) return 0;
  if (!(M >= 1)) return Number.POSITIVE_INFINITY;
  return (hsmLevel(steps, M) + 1) * steps;
}

/**
 * The asymptotic power bound `steps * (1 + ceil(M (steps^(1/M) - 1)))`, which is
 * `O(M * steps^(1 + 1/M))`: since `C(M + r, r) >= (1 + r/M)^M`, level `ceil(M (steps^(1/M) - 1))` suffices.
 */
export function hsmPowerBound(steps: number, slots: number): number {
  const M = Math.floor(slots);
  if (steps <= 0) return 0;
  if (!(M >= 1)) return Number.POSITIVE_INFINITY;
  let r = Math.max(0, Math.ceil(M * (steps ** (1 / M) - 1) - 1e-9));
  while (beta(M, r, steps) < steps) r++; // guards the rounding of the power
  return (r + 1) * steps;
}
