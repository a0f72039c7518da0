import * as tf from '@tensorflow/tfjs-core';
import type { CellBackwardArgs, CellBackwardResult, CellProgram, Constants } from './program.js';
import { need } from './program.js';

// 2-D typed wrappers (tfjs infers Tensor<Rank> for broadcasting operations).
const mul = (a: tf.Tensor, b: tf.Tensor | number): tf.Tensor2D => tf.mul(a, b) as tf.Tensor2D;
const add = (a: tf.Tensor, b: tf.Tensor): tf.Tensor2D => tf.add(a, b) as tf.Tensor2D;
const sub = (a: tf.Tensor, b: tf.Tensor): tf.Tensor2D => tf.sub(a, b) as tf.Tensor2D;
const square = (a: tf.Tensor2D): tf.Tensor2D => tf.square(a);
const sigmoid = (a: tf.Tensor2D): tf.Tensor2D => tf.sigmoid(a);
const concat = (list: tf.Tensor2D[]): tf.Tensor2D => tf.concat(list, 1);
const matMul = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D => tf.matMul(a, b);

// Conventions (those of @rewind/executor's reference backend): parameters `W` (`G x I`), `U` (`G x H`),
// `b` (`G`), for a GRU also `bu` (`G`); `G = gates * H`, gate blocks of `H` rows in the order LSTM
// `i, f, g, o`, GRU `z, r, n`.
//
// Forward steps use derived tensors: per gate block, the transpose of `[W_k U_k]` (`(I+H) x H`), so that
// every gate is one fused product with bias and activation and no result is ever sliced (slicing
// columns is slow on the wasm backend). tanh is computed as `2 sigmoid(2a) - 1`: the factor 2 is folded
// into the derived weights and biases of the tanh blocks (exact in floating point), and one sigmoid is
// ~10x cheaper than tanh on wasm. Backward steps use `W` and `U` as they are (`d W` and `d U`), and
// weight gradients are transposed products with explicit transposes (see `GradientAccumulator`).

function gateRows(m: tf.Tensor2D, k: number, h: number): tf.Tensor2D {
  return tf.slice(m, [k * h, 0], [h, m.shape[1]]);
}

function gateBias(b: tf.Tensor1D, k: number, h: number): tf.Tensor1D {
  return tf.slice(b, [k * h], [h]);
}

/** `2 sigmoid(2a) - 1 = tanh(a)` from `s = sigmoid(2a)`. */
function tanhFromSigmoid(s: tf.Tensor2D, c: Constants): tf.Tensor2D {
  return sub(mul(s, c.two), c.one);
}

function tanh(a: tf.Tensor2D, c: Constants): tf.Tensor2D {
  return tanhFromSigmoid(sigmoid(mul(a, c.two)), c);
}

/** `s (1 - s)`: the derivative of the sigmoid from its value. */
function sigmoidSlope(s: tf.Tensor2D, c: Constants): tf.Tensor2D {
  return mul(s, sub(c.one, s));
}

/** `1 - y^2`: the derivative of tanh from its value. */
function tanhSlope(y: tf.Tensor2D, c: Constants): tf.Tensor2D {
  return sub(c.one, square(y));
}

function gate(
  xh: tf.Tensor2D,
  derived: Readonly<Record<string, tf.Tensor>>,
  name: string,
  activation: 'sigmoid' | 'linear',
): tf.Tensor2D {
  return tf.fused.matMul({
    a: xh,
    b: need<tf.Tensor2D>(derived, `${name}.w`),
    bias: need(derived, `${name}.b`),
    activation,
  }) as tf.Tensor2D;
}

function sparsify(args: CellBackwardArgs, ds: tf.Tensor2D[]): tf.Tensor2D[] {
  const sparsifier = args.sparsifier;
  const first = ds[0];
  if (sparsifier === undefined || first === undefined) return ds;
  const mask = sparsifier.mask(first);
  return ds.map((d) => mul(d, mask));
}

