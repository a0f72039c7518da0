/**
 * The ISM/MSM dynamic programs on a memory grid, computed column by column (one column per memory value)
 * with an exact, certified split search.
 *
 * Memory is counted in grid units: a hidden checkpoint costs `q` units, an internal one `A` units
 * (`A / q >= alpha`). Two functions of `(t, u)`: `F` (the start of the subproblem is an internal
 * checkpoint, which the caller still needs) and `G` (the start is a hidden checkpoint that may be freed).
 * Both exclude the start's own memory from `u`:
 *
 *   X(0, u) = 0
 *   X(t, u) = min( t + X(t-1, u)                                    leaf (working state)
 *                  y + G(t-y, u-q) + X(y, u)     1 <= y < t, u >= q  hidden split
 *                  y + F(t-y, u-A) + X(y-1, u)   1 <= y < t, u >= A  internal split
 *                  1 + F(t-1, u-A+q)             X = G, t >= 2, u >= A: internal split at 1, then free
 *                                                                     the start )
 *
 * The split search of one cell starts at the previous cell's best split, descends to a local minimum and
 * then walks outwards only while a lower bound built from the slopes of the two columns
 * (prefix maxima, range minima) does not prove that every split further out is no better. The bound
 * holds for any columns, so the search is exact without convexity (see the README).
 */

export const LEAF = 0;

export type ChoiceArray = Uint16Array | Int32Array;

export interface DpSpec {
  readonly steps: number;
  /** Largest memory, in units (excluding the start's own checkpoint), to compute. */
  readonly units: number;
  readonly q: number;
  readonly A: number;
  readonly hidden: boolean;
  readonly internal: boolean;
  /** Keep the choice of every cell (for emitting a schedule). */
  readonly keepChoices: boolean;
}

/** `G(T, u)` and `F(T, u)` for every `u`, and the choices when kept. */
export interface DpResult {
  readonly top: Float64Array;
  readonly table?: ChoiceTable;
}

/** Largest `t` whose cell is in the closed-form region (cost exactly `t`) of column `u`. */
export function trivialF(u: number, A: number, T: number, internal: boolean): number {
  if (!internal) return Math.min(T, 1);
  return Math.min(T, Math.floor(u / A) + 1);
}

export function trivialG(u: number, q: number, A: number, T: number, internal: boolean): number {
  if (!internal || u < A) return Math.min(T, 1);
  return Math.min(T, Math.floor((u + q) / A) + 1);
}

/**
 * `N(j) = 1 + j + (j + 1)(j + 2) / 2`: the longest chain that `j` internal checkpoints run at the lower
 * bound `2t - 1 - j` (every step but `j` and the last computed exactly twice). See `closedF`.
 */
export function levelOneSteps(j: number): number {
  return 1 + j + ((j + 1) * (j + 2)) / 2;
}

/** The internal checkpoints an F column (internal start) can hold: `floor(u / A)`. */
export function internalsF(u: number, A: number, internal: boolean): number {
  return internal ? Math.floor(u / A) : 0;
}

/** The internal checkpoints a G column (hidden start, which may be freed) can hold. */
export function internalsG(u: number, q: number, A: number, internal: boolean): number {
  return internal && u >= A ? Math.floor((u + q) / A) : 0;
}

/** The lower bound `L_j(t) = max(t, 2t - 1 - j)` (`0` at `t = 0`), exact in the closed-form region. */
export function levelOneCost(t: number, j: number): number {
  return t <= 0 ? 0 : Math.max(t, 2 * t - 1 - j);
}

/**
 * Largest `t` of column `u` of F in the closed-form region, where `F(t, u) = L_j(t)` with `j = floor(u/A)`:
 * `t <= N(j) + k (j + 1)`, `k = floor((u - j A) / q)` the hidden checkpoints the memory left below one more
 * internal one holds (MSM only; `k = 0` without hidden moves). The README proves it: the lower bound by
 * induction over the recursion; the upper bound by the split `y = max(1, t - N(j - 1))` (`k = 0`: trivial
 * left part, right part closed at `j - 1`), and for `k >= 1` the hidden split
 * `y = max(1, t - N(j) - (k - 1)(j + 1))` (trivial left part, right part G closed at `(j, k - 1)`).
 */
