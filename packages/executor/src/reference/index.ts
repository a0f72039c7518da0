export {
  createReferenceBackend,
  type ReferenceBackend,
  type ReferenceGradient,
  type ReferenceHidden,
  type ReferenceInternal,
} from './backend.js';
export { type ReferenceGradients, standardBptt } from './bptt.js';
export type { CellInternal, CellKind, CellState } from './cells.js';
export {
  createReferenceModel,
  type LossHead,
  oneHot,
  parameterShapes,
  type RandomBatchOptions,
  type ReferenceBatch,
  type ReferenceModel,
  type ReferenceModelConfig,
  randomBatch,
} from './model.js';
