export {
  type CellBackendOptions,
  createCellBackend,
  type StepDispatchCounts,
  type TfjsBatch,
  type TfjsBatchBackend,
  type TfjsCellBackend,
  type TfjsGradient,
  type TfjsHidden,
  type TfjsInternal,
} from './backend.js';
export { countKernels, KernelCounter, type KernelCounts } from './counts.js';
export type { CustomStepFunction } from './custom.js';
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
export {
  type CustomModelConfig,
  type CustomParameter,
  createCustomModel,
  createRecurrentModel,
  type RecurrentModelConfig,
  type TfjsModel,
} from './model.js';
export { type AdamOptions, adam, globalNormClip, type Optimizer, type SgdOptions, sgd } from './optimizer.js';
export { createRangeBackend, type TfjsRangeBackend } from './ranges.js';
export {
  createTfjsTrainable,
  createTrainer,
  type TfjsTrainableOptions,
  type TrainerOptions,
} from './train.js';
