import {
  type CellBackend,
  createTrainer as createExecutorTrainer,
  type TrainerOptions as ExecutorTrainerOptions,
  type OptimizerConfig,
  type ResolvedOptimizerConfig,
  type TrainableOptimizer,
  type TrainableV1,
  type Trainer,
} from '@rewind/executor';
import {
  type CellBackendOptions,
  createCellBackend,
  type TfjsBatch,
  type TfjsCellBackend,
} from './backend.js';
import type { TfjsModel } from './model.js';
import { adam, globalNormClip, type Optimizer, sgd } from './optimizer.js';
import { createRangeBackend, type TfjsRangeBackend } from './ranges.js';

/** Options of `createTfjsTrainable`: the cell backend's, and which interface it binds. */
export interface TfjsTrainableOptions extends CellBackendOptions {
  /**
   * Bind the range-level backend (`createRangeBackend`, default true): whole policy ranges, the loss heads
   * of backward ranges in blocks. False: the per-step backend (`createCellBackend`). Results are the same.
   */
  readonly ranges?: boolean;
}

/** The tfjs optimizer (on the device) for an optimizer configuration of the executor. */
function deviceOptimizer(config: ResolvedOptimizerConfig): Optimizer {
  return config.kind === 'adam'
    ? adam({
        learningRate: config.learningRate,
        beta1: config.beta1,
        beta2: config.beta2,
        epsilon: config.epsilon,
      })
    : sgd({ learningRate: config.learningRate, momentum: config.momentum });
}

/**
 * A tfjs model as a `TrainableV1` of `@rewind/executor`: every batch gets a cell backend with `options`
 * (released after the step), and the optimizer clips and updates the parameter variables on the device,
 * reading back only the gradients' global norm.
 */
export function createTfjsTrainable(
  model: TfjsModel,
  options: TfjsTrainableOptions = {},
): TrainableV1<TfjsBatch> & { readonly model: TfjsModel } {
  const { ranges = true, ...backendOptions } = options;
  return {
    specificationVersion: 'rewind-trainable-v1',
    name: `tfjs-${model.engine.backend}/${model.name}`,
    model,
    stateBytes: (batchSize) => model.stateBytes(batchSize),
    bind: (batch) =>
      ranges
        ? createRangeBackend(model, batch, backendOptions)
        : createCellBackend(model, batch, backendOptions),
    release(backend: CellBackend) {
      (backend as TfjsCellBackend | TfjsRangeBackend).release();
    },
    createOptimizer(config): TrainableOptimizer {
      const optimizer = deviceOptimizer(config);
      return {
        async step(backend, clipNorm) {
          const grads = (backend as TfjsCellBackend | TfjsRangeBackend).gradientTensors();
          const { norm, scale } = globalNormClip(grads, clipNorm);
          try {
            const gradientNorm = (await norm.data())[0] ?? 0;
            if (!Number.isFinite(gradientNorm)) return gradientNorm;
            optimizer.apply(model.parameters, grads, scale);
            model.markUpdated();
            return gradientNorm;
          } finally {
            norm.dispose();
            scale?.dispose();
          }
        },
        dispose: () => optimizer.dispose(),
      };
    },
    sparsityStats: (backend) => (backend as TfjsCellBackend | TfjsRangeBackend).sparsityStats(),
  };
}

/** Options of `createTrainer`: the executor's trainer options and the cell backend's. */
export interface TrainerOptions extends ExecutorTrainerOptions {
  /** The optimizer, the same configuration on every backend (e.g. `{ kind: 'adam', learningRate: 3e-3 }`). */
  readonly optimizer: OptimizerConfig;
  /** Options of the cell backend built for every batch (sparsified backward, weight-gradient chunks). */
  readonly backend?: TfjsTrainableOptions;
}

/**
 * Create a trainer of a tfjs model: `@rewind/executor`'s `createTrainer` over `createTfjsTrainable(model,
 * options.backend)`. The same policy for every batch, one optimizer, optional global-norm clipping; a
 * step whose loss or gradient norm is not finite throws `E_DIVERGED` and leaves the model unchanged.
 */
export function createTrainer(model: TfjsModel, options: TrainerOptions): Trainer<TfjsBatch> {
  const { backend, ...rest } = options;
  return createExecutorTrainer(createTfjsTrainable(model, backend ?? {}), rest);
}