export function closedF(u: number, A: number, T: number, internal: boolean, q = 1, hidden = false): number {
  if (!internal) return Math.min(T, 1);
  return Math.min(T, levelOneSpan(u, q, A, hidden));
}

/** `N(j) + k (j + 1)` for column `u` of F (see `closedF`). */
function levelOneSpan(u: number, q: number, A: number, hidden: boolean): number {
  const j = Math.floor(u / A);
  const k = hidden ? Math.floor((u - j * A) / q) : 0;
  return levelOneSteps(j) + k * (j + 1);
}

/**
 * Largest `t` of column `u` of G in the closed-form region, where `G(t, u) = L_j(t)` with
 * `j = floor((u + q) / A)` (0 below `A`): the F bound `N(j) + k (j + 1)` when `floor(u / A) = j` (the same
 * splits; `G <= F`), else `1 + ` the F bound of column `u - A + q` (free the start, then F at `j - 1`).
 */
export function closedG(
  u: number,
  q: number,
  A: number,
  T: number,
  internal: boolean,
  hidden = false,
): number {
  if (!internal) return Math.min(T, 1);
  if (u < A) return Math.min(T, levelOneSpan(u, q, A, hidden));
  const j = Math.floor((u + q) / A);
  const n =
    Math.floor(u / A) === j ? levelOneSpan(u, q, A, hidden) : 1 + levelOneSpan(u - A + q, q, A, hidden);
  return Math.min(T, n);
}

/** The choice of a closed-form cell (see `closedF`, `closedG`). */
function closedChoice(isG: boolean, t: number, u: number, q: number, A: number): number {
  const jf = Math.floor(u / A);
  const j = isG ? internalsG(u, q, A, true) : jf;
  if (t <= 1) return LEAF;
  // In G, code 3 frees the start (it dominates the internal split at 1).
  if (isG && jf < j) return 3;
  // Beyond N(j) (MSM, k >= 1 hidden checkpoints' worth left): the hidden split onto (j, k - 1).
  const n = levelOneSteps(j);
  if (t > n) {
    const k = Math.floor((u - j * A) / q);
    return 2 * Math.max(1, t - n - (k - 1) * (j + 1));
  }
  // j = 0 (t <= N(0) = 2): the leaf, 2t - 1.
  if (j === 0) return LEAF;
  if (t <= j + 1) return 3;
  return 2 * Math.max(1, t - levelOneSteps(j - 1)) + 1;
}

/**
 * The smallest memory from which the whole G column up to `T` is closed-form (then no column at or above
 * it needs computing, and a schedule from there only visits closed-form cells); `Infinity` when none.
 */
export function closedFromUnits(T: number, q: number, A: number, internal: boolean, hidden = false): number {
  if (!internal) return Number.POSITIVE_INFINITY;
  if (T <= 1) return 0;
  // Smallest j with N(j - 1) + 1 >= T; at u = j A - q the G column reaches j internal checkpoints. From
  // there the k = 0 bound (nondecreasing in u) already covers T; with hidden moves the extended bound is
  // not monotone in u, so walk down only while every column stays closed.
  let j = 1;
  while (levelOneSteps(j - 1) + 1 < T) j++;
  let u = Math.max(A, j * A - q);
  while (u > 0 && closedG(u - 1, q, A, T, true) >= T) u--;
  while (closedG(u, q, A, T, true) < T) u++;
  while (u > 0 && closedG(u - 1, q, A, T, true, hidden) >= T) u--;
  return u;
}

/** The memory beyond which more memory cannot lower `G(T, u)`. */
export function saturationUnits(T: number, q: number, A: number, hidden: boolean, internal: boolean): number {
  if (T <= 1) return 0;
  if (internal) return Math.max(A, (T - 1) * A - q);
  if (hidden) return Math.max(0, (T - 2) * q);
  return 0;
}

/** The memory columns `0..n-1` that the DP computes; above them everything is closed-form. */
export function computedColumns(spec: DpSpec): number {
  const { steps: T, units: U, q, A, internal } = spec;
  return Math.min(U + 1, closedFromUnits(T, q, A, internal, spec.hidden));
}

