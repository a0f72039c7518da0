import * as tf from '@tensorflow/tfjs-core';
import { TfjsBackendError } from './errors.js';

/**
 * Sparsified backward (Zhu et al., "Training LSTM with Sparsified SGD"): during each backward step, the
 * gradients at the gate pre-activations whose magnitude is under a threshold are set to zero before
 * they enter the weight-gradient and back-propagation products. Give exactly one of `threshold` (fixed)
 * and `targetSparsity` (a threshold chosen at every step: the quantile of `|dgates|` at that level).
 */
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
  /** Multiply-accumulates of the backward steps (gate products, loss head and input gradients included). */
  readonly backwardMacs: number;
  /** Of those, the ones with a zero gate gradient as a factor: skippable by a sparse kernel. */
  readonly skippableMacs: number;
  /** `skippableMacs / backwardMacs`. */
  readonly skippableShare: number;
}

/** Validated sparsity options. */
export interface SparsitySettings {
  readonly mode: 'fixed' | 'quantile';
  readonly threshold: number;
  readonly targetSparsity: number;
  readonly sampleRows: number | undefined;
}

/** Check sparsity options; undefined when sparsification is off. */
export function sparsitySettings(options: SparsityOptions | undefined): SparsitySettings | undefined {
  if (options === undefined) return undefined;
  const { threshold, targetSparsity, sampleRows } = options;
  if ((threshold === undefined) === (targetSparsity === undefined)) {
    throw new TfjsBackendError('E_CONFIG', 'sparsity: give exactly one of threshold and targetSparsity');
  }
  if (threshold !== undefined && !(Number.isFinite(threshold) && threshold >= 0)) {
    throw new TfjsBackendError(
      'E_CONFIG',
      `sparsity.threshold must be a finite number >= 0, got ${threshold}`,
    );
  }
  if (targetSparsity !== undefined && !(targetSparsity >= 0 && targetSparsity < 1)) {
    throw new TfjsBackendError(
      'E_CONFIG',
      `sparsity.targetSparsity must be in [0, 1), got ${targetSparsity}`,
    );
  }
  if (sampleRows !== undefined && !(Number.isSafeInteger(sampleRows) && sampleRows >= 1)) {
    throw new TfjsBackendError(
      'E_CONFIG',
      `sparsity.sampleRows must be a positive integer, got ${sampleRows}`,
    );
  }
  return threshold !== undefined
    ? { mode: 'fixed', threshold, targetSparsity: 0, sampleRows: undefined }
    : { mode: 'quantile', threshold: 0, targetSparsity: targetSparsity ?? 0, sampleRows };
}

/**
 * Applies the sparsification to gate gradients and keeps its statistics on the device (read once, by
 * `stats()`, so that no step waits for a read-back).
 */
export class Sparsifier {
  private readonly settings: SparsitySettings;
  private zeros: tf.Scalar | undefined;
  private thresholds: tf.Scalar | undefined;
  private entries = 0;
  private steps = 0;
  private backwardMacs = 0;
  private skippablePerZero = 0;
  private fixed: tf.Scalar | undefined;

  constructor(settings: SparsitySettings) {
    this.settings = settings;
  }

  /**
   * The 0/1 mask of the entries of `d` (`[B, G]`) to keep. Counts the zeros it makes; `macsPerZero` is the
   * number of backward multiply-accumulates each zero entry makes skippable, `macs` those of the whole
   * step. The caller multiplies the gate gradients by the mask.
   */
  mask(d: tf.Tensor2D, macsPerZero: number, macs: number): tf.Tensor2D {
    const [rows, cols] = d.shape;
    const n = rows * cols;
    const mask = tf.tidy(() => {
      const magnitude = tf.abs(d);
      let threshold: tf.Scalar;
      if (this.settings.mode === 'fixed') {
        this.fixed ??= tf.keep(tf.scalar(this.settings.threshold));
        threshold = this.fixed;
      } else {
        const sampleRows = Math.min(rows, this.settings.sampleRows ?? rows);
        const sample = sampleRows === rows ? magnitude : tf.slice(magnitude, [0, 0], [sampleRows, cols]);
        const size = sampleRows * cols;
        const kept = size - Math.floor(this.settings.targetSparsity * size);
        threshold =
          kept >= size ? tf.scalar(0) : tf.min(tf.topk(tf.reshape(sample, [size]), Math.max(1, kept)).values);
      }
      // step(x) is 1 for x > 0 and 0 otherwise: entries with |d| <= threshold are dropped.
      const m = tf.step(tf.sub(magnitude, threshold)) as tf.Tensor2D;
      const zeros = tf.sub(tf.scalar(n), tf.sum(m)) as tf.Scalar;
      const z = this.zeros === undefined ? zeros : (tf.add(this.zeros, zeros) as tf.Scalar);
      const th =
        this.thresholds === undefined ? threshold : (tf.add(this.thresholds, threshold) as tf.Scalar);
      this.zeros?.dispose();
      this.thresholds?.dispose();
      this.zeros = tf.keep(z);
      this.thresholds = tf.keep(th === this.fixed ? tf.clone(th) : th);
      return m;
    });
    this.entries += n;
    this.steps++;
    this.backwardMacs += macs;
    this.skippablePerZero = macsPerZero;
    return mask;
  }

  /** Count the multiply-accumulates of a backward step that has no gate gradients to sparsify. */
  countMacs(macs: number): void {
    this.backwardMacs += macs;
  }

  /** The statistics since the last reset (one read-back). */
  async stats(): Promise<SparsityStats> {
    const zeros = this.zeros === undefined ? 0 : Math.round((await this.zeros.data())[0] ?? 0);
    const thresholdSum = this.thresholds === undefined ? 0 : ((await this.thresholds.data())[0] ?? 0);
    const skippable = zeros * this.skippablePerZero;
    return {
      entries: this.entries,
      zeros,
      sparsity: this.entries === 0 ? 0 : zeros / this.entries,
      meanThreshold: this.steps === 0 ? 0 : thresholdSum / this.steps,
      backwardMacs: this.backwardMacs,
      skippableMacs: skippable,
      skippableShare: this.backwardMacs === 0 ? 0 : skippable / this.backwardMacs,
    };
  }

  /** Forget the statistics. */
  reset(): void {
    this.zeros?.dispose();
    this.thresholds?.dispose();
    this.zeros = undefined;
    this.thresholds = undefined;
    this.entries = 0;
    this.steps = 0;
    this.backwardMacs = 0;
  }

  /** Release the tensors held. */
  dispose(): void {
    this.reset();
    this.fixed?.dispose();
    this.fixed = undefined;
  }
}
