/**
 * Forward and backward steps of the reference cells, on plain Float64Arrays, for a batch of `B` rows.
 *
 * Layout: matrices are row-major, `W` is `gates*H x I`, `U` is `gates*H x H`; a batch of vectors of width
 * `n` is `B*n` numbers, row `r` at `r*n`. Gate blocks are `H` wide, in the order given per cell.
 */

import { CELL_GATES, type CellKind } from '../model.js';

export type { CellKind };

/** Sizes of one batch through one cell. */
export interface Dims {
  readonly batch: number;
  readonly input: number;
  readonly hidden: number;
}

/** What a cell carries between steps: `h`, and the cell state `c` of an LSTM. Each `B*H`. */
export interface CellState {
  readonly h: Float64Array;
  readonly c?: Float64Array;
}

/** Everything backward step `t` needs: the states before and after the step, and the activations. */
export interface CellInternal {
  readonly prev: CellState;
  readonly next: CellState;
  /** rnn: empty; lstm: i, f, g, o, tanh(c) (5 blocks); gru: z, r, n, U_n h + bu_n (4 blocks). Each `B*H`. */
  readonly acts: Float64Array;
}

/** Parameters by name: rnn and lstm `W`, `U`, `b`; gru adds `bu` (the recurrent bias). */
export type CellParams = Readonly<Record<string, Float64Array>>;

/** Gate blocks per cell (the model contract's). */
export const GATES = CELL_GATES;

/** Vectors of `B*H` numbers in a hidden state and in an internal state, per cell. */
export const STATE_VECTORS: Readonly<
  Record<CellKind, { readonly hidden: number; readonly internal: number }>
> = {
  rnn: { hidden: 1, internal: 2 },
  lstm: { hidden: 2, internal: 9 },
  gru: { hidden: 1, internal: 6 },
};

function param(params: CellParams, name: string): Float64Array {
  const p = params[name];
  if (p === undefined) throw new Error(`missing parameter ${name}`);
  return p;
}

/** `out[r, g] += sum_k M[g, k] * v[r, k]` for `G` rows of `M` and `n` columns. */
export function addMatVec(
  out: Float64Array,
  M: Float64Array,
  v: Float64Array,
  B: number,
  G: number,
  n: number,
): void {
  for (let r = 0; r < B; r++) {
    const vo = r * n;
    const oo = r * G;
    for (let g = 0; g < G; g++) {
      const mo = g * n;
      let s = 0;
      for (let k = 0; k < n; k++) s += M[mo + k]! * v[vo + k]!;
      out[oo + g]! += s;
    }
  }
}

/** `out[r, k] += sum_g M[g, k] * d[r, g]`: the transposed product. */
export function addMatTVec(
  out: Float64Array,
  M: Float64Array,
  d: Float64Array,
  B: number,
  G: number,
  n: number,
): void {
  for (let r = 0; r < B; r++) {
    const oo = r * n;
    const dofs = r * G;
    for (let g = 0; g < G; g++) {
      const dg = d[dofs + g]!;
      if (dg === 0) continue;
      const mo = g * n;
      for (let k = 0; k < n; k++) out[oo + k]! += M[mo + k]! * dg;
    }
  }
}

/** `dM[g, k] += sum_r d[r, g] * v[r, k]`: the gradient of a weight matrix. */
export function addOuter(
  dM: Float64Array,
  d: Float64Array,
  v: Float64Array,
  B: number,
  G: number,
  n: number,
): void {
  for (let r = 0; r < B; r++) {
    const vo = r * n;
    const dofs = r * G;
    for (let g = 0; g < G; g++) {
      const dg = d[dofs + g]!;
      if (dg === 0) continue;
      const mo = g * n;
      for (let k = 0; k < n; k++) dM[mo + k]! += dg * v[vo + k]!;
    }
  }
}

/** `db[g] += sum_r d[r, g]`. */
export function addBias(db: Float64Array, d: Float64Array, B: number, G: number): void {
  for (let r = 0; r < B; r++) for (let g = 0; g < G; g++) db[g]! += d[r * G + g]!;
}

