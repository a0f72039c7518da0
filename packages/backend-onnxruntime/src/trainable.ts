import { createArrayOptimizer, denseBatch, type SequenceBatch, type TrainableV1 } from '@rewind/executor';
import { createOnnxBackend, type OnnxBackend, type OnnxBackendOptions } from './backend.js';
import { createOnnxBackendV2, type OnnxBackendV2 } from './backend-v2.js';
import { ACTS_WIDTH, hasCellState, savesActs } from './graphs/cells.js';
import type { CellModel } from './runtime/batch.js';
import { createSessionPool, type SessionPool } from './runtime/session.js';

/** Options of `createOnnxTrainable`: the backend's, and which interface it binds. */
export interface OnnxTrainableOptions extends OnnxBackendOptions {
  /**
   * Bind the range-level backend (`createOnnxBackendV2`, default) where it applies: without `sparsity` and
   * with the saved internal state. False: always the per-step backend (`createOnnxBackend`).
   */
  readonly ranges?: boolean;
}

/** A built-in model whose parameters an optimizer can update in place. */
export interface TrainableCellModel extends CellModel {
  readonly params: Readonly<Record<string, Float64Array | Float32Array>>;
}

/** An ONNX Runtime model as a `TrainableV1`, owning its sessions. */
export interface OnnxTrainable extends TrainableV1<SequenceBatch> {
  readonly model: TrainableCellModel;
  /** The sessions of this trainable's backends (its own pool unless `options.sessions` was given). */
  readonly sessions: SessionPool;
  /** Release the sessions this trainable created (not a pool passed in `options.sessions`). */
  dispose(): Promise<void>;
}

/**
 * A built-in model on ONNX Runtime as a `TrainableV1` of `@rewind/executor`: `bind` makes a backend for
 * a batch (token ids one-hot encoded; the same batch object again reuses its backend, which reads the
 * updated parameters at the start of every pass), and the optimizer updates `model.params` in place on the
 * host. Sessions live in a pool of the trainable's own, so that trainings in one process never release
 * each other's sessions; `dispose()` releases it.
 */
export function createOnnxTrainable(
  model: TrainableCellModel,
  options: OnnxTrainableOptions = {},
): OnnxTrainable {
  const own = options.sessions === undefined;
  const sessions = options.sessions ?? createSessionPool();
  // Training reads only the parameters' gradients: the product for the inputs' is skipped.
  const backendOptions: OnnxBackendOptions = { inputGradients: false, ...options, sessions };
  let last: { batch: SequenceBatch; backend: OnnxBackend | OnnxBackendV2 } | undefined;
  // The range-level backend serves every configuration it supports (it has no sparsified backward and
  // keeps the saved internal state); the per-step one the others.
  const ranges =
    options.sparsity === undefined &&
    (options.internalState ?? 'saved') === 'saved' &&
    options.ranges !== false;
  const { cell, inputSize } = model.config;
  const trainable: OnnxTrainable = {
    specificationVersion: 'rewind-trainable-v1',
    name: `onnxruntime-${options.executionProvider ?? 'cpu'}/${cell}`,
    model,
    sessions,
    stateBytes(batchSize) {
      const carried = hasCellState(cell) ? 2 : 1;
      const mode = cell === 'rnn' ? 'saved' : (options.internalState ?? 'saved');
      const extra = savesActs(cell, mode) ? ACTS_WIDTH[cell] : 0;
      const vector =
        batchSize * model.config.hiddenSize * ((options.dtype ?? 'float32') === 'float32' ? 4 : 8);
      return { hidden: carried * vector, internal: (2 * carried + extra) * vector };
    },
    async bind(batch) {
      if (last !== undefined && last.batch === batch) return last.backend;
      // The range-level backend takes token ids as they are (it gathers their projections); the per-step
      // one takes one-hot rows.
      const backend = ranges
        ? await createOnnxBackendV2(model, batch, backendOptions)
        : await createOnnxBackend(model, denseBatch(batch, inputSize), backendOptions);
      last = { batch, backend };
      return backend;
    },
    release() {},
    createOptimizer(config) {
      return createArrayOptimizer(model.params, config);
    },
    sparsityStats: (backend) =>
      backend.specificationVersion === 'rewind-backend-v1'
        ? (backend as OnnxBackend).sparsityStats()
        : undefined,
    async dispose() {
      last = undefined;
      if (own) await sessions.release();
    },
  };
  return trainable;
}
