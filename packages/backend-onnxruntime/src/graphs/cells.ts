/**
 * ONNX graphs of the built-in cells: forward step, backward step, fused forward range (Scan), and the
 * deferred weight-gradient products. Pure graph construction: nothing here touches the runtime.
 *
 * Semantics and layout are those of `@rewind/executor`'s reference cells: `W` is `G x I`, `U` is
 * `G x H`, `b` (and the GRU's recurrent bias `bu`) `G`, with `G = gates * H`; gate blocks are LSTM
 * `i, f, g, o` and GRU `z, r, n`; the GRU is `n = tanh(W_n x + b_n + r * (U_n h + bu_n))`,
 * `h' = (1 - z) n + z h`. The batch dimension is symbolic (`B`).
 */
import { CELL_GATES, type CellKind, type LossHead } from '@rewind/executor';
import { attr, GraphBuilder } from '../onnx/builder.js';
import type { Dim, FloatType } from '../onnx/model.js';

export { cellParameterNames } from '@rewind/executor';
export type { CellKind };

/** The per-step loss head: the model contract's `LossHead`. */
export type HeadSpec = LossHead;

/**
 * What the internal state `s_t` holds. `'saved'`: the gate activations of the step (backward needs no
 * matrix product to rebuild them). `'recomputed'`: only the states before and after the step; backward
 * recomputes the gate activations from `x_t` and `h_{t-1}` (one more forward product per backward step,
 * a smaller internal state).
 */
export type InternalMode = 'saved' | 'recomputed';

/** How backward sparsifies the gate pre-activation gradients: not at all, by a fixed threshold, or to a target sparsity. */
export type SparsifyKind = 'none' | 'fixed' | 'dynamic';

/** The shape of a built-in cell's graphs. */
export interface CellGraphConfig {
  readonly cell: CellKind;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly dtype: FloatType;
}

/** Gate blocks per cell (the model contract's). */
export const GATE_COUNT = CELL_GATES;

/** Width of the saved activations (in units of `H`): LSTM `i, f, g, o`; GRU `z, r, n, U_n h + bu_n`. */
export const ACTS_WIDTH: Readonly<Record<CellKind, number>> = { rnn: 0, lstm: 4, gru: 4 };

/** Whether the cell carries a cell state `c` besides `h`. */
export const hasCellState = (cell: CellKind): boolean => cell === 'lstm';

/** Whether the internal state of `cell` holds saved activations in `mode`. */
export const savesActs = (cell: CellKind, mode: InternalMode): boolean =>
  mode === 'saved' && ACTS_WIDTH[cell] > 0;

const B: Dim = 'B';

/** Names of the parameter values of a graph. */
export interface ParamNames {
  readonly W: string;
  readonly U: string;
  readonly b: string;
  readonly bu: string;
}

export function declareParams(g: GraphBuilder, c: CellGraphConfig, which: 'all' | 'U'): ParamNames {
  const G = GATE_COUNT[c.cell] * c.hiddenSize;
  const t = c.dtype;
  if (which === 'U') {
    return { W: '', U: g.input('U', t, [G, c.hiddenSize]), b: '', bu: '' };
  }
  const W = g.input('W', t, [G, c.inputSize]);
  const U = g.input('U', t, [G, c.hiddenSize]);
  const b = g.input('b', t, [G]);
  const bu = c.cell === 'gru' ? g.input('bu', t, [G]) : '';
  return { W, U, b, bu };
}

/** The forward arithmetic of one step, added to `g`. `acts` are the saved activations (LSTM/GRU). */
export interface ForwardValues {
  readonly h: string;
  readonly c?: string;
  readonly acts: readonly string[];
}

/** The input of a step: `x_t`, or its projection `x_t W^T + b` already computed (`ax`, [B, G]). */
export type StepInput = { readonly x: string } | { readonly ax: string };

