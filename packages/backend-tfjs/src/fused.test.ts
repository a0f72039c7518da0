import { runPolicy } from '@rewind/executor';
import {
  createReferenceModel,
  type ReferenceBatch,
  randomBatch,
  standardBptt,
} from '@rewind/executor/reference';
import type { Policy } from '@rewind/policy';
import { plan } from '@rewind/solver';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CellBackendOptions,
  createCellBackend,
  type TfjsBatch,
  type TfjsCellBackend,
} from './backend.js';
import { worstGradientError } from './compare.test-util.js';
import { modelFor } from './conformance.test-util.js';
import { createTfjsEngine, type TfjsEngine } from './engine.js';
import { PROJECTION_BLOCK } from './fused-steps.js';

const engines: Record<'cpu' | 'wasm', TfjsEngine> = {
  cpu: await createTfjsEngine({ backend: 'cpu' }),
  wasm: await createTfjsEngine({ backend: 'wasm' }),
};
afterAll(async () => {
  await engines.cpu.dispose();
  await engines.wasm.dispose();
});

// H = 8 runs the native kernels on wasm, H = 5 (not a multiple of 4) the JavaScript ones.
const CELLS_AND_SIZES = [
  ['lstm', 5],
  ['gru', 5],
  ['lstm', 8],
  ['gru', 8],
] as const;

function policyFor(backend: TfjsCellBackend, strategy: 'store-all' | 'msm', fraction = 1): Policy {
  const sb = backend.stateBytes();
  const storeAll = sb.hidden + backend.steps * sb.internal;
  return plan({
    steps: backend.steps,
    memory: { bytes: Math.max(Math.floor(fraction * storeAll), sb.hidden + 2 * sb.internal), stateBytes: sb },
    strategy,
  });
}

/** The token ids behind a one-hot batch. */
function asIds(batch: ReferenceBatch, inputSize: number): TfjsBatch {
  const rows = batch.inputs.length / inputSize;
  const ids = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < inputSize; k++) if (batch.inputs[r * inputSize + k] === 1) ids[r] = k;
  }
  return { ...batch, inputs: ids, inputKind: 'ids' };
}

async function run(
  engine: TfjsEngine,
  cell: 'lstm' | 'gru',
  reference: ReturnType<typeof createReferenceModel>,
  batch: TfjsBatch,
  options: CellBackendOptions,
  strategy: 'store-all' | 'msm' = 'store-all',
) {
  const model = modelFor(engine, cell, reference);
  const backend = createCellBackend(model, batch, options);
  try {
    const result = await runPolicy(backend, policyFor(backend, strategy, strategy === 'store-all' ? 1 : 0.3));
    return {
      loss: result.loss,
      gradients: await backend.readGradients(),
      counts: backend.dispatchCounts(),
    };
  } finally {
    backend.release();
    model.dispose();
  }
}

describe.each(['cpu', 'wasm'] as const)('fused step kernels on %s', (backendName) => {
  const engine = engines[backendName];

  it.each(CELLS_AND_SIZES)(
    '%s, H = %i: token-id inputs (a row gather of W^T + b) equal the float64 reference on one-hot inputs',
    async (cell, hiddenSize) => {
      await engine.activate();
      const V = 7;
      const reference = createReferenceModel({
        cell,
        inputSize: V,
        hiddenSize,
        head: { kind: 'softmax', classes: V },
        seed: 21,
      });
      const batch = randomBatch(reference, {
        steps: 9,
        batchSize: 3,
        seed: 4,
        oneHot: true,
        randomInitialState: true,
      });
      const expected = standardBptt(reference, batch);
      for (const strategy of ['store-all', 'msm'] as const) {
        const r = await run(engine, cell, reference, asIds(batch, V), { inputGradients: false }, strategy);
        expect(r.counts.fused).toBe(true);
        expect(Math.abs(r.loss - expected.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected.loss)));
        const { inputs: _drop, ...withoutInputs } = expected;
        expect(worstGradientError(r.gradients, withoutInputs)).toBeLessThan(1e-4);
      }
    },
  );

  it.each(CELLS_AND_SIZES)(
    '%s, H = %i: dense inputs across projection blocks equal the float64 reference (T = 2 blocks + 3)',
    async (cell, hiddenSize) => {
      await engine.activate();
      const T = 2 * PROJECTION_BLOCK + 3;
      const reference = createReferenceModel({
        cell,
        inputSize: 4,
        hiddenSize,
        head: { kind: 'mse', outputs: 2 },
        seed: 5,
      });
      const batch = randomBatch(reference, { steps: T, batchSize: 2, seed: 8, randomInitialState: true });
      const expected = standardBptt(reference, batch);
      const r = await run(engine, cell, reference, batch, { inputGradients: true }, 'msm');
      expect(r.counts.fused).toBe(true);
      expect(Math.abs(r.loss - expected.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected.loss)));
      expect(worstGradientError(r.gradients, expected)).toBeLessThan(1e-4);
    },
  );

  it.each(['lstm', 'gru'] as const)(
    '%s: fused and composite steps agree to float32 rounding, sparsified backward included',
    async (cell) => {
      await engine.activate();
      const reference = createReferenceModel({
        cell,
        inputSize: 6,
        hiddenSize: 8,
        head: { kind: 'softmax', classes: 6 },
        seed: 9,
      });
      const batch = randomBatch(reference, { steps: 12, batchSize: 4, seed: 2, oneHot: true });
      for (const sparsity of [undefined, { mode: 'fixed', threshold: 1e-3 }] as const) {
        const base = sparsity === undefined ? {} : { sparsity };
        const fused = await run(engine, cell, reference, batch, { ...base, inputGradients: true });
        const composite = await run(engine, cell, reference, batch, {
          ...base,
          inputGradients: true,
          fusedKernels: false,
        });
        expect(fused.counts.fused).toBe(true);
        expect(composite.counts.fused).toBe(false);
        expect(Math.abs(fused.loss - composite.loss)).toBeLessThan(
          1e-6 * Math.max(1, Math.abs(composite.loss)),
        );
        expect(worstGradientError(fused.gradients, composite.gradients)).toBeLessThan(
          sparsity === undefined ? 1e-5 : 1e-4,
        );
      }
    },
  );
});
