/**
 * One training loop and one optimizer API for every backend. A backend package implements `TrainableV1`
 * (a model bound to batches, and an optimizer over its parameters); `createTrainer` runs the loop: bind a
 * batch, run the policy, refuse a diverged step, clip and update, release.
 */
import type { Policy, StateBytes } from '@rewind/policy';
import type { CellBackend, MaybePromise } from './backend.js';
import type { CellBackendV2 } from './backend-v2.js';
import { ExecutorError } from './errors.js';
import { lossTokens, type SequenceBatch } from './model.js';
import { type OperationTimings, type RunPolicyOptions, runPolicy } from './run-policy.js';
import type { SparsityStats } from './sparsity.js';

/** The optimizer of a training, the same for every backend. */
export type OptimizerConfig =
  | {
      readonly kind: 'adam';
      /** Step size (default 1e-3). */
      readonly learningRate?: number;
      /** Decay of the first moment, in `[0, 1)` (default 0.9). */
      readonly beta1?: number;
      /** Decay of the second moment, in `[0, 1)` (default 0.999). */
      readonly beta2?: number;
      /** Added to the root of the second moment, > 0 (default 1e-8). */
      readonly epsilon?: number;
    }
  | {
      readonly kind: 'sgd';
      /** Step size. */
      readonly learningRate: number;
      /** Heavy-ball momentum in `[0, 1)` (default 0). */
      readonly momentum?: number;
    };

/** An optimizer configuration with every default filled in, checked. */
export type ResolvedOptimizerConfig =
  | {
      readonly kind: 'adam';
      readonly learningRate: number;
      readonly beta1: number;
      readonly beta2: number;
      readonly epsilon: number;
    }
  | { readonly kind: 'sgd'; readonly learningRate: number; readonly momentum: number };

function option(path: string, value: unknown, ok: boolean, expected: string): void {
  if (!ok) {
    throw new ExecutorError('E_OPTIONS', `${path} must be ${expected}, got ${String(value)}`, { path });
  }
}

function finiteIn(path: string, value: number, low: number, high: number, openLow: boolean): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (openLow ? value > low : value >= low) &&
    value < high;
  option(
    path,
    value,
    ok,
    `a number in ${openLow ? '(' : '['}${low}, ${high === Number.POSITIVE_INFINITY ? 'Infinity' : high})`,
  );
  return value;
}

/**
 * Check an optimizer configuration and fill in its defaults.
 *
 * @throws ExecutorError `E_OPTIONS` with the offending field as a JSON pointer under `base`.
 */
export function resolveOptimizer(config: OptimizerConfig, base = '/optimizer'): ResolvedOptimizerConfig {
  const c = config as Partial<Record<string, unknown>> | null;
  if (c === null || typeof c !== 'object' || (c['kind'] !== 'adam' && c['kind'] !== 'sgd')) {
    throw new ExecutorError(
      'E_OPTIONS',
      `${base}/kind must be 'adam' or 'sgd', got ${String(c === null || typeof c !== 'object' ? c : c['kind'])}`,
      { path: `${base}/kind` },
    );
  }
  const inf = Number.POSITIVE_INFINITY;
  if (config.kind === 'adam') {
    return {
      kind: 'adam',
      learningRate: finiteIn(`${base}/learningRate`, config.learningRate ?? 1e-3, 0, inf, true),
      beta1: finiteIn(`${base}/beta1`, config.beta1 ?? 0.9, 0, 1, false),
      beta2: finiteIn(`${base}/beta2`, config.beta2 ?? 0.999, 0, 1, false),
      epsilon: finiteIn(`${base}/epsilon`, config.epsilon ?? 1e-8, 0, inf, true),
    };
  }
  return {
    kind: 'sgd',
    learningRate: finiteIn(`${base}/learningRate`, config.learningRate, 0, inf, true),
    momentum: finiteIn(`${base}/momentum`, config.momentum ?? 0, 0, 1, false),
  };
}

/** A backend `TrainableV1.bind` may return: either version of the backend interface. */
export type BoundBackend = CellBackend | CellBackendV2;

/** An optimizer over one trainable model's parameters, holding its state (moments). */
export interface TrainableOptimizer {
  /**
   * Clip the parameter gradients accumulated in `backend` (a backend `bind` returned, after a pass) to the
   * global norm `clipNorm` (none when undefined) and update the parameters. Returns the global norm
   * before clipping; when it is not finite, the parameters must be left unchanged.
   */
  step(backend: BoundBackend, clipNorm: number | undefined): MaybePromise<number>;
  /** Release the optimizer's state. */
  dispose(): void;
}

