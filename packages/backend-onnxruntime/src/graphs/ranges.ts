/**
 * ONNX graphs of the range-level (version 2) program of the built-in cells: a forward range as one `Scan`
 * that keeps exactly the checkpoints asked for, and a backward range as one reverse `Scan` that includes
 * the loss head of every step. Pure graph construction: nothing here touches the runtime.
 */
import { attr, GraphBuilder } from '../onnx/builder.js';
import type { Dim } from '../onnx/model.js';
import {
  ACTS_WIDTH,
  type CellGraphConfig,
  declareParams,
  forwardOps,
  GATE_COUNT,
  type HeadSpec,
  hasCellState,
} from './cells.js';

const B: Dim = 'B';

/** What a forward range outputs, stacked over its steps. */
export type RangeKeep = 'none' | 'hidden' | 'internal';

/** Options of `forwardRangeGraphV2`. */
export interface ForwardRangeV2Options {
  /** The stacked outputs: none, every `h` (and `c`), or every internal state (states before and after, activations). */
  readonly keep: RangeKeep;
  /**
   * Keep only every `stride`-th row of the stacked outputs (inputs `keep_start`, `keep_step`: int64 [1]),
   * sliced inside the graph so that only the kept rows leave ONNX Runtime.
   */
  readonly strided: boolean;
  /** Also output the internal state of the last step (`wp_h`, `wp_c`, `w_h`, `w_c`, `w_acts`). */
  readonly working: boolean;
  /**
   * Token ids instead of dense inputs: input `ids` int64 [N,B], projected as a row gather of `W^T` (the
   * one-hot product's result, bitwise) plus `b`.
   */
  readonly ids?: boolean;
}

/** The input projections `x W^T + b`: a batched product, or for token ids a row gather of `W^T`. */
function projections(g: GraphBuilder, W: string, b: string, inputs: string, ids: boolean): string {
  const wt = g.op('Transpose', [W], { perm: attr.ints([1, 0]) });
  return g.add(ids ? g.op('Gather', [wt, inputs], { axis: attr.int(0) }) : g.matmul(inputs, wt), b);
}

/**
 * A forward range as one `Scan`: the input projections `x W^T + b` of every step as one matrix product,
 * then the recurrence. Inputs `xs` [N,B,I], `h0`, `c0` (LSTM), the parameters, and `keep_start`,
 * `keep_step` when strided. Outputs `h_last`, `c_last` (LSTM; not when every row is kept: the last row is
 * the last state); with `keep: 'hidden'` `h_all`, `c_all`; with
 * `keep: 'internal'` `hp_all`, `cp_all` (the states entering each step), `h_all`, `c_all`, `acts_all`;
 * with `working` the last step's internal state `wp_h`, `wp_c`, `w_acts` (its `h`, `c` are `h_last`, `c_last`).
 */