export function forwardOps(
  g: GraphBuilder,
  c: CellGraphConfig,
  p: ParamNames,
  input: StepInput,
  h: string,
  cPrev: string | undefined,
): ForwardValues {
  const ax = 'ax' in input ? input.ax : g.gemm(input.x, p.W, p.b, { transB: true });
  if (c.cell === 'rnn') {
    const a = g.gemm(h, p.U, ax, { transB: true });
    return { h: g.tanh(a), acts: [] };
  }
  if (c.cell === 'lstm') {
    if (cPrev === undefined) throw new Error('an LSTM step needs c');
    const a = g.gemm(h, p.U, ax, { transB: true });
    const [ai, af, ag, ao] = g.split(a, 4, 1) as [string, string, string, string];
    const i = g.sigmoid(ai);
    const f = g.sigmoid(af);
    const gg = g.tanh(ag);
    const o = g.sigmoid(ao);
    const cNext = g.add(g.mul(f, cPrev), g.mul(i, gg));
    const hNext = g.mul(o, g.tanh(cNext));
    return { h: hNext, c: cNext, acts: [i, f, gg, o] };
  }
  const ah = g.gemm(h, p.U, p.bu, { transB: true });
  const [axz, axr, axn] = g.split(ax, 3, 1) as [string, string, string];
  const [ahz, ahr, ahn] = g.split(ah, 3, 1) as [string, string, string];
  const z = g.sigmoid(g.add(axz, ahz));
  const r = g.sigmoid(g.add(axr, ahr));
  const n = g.tanh(g.add(axn, g.mul(r, ahn)));
  // h' = n + z (h - n)
  const hNext = g.add(n, g.mul(z, g.sub(h, n)));
  return { h: hNext, acts: [z, r, n, ahn] };
}

/** Outputs of the sparsifier. */
interface SparsifyOutputs {
  readonly kept: string;
  readonly zeros: string;
  readonly threshold: string;
}

/**
 * Zero the entries of `dA` whose magnitude is at most a threshold (as the tfjs backend: `|d| <= thr`
 * is dropped). Fixed: the `threshold` input (scalar). Dynamic: the smallest of the `keep_count` (int64
 * [1]) largest magnitudes among the first `sample_rows` (int64 [1]) rows, or 0 when `keep_count` covers
 * the whole sample. Outputs the kept tensor, the count of zero entries and the threshold used.
 */
function sparsifyOps(
  g: GraphBuilder,
  dtype: FloatType,
  kind: 'fixed' | 'dynamic',
  dA: string,
): SparsifyOutputs {
  const mag = g.abs(dA);
  let threshold: string;
  if (kind === 'fixed') {
    threshold = g.input('threshold', dtype, []);
  } else {
    const k = g.input('keep_count', 'int64', [1]);
    const rows = g.input('sample_rows', 'int64', [1]);
    const sample = g.op('Slice', [mag, g.int64s([0]), rows, g.int64s([0])]);
    const flat = g.reshape(sample, [1, -1]);
    const [values] = g.opN('TopK', [flat, k], 2, {
      axis: attr.int(-1),
      largest: attr.int(1),
      sorted: attr.int(0),
    });
    const smallest = g.reduceMinAll(values as string);
    const partial = g.cast(g.op('Less', [k, g.op('Size', [sample])]), dtype);
    threshold = g.reduceSumAll(g.mul(smallest, partial));
  }
  const keep = g.op('Greater', [mag, threshold]);
  const kept = g.where(keep, dA, g.scalar(dtype, 0));
  const zeros = g.reduceSumAll(g.cast(g.not(keep), dtype));
  return { kept, zeros, threshold };
}

