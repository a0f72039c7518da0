import { runPolicy } from '@rewind/executor';
import {
  createReferenceModel,
  type ReferenceBatch,
  type ReferenceModel,
  randomBatch,
} from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { createOnnxBackend, type OnnxBackend, type OnnxBackendOptions } from './backend.js';
import { keptCount } from './sparsity.js';
import { relativeError } from './testing.test-util.js';

async function pass(backend: OnnxBackend, strategy: 'store-all' | 'msm' = 'store-all') {
  const sb = backend.stateBytes();
  const T = backend.steps;
  const bytes = strategy === 'store-all' ? sb.hidden + T * sb.internal : sb.hidden * 3 + sb.internal;
  const result = await runPolicy(backend, plan({ steps: T, memory: { bytes, stateBytes: sb }, strategy }));
  return { loss: result.loss, gradients: await backend.readGradients(), stats: backend.sparsityStats() };
}

/**
 * An independent float64 implementation of a tanh RNN with a softmax head and the sparsified backward:
 * `da` entries with `|da| <= threshold` are zeroed, the threshold fixed or the per-step quantile.
 */
function maskedRnnBptt(
  model: ReferenceModel,
  batch: ReferenceBatch,
  rule: { threshold: number } | { targetSparsity: number },
): { loss: number; dW: Float64Array; dU: Float64Array; db: Float64Array; dWy: Float64Array; zeros: number } {
  const { inputSize: I, hiddenSize: H } = model.config;
  const O = model.config.head.kind === 'softmax' ? model.config.head.classes : 0;
  const { steps: T, batchSize: B } = batch;
  const p = model.params as Record<string, Float64Array>;
  const [W, U, b, Wy, by] = [p['W']!, p['U']!, p['b']!, p['Wy']!, p['by']!];
  const hs: Float64Array[] = [batch.initialState?.slice(0, B * H) ?? new Float64Array(B * H)];
  for (let t = 1; t <= T; t++) {
    const h = new Float64Array(B * H);
    const hp = hs[t - 1]!;
    for (let r = 0; r < B; r++) {
      for (let k = 0; k < H; k++) {
        let a = b[k]!;
        for (let i = 0; i < I; i++) a += W[k * I + i]! * batch.inputs[((t - 1) * B + r) * I + i]!;
        for (let j = 0; j < H; j++) a += U[k * H + j]! * hp[r * H + j]!;
        h[r * H + k] = Math.tanh(a);
      }
    }
    hs.push(h);
  }
  const dW = new Float64Array(H * I);
  const dU = new Float64Array(H * H);
  const db = new Float64Array(H);
  const dWy = new Float64Array(O * H);
  let loss = 0;
  let zeros = 0;
  let dNext = new Float64Array(B * H);
  const w = 1 / (B * T);
  for (let t = T; t >= 1; t--) {
    const h = hs[t]!;
    const dh = dNext.slice();
    for (let r = 0; r < B; r++) {
      const y = new Float64Array(O);
      for (let o = 0; o < O; o++) {
        let s = by[o]!;
        for (let k = 0; k < H; k++) s += Wy[o * H + k]! * h[r * H + k]!;
        y[o] = s;
      }
      const m = Math.max(...y);
      let sum = 0;
      for (let o = 0; o < O; o++) sum += Math.exp(y[o]! - m);
      const target = batch.targets[(t - 1) * B + r]!;
      loss += w * (Math.log(sum) + m - y[target]!);
      for (let o = 0; o < O; o++) {
        const dy = w * (Math.exp(y[o]! - m) / sum - (o === target ? 1 : 0));
        for (let k = 0; k < H; k++) {
          dh[r * H + k]! += dy * Wy[o * H + k]!;
          dWy[o * H + k]! += dy * h[r * H + k]!;
        }
      }
    }
    const da = new Float64Array(B * H);
    for (let j = 0; j < B * H; j++) da[j] = dh[j]! * (1 - h[j]! * h[j]!);
    let threshold: number;
    if ('threshold' in rule) threshold = rule.threshold;
    else {
      const kept = keptCount(da.length, rule.targetSparsity);
      const sorted = Array.from(da, Math.abs).sort((x, y) => y - x);
      threshold = kept >= da.length ? 0 : sorted[kept - 1]!;
    }
    for (let j = 0; j < da.length; j++) {
      if (Math.abs(da[j]!) <= threshold) {
        da[j] = 0;
        zeros++;
      }
    }
    const hp = hs[t - 1]!;
    dNext = new Float64Array(B * H);
    for (let r = 0; r < B; r++) {
      for (let k = 0; k < H; k++) {
        const d = da[r * H + k]!;
        db[k]! += d;
        for (let i = 0; i < I; i++) dW[k * I + i]! += d * batch.inputs[((t - 1) * B + r) * I + i]!;
        for (let j = 0; j < H; j++) {
          dU[k * H + j]! += d * hp[r * H + j]!;
          dNext[r * H + j]! += d * U[k * H + j]!;
        }
      }
    }
  }
  return { loss, dW, dU, db, dWy, zeros };
}

