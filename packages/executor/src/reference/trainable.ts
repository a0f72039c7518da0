import { denseBatch, type SequenceBatch } from '../model.js';
import type { BoundBackend } from '../training.js';
import { createArrayOptimizer, type TrainableV1 } from '../training.js';
import { createReferenceBackend, referenceStateBytes } from './backend.js';
import type { ReferenceBatch, ReferenceModel } from './model.js';

/**
 * The reference model as a `TrainableV1`: every batch gets a reference backend (token ids are one-hot
 * encoded), and the optimizer updates `model.params` in place, in float64.
 */
export function createReferenceTrainable(model: ReferenceModel): TrainableV1<SequenceBatch> {
  const { cell, inputSize } = model.config;
  return {
    specificationVersion: 'rewind-trainable-v1',
    name: `reference/${cell}`,
    stateBytes: (batchSize) => referenceStateBytes(model, batchSize),
    bind(batch) {
      const dense = denseBatch(batch, inputSize);
      const inputs = Float64Array.from(dense.inputs);
      const initialState =
        dense.initialState === undefined ? undefined : Float64Array.from(dense.initialState);
      const targets =
        model.config.head.kind === 'softmax'
          ? Int32Array.from(dense.targets)
          : Float64Array.from(dense.targets);
      const b: ReferenceBatch = {
        steps: dense.steps,
        batchSize: dense.batchSize,
        inputs,
        targets,
        ...(dense.lossSteps === undefined ? {} : { lossSteps: dense.lossSteps }),
        ...(initialState === undefined ? {} : { initialState }),
      };
      return createReferenceBackend(model, b);
    },
    release() {},
    createOptimizer(config) {
      return createArrayOptimizer(
        model.params,
        config,
        async (backend: BoundBackend) => (await backend.readGradients()).parameters,
      );
    },
  };
}
