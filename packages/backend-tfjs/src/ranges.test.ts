import { runPolicy } from '@rewind/executor';
import { createReferenceModel, randomBatch } from '@rewind/executor/reference';
import type { Policy } from '@rewind/policy';
import { plan } from '@rewind/solver';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CellBackendOptions,
  createCellBackend,
  type TfjsBatch,
  type TfjsCellBackend,
} from './backend.js';
import { modelFor, type TestCell } from './conformance.test-util.js';
import { createTfjsEngine } from './engine.js';
import { isTfjsBackendError } from './errors.js';
import type { TfjsModel } from './model.js';
import { createRangeBackend, type TfjsRangeBackend } from './ranges.js';

const engine = await createTfjsEngine({ backend: 'wasm' });
afterAll(() => engine.dispose());

// Not a multiple of the head block (16): partial blocks at both ends of ranges.
const T = 45;
const B = 8;

function setup(cell: TestCell, head: 'softmax' | 'mse', inputs: 'ids' | 'dense') {
  const reference = createReferenceModel({
    cell: cell === 'custom' ? 'rnn' : cell,
    inputSize: 6,
    hiddenSize: 32,
    head: head === 'softmax' ? { kind: 'softmax', classes: 6 } : { kind: 'mse', outputs: 3 },
    seed: 5,
  });
  const oneHot = randomBatch(reference, { steps: T, batchSize: B, seed: 6, oneHot: head === 'softmax' });
  let batch: TfjsBatch = oneHot;
  if (inputs === 'ids') {
    const ids = new Int32Array(T * B);
    for (let r = 0; r < ids.length; r++)
      for (let k = 0; k < 6; k++) if (oneHot.inputs[r * 6 + k] === 1) ids[r] = k;
    batch = { ...oneHot, inputs: ids, inputKind: 'ids' };
  }
  return { model: modelFor(engine, cell, reference), batch };
}

function policies(sb: { hidden: number; internal: number }): Record<string, Policy> {
  const storeAll = sb.hidden + T * sb.internal;
  const at = (strategy: 'store-all' | 'msm' | 'hsm' | 'ism', share: number): Policy =>
    plan({
      steps: T,
      memory: { bytes: Math.max(Math.floor(share * storeAll), sb.hidden + 2 * sb.internal), stateBytes: sb },
      strategy,
    });
  return {
    'store-all': at('store-all', 1),
    'msm 10%': at('msm', 0.1),
    'msm 30%': at('msm', 0.3),
    'hsm 10%': at('hsm', 0.1),
    'ism 20%': at('ism', 0.2),
  };
}

describe('createRangeBackend', () => {
  it.each([
    ['lstm', 'softmax', 'ids'],
    ['gru', 'mse', 'dense'],
    ['lstm', 'mse', 'dense'],
    ['custom', 'mse', 'dense'],
  ] as const)(
    '%s (%s head, %s inputs): every policy gives bitwise the per-step backend store-all loss and gradients',
    async (cell, head, inputs) => {
      const { model, batch } = setup(cell, head, inputs);
      const perStep = createCellBackend(model, batch, { inputGradients: true });
      const ranges = createRangeBackend(model, batch, { inputGradients: true });
      try {
        const all = policies(perStep.stateBytes());
        const expected = await runPolicy(perStep, all['store-all'] as Policy);
        const expectedGradients = await perStep.readGradients();
        for (const [name, policy] of Object.entries(all)) {
          ranges.zeroGradients();
          const result = await runPolicy(ranges, policy);
          expect(result.loss, name).toBe(expected.loss);
          expect(await ranges.readGradients(), name).toEqual(expectedGradients);
          expect(ranges.liveHandles(), name).toBe(0);
        }
      } finally {
        perStep.release();
        ranges.release();
        model.dispose();
      }
    },
  );

  /** Both backends of one batch under one MSM policy: the same loss and gradients, then `more` on both. */
  async function bothUnderMsm(
    model: TfjsModel,
    batch: TfjsBatch,
    options: CellBackendOptions,
    more: (perStep: TfjsCellBackend, ranges: TfjsRangeBackend) => Promise<void> = async () => {},
  ): Promise<void> {
    const perStep = createCellBackend(model, batch, options);
    const ranges = createRangeBackend(model, batch, options);
    try {
      const policy = policies(perStep.stateBytes())['msm 10%'] as Policy;
      const expected = await runPolicy(perStep, policy);
      const result = await runPolicy(ranges, policy);
      expect(result.loss).toBe(expected.loss);
      expect(await ranges.readGradients()).toEqual(await perStep.readGradients());
      await more(perStep, ranges);
    } finally {
      perStep.release();
      ranges.release();
      model.dispose();
    }
  }

  it('with a loss at the last step only (no blocks): the loss and gradients of the per-step backend', async () => {
    const { model, batch } = setup('lstm', 'mse', 'dense');
    await bothUnderMsm(model, { ...batch, lossSteps: 'last' }, {});
  });

  it('with the sparsified backward: the same loss, gradients and statistics as the per-step backend', async () => {
    const { model, batch } = setup('lstm', 'softmax', 'ids');
    await bothUnderMsm(model, batch, { sparsity: { targetSparsity: 0.6 } }, async (perStep, ranges) => {
      const stats = await ranges.sparsityStats();
      expect(stats).toEqual(await perStep.sparsityStats());
      expect(stats?.sparsity ?? 0).toBeGreaterThan(0.3);
    });
  });

  it('refuses a misordered backward range before touching the gradients, and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const { model, batch } = setup('lstm', 'softmax', 'ids');
    const backend = createRangeBackend(model, batch);
    try {
      const h0 = await backend.initialState();
      const { kept } = await backend.forwardRange({
        start: h0,
        from: 0,
        to: T,
        store: { kind: 'internal', stride: 1 },
        keepWorking: false,
      });
      // Steps T .. T - 2 given the internal states of T, T - 1, T - 3: refused before any step runs.
      const error = await Promise.resolve()
        .then(() =>
          backend.backwardRange({
            from: T,
            to: T - 2,
            sources: [T, T - 1, T - 3].map((t) => ({ internal: kept[t - 1] as never })),
            dh: null,
          }),
        )
        .catch((e: unknown) => e);
      expect(isTfjsBackendError(error) && error.code).toBe('E_STEP');
      expect(String((error as Error).message)).toContain(
        'backward step 43 was given the internal state of step 42',
      );
      expect(await backend.loss()).toBe(0);
      expect(backend.dispatchCounts().backward.steps).toBe(0);
      for (const k of kept) backend.dispose(k);
      backend.dispose(h0);
      expect(backend.liveHandles()).toBe(0);
    } finally {
      backend.release();
    }
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
