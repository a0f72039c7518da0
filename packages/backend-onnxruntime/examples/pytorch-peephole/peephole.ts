/**
 * The peephole LSTM of `export.py`, written with this package's ONNX writer: the same computation,
 * parameter layout and input/output names as the PyTorch export, so that the example runs where
 * Python and PyTorch are not installed.
 *
 *   a = x W^T + h_prev U^T + b, split into a_i, a_f, a_g, a_o (W [4H, I], U [4H, H], b [4H])
 *   i = sigmoid(a_i + p_i * c_prev)     f = sigmoid(a_f + p_f * c_prev)     g = tanh(a_g)
 *   c = f * c_prev + i * g              o = sigmoid(a_o + p_o * c)          h = o * tanh(c)
 *
 * Forward: inputs x, h_prev, c_prev, param_W, param_U, param_b, param_p_i, param_p_f, param_p_o;
 * outputs h, c, saved_gates ([B, 4H]: i, f, g, o). Backward: the step's vector-Jacobian product with
 * cotangents grad_h and grad_c, written by hand.
 */
import {
  encodeModel,
  encodeModelWithExternalData,
  type FloatType,
  GraphBuilder,
  type ModelSpec,
} from '@rewind/backend-onnxruntime';

/** The sizes and element type of the cell. */
export interface PeepholeSizes {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly dtype: FloatType;
  /**
   * Leave one term out of the backward: the path from `c` through the output gate's peephole
   * (`p_o * da_o` in `grad_c`), the kind of slip a gradient check must catch.
   */
  readonly dropTerm?: boolean;
}

/** The opset the models are written for (PyTorch's exporters write 17 to 20). */
export const OPSET = 18;

/** The peephole parameters, besides W, U and b. */
export const PEEPHOLES = ['p_i', 'p_f', 'p_o'] as const;

function model(g: GraphBuilder): ModelSpec {
  return {
    graph: g.build(),
    opsets: [{ domain: '', version: OPSET }],
    producerName: 'rewind-example-peephole',
  };
}

/** Four equal blocks of `x` along axis 1. */
function split4(g: GraphBuilder, x: string, H: number): [string, string, string, string] {
  const sizes = g.initializer(
    'int64',
    [4],
    [H, H, H, H].map((v) => BigInt(v)),
    `split_sizes_${g.name}`,
  );
  return g.opN('Split', [x, sizes], 4, { axis: { type: 'int', value: 1 } }) as [
    string,
    string,
    string,
    string,
  ];
}

function forwardGraph(s: PeepholeSizes): GraphBuilder {
  const { inputSize: I, hiddenSize: H, dtype: t } = s;
  const G = 4 * H;
  const f = new GraphBuilder('peephole_forward');
  const x = f.input('x', t, ['B', I]);
  const hPrev = f.input('h_prev', t, ['B', H]);
  const cPrev = f.input('c_prev', t, ['B', H]);
  const W = f.input('param_W', t, [G, I]);
  const U = f.input('param_U', t, [G, H]);
  const b = f.input('param_b', t, [G]);
  const [pi, pf, po] = PEEPHOLES.map((p) => f.input(`param_${p}`, t, [H])) as [string, string, string];
  const a = f.gemm(hPrev, U, f.gemm(x, W, b, { transB: true }), { transB: true });
  const [ai, af, ag, ao] = split4(f, a, H);
  const i = f.sigmoid(f.add(ai, f.mul(pi, cPrev)));
  const fg = f.sigmoid(f.add(af, f.mul(pf, cPrev)));
  const g = f.tanh(ag);
  const c = f.add(f.mul(fg, cPrev), f.mul(i, g));
  const o = f.sigmoid(f.add(ao, f.mul(po, c)));
  f.output(f.mul(o, f.tanh(c)), 'h', t, ['B', H]);
  f.output(c, 'c', t, ['B', H]);
  f.output(f.concat([i, fg, g, o], 1), 'saved_gates', t, ['B', G]);
  return f;
}

