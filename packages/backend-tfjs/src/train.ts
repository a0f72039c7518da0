import { type OperationTimings, type RunPolicyOptions, runPolicy } from '@rewind/executor';
import type { Policy } from '@rewind/policy';
import { type CellBackendOptions, createCellBackend, type TfjsBatch } from './backend.js';
import { TfjsBackendError } from './errors.js';
import type { TfjsModel } from './model.js';
import { globalNormClip, type Optimizer } from './optimizer.js';
import type { SparsityStats } from './sparsity.js';

/** Options of `createTrainer`. */
export interface TrainerOptions {
  /**
   * The schedule of every backward pass, planned once (e.g. with `@rewind/solver`'s `plan` and
   * `model.stateBytes(batchSize)`) and reused by every step: batches must have `policy.steps` steps.
   */
  readonly policy: Policy;
  /** The optimiser (`adam()` or `sgd(...)`). */
  readonly optimizer: Optimizer;
  /** Clip the gradients to this global norm before the update (default: no clipping). */
  readonly clipNorm?: number;
  /** Options of the cell backend built for every batch (sparsified backward, weight-gradient chunks). */
  readonly backend?: CellBackendOptions;
  /** Passed to `runPolicy` (abort signal, progress). */
  readonly run?: Omit<RunPolicyOptions, 'zeroGradients' | 'keepInitialGradient'>;
}

/** What one training step did. */
export interface TrainStepResult {
  /** The batch's loss before the update (mean per loss-carrying token). */
  readonly loss: number;
  /** Tokens with a loss term in the batch (`B * T`, or `B` with a loss at the last step only). */
  readonly tokens: number;
  /** Wall time of the step: backward pass through time, clipping and update. */
  readonly seconds: number;
  /** `tokens / seconds`. */
  readonly tokensPerSecond: number;
  /** Peak bytes of checkpoints held at once (the executor's ledger, the initial state included). */
  readonly peakBytes: number;
  /** Forward step computations, recomputations included. */
  readonly forwards: number;
  /** Forward steps recomputed inside backward instructions. */
  readonly recomputes: number;
  /** Backward steps (`T`). */
  readonly backwards: number;
  /** The global norm of the gradients before clipping. */
  readonly gradientNorm: number;
  /** Whether clipping scaled the gradients down. */
  readonly clipped: boolean;
  /** The executor's time per kind of operation, in milliseconds. */
  readonly timings: OperationTimings;
  /** The sparsified backward's statistics, when it is on. */
  readonly sparsity?: SparsityStats;
}

/** Trains a model with a fixed backward schedule. */
export interface Trainer {
  readonly model: TfjsModel;
  readonly policy: Policy;
  readonly optimizer: Optimizer;
  /** Steps taken. */
  readonly steps: number;
  /**
   * One training step on `batch`: forward and backward through time under the policy (`runPolicy`), then
   * clipping and the optimiser's update. The batch's tensors are released before it returns.
   */
  step(batch: TfjsBatch): Promise<TrainStepResult>;
  /** Release the optimiser's state (the model stays). */
  dispose(): void;
}

const clock: { now(): number } = (globalThis as { performance?: { now(): number } }).performance ?? Date;

/**
 * Create a trainer: the same policy for every batch, an optimiser, optional global-norm clipping.
 *
 * @throws TfjsBackendError `E_CONFIG` for a bad `clipNorm`; `step` throws `E_POLICY` for a batch whose
 * length is not the policy's.
 */
export function createTrainer(model: TfjsModel, options: TrainerOptions): Trainer {
  const { policy, optimizer } = options;
  const clipNorm = options.clipNorm;
  if (clipNorm !== undefined && !(Number.isFinite(clipNorm) && clipNorm > 0)) {
    throw new TfjsBackendError('E_CONFIG', `clipNorm must be a positive number, got ${clipNorm}`);
  }
  let steps = 0;
  let disposed = false;
  return {
    model,
    policy,
    optimizer,
    get steps() {
      return steps;
    },
    async step(batch) {
      if (disposed) throw new TfjsBackendError('E_DISPOSED', 'the trainer was disposed');
      if (batch.steps !== policy.steps) {
        throw new TfjsBackendError(
          'E_POLICY',
          `the policy is for sequences of ${policy.steps} steps, the batch has ${batch.steps}`,
        );
      }
      const start = clock.now();
      const backend = createCellBackend(model, batch, options.backend ?? {});
      try {
        const result = await runPolicy(backend, policy, options.run ?? {});
        const grads = backend.gradientTensors();
        const { norm, scale } = globalNormClip(grads, clipNorm);
        const gradientNorm = (await norm.data())[0] ?? 0;
        optimizer.apply(model.parameters, grads, scale);
        norm.dispose();
        scale?.dispose();
        model.markUpdated();
        const sparsity = await backend.sparsityStats();
        const seconds = (clock.now() - start) / 1000;
        const tokens = batch.batchSize * ((batch.lossSteps ?? 'all') === 'last' ? 1 : batch.steps);
        steps++;
        const out: TrainStepResult = {
          loss: result.loss,
          tokens,
          seconds,
          tokensPerSecond: tokens / seconds,
          peakBytes: result.peakBytes,
          forwards: result.forwards,
          recomputes: result.recomputes,
          backwards: result.backwards,
          gradientNorm,
          clipped: clipNorm !== undefined && gradientNorm > clipNorm,
          timings: result.timings,
        };
        return sparsity === undefined ? out : { ...out, sparsity };
      } finally {
        backend.release();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      optimizer.dispose();
    },
  };
}