describe('sparsified backward', () => {
  const model = createReferenceModel({
    cell: 'rnn',
    inputSize: 4,
    hiddenSize: 6,
    head: { kind: 'softmax', classes: 3 },
    seed: 5,
  });
  const batch = randomBatch(model, { steps: 7, batchSize: 4, seed: 8, randomInitialState: true });

  for (const rule of [{ threshold: 0.01 }, { targetSparsity: 0.6 }] as const) {
    it(`equals an independent masked BPTT (${JSON.stringify(rule)}, float64)`, async () => {
      const expected = maskedRnnBptt(model, batch, rule);
      const backend = await createOnnxBackend(model, batch, { dtype: 'float64', sparsity: rule });
      for (const strategy of ['store-all', 'msm'] as const) {
        const got = await pass(backend, strategy);
        expect(Math.abs(got.loss - expected.loss)).toBeLessThan(1e-13);
        expect(relativeError(got.gradients.parameters['W']!, expected.dW)).toBeLessThan(1e-12);
        expect(relativeError(got.gradients.parameters['U']!, expected.dU)).toBeLessThan(1e-12);
        expect(relativeError(got.gradients.parameters['b']!, expected.db)).toBeLessThan(1e-12);
        expect(relativeError(got.gradients.parameters['Wy']!, expected.dWy)).toBeLessThan(1e-12);
        expect(got.stats?.zeros).toBe(expected.zeros);
        expect(got.stats?.entries).toBe(7 * 4 * 6);
        expect(expected.zeros).toBeGreaterThan(0);
      }
    });
  }

  it('off is bit-identical to the dense path, and a zero threshold changes nothing', async () => {
    const lstm = createReferenceModel({
      cell: 'lstm',
      inputSize: 5,
      hiddenSize: 6,
      head: { kind: 'mse', outputs: 2 },
      seed: 3,
    });
    const b = randomBatch(lstm, { steps: 9, batchSize: 3, seed: 2 });
    const dense = await pass(await createOnnxBackend(lstm, b));
    const off: OnnxBackendOptions = { sparsity: undefined };
    const offRun = await pass(await createOnnxBackend(lstm, b, off));
    const zero = await pass(await createOnnxBackend(lstm, b, { sparsity: { threshold: 0 } }));
    expect(offRun.stats).toBeUndefined();
    expect(offRun.loss).toBe(dense.loss);
    expect(zero.loss).toBe(dense.loss);
    for (const [name, g] of Object.entries(dense.gradients.parameters)) {
      const a = offRun.gradients.parameters[name]!;
      const z = zero.gradients.parameters[name]!;
      for (let i = 0; i < g.length; i++) {
        expect(a[i] === g[i], `${name}[${i}] off`).toBe(true);
        expect(z[i] === g[i], `${name}[${i}] threshold 0`).toBe(true);
      }
    }
    // Only exact zeros are dropped: here the forget-gate gradients of step 1, where c_0 = 0 (1/4 of the
    // gates at 1 of 9 steps).
    expect(zero.stats?.sparsity).toBeCloseTo(1 / 36, 12);
  });

  it('a dynamic threshold reaches the target sparsity on LSTM and GRU gate gradients', async () => {
    for (const cell of ['lstm', 'gru'] as const) {
      const m = createReferenceModel({
        cell,
        inputSize: 8,
        hiddenSize: 16,
        head: { kind: 'softmax', classes: 8 },
        seed: 2,
      });
      const b = randomBatch(m, { steps: 12, batchSize: 8, seed: 3 });
      const dense = await pass(await createOnnxBackend(m, b));
      for (const targetSparsity of [0.5, 0.8]) {
        const backend = await createOnnxBackend(m, b, { sparsity: { targetSparsity } });
        const { stats, gradients } = await pass(backend);
        const G = (cell === 'lstm' ? 4 : 3) * 16;
        expect(stats?.entries).toBe(12 * 8 * G);
        // One more zero per step than floor(target * size): the kept threshold value itself is dropped.
        const perStep = 8 * G;
        expect(stats?.zeros).toBe(12 * (Math.floor(targetSparsity * perStep) + 1));
        expect(stats?.sparsity).toBeGreaterThanOrEqual(targetSparsity);
        expect(stats?.sparsity).toBeLessThan(targetSparsity + 0.01);
        expect(stats?.meanThreshold).toBeGreaterThan(0);
        // The executor's definition, by hand: 2H + I multiply-accumulates per gate gradient (dh_prev, dU,
        // dW; not the input gradients, which this backend computes anyway), the head's 2 B O H at each of
        // the 12 steps with a loss, and only the gate products of zero entries skippable.
        const perEntry = 2 * 16 + 8;
        const macs = 12 * perStep * perEntry + 12 * 2 * 8 * 8 * 16;
        expect(stats?.backwardMacs).toBe(macs);
        expect(stats?.skippableMacs).toBe((stats?.zeros ?? -1) * perEntry);
        expect(stats?.skippableShare).toBe(((stats?.zeros ?? -1) * perEntry) / macs);
        expect(stats?.skippableShare).toBeLessThan(stats?.sparsity ?? -1);
        // Sparsified gradients stay close to the dense ones (cosine similarity).
        const a = gradients.parameters['U']!;
        const d = dense.gradients.parameters['U']!;
        let dot = 0;
        let na = 0;
        let nd = 0;
        for (let i = 0; i < a.length; i++) {
          dot += a[i]! * d[i]!;
          na += a[i]! * a[i]!;
          nd += d[i]! * d[i]!;
        }
        expect(dot / Math.sqrt(na * nd)).toBeGreaterThan(0.5);
      }
    }
  });

  it('estimates the quantile on sampleRows rows when asked, and resets its statistics with the gradients', async () => {
    const m = createReferenceModel({
      cell: 'lstm',
      inputSize: 4,
      hiddenSize: 8,
      head: { kind: 'softmax', classes: 4 },
      seed: 2,
    });
    const b = randomBatch(m, { steps: 5, batchSize: 6, seed: 3 });
    const backend = await createOnnxBackend(m, b, { sparsity: { targetSparsity: 0.7, sampleRows: 2 } });
    const { stats } = await pass(backend);
    expect(stats?.entries).toBe(5 * 6 * 32);
    expect(stats?.sparsity).toBeGreaterThan(0.5);
    expect(stats?.sparsity).toBeLessThan(0.9);
    await backend.zeroGradients();
    expect(backend.sparsityStats()?.entries).toBe(0);
  });
});
