import {
  sparsitySettings as checkSparsity,
  type SparsityOptions,
  type SparsitySettings,
  type SparsityStats,
} from '@rewind/executor';
import * as tf from '@tensorflow/tfjs-core';
import { TfjsBackendError } from './errors.js';

/**
 * Sparsified backward (Zhu et al., "Training LSTM with Sparsified SGD"), with the options and statistics
 * shared through `@rewind/executor`: during each backward step, the gradients at the gate pre-activations
 * whose magnitude is at most a threshold are set to zero before they enter the weight-gradient and
 * back-propagation products.
 */
export type { SparsityOptions, SparsitySettings, SparsityStats } from '@rewind/executor';

/** Check sparsity options; undefined when sparsification is off. */
export function sparsitySettings(options: SparsityOptions | undefined): SparsitySettings | undefined {
  return checkSparsity(options, (message) => {
    throw new TfjsBackendError('E_CONFIG', message);
  });
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