/** The loss head at one step: adds the loss and `dy`, returns the gradient at `h` from the head. */
function headOps(
  g: GraphBuilder,
  dtype: FloatType,
  hiddenSize: number,
  head: HeadSpec,
  h: string,
): { readonly loss: string; readonly dy: string; readonly dh: string } {
  const O = head.kind === 'softmax' ? head.classes : head.outputs;
  const Wy = g.input('Wy', dtype, [O, hiddenSize]);
  const by = g.input('by', dtype, [O]);
  const weight = g.input('weight', dtype, []);
  const y = g.gemm(h, Wy, by, { transB: true });
  let loss: string;
  let dy: string;
  if (head.kind === 'softmax') {
    const target = g.input('target', 'int64', [B]);
    const m = g.reduceMax(y, [1], true);
    const e = g.exp(g.sub(y, m));
    const s = g.reduceSum(e, [1], true);
    const lse = g.add(g.log(s), m);
    const p = g.div(e, s);
    const classes = g.constant(
      'int64',
      [1, O],
      Array.from({ length: O }, (_, k) => BigInt(k)),
    );
    const onehot = g.cast(g.equal(g.unsqueeze(target, [1]), classes), dtype);
    const yt = g.reduceSum(g.mul(y, onehot), [1], true);
    loss = g.mul(g.reduceSumAll(g.sub(lse, yt)), weight);
    dy = g.mul(g.sub(p, onehot), weight);
  } else {
    const target = g.input('target', dtype, [B, O]);
    const e = g.sub(y, target);
    loss = g.mul(g.reduceSumAll(g.mul(e, e)), g.mul(weight, g.scalar(dtype, 1 / O)));
    dy = g.mul(e, g.mul(weight, g.scalar(dtype, 2 / O)));
  }
  return { loss, dy, dh: g.matmul(dy, Wy) };
}

/** Options of `forwardStepGraph`. */
export interface ForwardStepOptions {
  /** Output the saved activations (`acts`) too. */
  readonly acts: boolean;
}

/**
 * One forward step. Inputs `x` [B,I], `h_prev` [B,H], `c_prev` (LSTM), the parameters. Outputs `h`,
 * `c` (LSTM) and, when asked, `acts` [B, ACTS_WIDTH*H].
 */
export function forwardStepGraph(c: CellGraphConfig, options: ForwardStepOptions): Uint8Array {
  const g = new GraphBuilder(`${c.cell}_forward`);
  const t = c.dtype;
  const H = c.hiddenSize;
  const x = g.input('x', t, [B, c.inputSize]);
  const h = g.input('h_prev', t, [B, H]);
  const cPrev = hasCellState(c.cell) ? g.input('c_prev', t, [B, H]) : undefined;
  const p = declareParams(g, c, 'all');
  const out = forwardOps(g, c, p, { x }, h, cPrev);
  g.output(out.h, 'h', t, [B, H]);
  if (out.c !== undefined) g.output(out.c, 'c', t, [B, H]);
  if (options.acts && out.acts.length > 0)
    g.output(g.concat(out.acts, 1), 'acts', t, [B, ACTS_WIDTH[c.cell] * H]);
  return g.toModel();
}

/** Options of `backwardStepGraph`. */
export interface BackwardStepOptions {
  readonly mode: InternalMode;
  /** The loss head of this step, or none (a step without a loss term). */
  readonly head?: HeadSpec;
  readonly sparsify: SparsifyKind;
}

/**
 * One backward step, weight gradients excluded (they are deferred: see `weightGradientGraph`).
 *
 * Inputs: `saved` mode: `acts`, and per cell `h` (rnn; the head's input otherwise), `c_prev`, `c`
 * (LSTM), `h_prev` (GRU); `recomputed` mode: `x`, `h_prev`, `c_prev` (LSTM) and `W`, `b`, `bu`. Always
 * `U`, `dh` [B,H], `dc` (LSTM); with a head `Wy`, `by`, `weight` (scalar) and `target`; sparsified:
 * `threshold` (scalar), or `keep_count` and `sample_rows` (int64 [1]).
 *
 * Outputs: `dh_prev`, `dc_prev` (LSTM), `dgates` [B,G] (the gradient at the input-side pre-activations),
 * `dgates_h` (GRU: at the recurrent-side pre-activations), with a head `loss` (scalar) and `dy`
 * [B,O], sparsified `zeros` (scalar count of zero entries of `dgates`) and `threshold_used`.
 */
