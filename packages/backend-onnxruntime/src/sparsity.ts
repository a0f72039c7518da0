/**
 * Sparsified backward (Zhu et al., "Training LSTM with Sparsified SGD"), with the options and statistics
 * of the tfjs backend: during each backward step the gradients at the gate pre-activations whose
 * magnitude is at most a threshold are set to zero before they enter the weight-gradient and
 * back-propagation products.
 */
import { OrtBackendError } from './errors.js';

/** Give exactly one of `threshold` (fixed) and `targetSparsity` (a threshold chosen at every step). */
export interface SparsityOptions {
  /** A fixed threshold: gate gradients with `|d| <= threshold` become zero. */
  readonly threshold?: number;
  /**
   * A dynamic threshold: at every backward step, the quantile of `|dgates|` at this level (in `[0, 1)`),
   * so that about this share of the gate gradients becomes zero.
   */
  readonly targetSparsity?: number;
  /**
   * With `targetSparsity`: estimate the quantile on the first `sampleRows` rows (sequences) of the batch
   * instead of all of them (cheaper; default: every row, the exact quantile).
   */
  readonly sampleRows?: number;
}

/** What the sparsified backward achieved since the last `zeroGradients()`. */
export interface SparsityStats {
  /** Gate-gradient entries seen by the sparsifier. */
  readonly entries: number;
  /** Entries set to zero (or already zero). */
  readonly zeros: number;
  /** `zeros / entries`. */
  readonly sparsity: number;
  /** Mean of the per-step thresholds used. */
  readonly meanThreshold: number;
  /**
   * Multiply-accumulates of the backward steps' gate products: `dh_prev = d U`, `dU += d^T h_prev`,
   * `dW += d^T x` and `dx = d W`, i.e. `B * G * (2H + 2I)` per step.
   */
  readonly backwardMacs: number;
  /** Of those, the ones with a zero gate gradient as a factor: skippable by a sparse kernel. */
  readonly skippableMacs: number;
  /** `skippableMacs / backwardMacs`. */
  readonly skippableShare: number;
}

/** Validated sparsity settings. */
export type SparsitySettings =
  | { readonly mode: 'fixed'; readonly threshold: number }
  | { readonly mode: 'dynamic'; readonly targetSparsity: number; readonly sampleRows: number | undefined };

/** Check sparsity options; undefined when sparsification is off. */
export function sparsitySettings(options: SparsityOptions | undefined): SparsitySettings | undefined {
  if (options === undefined) return undefined;
  const { threshold, targetSparsity, sampleRows } = options;
  if ((threshold === undefined) === (targetSparsity === undefined)) {
    throw new OrtBackendError('E_OPTIONS', 'sparsity: give exactly one of threshold and targetSparsity');
  }
  if (threshold !== undefined) {
    if (!(Number.isFinite(threshold) && threshold >= 0)) {
      throw new OrtBackendError(
        'E_OPTIONS',
        `sparsity.threshold must be a finite number >= 0, got ${threshold}`,
      );
    }
    if (sampleRows !== undefined)
      throw new OrtBackendError('E_OPTIONS', 'sparsity.sampleRows needs targetSparsity');
    return { mode: 'fixed', threshold };
  }
  if (!(typeof targetSparsity === 'number' && targetSparsity >= 0 && targetSparsity < 1)) {
    throw new OrtBackendError(
      'E_OPTIONS',
      `sparsity.targetSparsity must be in [0, 1), got ${String(targetSparsity)}`,
    );
  }
  if (sampleRows !== undefined && !(Number.isSafeInteger(sampleRows) && sampleRows >= 1)) {
    throw new OrtBackendError(
      'E_OPTIONS',
      `sparsity.sampleRows must be a positive integer, got ${sampleRows}`,
    );
  }
  return { mode: 'dynamic', targetSparsity, sampleRows };
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
