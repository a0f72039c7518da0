import { runPolicy } from '@rewind/executor';
import {
  createReferenceModel,
  type ReferenceBatch,
  randomBatch,
  standardBptt,
} from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { afterAll, describe, expect, it } from 'vitest';
import { type CellBackendOptions, createCellBackend, type TfjsBatch } from './backend.js';
import { worstGradientError } from './compare.test-util.js';
import { modelFor } from './conformance.test-util.js';
import { KernelCounter } from './counts.js';
import { createTfjsEngine, type TfjsEngine } from './engine.js';
import { tryWebGpu } from './webgpu.test-util.js';

// The fused WebGPU kernels, where an adapter exists (skipped otherwise): against the float64 reference and
// the cpu backend's gradients, and their dispatch counts.
const attempt = await tryWebGpu();
const gpu = attempt.engine;
const cpu = await createTfjsEngine({ backend: 'cpu' });
afterAll(async () => {
  await gpu?.dispose();
  await cpu.dispose();
});

function asIds(batch: ReferenceBatch, inputSize: number): TfjsBatch {
  const ids = new Int32Array(batch.inputs.length / inputSize);
  for (let r = 0; r < ids.length; r++) {
    for (let k = 0; k < inputSize; k++) if (batch.inputs[r * inputSize + k] === 1) ids[r] = k;
  }
  return { ...batch, inputs: ids, inputKind: 'ids' };
}

async function run(
  engine: TfjsEngine,
  cell: 'lstm' | 'gru',
  reference: ReturnType<typeof createReferenceModel>,
  batch: TfjsBatch,
  options: CellBackendOptions = {},
) {
  await engine.activate();
  const model = modelFor(engine, cell, reference);
  const backend = createCellBackend(model, batch, options);
  try {
    const sb = backend.stateBytes();
    const T = backend.steps;
    const policy = plan({
      steps: T,
      memory: { bytes: sb.hidden + 3 * sb.internal, stateBytes: sb },
      strategy: 'msm',
    });
    const counter = new KernelCounter().start();
    const result = await runPolicy(backend, policy);
    const gradients = await backend.readGradients();
    counter.stop();
    return { loss: result.loss, gradients, counts: backend.dispatchCounts(), total: counter.counts() };
  } finally {
    backend.release();
    model.dispose();
  }
}

describe.runIf(gpu !== undefined)('fused WebGPU kernels', () => {
  it.each([
    ['lstm', 'ids', 'softmax'],
    ['gru', 'ids', 'softmax'],
    ['lstm', 'dense', 'mse'],
    ['gru', 'dense', 'mse'],
  ] as const)(
    '%s, %s inputs, %s head: equal the float64 reference and the cpu backend',
    async (cell, inputs, head) => {
      const V = 6;
      const reference = createReferenceModel({
        cell,
        inputSize: V,
        hiddenSize: 7,
        head: head === 'softmax' ? { kind: 'softmax', classes: V } : { kind: 'mse', outputs: 3 },
        seed: 13,
      });
      const batch = randomBatch(reference, {
        steps: 10,
        batchSize: 3,
        seed: 5,
        oneHot: inputs === 'ids',
        randomInitialState: true,
      });
      const input = inputs === 'ids' ? asIds(batch, V) : batch;
      const expected = standardBptt(reference, batch);
      const onGpu = await run(gpu as TfjsEngine, cell, reference, input);
      const onCpu = await run(cpu, cell, reference, input);
      expect(onGpu.counts.fused).toBe(true);
      expect(Math.abs(onGpu.loss - expected.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected.loss)));
      const { inputs: _skip, ...parametersAndState } = expected;
      expect(worstGradientError(onGpu.gradients, parametersAndState)).toBeLessThan(1e-4);
      expect(worstGradientError(onGpu.gradients, onCpu.gradients)).toBeLessThan(1e-5);
      // The same tfjs kernels as on the cpu backend, one device program per fused kernel, and the two
      // read-backs of the run (loss, gradients).
      expect(onGpu.counts.forward).toEqual(onCpu.counts.forward);
      expect(onGpu.counts.backward).toEqual(onCpu.counts.backward);
      expect(onGpu.counts.forward.dispatches / onGpu.counts.forward.steps).toBeLessThanOrEqual(6);
      expect(onGpu.counts.backward.dispatches / onGpu.counts.backward.steps).toBeLessThanOrEqual(10);
      expect(onGpu.total.readbacks).toBe(2);
    },
  );
});