/** The version string of the trainable interface. */
export const TRAINABLE_SPECIFICATION_VERSION = 'rewind-trainable-v1';

/**
 * A model on a backend, ready to train: what a backend package gives `createTrainer`. Version 1.
 *
 * `bind` makes a cell backend (`CellBackendV1` or `CellBackendV2`) over one batch with zeroed gradients, reading the model's
 * current parameters; `release` frees it after the step. `createOptimizer` builds an optimizer whose
 * `step` reads the gradients of a bound backend and updates the model, so that the next `bind` sees the new
 * parameters.
 */
export interface TrainableV1<TBatch extends SequenceBatch = SequenceBatch> {
  /** Always `'rewind-trainable-v1'`. */
  readonly specificationVersion: 'rewind-trainable-v1';
  /** A short name for messages, e.g. `'tfjs-wasm/lstm'`. */
  readonly name: string;
  /** Bytes of one hidden and one internal checkpoint for batches of `batchSize` sequences. */
  stateBytes(batchSize: number): StateBytes;
  /** A cell backend over `batch` (version 1 or 2 of the backend interface). */
  bind(batch: TBatch): MaybePromise<BoundBackend>;
  /** Release what `bind` made. */
  release(backend: BoundBackend): MaybePromise<void>;
  /** An optimizer over the model's parameters. */
  createOptimizer(config: ResolvedOptimizerConfig): TrainableOptimizer;
  /** What the sparsified backward achieved in a bound backend's last pass; undefined when it is off. */
  sparsityStats?(backend: BoundBackend): MaybePromise<SparsityStats | undefined>;
}

/** Options of `createTrainer`. */
export interface TrainerOptions {
  /**
   * The schedule of every backward pass, planned once and reused by every step: batches must have
   * `policy.steps` steps.
   */
  readonly policy: Policy;
  /** The optimizer. */
  readonly optimizer: OptimizerConfig;
  /** Clip the gradients to this global norm before the update (default: no clipping). */
  readonly clipNorm?: number;
  /** Passed to `runPolicy` (abort signal, progress). */
  readonly run?: Omit<RunPolicyOptions, 'zeroGradients' | 'keepInitialGradient'>;
}