/** Number of stored choice cells and of working cells (the column ring) of a table. */
export function tableCells(spec: DpSpec): { choices: number; ring: number } {
  const { steps: T, q, A, hidden, internal } = spec;
  const n = computedColumns(spec);
  let choices = 0;
  if (spec.keepChoices) {
    for (let u = 0; u < n; u++) {
      if (internal) choices += T - closedF(u, A, T, internal, q, hidden);
      choices += T - closedG(u, q, A, T, internal, hidden);
    }
  }
  if (n === 0) return { choices, ring: 0 };
  const ring = (internal ? A : hidden ? q : 0) + 1;
  return { choices, ring: ring * (T + 2) * 6 };
}

export class ChoiceTable {
  constructor(
    readonly steps: number,
    readonly q: number,
    readonly A: number,
    readonly internal: boolean,
    private readonly f: ChoiceArray[],
    private readonly g: ChoiceArray[],
    /** Hidden moves allowed (MSM): the closed region extends with the leftover hidden checkpoints. */
    readonly hidden = false,
  ) {}

  /** The choice code of cell `(t, u)`: LEAF, `2y` (hidden split at y), `2y + 1` (internal split at y; in G, y = 1 frees the start). */
  choice(isG: boolean, t: number, u: number): number {
    const t0 = isG
      ? closedG(u, this.q, this.A, this.steps, this.internal, this.hidden)
      : closedF(u, this.A, this.steps, this.internal, this.q, this.hidden);
    if (t <= t0) return this.internal ? closedChoice(isG, t, u, this.q, this.A) : LEAF;
    const col = (isG ? this.g : this.f)[u];
    if (col === undefined) throw new Error(`dp: no column ${u}`);
    return col[t - t0 - 1] as number;
  }
}

// Scratch outputs of `search`.
let outY = 0;
let outC = 0;

/**
 * Minima of the ranges `[L, n]` of a growing sequence `d[1..n]`: a stack of the suffix minima (indices
 * increasing, values strictly increasing); a query is a binary search.
 */
class SuffixMin {
  idx = new Int32Array(16);
  val = new Float64Array(16);
  n = 0;

  reset(size: number): void {
    if (this.idx.length < size) {
      this.idx = new Int32Array(size);
      this.val = new Float64Array(size);
    }
    this.n = 0;
  }

  push(i: number, d: number): void {
    let n = this.n;
    while (n > 0 && (this.val[n - 1] as number) >= d) n--;
    this.idx[n] = i;
    this.val[n] = d;
    this.n = n + 1;
  }

  /** The stack position answering `[L, last pushed index]` (`n` when empty); `val[pos]` is the minimum. */
  find(L: number): number {
    let hi = this.n - 1;
    if (hi < 0 || (this.idx[hi] as number) < L) return this.n;
    let lo = 0;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.idx[mid] as number) >= L) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** Slopes of the column being computed (up to t - 1). */
const sx = new SuffixMin();

/**
 * Minimise `c(y) = y + X[y - off] + R[t - y]` over `1 <= y <= t - 1` (off 0: hidden split, 1: internal).
 * PMX: prefix maxima of the slopes of X (known up to t - 1); RPM/RSM: prefix maxima / suffix minima of the
 * slopes of the complete column R.
 */
function search(
  t: number,
  X: Float64Array,
  PMX: Float64Array,
  off: number,
  R: Float64Array,
  RPM: Float64Array,
  RSM: Float64Array,
  yStart: number,
  lb: number,
): void {
  const last = t - 1;
  let y = Math.max(1, Math.min(yStart, last));
  let c = y + (X[y - off] as number) + (R[t - y] as number);
  while (y < last) {
    const c2 = y + 1 + (X[y + 1 - off] as number) + (R[t - y - 1] as number);
    if (c2 <= c) {
      y++;
      c = c2;
    } else break;
  }
  while (y > 1) {
    const c2 = y - 1 + (X[y - 1 - off] as number) + (R[t - y + 1] as number);
    if (c2 < c) {
      y--;
      c = c2;
    } else break;
  }
  let bestY = y;
  let bestC = c;
  if (c <= lb) {
    outY = y;
    outC = c;
    return;
  }
  // Every y' < yl costs at least c(yl) once the min slope of R on [t-yl+1, T] >= 1 + the max slope of X
  // on [1, yl - off].
  let yl = y;
  while (yl > 1 && bestC > lb && (RSM[t - yl + 1] as number) < 1 + (PMX[yl - off] as number)) {
    yl--;
    const cl = yl + (X[yl - off] as number) + (R[t - yl] as number);
    if (cl < bestC) {
      bestC = cl;
      bestY = yl;
    }
  }
  // Every y' > yr costs at least c(yr) once 1 + min slope of X on [yr + 1 - off, t - 1] >= RPM[t - yr].
  let yr = y;
  // The answering stack position only moves up as the range [yr + 1 - off, t - 1] shrinks.
  const n = sx.n;
  const sIdx = sx.idx;
  const sVal = sx.val;
  let pos = yr < last ? sx.find(yr + 1 - off) : n;
  while (yr < last && bestC > lb) {
    const L = yr + 1 - off;
    while (pos < n && (sIdx[pos] as number) < L) pos++;
    const minX = pos < n ? (sVal[pos] as number) : Number.POSITIVE_INFINITY;
    if (!(1 + minX < (RPM[t - yr] as number))) break;
    yr++;
    const cr = yr + (X[yr - off] as number) + (R[t - yr] as number);
    if (cr < bestC) {
      bestC = cr;
      bestY = yr;
    }
  }
  outY = bestY;
  outC = bestC;
}

