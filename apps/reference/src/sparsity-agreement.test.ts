import { createOnnxBackend, releaseCachedSessions } from '@rewind/backend-onnxruntime';
import { createCellBackend, createRecurrentModel, createTfjsEngine } from '@rewind/backend-tfjs';
import { runPolicy, type SparsityOptions, type SparsityStats } from '@rewind/executor';
import { createReferenceModel, randomBatch } from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { afterAll, describe, expect, it } from 'vitest';

const engine = await createTfjsEngine({ backend: 'wasm' });

afterAll(async () => {
  releaseCachedSessions();
  await engine.dispose();
});

interface Case {
  readonly cell: 'lstm' | 'gru' | 'rnn';
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly classes: number;
  readonly steps: number;
  readonly batchSize: number;
}

/** The sparsified backward's statistics of one pass of both backends over the same weights and batch. */
async function both(
  c: Case,
  sparsity: SparsityOptions,
): Promise<{ ort: SparsityStats; tfjs: SparsityStats }> {
  const model = createReferenceModel({
    cell: c.cell,
    inputSize: c.inputSize,
    hiddenSize: c.hiddenSize,
    head: { kind: 'softmax', classes: c.classes },
    seed: 11,
  });
  const batch = randomBatch(model, { steps: c.steps, batchSize: c.batchSize, seed: 12, oneHot: true });
  const storeAll = (sb: { hidden: number; internal: number }) =>
    plan({
      steps: c.steps,
      strategy: 'store-all',
      memory: { bytes: sb.hidden + c.steps * sb.internal, stateBytes: sb },
    });
  const ort = await createOnnxBackend(model, batch, { sparsity });
  await runPolicy(ort, storeAll(ort.stateBytes()));
  const ortStats = ort.sparsityStats() as SparsityStats;
  await engine.activate();
  const tfModel = createRecurrentModel(engine, { ...model.config, parameters: model.params });
  // tfjs computes no input gradients by default, ONNX Runtime always does: the statistics must not care.
  const tf = createCellBackend(tfModel, batch, { sparsity });
  try {
    await runPolicy(tf, storeAll(tf.stateBytes()));
    return { ort: ortStats, tfjs: (await tf.sparsityStats()) as SparsityStats };
  } finally {
    tf.release();
    tfModel.dispose();
  }
}

/**
 * One definition of the sparsified backward's statistics (`sparsityStatistics` of `@rewind/executor`):
 * the backends count the same things, so they report the same share for the same run.
 */
describe('sparsity statistics agree across backends', () => {
  it('a tiny case, every gate gradient zeroed: both equal the hand count', async () => {
    // RNN, I = 3, H = 2, O = 3, B = 2, T = 4: G = H = 2 gate gradients per row, all zeroed by the threshold.
    const c: Case = { cell: 'rnn', inputSize: 3, hiddenSize: 2, classes: 3, steps: 4, batchSize: 2 };
    const { ort, tfjs } = await both(c, { threshold: 1e9 });
    // Entries: T B G = 4 x 2 x 2 = 16. Per entry 2H + I = 7; the head 2 B O H = 24 at each of the 4 steps.
    const expected = {
      entries: 16,
      zeros: 16,
      sparsity: 1,
      backwardMacs: 16 * 7 + 4 * 24,
      skippableMacs: 16 * 7,
      skippableShare: 112 / 208,
    };
    for (const stats of [ort, tfjs]) {
      expect(stats).toMatchObject(expected);
      expect(stats.meanThreshold).toBe(1e9);
    }
  });

  it.each([
    { cell: 'lstm', inputSize: 12, hiddenSize: 16, classes: 12, steps: 10, batchSize: 8 },
    { cell: 'gru', inputSize: 9, hiddenSize: 12, classes: 9, steps: 8, batchSize: 6 },
  ] as const)('$cell at target sparsity 0.8: the same share on tfjs and ONNX Runtime', async (c) => {
    const { ort, tfjs } = await both(c, { targetSparsity: 0.8 });
    const gates = c.cell === 'lstm' ? 4 : 3;
    const perStep = c.batchSize * gates * c.hiddenSize;
    expect(ort.entries).toBe(c.steps * perStep);
    expect(tfjs.entries).toBe(ort.entries);
    // Both drop floor(0.8 x size) entries per step and the kept threshold value itself; float32 ties could
    // move a few entries, nothing more.
    const zeros = c.steps * (Math.floor(0.8 * perStep) + 1);
    expect(Math.abs(ort.zeros - zeros)).toBeLessThanOrEqual(c.steps);
    expect(Math.abs(tfjs.zeros - zeros)).toBeLessThanOrEqual(c.steps);
    expect(tfjs.backwardMacs).toBe(ort.backwardMacs);
    const perEntry = 2 * c.hiddenSize + c.inputSize;
    expect(ort.backwardMacs).toBe(
      c.steps * perStep * perEntry + c.steps * 2 * c.batchSize * c.classes * c.hiddenSize,
    );
    expect(Math.abs(tfjs.skippableShare - ort.skippableShare)).toBeLessThan(1e-3);
    expect(Math.abs(tfjs.sparsity - ort.sparsity)).toBeLessThan(1e-3);
    expect(ort.skippableShare).toBeLessThan(ort.sparsity);
    expect(Math.abs(tfjs.meanThreshold - ort.meanThreshold)).toBeLessThan(1e-4 * ort.meanThreshold);
  });
});
