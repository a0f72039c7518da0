import { runPolicy } from '@rewind/executor';
import { createCharDataset } from '@rewind/executor/data';
import { createReferenceModel, randomBatch } from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createCellBackend, HEAD_BLOCK, type TfjsBatch } from './backend.js';
import { modelFor } from './conformance.test-util.js';
import { countKernels, KernelCounter } from './counts.js';
import { createTfjsEngine, type TfjsEngine } from './engine.js';
import { PROJECTION_BLOCK } from './fused-steps.js';
import { createRecurrentModel } from './model.js';
import { createRangeBackend } from './ranges.js';
import { createTrainer } from './train.js';

const engines: Record<'cpu' | 'wasm', TfjsEngine> = {
  cpu: await createTfjsEngine({ backend: 'cpu' }),
  wasm: await createTfjsEngine({ backend: 'wasm' }),
};
afterAll(async () => {
  await engines.cpu.dispose();
  await engines.wasm.dispose();
});

const T = 64;
const V = 5;

/** One store-all iteration (forward, backward, loss, gradients) of a small model on `engine`. */
async function iteration(engine: TfjsEngine, cell: 'lstm' | 'gru', inputs: 'ids' | 'dense', ranges = false) {
  await engine.activate();
  const reference = createReferenceModel({
    cell,
    inputSize: V,
    hiddenSize: 6,
    head: { kind: 'softmax', classes: V },
    seed: 3,
  });
  const oneHot = randomBatch(reference, { steps: T, batchSize: 3, seed: 4, oneHot: true });
  let batch: TfjsBatch = oneHot;
  if (inputs === 'ids') {
    const ids = new Int32Array(T * 3);
    for (let r = 0; r < ids.length; r++)
      for (let k = 0; k < V; k++) if (oneHot.inputs[r * V + k] === 1) ids[r] = k;
    batch = { ...oneHot, inputs: ids, inputKind: 'ids' };
  }
  const model = modelFor(engine, cell, reference);
  const backend = ranges ? createRangeBackend(model, batch) : createCellBackend(model, batch);
  try {
    const sb = backend.stateBytes();
    const policy = plan({
      steps: T,
      memory: { bytes: sb.hidden + T * sb.internal, stateBytes: sb },
      strategy: 'store-all',
    });
    const counter = new KernelCounter().start();
    await runPolicy(backend, policy);
    await backend.readGradients();
    counter.stop();
    return { diagnostic: backend.dispatchCounts(), total: counter.counts() };
  } finally {
    backend.release();
    model.dispose();
  }
}

describe('KernelCounter', () => {
  it('counts dispatches, views and read-backs of what runs while it counts, and nothing after stop()', async () => {
    await engines.wasm.activate();
    const { result, counts } = countKernels(() => {
      const a = tf.ones([2, 3]);
      const b = tf.add(a, a);
      const c = tf.reshape(b, [3, 2]);
      const values = c.dataSync();
      tf.dispose([a, b, c]);
      return values;
    });
    expect(Array.from(result)).toEqual([2, 2, 2, 2, 2, 2]);
    // ones() uploads without a kernel; add is one kernel; reshape a view; dataSync one read-back.
    expect(counts.byKernel).toEqual({ Add: 1 });
    expect(counts.dispatches).toBe(1);
    expect(counts.views).toBe(1);
    expect(counts.readbacks).toBe(1);
    const counter = new KernelCounter().start();
    tf.dispose(tf.add(tf.scalar(1), tf.scalar(2)));
    counter.stop();
    tf.dispose(tf.add(tf.scalar(1), tf.scalar(2)));
    expect(counter.counts().byKernel['Add']).toBe(1);
    counter.reset();
    expect(counter.counts().dispatches).toBe(0);
  });
});