export function backwardStepGraph(c: CellGraphConfig, options: BackwardStepOptions): Uint8Array {
  const g = new GraphBuilder(`${c.cell}_backward`);
  const t = c.dtype;
  const H = c.hiddenSize;
  const G = GATE_COUNT[c.cell] * H;
  const lstm = c.cell === 'lstm';
  const one = g.scalar(t, 1);

  // The activations, saved or recomputed. In saved mode, `h` (the state after the step) is an input
  // only where it is used: the RNN's derivative and the head.
  let acts: readonly string[] = [];
  let hNext: string | undefined;
  let hPrev: string | undefined;
  let cPrev: string | undefined;
  let cNext: string | undefined;
  let p: ParamNames;
  if (options.mode === 'recomputed') {
    const x = g.input('x', t, [B, c.inputSize]);
    hPrev = g.input('h_prev', t, [B, H]);
    cPrev = lstm ? g.input('c_prev', t, [B, H]) : undefined;
    p = declareParams(g, c, 'all');
    const f = forwardOps(g, c, p, { x }, hPrev, cPrev);
    acts = f.acts;
    hNext = f.h;
    cNext = f.c;
  } else {
    p = declareParams(g, c, 'U');
    if (c.cell === 'rnn' || options.head !== undefined) hNext = g.input('h', t, [B, H]);
    if (c.cell !== 'rnn')
      acts = g.split(g.input('acts', t, [B, ACTS_WIDTH[c.cell] * H]), ACTS_WIDTH[c.cell], 1);
    if (lstm) {
      cPrev = g.input('c_prev', t, [B, H]);
      cNext = g.input('c', t, [B, H]);
    }
    if (c.cell === 'gru') hPrev = g.input('h_prev', t, [B, H]);
  }

  let dh = g.input('dh', t, [B, H]);
  const dc = lstm ? g.input('dc', t, [B, H]) : undefined;
  if (options.head !== undefined) {
    if (hNext === undefined) throw new Error('the head needs h');
    const head = headOps(g, t, H, options.head, hNext);
    dh = g.add(dh, head.dh);
    g.output(head.loss, 'loss', t, []);
    const O = options.head.kind === 'softmax' ? options.head.classes : options.head.outputs;
    g.output(head.dy, 'dy', t, [B, O]);
  }
  const dampen = (x: string, dx: string): string => g.mul(dx, g.mul(x, g.sub(one, x))); // dx * s'(.)
  const sparsify = (dA: string): string => {
    if (options.sparsify === 'none') return dA;
    const s = sparsifyOps(g, t, options.sparsify, dA);
    g.output(s.zeros, 'zeros', t, []);
    g.output(s.threshold, 'threshold_used', t, []);
    return s.kept;
  };

  if (c.cell === 'rnn') {
    if (hNext === undefined) throw new Error('an RNN backward step needs h');
    const da = sparsify(g.mul(dh, g.sub(one, g.mul(hNext, hNext))));
    g.output(g.matmul(da, p.U), 'dh_prev', t, [B, H]);
    g.output(da, 'dgates', t, [B, G]);
    return g.toModel();
  }
  if (lstm) {
    const [i, f, gg, o] = acts as [string, string, string, string];
    if (cPrev === undefined || cNext === undefined || dc === undefined)
      throw new Error('an LSTM step needs c');
    const tc = g.tanh(cNext);
    const dct = g.add(dc, g.mul(g.mul(dh, o), g.sub(one, g.mul(tc, tc))));
    const dai = dampen(i, g.mul(dct, gg));
    const daf = dampen(f, g.mul(dct, cPrev));
    const dag = g.mul(g.mul(dct, i), g.sub(one, g.mul(gg, gg)));
    const dao = dampen(o, g.mul(dh, tc));
    const dA = sparsify(g.concat([dai, daf, dag, dao], 1));
    g.output(g.matmul(dA, p.U), 'dh_prev', t, [B, H]);
    g.output(g.mul(dct, f), 'dc_prev', t, [B, H]);
    g.output(dA, 'dgates', t, [B, G]);
    return g.toModel();
  }
  // GRU
  const [z, r, n, hn] = acts as [string, string, string, string];
  if (hPrev === undefined) throw new Error('a GRU backward step needs h_prev');
  const dn = g.mul(dh, g.sub(one, z));
  const dz = g.mul(dh, g.sub(hPrev, n));
  const dan = g.mul(dn, g.sub(one, g.mul(n, n)));
  const daz = dampen(z, dz);
  const dar = dampen(r, g.mul(dan, hn));
  let dax = g.concat([daz, dar, dan], 1);
  let dah: string;
  if (options.sparsify === 'none') {
    dah = g.concat([daz, dar, g.mul(dan, r)], 1);
  } else {
    // One mask, chosen on the input-side gradient, zeroes both sides.
    const kept = sparsify(dax);
    const [kz, kr, kn] = g.split(kept, 3, 1) as [string, string, string];
    dax = kept;
    dah = g.concat([kz, kr, g.mul(kn, r)], 1);
  }
  g.output(g.add(g.mul(dh, z), g.matmul(dah, p.U)), 'dh_prev', t, [B, H]);
  g.output(dax, 'dgates', t, [B, G]);
  g.output(dah, 'dgates_h', t, [B, G]);
  return g.toModel();
}

