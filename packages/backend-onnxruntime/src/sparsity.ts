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
  type SparsityStats,
} from '@rewind/executor';
import { OrtBackendError } from './errors.js';

export type { SparsityOptions, SparsitySettings, SparsityStats } from '@rewind/executor';

/** Check sparsity options; undefined when sparsification is off. */
export function sparsitySettings(options: SparsityOptions | undefined): SparsitySettings | undefined {
  return checkSparsity(options, (message) => {
    throw new OrtBackendError('E_OPTIONS', message);
  });
}

/** The statistics of one backend, accumulated step by step. */
export class SparsityCounter {
  private entries = 0;
  private zeros = 0;
  private thresholdSum = 0;
  private steps = 0;
  private macs = 0;
  private skippable = 0;

  /** Count one sparsified step: `entries` gate gradients, `zeros` of them zero, `macsPerEntry` each. */
  add(entries: number, zeros: number, threshold: number, macsPerEntry: number): void {
    this.entries += entries;
    this.zeros += zeros;
    this.thresholdSum += threshold;
    this.steps++;
    this.macs += entries * macsPerEntry;
    this.skippable += zeros * macsPerEntry;
  }

  reset(): void {
    this.entries = 0;
    this.zeros = 0;
    this.thresholdSum = 0;
    this.steps = 0;
    this.macs = 0;
    this.skippable = 0;
  }

  stats(): SparsityStats {
    return {
      entries: this.entries,
      zeros: this.zeros,
      sparsity: this.entries === 0 ? 0 : this.zeros / this.entries,
      meanThreshold: this.steps === 0 ? 0 : this.thresholdSum / this.steps,
      backwardMacs: this.macs,
      skippableMacs: this.skippable,
      skippableShare: this.macs === 0 ? 0 : this.skippable / this.macs,
    };
  }
}

/** The number of entries to keep among `size` at a target sparsity (as the tfjs backend). */
export function keptCount(size: number, targetSparsity: number): number {
  return Math.max(1, size - Math.floor(targetSparsity * size));
}