/** Vanilla RNN: `h' = tanh(W x + U h + b)`. Internal state: `h_prev`, `h'`. */
export const rnnProgram: CellProgram = {
  kind: 'rnn',
  stateParts: 1,
  derive(params) {
    return tf.tidy(() => {
      const w = mul(
        tf.transpose(concat([need<tf.Tensor2D>(params, 'W'), need<tf.Tensor2D>(params, 'U')])),
        2,
      );
      const b = mul(need(params, 'b'), 2);
      return { 'a.w': w, 'a.b': b };
    });
  },
  forward(x, prev, _keep, _params, derived, c) {
    const h = prev[0] as tf.Tensor2D;
    const s = gate(concat([x, h]), derived, 'a', 'sigmoid');
    return { next: [tanhFromSigmoid(s, c)], saved: [] };
  },
  backward(args, params, _derived, c): CellBackwardResult {
    const hNext = args.next[0] as tf.Tensor2D;
    const dh = args.dNext[0] as tf.Tensor2D;
    const [da] = sparsify(args, [mul(dh, tanhSlope(hNext, c))]) as [tf.Tensor2D];
    const dhPrev = matMul(da, need<tf.Tensor2D>(params, 'U'));
    const linear = [
      { weight: 'W', bias: 'b', d: da, input: args.x },
      { weight: 'U', d: da, input: args.prev[0] as tf.Tensor2D },
    ];
    if (!args.inputGradient) return { dPrev: [dhPrev], linear };
    return { dPrev: [dhPrev], linear, dx: matMul(da, need<tf.Tensor2D>(params, 'W')) };
  },
};

const LSTM_GATES = ['i', 'f', 'g', 'o'] as const;

/**
 * LSTM: `i, f, o = sigmoid(.)`, `g = tanh(.)`, `c' = f c + i g`, `h' = o tanh(c')`. Hidden state `(h, c)`;
 * internal state `h_prev, c_prev, i, f, g, o, tanh(c'), h', c'`.
 */
export const lstmProgram: CellProgram = {
  kind: 'lstm',
  stateParts: 2,
  derive(params) {
    return tf.tidy(() => {
      const W = need<tf.Tensor2D>(params, 'W');
      const U = need<tf.Tensor2D>(params, 'U');
      const b = need<tf.Tensor1D>(params, 'b');
      const h = U.shape[1];
      const out: Record<string, tf.Tensor> = {};
      LSTM_GATES.forEach((name, k) => {
        const scale = name === 'g' ? 2 : 1;
        let w: tf.Tensor = tf.transpose(concat([gateRows(W, k, h), gateRows(U, k, h)]));
        let bias: tf.Tensor = gateBias(b, k, h);
        if (scale !== 1) {
          w = mul(w, scale);
          bias = mul(bias, scale);
        }
        out[`${name}.w`] = w;
        out[`${name}.b`] = bias;
      });
      return out;
    });
  },
  forward(x, prev, keep, _params, derived, c) {
    const h = prev[0] as tf.Tensor2D;
    const cPrev = prev[1] as tf.Tensor2D;
    const xh = concat([x, h]);
    const i = gate(xh, derived, 'i', 'sigmoid');
    const f = gate(xh, derived, 'f', 'sigmoid');
    const g = tanhFromSigmoid(gate(xh, derived, 'g', 'sigmoid'), c);
    const o = gate(xh, derived, 'o', 'sigmoid');
    const cNext = add(mul(f, cPrev), mul(i, g));
    const tc = tanh(cNext, c);
    const hNext = mul(o, tc);
    return keep ? { next: [hNext, cNext], saved: [i, f, g, o, tc] } : { next: [hNext, cNext] };
  },
  backward(args, params, _derived, c): CellBackwardResult {
    const [i, f, g, o, tc] = args.saved as tf.Tensor2D[] as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
    ];
    const hPrev = args.prev[0] as tf.Tensor2D;
    const cPrev = args.prev[1] as tf.Tensor2D;
    const dh = args.dNext[0] as tf.Tensor2D;
    const dc = args.dNext[1] ?? null;
    let dct = mul(mul(dh, o), tanhSlope(tc, c));
    if (dc !== null) dct = add(dct, dc);
    const dai = mul(mul(dct, g), sigmoidSlope(i, c));
    const daf = mul(mul(dct, cPrev), sigmoidSlope(f, c));
    const dag = mul(mul(dct, i), tanhSlope(g, c));
    const dao = mul(mul(dh, tc), sigmoidSlope(o, c));
    const [da] = sparsify(args, [concat([dai, daf, dag, dao])]) as [tf.Tensor2D];
    const dcPrev = mul(dct, f);
    const dhPrev = matMul(da, need<tf.Tensor2D>(params, 'U'));
    const linear = [
      { weight: 'W', bias: 'b', d: da, input: args.x },
      { weight: 'U', d: da, input: hPrev },
    ];
    if (!args.inputGradient) return { dPrev: [dhPrev, dcPrev], linear };
    return { dPrev: [dhPrev, dcPrev], linear, dx: matMul(da, need<tf.Tensor2D>(params, 'W')) };
  },
};