/** Options of `forwardRangeGraph`. */
export interface ForwardRangeOptions {
  /** Output every step's activations, stacked (`acts_all`). */
  readonly stackedActs: boolean;
  /** Carry the activations as a Scan state, so that the last step's are output (`acts_last`). */
  readonly finalActs: boolean;
}

/**
 * A range of forward steps fused into one `Scan`. Inputs: `xs` [N,B,I], `h0`, `c0` (LSTM), `acts0`
 * [B,A] when `finalActs` (its values are ignored), the parameters. Outputs: `h_all` [N,B,H], `c_all`
 * (LSTM), `acts_all` [N,B,A] when `stackedActs`, `h_last`, `c_last` and `acts_last` when `finalActs`.
 */
export function forwardRangeGraph(c: CellGraphConfig, options: ForwardRangeOptions): Uint8Array {
  const g = new GraphBuilder(`${c.cell}_forward_range`);
  const t = c.dtype;
  const H = c.hiddenSize;
  const A = ACTS_WIDTH[c.cell] * H;
  const lstm = hasCellState(c.cell);
  const withActs = A > 0;
  const finalActs = options.finalActs && withActs;
  const stackedActs = options.stackedActs && withActs;
  const xs = g.input('xs', t, ['N', B, c.inputSize]);
  const h0 = g.input('h0', t, [B, H]);
  const c0 = lstm ? g.input('c0', t, [B, H]) : undefined;
  const acts0 = finalActs ? g.input('acts0', t, [B, A]) : undefined;
  const p = declareParams(g, c, 'all');
  // The input projections of every step do not depend on the recurrence: one matrix product over all
  // N*B rows before the Scan, which then scans over them ([N,B,G]).
  const G = GATE_COUNT[c.cell] * H;
  const axs = g.add(g.matmul(xs, g.op('Transpose', [p.W], { perm: attr.ints([1, 0]) })), p.b);

  const body = new GraphBuilder(`${c.cell}_step`, 'body_');
  const bh = body.input('body_h_in', t, [B, H]);
  const bc = lstm ? body.input('body_c_in', t, [B, H]) : undefined;
  if (finalActs) body.input('body_acts_in', t, [B, A]);
  const bax = body.input('body_ax', t, [B, G]);
  const f = forwardOps(body, c, p, { ax: bax }, bh, bc);
  const packed = withActs && (finalActs || stackedActs) ? body.concat(f.acts, 1) : undefined;
  // State outputs, then scan outputs.
  body.output(f.h, 'body_h_out', t, [B, H]);
  if (f.c !== undefined) body.output(f.c, 'body_c_out', t, [B, H]);
  if (finalActs && packed !== undefined) body.output(packed, 'body_acts_out', t, [B, A]);
  body.output(body.identity(f.h), 'body_h_scan', t, [B, H]);
  if (f.c !== undefined) body.output(body.identity(f.c), 'body_c_scan', t, [B, H]);
  if (stackedActs && packed !== undefined) body.output(body.identity(packed), 'body_acts_scan', t, [B, A]);

  const stateIn = [h0, ...(c0 === undefined ? [] : [c0]), ...(acts0 === undefined ? [] : [acts0])];
  const stateOut = ['h_last', ...(lstm ? ['c_last'] : []), ...(finalActs ? ['acts_last'] : [])];
  const scanOut = ['h_all', ...(lstm ? ['c_all'] : []), ...(stackedActs ? ['acts_all'] : [])];
  g.opN('Scan', [...stateIn, axs], [...stateOut.map((n) => `${n}_v`), ...scanOut.map((n) => `${n}_v`)], {
    body: attr.graph(body.build()),
    num_scan_inputs: attr.int(1),
  });
  g.output('h_last_v', 'h_last', t, [B, H]);
  if (lstm) g.output('c_last_v', 'c_last', t, [B, H]);
  if (finalActs) g.output('acts_last_v', 'acts_last', t, [B, A]);
  g.output('h_all_v', 'h_all', t, ['N', B, H]);
  if (lstm) g.output('c_all_v', 'c_all', t, ['N', B, H]);
  if (stackedActs) g.output('acts_all_v', 'acts_all', t, ['N', B, A]);
  return g.toModel();
}