export function forwardRangeGraphV2(c: CellGraphConfig, options: ForwardRangeV2Options): Uint8Array {
  const g = new GraphBuilder(`${c.cell}_forward_range_v2`);
  const t = c.dtype;
  const H = c.hiddenSize;
  const A = ACTS_WIDTH[c.cell] * H;
  const G = GATE_COUNT[c.cell] * H;
  const lstm = hasCellState(c.cell);
  const acts = A > 0;
  const ids = options.ids === true;
  const xs = ids ? g.input('ids', 'int64', ['N', B]) : g.input('xs', t, ['N', B, c.inputSize]);
  const h0 = g.input('h0', t, [B, H]);
  const c0 = lstm ? g.input('c0', t, [B, H]) : undefined;
  const p = declareParams(g, c, 'all');
  const axs = projections(g, p.W, p.b, xs, ids);
  if (options.working && options.keep === 'none') return lastStepApart(g, c, p, axs, h0, c0);

  const body = new GraphBuilder(`${c.cell}_step_v2`, 'body_');
  const bh = body.input('body_h_in', t, [B, H]);
  const bc = lstm ? body.input('body_c_in', t, [B, H]) : undefined;
  // The working state rides along as Scan state (ranges with stacked outputs; one keeping none runs its
  // last step apart, see `lastStepApart`): the state entering the step and its activations. Their initial
  // values are never read (the body overwrites them at every step); the range's start serves.
  if (options.working) {
    body.input('body_wp_h_in', t, [B, H]);
    if (lstm) body.input('body_wp_c_in', t, [B, H]);
    if (acts) body.input('body_w_acts_in', t, [B, A]);
  }
  const bax = body.input('body_ax', t, [B, G]);
  const f = forwardOps(body, c, p, { ax: bax }, bh, bc);
  const needActs = acts && (options.working || options.keep === 'internal');
  const packed = needActs ? body.concat(f.acts, 1) : undefined;
  const stateOut: string[] = ['h_last'];
  body.output(f.h, 'body_h_out', t, [B, H]);
  if (f.c !== undefined) {
    body.output(f.c, 'body_c_out', t, [B, H]);
    stateOut.push('c_last');
  }
  if (options.working) {
    body.output(body.identity(bh), 'body_wp_h_out', t, [B, H]);
    stateOut.push('wp_h');
    if (bc !== undefined) {
      body.output(body.identity(bc), 'body_wp_c_out', t, [B, H]);
      stateOut.push('wp_c');
    }
    if (packed !== undefined) {
      body.output(body.identity(packed), 'body_w_acts_out', t, [B, A]);
      stateOut.push('w_acts');
    }
  }
  const scanOut: string[] = [];
  const scan = (value: string, name: string, width: number): void => {
    body.output(body.identity(value), `body_${name}_scan`, t, [B, width]);
    scanOut.push(name);
  };
  if (options.keep === 'internal') {
    scan(bh, 'hp_all', H);
    if (bc !== undefined) scan(bc, 'cp_all', H);
  }
  if (options.keep !== 'none') {
    scan(f.h, 'h_all', H);
    if (f.c !== undefined) scan(f.c, 'c_all', H);
  }
  if (options.keep === 'internal' && packed !== undefined) scan(packed, 'acts_all', A);

  const stateIn = [h0, ...(c0 === undefined ? [] : [c0])];
  if (options.working) {
    stateIn.push(h0);
    if (c0 !== undefined) stateIn.push(c0);
    if (acts) stateIn.push(g.op('Expand', [g.scalar(t, 0), g.op('Shape', [g.concat([h0, h0, h0, h0], 1)])]));
  }
  g.opN('Scan', [...stateIn, axs], [...stateOut.map((n) => `${n}_v`), ...scanOut.map((n) => `${n}_v`)], {
    body: attr.graph(body.build()),
    num_scan_inputs: attr.int(1),
  });
  const width = (name: string): number => (name.includes('acts') ? A : H);
  // A range that keeps every state has its last state as the last row: no separate output.
  const lastRow = options.keep !== 'none' && !options.strided;
  for (const name of stateOut) {
    if (lastRow && (name === 'h_last' || name === 'c_last')) continue;
    g.output(`${name}_v`, name, t, [B, width(name)]);
  }
  let start: string | undefined;
  let step: string | undefined;
  if (options.strided && scanOut.length > 0) {
    start = g.input('keep_start', 'int64', [1]);
    step = g.input('keep_step', 'int64', [1]);
  }
  for (const name of scanOut) {
    let v = `${name}_v`;
    if (start !== undefined && step !== undefined) {
      v = g.op('Slice', [v, start, g.int64s([2 ** 53 - 1]), g.int64s([0]), step]);
    }
    g.output(v, name, t, ['K', B, width(name)]);
  }
  return g.toModel();
}

/**
 * A range that keeps nothing but its last step's internal state: a `Scan` over all steps but the last,
 * carrying only the state, then the last step on its own, whose state before it and activations are
 * outputs. Carrying the working state through the `Scan` instead copies it (the activations: 4H per row for
 * an LSTM) at every step. Needs at least 2 steps (a range of one step is a range keeping every internal state).
 */
