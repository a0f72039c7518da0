import type { BackendFactory } from '../conformance/suite.js';
import type { CellKind, LossHead } from '../model.js';
import { createReferenceBackend } from './backend.js';
import { createReferenceModel, randomBatch } from './model.js';

/** A conformance factory for the reference backend: small models, random data, perturbations applied. */
export function referenceFactory(
  cell: CellKind,
  head: LossHead,
  options: { readonly lossSteps?: 'all' | 'last'; readonly oneHot?: boolean } = {},
): BackendFactory {
  return ({ steps, seed, perturb }) => {
    const model = createReferenceModel({ cell, inputSize: 3, hiddenSize: 3, head, seed });
    const batch = randomBatch(model, {
      steps,
      batchSize: 2,
      seed: seed + 1,
      randomInitialState: true,
      ...(options.lossSteps === undefined ? {} : { lossSteps: options.lossSteps }),
      ...(options.oneHot === undefined ? {} : { oneHot: options.oneHot }),
    });
    if (perturb !== undefined) {
      const target =
        perturb.group === 'parameters'
          ? model.params[perturb.name ?? '']
          : perturb.group === 'inputs'
            ? batch.inputs
            : batch.initialState;
      if (target === undefined || perturb.index >= target.length) throw new RangeError('no such coordinate');
      target[perturb.index]! += perturb.delta;
    }
    return createReferenceBackend(model, batch);
  };
}
