/**
 * The sparsified backward's options and statistics, shared by every backend that implements it
 * (Zhu et al., "Training LSTM with Sparsified SGD"): during each backward step the gradients at the gate
 * pre-activations whose magnitude is at most a threshold are set to zero before they enter the
 * weight-gradient and back-propagation products.
 */

import { ExecutorError } from './errors.js';

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
   * Multiply-accumulates of the backward steps that training needs, as defined by
   * {@link sparsityStatistics}: every backend counts them the same way.
   */
  readonly backwardMacs: number;
  /** Of those, the ones with a zero gate gradient as a factor: skippable by a sparse kernel. */
  readonly skippableMacs: number;
  /** `skippableMacs / backwardMacs`. */
  readonly skippableShare: number;
}

/** The sizes of a built-in cell and its loss head that the multiply-accumulate counts depend on. */
export interface SparsityShape {
  /** `B`, the sequences in the batch. */
  readonly batchSize: number;
  /** `I`, the input size. */
  readonly inputSize: number;
  /** `H`, the hidden size. */
  readonly hiddenSize: number;
  /** `O`, the loss head's width (classes of a softmax head, outputs of an mse head). */
  readonly outputs: number;
}

/** What a backend counts during its sparsified backward steps, since the last `zeroGradients()`. */
export interface SparsityCounts {
  /** Gate-gradient entries the sparsifier saw: `B * G` per backward step (`G` = gates x `H`). */
  readonly entries: number;
  /** Of those, the entries that were zero after the mask (`|d| <= threshold`). */
  readonly zeros: number;
  /** Backward steps sparsified. */
  readonly steps: number;
  /** Sum of the thresholds those steps used. */
  readonly thresholdSum: number;
  /** Backward steps that had a loss term, so that the loss head's backward ran. */
  readonly headSteps: number;
}

function nonNegativeInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * The sparsity statistics of a built-in cell (RNN, LSTM, GRU), with one definition for every backend.
 *
 * **Backward multiply-accumulates** are those of the products that training needs, per backward step:
 * - the cell's gate products: for each of the `B * G` gate pre-activation gradients `d`, `H` for
 *   `dh_prev = d U`, `H` for `dU += d^T h_prev` and `I` for `dW += d^T x` (counted as a dense product,
 *   whatever the encoding of the inputs), that is `(2H + I)` per entry
 *   (for a GRU, the recurrent-side gate gradient, masked like the input-side one, is the factor of the
 *   `U` products);
 * - the loss head's, at steps with a loss term: `B * O * H` for `dWy += dy^T h` and `B * O * H` for
 *   `dh = dy Wy`, that is `2 B O H`.
 *
 * Input gradients (`dx = d W`, `B * G * I` per step) are not counted, whether or not a backend computes
 * them: training does not need them, and the share must not depend on which outputs a backend returns.
 * Element-wise work (activations, masks, the softmax) is not a multiply-accumulate.
 *
 * **Skippable** multiply-accumulates are the gate products with a zero gate gradient as a factor:
 * `zeros * (2H + I)`. The head's are never skippable (its gradient is not sparsified), so
 * `skippableShare = zeros (2H + I) / (entries (2H + I) + headSteps 2 B O H)`, a little below the sparsity
 * when the head is small next to the cell.
 *
 * @throws ExecutorError `E_BACKEND_CONTRACT` when a size or count is not a non-negative integer, or the
 * zeros outnumber the entries.
 */
export function sparsityStatistics(shape: SparsityShape, counts: SparsityCounts): SparsityStats {
  for (const [name, value] of [
    ['batchSize', shape.batchSize],
    ['inputSize', shape.inputSize],
    ['hiddenSize', shape.hiddenSize],
    ['outputs', shape.outputs],
    ['entries', counts.entries],
    ['zeros', counts.zeros],
    ['steps', counts.steps],
    ['headSteps', counts.headSteps],
  ] as const) {
    if (!nonNegativeInteger(value)) {
      throw new ExecutorError(
        'E_BACKEND_CONTRACT',
        `sparsity statistics: ${name} must be a non-negative integer, got ${String(value)}`,
      );
    }
  }
  if (counts.zeros > counts.entries) {
    throw new ExecutorError(
      'E_BACKEND_CONTRACT',
      `sparsity statistics: ${counts.zeros} zeros among ${counts.entries} entries`,
    );
  }
  if (!Number.isFinite(counts.thresholdSum)) {
    throw new ExecutorError(
      'E_BACKEND_CONTRACT',
      `sparsity statistics: thresholdSum must be finite, got ${counts.thresholdSum}`,
    );
  }
  const { batchSize: B, inputSize: I, hiddenSize: H, outputs: O } = shape;
  const perEntry = 2 * H + I;
  const skippableMacs = counts.zeros * perEntry;
  const backwardMacs = counts.entries * perEntry + counts.headSteps * 2 * B * O * H;
  return {
    entries: counts.entries,
    zeros: counts.zeros,
    sparsity: counts.entries === 0 ? 0 : counts.zeros / counts.entries,
    meanThreshold: counts.steps === 0 ? 0 : counts.thresholdSum / counts.steps,
    backwardMacs,
    skippableMacs,
    skippableShare: backwardMacs === 0 ? 0 : skippableMacs / backwardMacs,
  };
}

/** Validated sparsity options. */
export type SparsitySettings =
  | { readonly mode: 'fixed'; readonly threshold: number }
  | { readonly mode: 'dynamic'; readonly targetSparsity: number; readonly sampleRows: number | undefined };

/**
 * Check sparsity options: undefined when sparsification is off. A problem is reported through `fail`, so
 * that each backend throws its own typed error.
 */
export function sparsitySettings(
  options: SparsityOptions | undefined,
  fail: (message: string) => never,
): SparsitySettings | undefined {
  if (options === undefined) return undefined;
  const { threshold, targetSparsity, sampleRows } = options;
  if ((threshold === undefined) === (targetSparsity === undefined)) {
    fail('sparsity: give exactly one of threshold and targetSparsity');
  }
  if (threshold !== undefined) {
    if (!(Number.isFinite(threshold) && threshold >= 0)) {
      fail(`sparsity.threshold must be a finite number >= 0, got ${threshold}`);
    }
    if (sampleRows !== undefined) fail('sparsity.sampleRows needs targetSparsity');
    return { mode: 'fixed', threshold };
  }
  if (!(typeof targetSparsity === 'number' && targetSparsity >= 0 && targetSparsity < 1)) {
    fail(`sparsity.targetSparsity must be in [0, 1), got ${String(targetSparsity)}`);
  }
  if (sampleRows !== undefined && !(Number.isSafeInteger(sampleRows) && sampleRows >= 1)) {
    fail(`sparsity.sampleRows must be a positive integer, got ${sampleRows}`);
  }
  return { mode: 'dynamic', targetSparsity, sampleRows };
}
