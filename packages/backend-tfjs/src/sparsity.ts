import {
  sparsitySettings as checkSparsity,
  type SparsityOptions,
  type SparsitySettings,
  type SparsityShape,
  type SparsityStats,
  sparsityStatistics,
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
  private readonly shape: SparsityShape;
  private zeros: tf.Scalar | undefined;
  private thresholds: tf.Scalar | undefined;
  private entries = 0;
  private steps = 0;
  private headSteps = 0;
  private fixed: tf.Scalar | undefined;

  /** `shape`: the cell's and head's sizes, for the multiply-accumulate counts (`sparsityStatistics`). */
  constructor(settings: SparsitySettings, shape: SparsityShape) {
    this.settings = settings;
    this.shape = shape;
  }

  /**
   * The 0/1 mask of the entries of `d` (`[B, G]`) to keep, for one backward step. Counts the entries and
   * the zeros it makes. The caller multiplies the gate gradients by the mask.
   */
  mask(d: tf.Tensor2D): tf.Tensor2D {
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
    return mask;
  }

  /** Count a backward step whose loss head ran (it had a loss term). */
  countHeadStep(): void {
    this.headSteps++;
  }

  /** The statistics since the last reset (one read-back), as `sparsityStatistics` defines them. */
  async stats(): Promise<SparsityStats> {
    const zeros = this.zeros === undefined ? 0 : Math.round((await this.zeros.data())[0] ?? 0);
    const thresholdSum = this.thresholds === undefined ? 0 : ((await this.thresholds.data())[0] ?? 0);
    return sparsityStatistics(this.shape, {
      entries: this.entries,
      zeros,
      steps: this.steps,
      thresholdSum,
      headSteps: this.headSteps,
    });
  }

  /** Forget the statistics. */
  reset(): void {
    this.zeros?.dispose();
    this.thresholds?.dispose();
    this.zeros = undefined;
    this.thresholds = undefined;
    this.entries = 0;
    this.steps = 0;
    this.headSteps = 0;
  }

  /** Release the tensors held. */
  dispose(): void {
    this.reset();
    this.fixed?.dispose();
    this.fixed = undefined;
  }
}