function lastStepApart(
  g: GraphBuilder,
  c: CellGraphConfig,
  p: ReturnType<typeof declareParams>,
  axs: string,
  h0: string,
  c0: string | undefined,
): Uint8Array {
  const t = c.dtype;
  const H = c.hiddenSize;
  const A = ACTS_WIDTH[c.cell] * H;
  const G = GATE_COUNT[c.cell] * H;
  const zero = g.int64s([0]);
  const minusOne = g.int64s([-1]);
  const head = g.op('Slice', [axs, zero, minusOne, zero]);
  const axLast = g.op('Squeeze', [g.op('Slice', [axs, minusOne, g.int64s([2 ** 53 - 1]), zero]), zero]);
  const body = new GraphBuilder(`${c.cell}_step_v2`, 'body_');
  const bh = body.input('body_h_in', t, [B, H]);
  const bc = c0 === undefined ? undefined : body.input('body_c_in', t, [B, H]);
  const bax = body.input('body_ax', t, [B, G]);
  const f = forwardOps(body, c, p, { ax: bax }, bh, bc);
  body.output(f.h, 'body_h_out', t, [B, H]);
  if (f.c !== undefined) body.output(f.c, 'body_c_out', t, [B, H]);
  const [hMid, cMid] = g.opN(
    'Scan',
    [h0, ...(c0 === undefined ? [] : [c0]), head],
    c0 === undefined ? 1 : 2,
    {
      body: attr.graph(body.build()),
      num_scan_inputs: attr.int(1),
    },
  ) as [string, string | undefined];
  const last = forwardOps(g, c, p, { ax: axLast }, hMid, cMid);
  g.output(last.h, 'h_last', t, [B, H]);
  if (last.c !== undefined) g.output(last.c, 'c_last', t, [B, H]);
  g.output(g.identity(hMid), 'wp_h', t, [B, H]);
  if (cMid !== undefined) g.output(g.identity(cMid), 'wp_c', t, [B, H]);
  if (A > 0) g.output(g.concat(last.acts, 1), 'w_acts', t, [B, A]);
  return g.toModel();
}

/** Options of `backwardRangeGraph`. */
export interface BackwardRangeOptions {
  readonly head: HeadSpec;
  /**
   * Also make the weight-gradient products of complete chunks of earlier steps (the group `cg`, see
   * `chunkProductOps`), so that they take no run of their own; `inputGradients` adds `dx` (and the input `W`).
   */
  readonly chunks?: { readonly inputGradients: boolean };
  /**
   * Recompute some steps first, inside the run (the steps of the range whose internal state is not held):
   * inputs `r_xs` [1,M,I] (their inputs, side by side in the batch dimension: `M` = m B), `r_h0`, `r_c0`
   * (LSTM) [M,H] (the states they start from), `r_index` int64 [m,1] (their rows in the range), and the
   * parameters `W`, `b` (and `bu`). Their rows of `h`, `acts` and `c` are replaced by the recomputed ones;
   * the output `h_all` [N,B,H] is `h` with them.
   */
  readonly recompute?: boolean;
  /** Token ids for the recomputed steps: `r_ids` int64 [1,M] instead of `r_xs`. */
  readonly ids?: boolean;
}

/**
 * The weight-gradient products of `C` chunks of `R` rows each (a chunk: the steps' batch rows, ascending),
 * one matrix product per chunk and parameter, batched over the chunks. Inputs, prefixed `${p}_`: `dgates`
 * [C,R,G], `dgates_h` (GRU), `x` [C,R,I], `h_prev` [C,R,H], `dy` [C,R,O], `h` [C,R,H] (the states after the
 * steps) and `ones` [C,1,R]. Outputs: `dW` = dgates^T x [C,G,I], `dU` = dgates^T h_prev (GRU: dgates_h)
 * [C,G,H], `db` [C,1,G] and `dbu` (GRU), `dWy` = dy^T h [C,O,H], `dby` [C,1,O], and `dx` = dgates W
 * [C,R,I] when `W` is given. The row sums are products with ones, and every product is a `MatMul`: its
 * results do not depend on how many chunks are batched (ONNX Runtime's `ReduceSum` over the rows does), so
 * a chunk's products are the same bits in every graph and group.
 */