/**
 * GRU (the formulation of @rewind/executor's reference): `z = sigmoid(W_z x + b_z + U_z h + bu_z)`,
 * `r` likewise, `n = tanh(W_n x + b_n + r (U_n h + bu_n))`, `h' = (1 - z) n + z h`. Internal state
 * `h_prev, z, r, n, 2 (U_n h + bu_n), h'`.
 */
export const gruProgram: CellProgram = {
  kind: 'gru',
  stateParts: 1,
  derive(params) {
    return tf.tidy(() => {
      const W = need<tf.Tensor2D>(params, 'W');
      const U = need<tf.Tensor2D>(params, 'U');
      const b = need<tf.Tensor1D>(params, 'b');
      const bu = need<tf.Tensor1D>(params, 'bu');
      const h = U.shape[1];
      const out: Record<string, tf.Tensor> = {};
      for (const [name, k] of [
        ['z', 0],
        ['r', 1],
      ] as const) {
        out[`${name}.w`] = tf.transpose(concat([gateRows(W, k, h), gateRows(U, k, h)]));
        out[`${name}.b`] = add(gateBias(b, k, h), gateBias(bu, k, h));
      }
      out['nx.w'] = mul(tf.transpose(gateRows(W, 2, h)), 2);
      out['nx.b'] = mul(gateBias(b, 2, h), 2);
      out['nh.w'] = mul(tf.transpose(gateRows(U, 2, h)), 2);
      out['nh.b'] = mul(gateBias(bu, 2, h), 2);
      return out;
    });
  },
  forward(x, prev, keep, _params, derived, c) {
    const h = prev[0] as tf.Tensor2D;
    const xh = concat([x, h]);
    const z = gate(xh, derived, 'z', 'sigmoid');
    const r = gate(xh, derived, 'r', 'sigmoid');
    const ax2 = gate(x, derived, 'nx', 'linear');
    const hn2 = gate(h, derived, 'nh', 'linear');
    const n = tanhFromSigmoid(sigmoid(add(ax2, mul(r, hn2))), c);
    const hNext = add(n, mul(z, sub(h, n)));
    return keep ? { next: [hNext], saved: [z, r, n, hn2] } : { next: [hNext] };
  },
  backward(args, params, _derived, c): CellBackwardResult {
    const [z, r, n, hn2] = args.saved as tf.Tensor2D[] as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
    ];
    const hPrev = args.prev[0] as tf.Tensor2D;
    const dh = args.dNext[0] as tf.Tensor2D;
    const dn = mul(dh, sub(c.one, z));
    const dz = mul(dh, sub(hPrev, n));
    const dan = mul(dn, tanhSlope(n, c));
    // hn2 holds 2 (U_n h + bu_n).
    const dr = mul(mul(dan, hn2), c.half);
    const daz = mul(dz, sigmoidSlope(z, c));
    const dar = mul(dr, sigmoidSlope(r, c));
    // The gradients at the input-side and the hidden-side pre-activations differ only in the n block
    // (scaled by r), so one mask sparsifies both.
    const [dax, dah] = sparsify(args, [concat([daz, dar, dan]), concat([daz, dar, mul(dan, r)])]) as [
      tf.Tensor2D,
      tf.Tensor2D,
    ];
    const dhPrev = add(mul(dh, z), matMul(dah, need<tf.Tensor2D>(params, 'U')));
    const linear = [
      { weight: 'W', bias: 'b', d: dax, input: args.x },
      { weight: 'U', bias: 'bu', d: dah, input: hPrev },
    ];
    if (!args.inputGradient) return { dPrev: [dhPrev], linear };
    return { dPrev: [dhPrev], linear, dx: matMul(dax, need<tf.Tensor2D>(params, 'W')) };
  },
};

/** The programs of the built-in cells. */
export const CELL_PROGRAMS = { rnn: rnnProgram, lstm: lstmProgram, gru: gruProgram } as const;
