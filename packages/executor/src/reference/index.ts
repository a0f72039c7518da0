export {
  createReferenceBackend,
  createReferenceBackendV2,
  type ReferenceBackend,
  type ReferenceBackendV2,
  type ReferenceGradient,
  type ReferenceHidden,
  type ReferenceInternal,
} from './backend.js';
export { type ReferenceGradients, standardBptt } from './bptt.js';
export type { CellInternal, CellState } from './cells.js';
export {
  createReferenceModel,
  type RandomBatchOptions,
  type ReferenceBatch,
  type ReferenceModel,
  type ReferenceModelConfig,
  randomBatch,
} from './model.js';
export { createReferenceTrainable } from './trainable.js';
