import { type GradientReadout, runPolicy } from '@rewind/executor';
import {
  createReferenceModel,
  type ReferenceBatch,
  type ReferenceModel,
  randomBatch,
} from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { afterAll, describe, expect, it } from 'vitest';
import { type CellBackendOptions, createCellBackend } from './backend.js';
import { modelFor } from './conformance.test-util.js';
import { createTfjsEngine } from './engine.js';
import type { SparsityStats } from './sparsity.js';

const engine = await createTfjsEngine({ backend: 'wasm' });
afterAll(async () => {
  await engine.dispose();
});

async function run(
  reference: ReferenceModel,
  batch: ReferenceBatch,
  options: CellBackendOptions,
): Promise<{ loss: number; gradients: GradientReadout; stats: SparsityStats | undefined }> {
  const cell = reference.config.cell;
  const model = modelFor(engine, cell, reference);
  const backend = createCellBackend(model, batch, { inputGradients: true, ...options });
  try {
    const sb = backend.stateBytes();
    // Recomputation included: a budget of a few hidden states.
    const policy = plan({
      steps: batch.steps,
      memory: { bytes: 4 * sb.hidden, stateBytes: sb },
      strategy: 'hsm',
    });
    const result = await runPolicy(backend, policy);
    return {
      loss: result.loss,
      gradients: await backend.readGradients(),
      stats: await backend.sparsityStats(),
    };
  } finally {
    backend.release();
    model.dispose();
  }
}

function flatten(g: GradientReadout): number[] {
  const out: number[] = [];
  for (const name of Object.keys(g.parameters).sort())
    out.push(...Array.from(g.parameters[name] as ArrayLike<number>));
  out.push(...Array.from(g.inputs ?? []), ...Array.from(g.initialState ?? []));
  return out;
}

describe.each(['lstm', 'gru', 'rnn'] as const)('sparsified backward (%s)', (cell) => {
  const reference = createReferenceModel({
    cell,
    inputSize: 5,
    hiddenSize: 8,
    head: { kind: 'softmax', classes: 5 },
    seed: 7,
  });
  const batch = randomBatch(reference, { steps: 10, batchSize: 4, seed: 8, oneHot: true });

  it('is bit-identical to the dense path when off, at threshold 0 and at target sparsity 0', async () => {
    const dense = await run(reference, batch, {});
    const again = await run(reference, batch, {});
    expect(dense.stats).toBeUndefined();
    const bits = flatten(dense.gradients);
    expect(flatten(again.gradients)).toEqual(bits);
    for (const sparsity of [{ threshold: 0 }, { targetSparsity: 0 }]) {
      const off = await run(reference, batch, { sparsity });
      expect(off.loss).toBe(dense.loss);
      const other = flatten(off.gradients);
      expect(other.length).toBe(bits.length);
      // Exact equality, value by value (Object.is would also tell -0 from 0).
      expect(other.every((v, i) => v === bits[i])).toBe(true);
      // Only exact zeros count (an LSTM's forget gate has none to pass at t = 1 from c_0 = 0).
      expect(off.stats?.sparsity).toBeLessThan(0.05);
    }
  });

  it('reaches a target sparsity with a per-step quantile threshold, and counts skippable work', async () => {
    const dense = await run(reference, batch, {});
    const sparse = await run(reference, batch, { sparsity: { targetSparsity: 0.8 } });
    const stats = sparse.stats as SparsityStats;
    expect(stats.sparsity).toBeGreaterThan(0.78);
    expect(stats.sparsity).toBeLessThan(0.82);
    expect(stats.meanThreshold).toBeGreaterThan(0);
    const gates = cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
    expect(stats.entries).toBe(batch.steps * batch.batchSize * gates * 8);
    // The executor's definition, by hand: every gate gradient takes part in 2H + I multiply-accumulates
    // (dh_prev, dU, dW; the input gradients, computed here, are not counted), and each of the 10 steps
    // with a loss adds the head's 2 B O H. Only the gate products of zero entries are skippable.
    expect(stats.skippableMacs).toBe(stats.zeros * (2 * 8 + 5));
    expect(stats.backwardMacs).toBe(stats.entries * (2 * 8 + 5) + 10 * 2 * 4 * 5 * 8);
    expect(stats.skippableShare).toBe(stats.skippableMacs / stats.backwardMacs);
    expect(stats.skippableShare).toBeGreaterThan(0.5);
    expect(stats.skippableShare).toBeLessThan(stats.sparsity);
    // The loss is the same forward computation; the gradients move but keep their direction.
    expect(sparse.loss).toBe(dense.loss);
    const a = flatten(sparse.gradients);
    const b = flatten(dense.gradients);
    let dot = 0;
    let na = 0;
    let nb = 0;
    a.forEach((v, i) => {
      dot += v * (b[i] as number);
      na += v * v;
      nb += (b[i] as number) ** 2;
    });
    expect(dot / Math.sqrt(na * nb)).toBeGreaterThan(0.7);
  });

  it('estimates the quantile on a sample of rows when asked', async () => {
    const sparse = await run(reference, batch, { sparsity: { targetSparsity: 0.6, sampleRows: 2 } });
    const stats = sparse.stats as SparsityStats;
    expect(stats.sparsity).toBeGreaterThan(0.45);
    expect(stats.sparsity).toBeLessThan(0.75);
  });

  it('with a fixed threshold above every gate gradient, leaves only the head with gradients', async () => {
    const sparse = await run(reference, batch, { sparsity: { threshold: 1e9 } });
    const stats = sparse.stats as SparsityStats;
    expect(stats.sparsity).toBe(1);
    for (const name of ['W', 'U', 'b']) {
      expect(Array.from(sparse.gradients.parameters[name] as ArrayLike<number>).every((v) => v === 0)).toBe(
        true,
      );
    }
    expect(Array.from(sparse.gradients.parameters['Wy'] as ArrayLike<number>).some((v) => v !== 0)).toBe(
      true,
    );
  });
});