interface Ring {
  F: Float64Array[];
  G: Float64Array[];
  PMF: Float64Array[];
  PMG: Float64Array[];
  SMF: Float64Array[];
  SMG: Float64Array[];
}

function makeRing(size: number, T: number): Ring {
  const mk = () => Array.from({ length: size }, () => new Float64Array(T + 2));
  return { F: mk(), G: mk(), PMF: mk(), PMG: mk(), SMF: mk(), SMG: mk() };
}

function at<V>(arr: V[], i: number): V {
  return arr[i] as V;
}

/** A column with the prefix maxima and suffix minima of its slopes. */
interface Col {
  readonly X: Float64Array;
  readonly PM: Float64Array;
  readonly SM: Float64Array;
}

/**
 * Compute one column (F or G) `c`. `h`/`i` are the right columns of the hidden/internal splits (null when the
 * split is not allowed); `freeCol` the F column of the free option (G only); `jmax` the most internal
 * checkpoints the memory can hold.
 */
function column(
  T: number,
  c: Col,
  t0: number,
  choices: ChoiceArray | null,
  h: Col | null,
  i: Col | null,
  freeCol: Float64Array | null,
  jmax: number,
): void {
  // Cells t <= t0 are closed-form: L_jmax(t) (t when there are no internal moves: t0 <= 1).
  const { X, PM: PMX, SM: SMX } = c;
  X[0] = 0;
  PMX[0] = Number.NEGATIVE_INFINITY;
  sx.reset(T + 2);
  let yh = 1;
  let yi = 1;
  let prev = 0;
  for (let t = 1; t <= T; t++) {
    let v: number;
    if (t <= t0) {
      v = levelOneCost(t, jmax);
    } else {
      v = t + prev;
      let code = LEAF;
      // Lower bound: a step computed once (but the last) keeps its internal state from its computation to
      // its backward step, so all of them are held together when step t is first computed.
      const lb = Math.max(2 * t - 1 - jmax, t);
      if (freeCol !== null && v > lb) {
        const c = 1 + (freeCol[t - 1] as number);
        if (c < v) {
          v = c;
          code = 3;
        }
      }
      if (i !== null && v > lb) {
        search(t, X, PMX, 1, i.X, i.PM, i.SM, yi, lb);
        yi = outY;
        if (outC < v) {
          v = outC;
          code = 2 * outY + 1;
        }
      }
      if (h !== null && v > lb) {
        search(t, X, PMX, 0, h.X, h.PM, h.SM, yh, lb);
        yh = outY;
        if (outC < v) {
          v = outC;
          code = 2 * outY;
        }
      }
      if (choices !== null) choices[t - t0 - 1] = code;
    }
    X[t] = v;
    const d = v - prev;
    prev = v;
    PMX[t] = Math.max(d, PMX[t - 1] as number);
    sx.push(t, d);
  }
  SMX[T + 1] = Number.POSITIVE_INFINITY;
  for (let t = T; t >= 1; t--)
    SMX[t] = Math.min((X[t] as number) - (X[t - 1] as number), SMX[t + 1] as number);
}

/**
 * A single query `G(T, units)` answered without any table, when it lies in the closed-form region and so
 * does the smallest memory `used` with the same cost (below `used` the lower bound already exceeds it):
 * the schedule from `(T, used)` only visits closed-form cells. `undefined` when the DP is needed.
 */
