/** Shared helpers of the tests: factories, comparisons, and user cells written against the contract. */
import type { BackwardSource, CellBackendV2, LossHead } from '@rewind/executor';
import type { BackendFactory, ConformanceCase } from '@rewind/executor/conformance';
import {
  createReferenceModel,
  type ReferenceBatch,
  type ReferenceModel,
  randomBatch,
} from '@rewind/executor/reference';
import type { Instruction, Policy } from '@rewind/policy';
import { createOnnxBackend, type OnnxBackendOptions } from './backend.js';
import { createOnnxBackendV2, type OnnxBackendV2, type OnnxBackendV2Options } from './backend-v2.js';
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

/** A conformance factory for a built-in cell of the range-level (version 2) ONNX Runtime backend. */
export function onnxFactoryV2(
  cell: 'rnn' | 'lstm' | 'gru',
  head: LossHead,
  options: OnnxBackendV2Options = {},
): BackendFactory<OnnxBackendV2> {
  return async (c) => {
    const { model, batch } = smallCase(cell, head, c);
    return createOnnxBackendV2(model, batch, { ...options, dtype: c.float64 ? 'float64' : 'float32' });
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

/** What `runPolicyV2` did: the loss of the pass and the counts of the policy. */
export interface PolicyRunV2 {
  readonly loss: number;
  readonly instructions: number;
  /**
   * The state traffic the policy implies: bytes of the checkpoints it keeps, of the working states its
   * forwards leave, of the internal states it recomputes, and of the internal state every backward step reads.
   */
  readonly checkpointBytes: number;
}

/**
 * Run one pass of a policy on a version 2 backend, instruction by instruction as the policy format states
 * it (kept checkpoints, the working state, recomputation from the state at `t - 1`, the release of dead
 * checkpoints), and dispose everything it handed out.
 */
export async function runPolicyV2<H, S, G>(
  backend: CellBackendV2<H, S, G>,
  policy: Policy,
): Promise<PolicyRunV2> {
  const T = backend.steps;
  const bytes = backend.stateBytes();
  const hidden = new Map<number, H>();
  const internal = new Map<number, S>();
  let working: { at: number; handle: S; owned: boolean } | undefined;
  let dh: G | null = null;
  let checkpointBytes = 0;
  await backend.zeroGradients();
  hidden.set(0, await backend.initialState());
  const endWorking = (): void => {
    if (working?.owned) backend.dispose(working.handle);
    working = undefined;
  };
  const stateAt = (p: number): H => {
    const h = hidden.get(p);
    if (h !== undefined) return h;
    const s = internal.get(p) ?? (working?.at === p ? working.handle : undefined);
    if (s === undefined) throw new Error(`no state held at ${p}`);
    return backend.hiddenOf(s);
  };
  const body = policy.instructions;
  for (let k = 0; k < body.length; k++) {
    const ins = body[k] as Instruction;
    if (ins.op === 'forward') {
      const start = stateAt(ins.from);
      const following = body[k + 1];
      const keepWorking = following?.op === 'backward' && following.from === ins.to;
      const store =
        ins.store === undefined ? undefined : { kind: ins.store, stride: ins.stride ?? ins.to - ins.from };
      const result = await backend.forwardRange({
        start,
        from: ins.from,
        to: ins.to,
        ...(store === undefined ? {} : { store }),
        keepWorking,
      });
      endWorking();
      result.kept.forEach((handle, i) => {
        const p = ins.from + (i + 1) * (store?.stride ?? 1);
        if (store?.kind === 'internal') internal.set(p, handle as S);
        else hidden.set(p, handle as H);
        checkpointBytes += store?.kind === 'internal' ? bytes.internal : bytes.hidden;
      });
      if (result.working !== undefined) {
        working = { at: ins.to, handle: result.working, owned: true };
        checkpointBytes += bytes.internal;
      } else if (keepWorking) {
        const s = internal.get(ins.to);
        if (s === undefined) throw new Error(`no working state at ${ins.to}`);
        working = { at: ins.to, handle: s, owned: false };
      }
    } else if (ins.op === 'backward') {
      const sources: BackwardSource<H, S>[] = [];
      for (let t = ins.from; t >= ins.to; t--) {
        const s = internal.get(t) ?? (t === ins.from && working?.at === t ? working.handle : undefined);
        sources.push(s !== undefined ? { internal: s } : { recomputeFrom: stateAt(t - 1) });
        checkpointBytes += (s === undefined ? 2 : 1) * bytes.internal;
      }
      const next = await backend.backwardRange({ from: ins.from, to: ins.to, sources, dh });
      if (dh !== null) backend.dispose(dh);
      dh = next;
      endWorking();
      for (const [p, h] of hidden) {
        if (p >= ins.to - 1) {
          backend.dispose(h);
          hidden.delete(p);
        }
      }
      for (const [p, s] of internal) {
        if (p >= ins.to) {
          backend.dispose(s);
          internal.delete(p);
        }
      }
    } else {
      endWorking();
      const map: Map<number, H | S> = ins.kind === 'internal' ? internal : hidden;
      const h = map.get(ins.at);
      if (h === undefined) throw new Error(`free: nothing held at ${ins.at}`);
      backend.dispose(h);
      map.delete(ins.at);
    }
  }
  if (dh !== null) backend.dispose(dh);
  if (hidden.size + internal.size > 0 || T < 1) throw new Error('checkpoints left after the pass');
  return { loss: await backend.loss(), instructions: body.length, checkpointBytes };
}