/**
 * The deferred weight gradients of a run of backward steps, stacked row-wise (`R` rows = steps x batch):
 * inputs `dgates` [R,G], `x` [R,I], `h_prev` [R,H], `W`, `dgates_h` (GRU). Outputs `dW` = dgates^T x,
 * `dU` = dgates^T h_prev (GRU: dgates_h), `db`, `dbu` (GRU), `dx` = dgates W [R,I] (unless `inputGradients`
 * is false).
 */
export function weightGradientGraph(c: CellGraphConfig, inputGradients = true): Uint8Array {
  const g = new GraphBuilder(`${c.cell}_weight_gradients`);
  const t = c.dtype;
  const G = GATE_COUNT[c.cell] * c.hiddenSize;
  const dA = g.input('dgates', t, ['R', G]);
  const x = g.input('x', t, ['R', c.inputSize]);
  const hp = g.input('h_prev', t, ['R', c.hiddenSize]);
  const W = inputGradients ? g.input('W', t, [G, c.inputSize]) : '';
  const dAh = c.cell === 'gru' ? g.input('dgates_h', t, ['R', G]) : dA;
  g.output(g.gemm(dA, x, undefined, { transA: true }), 'dW', t, [G, c.inputSize]);
  g.output(g.gemm(dAh, hp, undefined, { transA: true }), 'dU', t, [G, c.hiddenSize]);
  g.output(g.reduceSum(dA, [0], false), 'db', t, [G]);
  if (c.cell === 'gru') g.output(g.reduceSum(dAh, [0], false), 'dbu', t, [G]);
  if (inputGradients) g.output(g.matmul(dA, W), 'dx', t, ['R', c.inputSize]);
  return g.toModel();
}

/** The deferred head gradients: inputs `dy` [R,O], `h` [R,H]; outputs `dWy` = dy^T h, `dby`. */
export function headGradientGraph(dtype: FloatType, hiddenSize: number, head: HeadSpec): Uint8Array {
  const O = head.kind === 'softmax' ? head.classes : head.outputs;
  const g = new GraphBuilder('head_gradients');
  const dy = g.input('dy', dtype, ['R', O]);
  const h = g.input('h', dtype, ['R', hiddenSize]);
  g.output(g.gemm(dy, h, undefined, { transA: true }), 'dWy', dtype, [O, hiddenSize]);
  g.output(g.reduceSum(dy, [0], false), 'dby', dtype, [O]);
  return g.toModel();
}

/**
 * The head alone (for user cells, whose backward graph is theirs): inputs `h`, `dh` (the gradient
 * arriving from the next step), `Wy`, `by`, `weight`, `target`; outputs `loss`, `dy` and `dh_total`
 * (`dh` plus the head's gradient at `h`).
 */
export function headStepGraph(dtype: FloatType, hiddenSize: number, head: HeadSpec): Uint8Array {
  const g = new GraphBuilder('head_step');
  const h = g.input('h', dtype, [B, hiddenSize]);
  const dh = g.input('dh', dtype, [B, hiddenSize]);
  const out = headOps(g, dtype, hiddenSize, head, h);
  const O = head.kind === 'softmax' ? head.classes : head.outputs;
  g.output(out.loss, 'loss', dtype, []);
  g.output(out.dy, 'dy', dtype, [B, O]);
  g.output(g.add(dh, out.dh), 'dh_total', dtype, [B, hiddenSize]);
  return g.toModel();
}