describe.each(['wasm', 'cpu'] as const)('dispatch counts on %s (store-all, T = 64)', (backendName) => {
  it.each([
    ['lstm', 'ids'],
    ['lstm', 'dense'],
    ['gru', 'ids'],
    ['gru', 'dense'],
  ] as const)(
    '%s, %s inputs: at most 6 kernels per forward step, 10 per backward step, 3 read-backs',
    async (cell, inputs) => {
      const { diagnostic: d, total } = await iteration(engines[backendName], cell, inputs);
      expect(d.fused).toBe(true);
      expect(d.forward.steps).toBe(T);
      expect(d.backward.steps).toBe(T);
      // Forward: h U^T and the fused step per step; once per parameter version U^T, W^T, Wy^T (and for
      // token ids W^T + b); dense inputs: one projection product per block of steps.
      const derived = inputs === 'ids' ? 4 : 3 + Math.ceil(T / PROJECTION_BLOCK);
      expect(d.forward.dispatches).toBe(2 * T + derived);
      // Backward: per step the head's product, its fused loss, dy Wy, the fused step gradient and
      // da U (a GRU adds dh z); every 8 steps (the default weight-gradient chunk) per weight: two concats,
      // then for token ids the row scatter, otherwise a transpose and the product, and the bias sum (a
      // product with a row of ones), then the additions into the sums; every 32 steps the buffered step
      // losses are summed (stack + sum). The transposed sums (W, U) are transposed once, when read.
      const flushes = T / 8;
      const w = inputs === 'ids' ? 4 : 5;
      const expected =
        cell === 'lstm'
          ? 5 * T + flushes * (w + 4 + 5) + (flushes - 1) * (2 + 1 + 2) + (T / 32) * 2
          : 6 * T + flushes * (w + 5 + 5) + (flushes - 1) * (2 + 2 + 2) + (T / 32) * 2;
      expect(d.backward.dispatches).toBe(expected);
      expect(d.forward.dispatches / T).toBeLessThanOrEqual(6);
      expect(d.backward.dispatches / T).toBeLessThanOrEqual(10);
      // The loss and all gradients: one read-back each.
      expect(d.readbacks).toBe(2);
      expect(total.readbacks).toBe(2);
    },
  );
});

describe.each(['wasm', 'cpu'] as const)(
  'dispatch counts of the range backend on %s (store-all, T = 64)',
  (backendName) => {
    it.each([
      ['lstm', 'ids'],
      ['gru', 'dense'],
    ] as const)('%s, %s inputs: the loss head once per block of 16 backward steps', async (cell, inputs) => {
      const { diagnostic: d, total } = await iteration(engines[backendName], cell, inputs, true);
      expect(d.backward.steps).toBe(T);
      // Per step: the step's rows of the block's dy and dh, the fused step gradient and da U (a GRU adds
      // dh z); per block of HEAD_BLOCK steps: two concats (states, targets), the head's product, its loss
      // kernel and dy Wy; the weight-gradient products and loss sums as in the per-step backend.
      const flushes = T / 8;
      const w = inputs === 'ids' ? 4 : 5;
      const expected =
        cell === 'lstm'
          ? 4 * T + (T / HEAD_BLOCK) * 5 + flushes * (w + 4 + 5) + (flushes - 1) * (2 + 1 + 2) + (T / 32) * 2
          : 5 * T + (T / HEAD_BLOCK) * 5 + flushes * (w + 5 + 5) + (flushes - 1) * (2 + 2 + 2) + (T / 32) * 2;
      expect(d.backward.dispatches).toBe(expected);
      expect(d.backward.dispatches / T).toBeLessThanOrEqual(10);
      expect(total.readbacks).toBe(2);
    });
  },
);

describe('read-backs of a training step', () => {
  it.each(['lstm', 'gru'] as const)('%s: the loss and the gradient norm, nothing else', async (cell) => {
    const engine = engines.wasm;
    await engine.activate();
    const data = createCharDataset('abcabdabeabf'.repeat(20), { batchSize: 2, steps: 16, seed: 1 });
    const vocab = data.vocabulary.size;
    const model = createRecurrentModel(engine, {
      cell,
      inputSize: vocab,
      hiddenSize: 8,
      head: { kind: 'softmax', classes: vocab },
      seed: 2,
    });
    const sb = model.stateBytes(2);
    const policy = plan({
      steps: 16,
      memory: { bytes: sb.hidden + 4 * sb.internal, stateBytes: sb },
      strategy: 'msm',
    });
    const trainer = createTrainer(model, {
      policy,
      optimizer: { kind: 'adam', learningRate: 0.01 },
      clipNorm: 1,
    });
    try {
      for (let i = 0; i < 2; i++) {
        const counter = new KernelCounter().start();
        await trainer.step(data.sample());
        counter.stop();
        expect(counter.counts().readbacks).toBe(2);
      }
    } finally {
      model.dispose();
    }
  });
});
