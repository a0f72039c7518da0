/** Shared helpers of the tests: factories, comparisons, and user cells written against the contract. */
import type { LossHead } from '@rewind/executor';
import type { BackendFactory, ConformanceCase } from '@rewind/executor/conformance';
import {
  createReferenceModel,
  type ReferenceBatch,
  type ReferenceModel,
  randomBatch,
} from '@rewind/executor/reference';
import { createOnnxBackend, type OnnxBackendOptions } from './backend.js';
import { GraphBuilder } from './onnx/builder.js';
import type { FloatType } from './onnx/model.js';
import type { UserCellParameters } from './user-cell.js';

/** A small model and batch, with a conformance perturbation applied. */
export function smallCase(
  cell: 'rnn' | 'lstm' | 'gru',
  head: LossHead,
  c: ConformanceCase,
  sizes: { input: number; hidden: number; batch: number; lossSteps?: 'all' | 'last' } = {
    input: 3,
    hidden: 3,
    batch: 2,
  },
): { model: ReferenceModel; batch: ReferenceBatch } {
  const model = createReferenceModel({
    cell,
    inputSize: sizes.input,
    hiddenSize: sizes.hidden,
    head,
    seed: c.seed,
  });
  const batch = randomBatch(model, {
    steps: c.steps,
    batchSize: sizes.batch,
    seed: c.seed + 1,
    randomInitialState: true,
    ...(sizes.lossSteps === undefined ? {} : { lossSteps: sizes.lossSteps }),
  });
  const p = c.perturb;
  if (p !== undefined) {
    const target =
      p.group === 'parameters'
        ? model.params[p.name ?? '']
        : p.group === 'inputs'
          ? batch.inputs
          : batch.initialState;
    if (target === undefined || p.index >= target.length) throw new RangeError('no such coordinate');
    target[p.index]! += p.delta;
  }
  return { model, batch };
}

/** A conformance factory for a built-in cell of the ONNX Runtime backend. */
export function onnxFactory(
  cell: 'rnn' | 'lstm' | 'gru',
  head: LossHead,
  options: OnnxBackendOptions = {},
): BackendFactory {
  return async (c) => {
    const { model, batch } = smallCase(cell, head, c);
    return createOnnxBackend(model, batch, { ...options, dtype: c.float64 ? 'float64' : 'float32' });
  };
}

/** Largest `|a - b|` over the largest `|b|` (or 1e-30). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let scale = 1e-30;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/**
 * A vanilla tanh RNN written as a user cell (the contract's names), with the reference cell's layout:
 * `W` [H,I], `U` [H,H], `b` [H]. The forward model saves the pre-activation as `saved_a` to show a
 * saved tensor (the backward model uses it together with `h`).
 */
export function rnnUserCell(
  I: number,
  H: number,
  dtype: FloatType = 'float32',
): { forward: Uint8Array; backward: Uint8Array } {
  const f = new GraphBuilder('rnn_user_forward');
  const x = f.input('x', dtype, ['B', I]);
  const hp = f.input('h_prev', dtype, ['B', H]);
  const W = f.input('param_W', dtype, [H, I]);
  const U = f.input('param_U', dtype, [H, H]);
  const b = f.input('param_b', dtype, [H]);
  const a = f.gemm(hp, U, f.gemm(x, W, b, { transB: true }), { transB: true });
  f.output(f.tanh(a), 'h', dtype, ['B', H]);
  f.output(a, 'saved_a', dtype, ['B', H]);

  const g = new GraphBuilder('rnn_user_backward');
  const gx = g.input('x', dtype, ['B', I]);
  const ghp = g.input('h_prev', dtype, ['B', H]);
  const gh = g.input('h', dtype, ['B', H]);
  g.input('saved_a', dtype, ['B', H]);
  const dh = g.input('grad_h', dtype, ['B', H]);
  const gW = g.input('param_W', dtype, [H, I]);
  const gU = g.input('param_U', dtype, [H, H]);
  const da = g.mul(dh, g.sub(g.scalar(dtype, 1), g.mul(gh, gh)));
  g.output(g.matmul(da, gU), 'grad_h_prev', dtype, ['B', H]);
  g.output(g.matmul(da, gW), 'grad_x', dtype, ['B', I]);
  g.output(g.gemm(da, gx, undefined, { transA: true }), 'grad_param_W', dtype, [H, I]);
  g.output(g.gemm(da, ghp, undefined, { transA: true }), 'grad_param_U', dtype, [H, H]);
  g.output(g.reduceSum(da, [0], false), 'grad_param_b', dtype, [H]);
  return { forward: f.toModel(), backward: g.toModel() };
}

