/**
 * Sparsified backward (Zhu et al., "Training LSTM with Sparsified SGD"), with the options and statistics
 * of the tfjs backend: during each backward step the gradients at the gate pre-activations whose
 * magnitude is at most a threshold are set to zero before they enter the weight-gradient and
 * back-propagation products.
 */
import {
  sparsitySettings as checkSparsity,
  type SparsityOptions,
  type SparsitySettings,
  type SparsityShape,
  type SparsityStats,
  sparsityStatistics,
} from '@rewind/executor';
import { OnnxBackendError } from './errors.js';

export type { SparsityOptions, SparsitySettings, SparsityStats } from '@rewind/executor';

/** Check sparsity options; undefined when sparsification is off. */
export function sparsitySettings(options: SparsityOptions | undefined): SparsitySettings | undefined {
  return checkSparsity(options, (message) => {
    throw new OnnxBackendError('E_OPTIONS', message);
  });
}

/**
 * The counts of one backend, accumulated step by step; `stats()` turns them into statistics with the
 * executor's single definition (`sparsityStatistics`).
 */
export class SparsityCounter {
  private readonly shape: SparsityShape;
  private entries = 0;
  private zeros = 0;
  private thresholdSum = 0;
  private steps = 0;
  private headSteps = 0;

  /** `shape`: the cell's and head's sizes, for the multiply-accumulate counts. */
  constructor(shape: SparsityShape) {
    this.shape = shape;
  }

  /** Count one sparsified step: `entries` gate gradients, `zeros` of them zero, and its threshold. */
  add(entries: number, zeros: number, threshold: number): void {
    this.entries += entries;
    this.zeros += zeros;
    this.thresholdSum += threshold;
    this.steps++;
  }

  /** Count a backward step whose loss head ran (it had a loss term). */
  addHeadStep(): void {
    this.headSteps++;
  }

  reset(): void {
    this.entries = 0;
    this.zeros = 0;
    this.thresholdSum = 0;
    this.steps = 0;
    this.headSteps = 0;
  }

  stats(): SparsityStats {
    return sparsityStatistics(this.shape, {
      entries: this.entries,
      zeros: this.zeros,
      steps: this.steps,
      thresholdSum: this.thresholdSum,
      headSteps: this.headSteps,
    });
  }
}

/** The number of entries to keep among `size` at a target sparsity (as the tfjs backend). */
export function keptCount(size: number, targetSparsity: number): number {
  return Math.max(1, size - Math.floor(targetSparsity * size));
}
