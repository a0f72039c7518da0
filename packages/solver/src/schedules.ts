import { LEAF } from './dp.js';
import { type Emitter, HIDDEN, INTERNAL, NONE } from './emit.js';
import { hsmSplit } from './hsm.js';

/** A checkpoint count: `h` hidden (the initial state's slot included) and `i` internal checkpoints. */
export interface Mem {
  readonly h: number;
  readonly i: number;
}

/** Standard BPTT: one forward pass storing every internal state, then one backward range. */
export function runStoreAll(em: Emitter, T: number): void {
  for (let p = 1; p <= T; p++) em.forward(p - 1, p, INTERNAL);
  for (let t = T; t >= 1; t--) em.backward(t);
}

/** No checkpoint but the initial state: each backward step re-runs the chain from the start. */
export function runRecomputeAll(em: Emitter, T: number): void {
  for (let t = T; t >= 1; t--) {
    em.forward(0, t, NONE);
    em.backward(t);
  }
}

/** A segment `(a, a+L]` held at `a`: store its internal states, then run its backward steps. */
function segment(em: Emitter, a: number, L: number): void {
  for (let p = a + 1; p < a + L; p++) em.forward(p - 1, p, INTERNAL);
  em.forward(a + L - 1, a + L, NONE);
  for (let t = a + L; t > a; t--) em.backward(t);
}

/** Chen et al.'s sqrt(T) schedule with segment length k. */
export function chenSqrtStats(T: number, k: number): { forwards: number; peaks: Mem[] } {
  const n = Math.ceil(T / k);
  const lastLen = T - (n - 1) * k;
  const peaks: Mem[] = [{ h: n, i: lastLen - 1 }];
  if (n >= 2) peaks.push({ h: n - 1, i: k - 1 });
  return { forwards: T + (n - 1) * k, peaks };
}

export function runChenSqrt(em: Emitter, T: number, k: number): void {
  const n = Math.ceil(T / k);
  for (let i = 1; i < n; i++) em.forward((i - 1) * k, i * k, HIDDEN);
  for (let i = n - 1; i >= 0; i--) {
    const s = i * k;
    const e = i === n - 1 ? T : s + k;
    segment(em, s, e - s);
  }
}

/** The recursive (bisection) variant: split at the middle `depth` times, then store internal states. */
export function chenRecursiveStats(T: number, depth: number, alpha: number): { forwards: number; peak: Mem } {
  const memo = new Map<number, { c: number; h: number; i: number }>();
  const go = (t: number, d: number): { c: number; h: number; i: number } => {
    const key = t * 64 + d;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let res: { c: number; h: number; i: number };
    if (d === 0 || t <= 1) res = { c: t, h: 0, i: Math.max(0, t - 1) };
    else {
      const y = Math.floor(t / 2);
      const right = go(t - y, d - 1);
      const left = go(y, d - 1);
      const rh = right.h + 1;
      const useRight = rh + right.i * alpha >= left.h + left.i * alpha;
      res = { c: y + right.c + left.c, h: useRight ? rh : left.h, i: useRight ? right.i : left.i };
    }
    memo.set(key, res);
    return res;
  };
  const r = go(T, depth);
  return { forwards: r.c, peak: { h: 1 + r.h, i: r.i } };
}

export function runChenRecursive(em: Emitter, T: number, depth: number): void {
  const stack: number[] = [0, T, depth];
  while (stack.length > 0) {
    const d = stack.pop() as number;
    const t = stack.pop() as number;
    const a = stack.pop() as number;
    if (t === 0) continue;
    if (d === 0 || t === 1) {
      segment(em, a, t);
      continue;
    }
    const y = Math.floor(t / 2);
    em.forward(a, a + y, HIDDEN);
    stack.push(a, y, d - 1, a + y, t - y, d - 1);
  }
}

/** Chooses the action of cell `(t, u)` of a subproblem whose start is hidden (`isG`) or internal. */
export type Chooser = (isG: boolean, t: number, u: number) => number;

const BACK = 2;

/**
 * Emit the schedule of a split tree (hsm/ism/msm), iteratively. Choice codes: LEAF, `2y` (hidden split at
 * y: right part `u - q`), `2y + 1` (internal split at y: right part `u - A`; at y = 1 in a subproblem with a
 * hidden start, the start is freed and the right part gets `u - A + q`).
 */
export function runTree(em: Emitter, T: number, U: number, q: number, A: number, choose: Chooser): void {
  const stack: number[] = [];
  let isG = true;
  let a = 0;
  let t = T;
  let u = U;
  for (;;) {
    while (t > 0) {
      const code = choose(isG, t, u);
      if (code === LEAF) {
        em.forward(a, a + t, NONE);
        em.backward(a + t);
        t--;
        continue;
      }
      const y = Math.floor(code / 2);
      if (code % 2 === 0) {
        em.forward(a, a + y, HIDDEN);
        stack.push(isG ? 1 : 0, a, y, u);
        a += y;
        t -= y;
        u -= q;
        isG = true;
      } else if (isG && y === 1) {
        em.forward(a, a + 1, INTERNAL);
        em.free(HIDDEN, a);
        stack.push(BACK, a + 1, 0, 0);
        a += 1;
        t -= 1;
        u = u - A + q;
        isG = false;
      } else {
        em.forward(a, a + y, INTERNAL);
        stack.push(isG ? 1 : 0, a, y - 1, u);
        stack.push(BACK, a + y, 0, 0);
        a += y;
        t -= y;
        u -= A;
        isG = false;
      }
    }
    let resumed = false;
    while (stack.length > 0) {
      const fu = stack.pop() as number;
      const ft = stack.pop() as number;
      const fa = stack.pop() as number;
      const kind = stack.pop() as number;
      if (kind === BACK) {
        em.backward(fa);
        continue;
      }
      isG = kind === 1;
      a = fa;
      t = ft;
      u = fu;
      resumed = true;
      break;
    }
    if (!resumed) return;
  }
}

/** The HSM chooser: closed-form optimal split (u = slots, the start's included). */
export const hsmChooser: Chooser = (_isG, t, M) => (M <= 1 || t === 1 ? LEAF : 2 * hsmSplit(t, M));