export function closedQuery(spec: DpSpec): { cost: number; used: number; table: ChoiceTable } | undefined {
  const { steps: T, units: U, q, A, hidden, internal } = spec;
  const from = closedFromUnits(T, q, A, internal, hidden);
  if (U < from) return undefined;
  const lb = (u: number) => levelOneCost(T, internalsG(u, q, A, internal));
  const cost = lb(U);
  // lb is nonincreasing in u: the smallest u with lb(u) = cost.
  let lo = 0;
  let hi = U;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (lb(mid) === cost) hi = mid;
    else lo = mid + 1;
  }
  if (lo < from) return undefined;
  return { cost, used: lo, table: new ChoiceTable(T, q, A, internal, [], [], hidden) };
}

/** Run the dynamic program for every memory `0..units`. */
export function solveDp(spec: DpSpec): DpResult {
  const { steps: T, units: U, q, A, hidden, internal, keepChoices } = spec;
  const n = computedColumns(spec);
  const top = new Float64Array(U + 1);
  // Above the computed columns, G(T, u) is closed-form.
  for (let u = n; u <= U; u++) top[u] = levelOneCost(T, internalsG(u, q, A, internal));
  const ringSize = (internal ? A : q) + 1;
  const ring = makeRing(n > 0 ? ringSize : 0, T);
  const f: ChoiceArray[] = [];
  const g: ChoiceArray[] = [];
  const wide = T > 32767;
  const mkChoices = (n: number): ChoiceArray => (wide ? new Int32Array(n) : new Uint16Array(n));
  const empty = mkChoices(0);
  const col = (F: boolean, k: number): Col => {
    const j = k % ringSize;
    return F
      ? { X: at(ring.F, j), PM: at(ring.PMF, j), SM: at(ring.SMF, j) }
      : { X: at(ring.G, j), PM: at(ring.PMG, j), SM: at(ring.SMG, j) };
  };
  // Column u of F can differ from column u - 1 only at u in P_F = {i q + j A}, and of G only at
  // u in P_G = P_F + {j A - q, j >= 1} (README, "Speed", 6): elsewhere the column is a copy.
  const inPF = new Uint8Array(n);
  const inPG = new Uint8Array(n);
  for (let j = 0; j * A < n + q; j++) {
    for (let v = j * A; v < n; v += q) {
      inPF[v] = 1;
      inPG[v] = 1;
    }
    if (j >= 1 && internal && j * A - q >= 0 && j * A - q < n) inPG[j * A - q] = 1;
    if (!internal) break;
  }
  const copy = (F: boolean, u: number): void => {
    const a = col(F, u - 1);
    const b = col(F, u);
    b.X.set(a.X);
    b.PM.set(a.PM);
    b.SM.set(a.SM);
  };
  for (let u = 0; u < n; u++) {
    const useH = hidden && u >= q;
    const useI = internal && u >= A;
    const h = useH ? col(false, u - q) : null;
    const i = useI ? col(true, u - A) : null;
    if (internal) {
      const t0 = closedF(u, A, T, internal, q, hidden);
      if (u > 0 && inPF[u] === 0 && t0 === closedF(u - 1, A, T, internal, q, hidden)) {
        copy(true, u);
        if (keepChoices) f.push(f[u - 1] as ChoiceArray);
      } else {
        const ch = keepChoices ? mkChoices(T - t0) : null;
        column(T, col(true, u), t0, ch, h, i, null, useI ? Math.floor(u / A) : 0);
        if (ch !== null) f.push(ch);
      }
    } else if (keepChoices) f.push(empty);
    const t0 = closedG(u, q, A, T, internal, hidden);
    const g0 = col(false, u);
    if (u > 0 && inPG[u] === 0 && t0 === closedG(u - 1, q, A, T, internal, hidden)) {
      copy(false, u);
      if (keepChoices) g.push(g[u - 1] as ChoiceArray);
    } else {
      const ch = keepChoices ? mkChoices(T - t0) : null;
      const freeCol = useI ? col(true, u - A + q).X : null;
      column(T, g0, t0, ch, h, i, freeCol, useI ? Math.floor((u + q) / A) : 0);
      if (ch !== null) g.push(ch);
    }
    top[u] = g0.X[T] as number;
  }
  if (!keepChoices) return { top };
  return { top, table: new ChoiceTable(T, q, A, internal, f, g, hidden) };
}