export function chunkProductOps(
  g: GraphBuilder,
  c: CellGraphConfig,
  outputs: number,
  p: string,
  W: string | undefined,
): void {
  const t = c.dtype;
  const G = GATE_COUNT[c.cell] * c.hiddenSize;
  const H = c.hiddenSize;
  const O = outputs;
  const C: Dim = `${p}_C`;
  const R: Dim = `${p}_R`;
  const dA = g.input(`${p}_dgates`, t, [C, R, G]);
  const dAh = c.cell === 'gru' ? g.input(`${p}_dgates_h`, t, [C, R, G]) : dA;
  const x = g.input(`${p}_x`, t, [C, R, c.inputSize]);
  const hp = g.input(`${p}_h_prev`, t, [C, R, H]);
  const dy = g.input(`${p}_dy`, t, [C, R, O]);
  const h = g.input(`${p}_h`, t, [C, R, H]);
  const ones = g.input(`${p}_ones`, t, [C, 1, R]);
  // One transpose per product (each fuses into its MatMul).
  const tr = (v: string): string => g.op('Transpose', [v], { perm: attr.ints([0, 2, 1]) });
  g.output(g.matmul(tr(dA), x), `${p}_dW`, t, [C, G, c.inputSize]);
  g.output(g.matmul(tr(dAh), hp), `${p}_dU`, t, [C, G, H]);
  g.output(g.matmul(ones, dA), `${p}_db`, t, [C, 1, G]);
  if (c.cell === 'gru') g.output(g.matmul(ones, dAh), `${p}_dbu`, t, [C, 1, G]);
  g.output(g.matmul(tr(dy), h), `${p}_dWy`, t, [C, O, H]);
  g.output(g.matmul(ones, dy), `${p}_dby`, t, [C, 1, O]);
  if (W !== undefined) g.output(g.matmul(dA, W), `${p}_dx`, t, [C, R, c.inputSize]);
}

/** Options of `chunkGradientGraph`. */
export interface ChunkGradientOptions {
  readonly head: HeadSpec;
  /** The group `cg` (chunks of `K` steps). */
  readonly full: boolean;
  /** The group `cs` (the one shorter chunk, ending at step 1). */
  readonly short: boolean;
  readonly inputGradients: boolean;
}

/** The weight-gradient products of complete chunks alone (`chunkProductOps` for the groups asked for). */
export function chunkGradientGraph(c: CellGraphConfig, options: ChunkGradientOptions): Uint8Array {
  const g = new GraphBuilder(`${c.cell}_chunk_gradients`);
  const O = options.head.kind === 'softmax' ? options.head.classes : options.head.outputs;
  const G = GATE_COUNT[c.cell] * c.hiddenSize;
  const W = options.inputGradients ? g.input('W', c.dtype, [G, c.inputSize]) : undefined;
  if (options.full) chunkProductOps(g, c, O, 'cg', W);
  if (options.short) chunkProductOps(g, c, O, 'cs', W);
  return g.toModel();
}

/**
 * A backward range as one reverse `Scan`, the loss head of every step inside it (its weight per step; a
 * step without a loss term has weight 0). Weight gradients are not computed here: the gate gradients
 * leave stacked, for the deferred products.
 *
 * Inputs: `U`, `Wy`, `by`, `dh` [B,H] (the gradient arriving at the range's last state), `dc` (LSTM), and
 * stacked in ascending step order [N,..]: `h` (the states after each step), `acts` (LSTM, GRU), `c_prev`,
 * `c` (LSTM), `h_prev` (GRU), `target` ([N,B] int64 or [N,B,O]), `weight` [N].
 *
 * Outputs: `dh_first`, `dc_first` (LSTM: the gradient at the state entering the range's first step), and
 * stacked in ascending step order `dgates` [N,B,G], `dgates_h` (GRU), `dy` [N,B,O], `loss` [N].
 */
