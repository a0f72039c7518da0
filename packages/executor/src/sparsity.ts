/**
 * The sparsified backward's options and statistics, shared by every backend that implements it
 * (Zhu et al., "Training LSTM with Sparsified SGD"): during each backward step the gradients at the gate
 * pre-activations whose magnitude is at most a threshold are set to zero before they enter the
 * weight-gradient and back-propagation products.
 */

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
  /** Multiply-accumulates of the backward steps (as the backend counts them; its README says which). */
  readonly backwardMacs: number;
  /** Of those, the ones with a zero gate gradient as a factor: skippable by a sparse kernel. */
  readonly skippableMacs: number;
  /** `skippableMacs / backwardMacs`. */
  readonly skippableShare: number;
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