function backwardGraph(s: PeepholeSizes): GraphBuilder {
  const { inputSize: I, hiddenSize: H, dtype: t } = s;
  const G = 4 * H;
  const g = new GraphBuilder('peephole_backward');
  const dh = g.input('grad_h', t, ['B', H]);
  const dc = g.input('grad_c', t, ['B', H]);
  const x = g.input('x', t, ['B', I]);
  const hPrev = g.input('h_prev', t, ['B', H]);
  const cPrev = g.input('c_prev', t, ['B', H]);
  const c = g.input('c', t, ['B', H]);
  const gates = g.input('saved_gates', t, ['B', G]);
  const W = g.input('param_W', t, [G, I]);
  const U = g.input('param_U', t, [G, H]);
  const [pi, pf, po] = PEEPHOLES.map((p) => g.input(`param_${p}`, t, [H])) as [string, string, string];
  const one = g.initializer(t, [], [1], 'one');
  const [i, f, gg, o] = split4(g, gates, H);
  const sig = (y: string, d: string): string => g.mul(d, g.mul(y, g.sub(one, y)));
  const tc = g.tanh(c);
  const dao = sig(o, g.mul(dh, tc));
  // The total gradient at c: from later steps (grad_c), through h = o tanh(c), and through o's peephole.
  let dct = g.add(dc, g.mul(g.mul(dh, o), g.sub(one, g.mul(tc, tc))));
  if (s.dropTerm !== true) dct = g.add(dct, g.mul(dao, po));
  const dai = sig(i, g.mul(dct, gg));
  const daf = sig(f, g.mul(dct, cPrev));
  const dag = g.mul(g.mul(dct, i), g.sub(one, g.mul(gg, gg)));
  const dA = g.concat([dai, daf, dag, dao], 1);
  const dcPrev = g.add(g.add(g.mul(dct, f), g.mul(dai, pi)), g.mul(daf, pf));
  g.output(g.matmul(dA, U), 'grad_h_prev', t, ['B', H]);
  g.output(dcPrev, 'grad_c_prev', t, ['B', H]);
  g.output(g.matmul(dA, W), 'grad_x', t, ['B', I]);
  g.output(g.gemm(dA, x, undefined, { transA: true }), 'grad_param_W', t, [G, I]);
  g.output(g.gemm(dA, hPrev, undefined, { transA: true }), 'grad_param_U', t, [G, H]);
  g.output(g.reduceSum(dA, [0], false), 'grad_param_b', t, [G]);
  g.output(g.reduceSum(g.mul(dai, cPrev), [0], false), 'grad_param_p_i', t, [H]);
  g.output(g.reduceSum(g.mul(daf, cPrev), [0], false), 'grad_param_p_f', t, [H]);
  g.output(g.reduceSum(g.mul(dao, c), [0], false), 'grad_param_p_o', t, [H]);
  return g;
}

/** The forward and backward models, every tensor inline. */
export function peepholeModels(s: PeepholeSizes): { forward: Uint8Array; backward: Uint8Array } {
  return {
    forward: encodeModel(model(forwardGraph(s))),
    backward: encodeModel(model(backwardGraph(s))),
  };
}

/** The backward model with its float initializers in an external data file named `location`. */
export function peepholeBackwardExternal(
  s: PeepholeSizes,
  location: string,
): { readonly model: Uint8Array; readonly data: Uint8Array } {
  return encodeModelWithExternalData(model(backwardGraph(s)), location);
}

/** Random parameters in the layout of the models (seeded), for a cell of the given sizes. */
export function peepholeParameters(
  inputSize: number,
  hiddenSize: number,
  seed: number,
): Record<string, { dims: number[]; values: Float64Array }> {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const H = hiddenSize;
  const G = 4 * H;
  const fill = (n: number, scale: number): Float64Array =>
    Float64Array.from({ length: n }, () => (2 * uniform() - 1) * scale);
  const k = 1 / Math.sqrt(H);
  const params: Record<string, { dims: number[]; values: Float64Array }> = {
    W: { dims: [G, inputSize], values: fill(G * inputSize, k) },
    U: { dims: [G, H], values: fill(G * H, k) },
    b: { dims: [G], values: fill(G, k) },
  };
  for (const p of PEEPHOLES) params[p] = { dims: [H], values: fill(H, k) };
  return params;
}