export function backwardRangeGraph(c: CellGraphConfig, options: BackwardRangeOptions): Uint8Array {
  const g = new GraphBuilder(`${c.cell}_backward_range`);
  const t = c.dtype;
  const H = c.hiddenSize;
  const G = GATE_COUNT[c.cell] * H;
  const A = ACTS_WIDTH[c.cell] * H;
  const lstm = c.cell === 'lstm';
  const gru = c.cell === 'gru';
  const head = options.head;
  const O = head.kind === 'softmax' ? head.classes : head.outputs;
  const U = g.input('U', t, [G, H]);
  const Wy = g.input('Wy', t, [O, H]);
  const by = g.input('by', t, [O]);
  const dh0 = g.input('dh', t, [B, H]);
  const dc0 = lstm ? g.input('dc', t, [B, H]) : undefined;
  const W =
    options.recompute === true || options.chunks?.inputGradients === true
      ? g.input('W', t, [G, c.inputSize])
      : undefined;
  // The recomputed steps, as `[m, B, width]` rows, and where they go.
  let recomputed: { index: string; h: string; c?: string; acts?: string } | undefined;
  if (options.recompute === true && W !== undefined) {
    const p = {
      W,
      U,
      b: g.input('b', t, [G]),
      bu: c.cell === 'gru' ? g.input('bu', t, [G]) : '',
    };
    const ids = options.ids === true;
    const xs = ids ? g.input('r_ids', 'int64', [1, 'M']) : g.input('r_xs', t, [1, 'M', c.inputSize]);
    const rh = g.input('r_h0', t, ['M', H]);
    const rc = lstm ? g.input('r_c0', t, ['M', H]) : undefined;
    const index = g.input('r_index', 'int64', ['m', 1]);
    // As the forward range graph computes a step: the projection of all of them, then the step.
    const axs = projections(g, p.W, p.b, xs, ids);
    const f = forwardOps(g, c, p, { ax: g.op('Squeeze', [axs, g.int64s([0])]) }, rh, rc);
    const batch = g.op('Slice', [g.op('Shape', [dh0]), g.int64s([0]), g.int64s([1])]);
    const rows = (v: string, width: number): string =>
      g.op('Reshape', [v, g.concat([g.int64s([-1]), batch, g.int64s([width])], 0)]);
    recomputed = {
      index,
      h: rows(f.h, H),
      ...(f.c === undefined ? {} : { c: rows(f.c, H) }),
      ...(A > 0 ? { acts: rows(g.concat(f.acts, 1), A) } : {}),
    };
  }
  const scanInputs: string[] = [];
  const stacked = (name: string, type: 'float32' | 'float64' | 'int64', rest: readonly Dim[]): string => {
    let v = g.input(name, type, ['N', ...rest]);
    const update =
      name === 'h'
        ? recomputed?.h
        : name === 'c'
          ? recomputed?.c
          : name === 'acts'
            ? recomputed?.acts
            : undefined;
    if (recomputed !== undefined && update !== undefined)
      v = g.op('ScatterND', [v, recomputed.index, update]);
    scanInputs.push(v);
    return v;
  };
  const hAll = stacked('h', t, [B, H]);
  if (recomputed !== undefined) g.output(g.identity(hAll), 'h_all', t, ['N', B, H]);
  if (A > 0) stacked('acts', t, [B, A]);
  if (lstm) {
    stacked('c_prev', t, [B, H]);
    stacked('c', t, [B, H]);
  }
  if (gru) stacked('h_prev', t, [B, H]);
  if (head.kind === 'softmax') stacked('target', 'int64', [B]);
  else stacked('target', t, [B, O]);
  stacked('weight', t, []);

  const b = new GraphBuilder(`${c.cell}_backward_step`, 'body_');
  const one = b.scalar(t, 1);
  let dh = b.input('body_dh_in', t, [B, H]);
  const dc = lstm ? b.input('body_dc_in', t, [B, H]) : undefined;
  const hNext = b.input('body_h', t, [B, H]);
  const actsIn = A > 0 ? b.input('body_acts', t, [B, A]) : undefined;
  const cPrev = lstm ? b.input('body_c_prev', t, [B, H]) : undefined;
  const cNext = lstm ? b.input('body_c', t, [B, H]) : undefined;
  const hPrev = gru ? b.input('body_h_prev', t, [B, H]) : undefined;
  const target = b.input(
    'body_target',
    head.kind === 'softmax' ? 'int64' : t,
    head.kind === 'softmax' ? [B] : [B, O],
  );
  const weight = b.input('body_weight', t, []);

  // The head (as the step graphs' `headOps`).
  const y = b.gemm(hNext, Wy, by, { transB: true });
  let loss: string;
  let dy: string;
  if (head.kind === 'softmax') {
    const m = b.reduceMax(y, [1], true);
    const e = b.exp(b.sub(y, m));
    const s = b.reduceSum(e, [1], true);
    const lse = b.add(b.log(s), m);
    const pr = b.div(e, s);
    const classes = b.constant(
      'int64',
      [1, O],
      Array.from({ length: O }, (_, k) => BigInt(k)),
    );
    const onehot = b.cast(b.equal(b.unsqueeze(target, [1]), classes), t);
    const yt = b.reduceSum(b.mul(y, onehot), [1], true);
    loss = b.mul(b.reduceSumAll(b.sub(lse, yt)), weight);
    dy = b.mul(b.sub(pr, onehot), weight);
  } else {
    const e = b.sub(y, target);
    loss = b.mul(b.reduceSumAll(b.mul(e, e)), b.mul(weight, b.scalar(t, 1 / O)));
    dy = b.mul(e, b.mul(weight, b.scalar(t, 2 / O)));
  }
  dh = b.add(dh, b.matmul(dy, Wy));
  const dampen = (x: string, dx: string): string => b.mul(dx, b.mul(x, b.sub(one, x)));

  let dhPrev: string;
  let dcPrev: string | undefined;
  let dA: string;
  let dAh: string | undefined;
  if (c.cell === 'rnn') {
    dA = b.mul(dh, b.sub(one, b.mul(hNext, hNext)));
    dhPrev = b.matmul(dA, U);
  } else if (lstm) {
    if (actsIn === undefined || cPrev === undefined || cNext === undefined || dc === undefined)
      throw new Error('an LSTM step needs its activations and c');
    const [i, f, gg, o] = b.split(actsIn, 4, 1) as [string, string, string, string];
    const tc = b.tanh(cNext);
    const dct = b.add(dc, b.mul(b.mul(dh, o), b.sub(one, b.mul(tc, tc))));
    const dai = dampen(i, b.mul(dct, gg));
    const daf = dampen(f, b.mul(dct, cPrev));
    const dag = b.mul(b.mul(dct, i), b.sub(one, b.mul(gg, gg)));
    const dao = dampen(o, b.mul(dh, tc));
    dA = b.concat([dai, daf, dag, dao], 1);
    dhPrev = b.matmul(dA, U);
    dcPrev = b.mul(dct, f);
  } else {
    if (actsIn === undefined || hPrev === undefined)
      throw new Error('a GRU step needs its activations and h_prev');
    const [z, r, n, hn] = b.split(actsIn, 4, 1) as [string, string, string, string];
    const dn = b.mul(dh, b.sub(one, z));
    const dz = b.mul(dh, b.sub(hPrev, n));
    const dan = b.mul(dn, b.sub(one, b.mul(n, n)));
    const daz = dampen(z, dz);
    const dar = dampen(r, b.mul(dan, hn));
    dA = b.concat([daz, dar, dan], 1);
    dAh = b.concat([daz, dar, b.mul(dan, r)], 1);
    dhPrev = b.add(b.mul(dh, z), b.matmul(dAh, U));
  }
  // State outputs, then scan outputs.
  b.output(dhPrev, 'body_dh_out', t, [B, H]);
  if (dcPrev !== undefined) b.output(dcPrev, 'body_dc_out', t, [B, H]);
  b.output(b.identity(dA), 'body_dgates', t, [B, G]);
  if (dAh !== undefined) b.output(b.identity(dAh), 'body_dgates_h', t, [B, G]);
  b.output(b.identity(dy), 'body_dy', t, [B, O]);
  b.output(b.identity(loss), 'body_loss', t, []);

  const stateIn = [dh0, ...(dc0 === undefined ? [] : [dc0])];
  const stateOut = ['dh_first', ...(lstm ? ['dc_first'] : [])];
  const scanOut = ['dgates', ...(gru ? ['dgates_h'] : []), 'dy', 'loss'];
  g.opN(
    'Scan',
    [...stateIn, ...scanInputs],
    [...stateOut.map((n) => `${n}_v`), ...scanOut.map((n) => `${n}_v`)],
    {
      body: attr.graph(b.build()),
      num_scan_inputs: attr.int(scanInputs.length),
      scan_input_directions: attr.ints(scanInputs.map(() => 1)),
      scan_output_directions: attr.ints(scanOut.map(() => 1)),
    },
  );
  for (const name of stateOut) g.output(`${name}_v`, name, t, [B, H]);
  g.output('dgates_v', 'dgates', t, ['N', B, G]);
  if (gru) g.output('dgates_h_v', 'dgates_h', t, ['N', B, G]);
  g.output('dy_v', 'dy', t, ['N', B, O]);
  g.output('loss_v', 'loss', t, ['N']);
  if (options.chunks !== undefined)
    chunkProductOps(g, c, O, 'cg', options.chunks.inputGradients ? W : undefined);
  return g.toModel();
}