/** `out[r, g] = b[g]`. */
function broadcast(b: Float64Array, B: number, G: number): Float64Array {
  const out = new Float64Array(B * G);
  for (let r = 0; r < B; r++) out.set(b, r * G);
  return out;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * Forward step of a cell: `x` is `B*I`, `prev` the carried state. Builds the activations only when
 * `keep` is set.
 */
export function cellForward(
  kind: CellKind,
  params: CellParams,
  dims: Dims,
  x: Float64Array,
  prev: CellState,
  keep: boolean,
): { readonly next: CellState; readonly internal?: CellInternal } {
  const { batch: B, input: I, hidden: H } = dims;
  const W = param(params, 'W');
  const U = param(params, 'U');
  const b = param(params, 'b');
  if (kind === 'rnn') {
    const a = broadcast(b, B, H);
    addMatVec(a, W, x, B, H, I);
    addMatVec(a, U, prev.h, B, H, H);
    for (let i = 0; i < a.length; i++) a[i] = Math.tanh(a[i]!);
    const next = { h: a };
    return keep ? { next, internal: { prev, next, acts: new Float64Array(0) } } : { next };
  }
  if (kind === 'lstm') {
    const G = 4 * H;
    const a = broadcast(b, B, G);
    addMatVec(a, W, x, B, G, I);
    addMatVec(a, U, prev.h, B, G, H);
    const cPrev = prev.c;
    if (cPrev === undefined) throw new Error('an LSTM state needs c');
    const h = new Float64Array(B * H);
    const c = new Float64Array(B * H);
    const acts = keep ? new Float64Array(5 * B * H) : undefined;
    const BH = B * H;
    for (let r = 0; r < B; r++) {
      for (let k = 0; k < H; k++) {
        const ao = r * G + k;
        const i = sigmoid(a[ao]!);
        const f = sigmoid(a[ao + H]!);
        const g = Math.tanh(a[ao + 2 * H]!);
        const o = sigmoid(a[ao + 3 * H]!);
        const j = r * H + k;
        const cj = f * cPrev[j]! + i * g;
        const tc = Math.tanh(cj);
        c[j] = cj;
        h[j] = o * tc;
        if (acts !== undefined) {
          acts[j] = i;
          acts[BH + j] = f;
          acts[2 * BH + j] = g;
          acts[3 * BH + j] = o;
          acts[4 * BH + j] = tc;
        }
      }
    }
    const next = { h, c };
    return acts === undefined ? { next } : { next, internal: { prev, next, acts } };
  }
  // GRU, gate blocks z, r, n: ax = W x + b, ah = U h + bu,
  // z = s(ax_z + ah_z), r = s(ax_r + ah_r), n = tanh(ax_n + r * ah_n), h' = (1 - z) n + z h.
  const G = 3 * H;
  const bu = param(params, 'bu');
  const ax = broadcast(b, B, G);
  addMatVec(ax, W, x, B, G, I);
  const ah = broadcast(bu, B, G);
  addMatVec(ah, U, prev.h, B, G, H);
  const h = new Float64Array(B * H);
  const BH = B * H;
  const acts = keep ? new Float64Array(4 * BH) : undefined;
  for (let r = 0; r < B; r++) {
    for (let k = 0; k < H; k++) {
      const o = r * G + k;
      const z = sigmoid(ax[o]! + ah[o]!);
      const rr = sigmoid(ax[o + H]! + ah[o + H]!);
      const hn = ah[o + 2 * H]!;
      const n = Math.tanh(ax[o + 2 * H]! + rr * hn);
      const j = r * H + k;
      h[j] = (1 - z) * n + z * prev.h[j]!;
      if (acts !== undefined) {
        acts[j] = z;
        acts[BH + j] = rr;
        acts[2 * BH + j] = n;
        acts[3 * BH + j] = hn;
      }
    }
  }
  const next = { h };
  return acts === undefined ? { next } : { next, internal: { prev, next, acts } };
}

/**
 * Backward step of a cell. `dNext` is the total gradient at the state after the step (it is not
 * modified). Accumulates into `grads` (same names as the parameters) and `dx` (`B*I`, added to); returns
 * the gradient at the state before the step.
 */
export function cellBackward(
  kind: CellKind,
  params: CellParams,
  grads: CellParams,
  dims: Dims,
  x: Float64Array,
  internal: CellInternal,
  dNext: CellState,
  dx: Float64Array,
): CellState {
  const { batch: B, input: I, hidden: H } = dims;
  const W = param(params, 'W');
  const U = param(params, 'U');
  const dW = param(grads, 'W');
  const dU = param(grads, 'U');
  const db = param(grads, 'b');
  const BH = B * H;
  const { prev, next, acts } = internal;
  if (kind === 'rnn') {
    const da = new Float64Array(BH);
    for (let j = 0; j < BH; j++) {
      const h = next.h[j]!;
      da[j] = dNext.h[j]! * (1 - h * h);
    }
    addOuter(dW, da, x, B, H, I);
    addOuter(dU, da, prev.h, B, H, H);
    addBias(db, da, B, H);
    addMatTVec(dx, W, da, B, H, I);
    const dh = new Float64Array(BH);
    addMatTVec(dh, U, da, B, H, H);
    return { h: dh };
  }
  if (kind === 'lstm') {
    const G = 4 * H;
    const cPrev = prev.c;
    const dc = dNext.c;
    if (cPrev === undefined || dc === undefined) throw new Error('an LSTM state needs c');
    const da = new Float64Array(B * G);
    const dcPrev = new Float64Array(BH);
    for (let r = 0; r < B; r++) {
      for (let k = 0; k < H; k++) {
        const j = r * H + k;
        const i = acts[j]!;
        const f = acts[BH + j]!;
        const g = acts[2 * BH + j]!;
        const o = acts[3 * BH + j]!;
        const tc = acts[4 * BH + j]!;
        const dh = dNext.h[j]!;
        const dct = dc[j]! + dh * o * (1 - tc * tc);
        const ao = r * G + k;
        da[ao] = dct * g * i * (1 - i);
        da[ao + H] = dct * cPrev[j]! * f * (1 - f);
        da[ao + 2 * H] = dct * i * (1 - g * g);
        da[ao + 3 * H] = dh * tc * o * (1 - o);
        dcPrev[j] = dct * f;
      }
    }
    addOuter(dW, da, x, B, G, I);
    addOuter(dU, da, prev.h, B, G, H);
    addBias(db, da, B, G);
    addMatTVec(dx, W, da, B, G, I);
    const dhPrev = new Float64Array(BH);
    addMatTVec(dhPrev, U, da, B, G, H);
    return { h: dhPrev, c: dcPrev };
  }
  const G = 3 * H;
  const dbu = param(grads, 'bu');
  const dax = new Float64Array(B * G);
  const dah = new Float64Array(B * G);
  const dhPrev = new Float64Array(BH);
  for (let r = 0; r < B; r++) {
    for (let k = 0; k < H; k++) {
      const j = r * H + k;
      const z = acts[j]!;
      const rr = acts[BH + j]!;
      const n = acts[2 * BH + j]!;
      const hn = acts[3 * BH + j]!;
      const dh = dNext.h[j]!;
      const dn = dh * (1 - z);
      const dz = dh * (prev.h[j]! - n);
      const dan = dn * (1 - n * n);
      const dr = dan * hn;
      const daz = dz * z * (1 - z);
      const dar = dr * rr * (1 - rr);
      const o = r * G + k;
      dax[o] = daz;
      dax[o + H] = dar;
      dax[o + 2 * H] = dan;
      dah[o] = daz;
      dah[o + H] = dar;
      dah[o + 2 * H] = dan * rr;
      dhPrev[j] = dh * z;
    }
  }
  addOuter(dW, dax, x, B, G, I);
  addBias(db, dax, B, G);
  addMatTVec(dx, W, dax, B, G, I);
  addOuter(dU, dah, prev.h, B, G, H);
  addBias(dbu, dah, B, G);
  addMatTVec(dhPrev, U, dah, B, G, H);
  return { h: dhPrev };
}
