export {
  type CellBackendOptions,
  createCellBackend,
  type TfjsBatch,
  type TfjsCellBackend,
  type TfjsGradient,
  type TfjsHidden,
  type TfjsInternal,
} from './backend.js';
export type { CustomStepFunction } from './custom.js';
export {
  type CharBatch,
  type CharDataset,
  type CharDatasetOptions,
  type CharVocabulary,
  charVocabulary,
  createCharDataset,
} from './dataset.js';
export {
  createTfjsEngine,
  type TfjsBackendName,
  type TfjsEngine,
  type TfjsEngineOptions,
  type WebGpuAdapterDescription,
  type WebGpuOptions,
} from './engine.js';
export { isTfjsBackendError, TfjsBackendError, type TfjsBackendErrorCode } from './errors.js';
export { GRADIENT_KERNELS, registerGradients } from './gradients.js';
export { headWidth, type LossHead } from './head.js';
export {
  type CellKind,
  type CustomModelConfig,
  type CustomParameter,
  createCustomModel,
  createRecurrentModel,
  type RecurrentModelConfig,
  recurrentParameterShapes,
  type TfjsModel,
} from './model.js';
export { type AdamOptions, adam, globalNormClip, type Optimizer, type SgdOptions, sgd } from './optimizer.js';
export type { SparsityOptions, SparsityStats } from './sparsity.js';
export { createTrainer, type Trainer, type TrainerOptions, type TrainStepResult } from './train.js';
