import { describe, expect, it } from 'vitest';
import { isExecutorError } from './errors.js';
import { type SparsityCounts, type SparsityShape, sparsityStatistics } from './sparsity.js';

const shape: SparsityShape = { batchSize: 2, inputSize: 3, hiddenSize: 4, outputs: 5 };

describe('sparsityStatistics', () => {
  it('counts the gate products (2H + I per gate gradient) and the head (2 B O H per step with a loss)', () => {
    // An LSTM (G = 4H = 16) over 3 backward steps, a loss at 2 of them: 3 x 2 x 16 = 96 gate gradients.
    const counts: SparsityCounts = { entries: 96, zeros: 60, steps: 3, thresholdSum: 0.3, headSteps: 2 };
    const stats = sparsityStatistics(shape, counts);
    // By hand: 2H + I = 11 per entry; the head 2 x 2 x 5 x 4 = 80 per step with a loss.
    expect(stats.backwardMacs).toBe(96 * 11 + 2 * 80);
    expect(stats.skippableMacs).toBe(60 * 11);
    expect(stats.skippableShare).toBe(660 / 1216);
    expect(stats.sparsity).toBe(60 / 96);
    expect(stats.meanThreshold).toBeCloseTo(0.1, 15);
    expect(stats.entries).toBe(96);
    expect(stats.zeros).toBe(60);
    // Without a loss term the share is the sparsity; with one it is below it.
    expect(sparsityStatistics(shape, { ...counts, headSteps: 0 }).skippableShare).toBe(60 / 96);
    expect(stats.skippableShare).toBeLessThan(stats.sparsity);
  });

  it('is all zeros before any step', () => {
    expect(
      sparsityStatistics(shape, { entries: 0, zeros: 0, steps: 0, thresholdSum: 0, headSteps: 0 }),
    ).toEqual({
      entries: 0,
      zeros: 0,
      sparsity: 0,
      meanThreshold: 0,
      backwardMacs: 0,
      skippableMacs: 0,
      skippableShare: 0,
    });
  });

  it.each([
    [{ ...shape, hiddenSize: 0.5 }, {}, /hiddenSize must be a non-negative integer, got 0.5/],
    [{ ...shape, batchSize: -1 }, {}, /batchSize/],
    [shape, { zeros: 97 }, /97 zeros among 96 entries/],
    [shape, { headSteps: Number.NaN }, /headSteps/],
    [shape, { thresholdSum: Number.POSITIVE_INFINITY }, /thresholdSum must be finite/],
  ] as const)('refuses malformed counts with E_BACKEND_CONTRACT (%#)', (s, c, message) => {
    const counts = { entries: 96, zeros: 60, steps: 3, thresholdSum: 0.3, headSteps: 2, ...c };
    let error: unknown;
    try {
      sparsityStatistics(s, counts);
    } catch (e) {
      error = e;
    }
    expect(isExecutorError(error, 'E_BACKEND_CONTRACT')).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});