/** What one training step did. */
export interface TrainStepResult {
  /** The batch's loss before the update (mean per loss-carrying token). */
  readonly loss: number;
  /** Tokens with a loss term in the batch (`B * T`, or `B` with a loss at the last step only). */
  readonly tokens: number;
  /** Wall time of the step: binding the batch, the pass through time, clipping and update. */
  readonly seconds: number;
  /**
   * The part of `seconds` spent binding the batch (`trainable.bind`): building a backend for a new batch,
   * or nothing much when the batch is the one bound last. Comparisons of schedules on one batch leave it out.
   */
  readonly bindSeconds: number;
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
export interface Trainer<TBatch extends SequenceBatch = SequenceBatch> {
  readonly policy: Policy;
  /** Steps taken. */
  readonly steps: number;
  /**
   * One training step on `batch`: bind it, run forward and backward through time under the policy (or
   * `options.policy` for this step only, e.g. to compare schedules on one model and optimizer), then clip
   * and update.
   *
   * @throws ExecutorError `E_STEPS_MISMATCH` for a batch of another length than the policy's; `E_DIVERGED`
   * when the loss or the gradient norm is not finite (the parameters are then left as they were);
   * `E_DISPOSED` after `dispose()`; and whatever `runPolicy` throws.
   */
  step(batch: TBatch, options?: { readonly policy?: Policy }): Promise<TrainStepResult>;
  /** Release the optimizer's state (the model stays). */
  dispose(): void;
}

const clock: { now(): number } = (globalThis as { performance?: { now(): number } }).performance ?? Date;

/**
 * Create a trainer over a trainable model: the same policy for every batch, one optimizer, optional
 * global-norm clipping.
 *
 * @throws ExecutorError `E_OPTIONS` for a bad optimizer or `clipNorm` (a JSON pointer in `path`).
 */
export function createTrainer<TBatch extends SequenceBatch>(
  trainable: TrainableV1<TBatch>,
  options: TrainerOptions,
): Trainer<TBatch> {
  if (trainable.specificationVersion !== TRAINABLE_SPECIFICATION_VERSION) {
    throw new ExecutorError(
      'E_BACKEND_VERSION',
      `trainable ${trainable.name} implements ${String(trainable.specificationVersion)}; this executor runs ${TRAINABLE_SPECIFICATION_VERSION}`,
    );
  }
  const { policy } = options;
  const clipNorm = options.clipNorm;
  if (clipNorm !== undefined) {
    option('/clipNorm', clipNorm, Number.isFinite(clipNorm) && clipNorm > 0, 'a positive number');
  }
  const optimizer = trainable.createOptimizer(resolveOptimizer(options.optimizer));
  let steps = 0;
  let disposed = false;
  return {
    policy,
    get steps() {
      return steps;
    },
    async step(batch, stepOptions = {}) {
      if (disposed) throw new ExecutorError('E_DISPOSED', `the trainer of ${trainable.name} was disposed`);
      const stepPolicy = stepOptions.policy ?? policy;
      if (batch.steps !== stepPolicy.steps) {
        throw new ExecutorError(
          'E_STEPS_MISMATCH',
          `the policy is for sequences of ${stepPolicy.steps} steps, the batch has ${batch.steps}`,
          { path: '/steps' },
        );
      }
      const iteration = steps + 1;
      const start = clock.now();
      const backend = await trainable.bind(batch);
      const bound = clock.now();
      try {
        const result = await runPolicy(backend, stepPolicy, options.run ?? {});
        if (!Number.isFinite(result.loss)) {
          throw new ExecutorError(
            'E_DIVERGED',
            `the loss of training step ${iteration} is ${result.loss}; the parameters were not updated (try a smaller learning rate or clipping)`,
          );
        }
        const gradientNorm = await optimizer.step(backend, clipNorm);
        if (!Number.isFinite(gradientNorm)) {
          throw new ExecutorError(
            'E_DIVERGED',
            `the gradient norm of training step ${iteration} is ${gradientNorm}; the parameters were not updated (try a smaller learning rate or clipping)`,
          );
        }
        const sparsity = await trainable.sparsityStats?.(backend);
        const seconds = (clock.now() - start) / 1000;
        const tokens = lossTokens(batch);
        steps++;
        const out: TrainStepResult = {
          loss: result.loss,
          tokens,
          seconds,
          bindSeconds: (bound - start) / 1000,
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
        await trainable.release(backend);
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      optimizer.dispose();
    },
  };
}

/**
 * An optimizer over parameters held as plain arrays (`Float64Array` or `Float32Array`), updated in place,
 * with global-norm clipping: what backends whose parameters live on the host share. `read` gives the
 * parameter gradients of a bound backend (default: `readGradients().parameters`); `afterUpdate` runs after
 * every update (e.g. to tell a backend to read the parameters again).
 */
export function createArrayOptimizer(
  params: Readonly<Record<string, Float64Array | Float32Array>>,
  config: ResolvedOptimizerConfig,
  read: (backend: BoundBackend) => MaybePromise<Readonly<Record<string, ArrayLike<number>>>> = async (b) =>
    (await b.readGradients()).parameters,
  afterUpdate?: () => void,
): TrainableOptimizer {
  const first = new Map(Object.entries(params).map(([k, p]) => [k, new Float64Array(p.length)]));
  const second = new Map(Object.entries(params).map(([k, p]) => [k, new Float64Array(p.length)]));
  let t = 0;
  return {
    async step(backend, clipNorm) {
      const grads = await read(backend);
      let sq = 0;
      for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) sq += (g[i] as number) ** 2;
      const norm = Math.sqrt(sq);
      if (!Number.isFinite(norm)) return norm;
      const scale = clipNorm !== undefined && clipNorm > 0 && norm > clipNorm ? clipNorm / norm : 1;
      t++;
      for (const [name, p] of Object.entries(params)) {
        const g = grads[name];
        if (g === undefined) continue;
        const m = first.get(name) as Float64Array;
        if (config.kind === 'sgd') {
          for (let i = 0; i < p.length; i++) {
            const gi = (g[i] as number) * scale;
            m[i] = config.momentum * (m[i] as number) + gi;
            p[i] = (p[i] as number) - config.learningRate * (m[i] as number);
          }
          continue;
        }
        const v = second.get(name) as Float64Array;
        const { beta1, beta2, epsilon, learningRate } = config;
        const c1 = 1 - beta1 ** t;
        const c2 = 1 - beta2 ** t;
        for (let i = 0; i < p.length; i++) {
          const gi = (g[i] as number) * scale;
          m[i] = beta1 * (m[i] as number) + (1 - beta1) * gi;
          v[i] = beta2 * (v[i] as number) + (1 - beta2) * gi * gi;
          p[i] =
            (p[i] as number) -
            (learningRate * ((m[i] as number) / c1)) / (Math.sqrt((v[i] as number) / c2) + epsilon);
        }
      }
      afterUpdate?.();
      return norm;
    },
    dispose() {
      first.clear();
      second.clear();
    },
  };
}