/**
 * An LSTM as a user cell with two carried states (`h`, `c`) and the gate activations saved as
 * `saved_gates` [B, 4H]; layout as the reference LSTM (`W` [4H,I], `U` [4H,H], `b` [4H], gates i,f,g,o).
 */
export function lstmUserCell(
  I: number,
  H: number,
  dtype: FloatType = 'float32',
): { forward: Uint8Array; backward: Uint8Array } {
  const G = 4 * H;
  const f = new GraphBuilder('lstm_user_forward');
  const x = f.input('x', dtype, ['B', I]);
  const hp = f.input('h_prev', dtype, ['B', H]);
  const cp = f.input('c_prev', dtype, ['B', H]);
  const W = f.input('param_W', dtype, [G, I]);
  const U = f.input('param_U', dtype, [G, H]);
  const b = f.input('param_b', dtype, [G]);
  const a = f.gemm(hp, U, f.gemm(x, W, b, { transB: true }), { transB: true });
  const [ai, af, ag, ao] = f.split(a, 4, 1) as [string, string, string, string];
  const i = f.sigmoid(ai);
  const fg = f.sigmoid(af);
  const gg = f.tanh(ag);
  const o = f.sigmoid(ao);
  const c = f.add(f.mul(fg, cp), f.mul(i, gg));
  f.output(f.mul(o, f.tanh(c)), 'h', dtype, ['B', H]);
  f.output(c, 'c', dtype, ['B', H]);
  f.output(f.concat([i, fg, gg, o], 1), 'saved_gates', dtype, ['B', G]);

  const g = new GraphBuilder('lstm_user_backward');
  const gx = g.input('x', dtype, ['B', I]);
  const ghp = g.input('h_prev', dtype, ['B', H]);
  const gcp = g.input('c_prev', dtype, ['B', H]);
  const gc = g.input('c', dtype, ['B', H]);
  const gates = g.input('saved_gates', dtype, ['B', G]);
  const dh = g.input('grad_h', dtype, ['B', H]);
  const dc = g.input('grad_c', dtype, ['B', H]);
  const gW = g.input('param_W', dtype, [G, I]);
  const gU = g.input('param_U', dtype, [G, H]);
  const one = g.scalar(dtype, 1);
  const [gi, gf, gG, go] = g.split(gates, 4, 1) as [string, string, string, string];
  const tc = g.tanh(gc);
  const dct = g.add(dc, g.mul(g.mul(dh, go), g.sub(one, g.mul(tc, tc))));
  const sig = (s: string, d: string): string => g.mul(d, g.mul(s, g.sub(one, s)));
  const dA = g.concat(
    [
      sig(gi, g.mul(dct, gG)),
      sig(gf, g.mul(dct, gcp)),
      g.mul(g.mul(dct, gi), g.sub(one, g.mul(gG, gG))),
      sig(go, g.mul(dh, tc)),
    ],
    1,
  );
  g.output(g.matmul(dA, gU), 'grad_h_prev', dtype, ['B', H]);
  g.output(g.mul(dct, gf), 'grad_c_prev', dtype, ['B', H]);
  g.output(g.matmul(dA, gW), 'grad_x', dtype, ['B', I]);
  g.output(g.gemm(dA, gx, undefined, { transA: true }), 'grad_param_W', dtype, [G, I]);
  g.output(g.gemm(dA, ghp, undefined, { transA: true }), 'grad_param_U', dtype, [G, H]);
  g.output(g.reduceSum(dA, [0], false), 'grad_param_b', dtype, [G]);
  return { forward: f.toModel(), backward: g.toModel() };
}

/** The parameters of a reference model as user-cell parameters. */
export function userParameters(model: ReferenceModel): UserCellParameters {
  const { hiddenSize: H, inputSize: I, head } = model.config;
  const G = model.params['U']!.length / H;
  return {
    parameters: {
      W: { dims: [G, I], values: model.params['W']! },
      U: { dims: [G, H], values: model.params['U']! },
      b: { dims: [G], values: model.params['b']! },
    },
    head,
    headParameters: { Wy: model.params['Wy']!, by: model.params['by']! },
  };
}
