export {
  createOnnxBackend,
  type OnnxBackend,
  type OnnxBackendOptions,
  type OnnxBackendStats,
  type ResolvedOnnxBackendOptions,
} from './backend.js';
export { createOnnxBackendV2, type OnnxBackendV2, type OnnxBackendV2Options } from './backend-v2.js';
export {
  type CheckUserCellOptions,
  checkUserCell,
  type GradientCheckEntry,
  type GradientCheckRun,
  type UserCellCheck,
} from './check-cell.js';
export {
  isOnnxBackendError,
  OnnxBackendError,
  type OnnxBackendErrorCode,
  type OnnxBackendErrorDetails,
  type UserCellViolation,
} from './errors.js';
export type { InternalMode } from './graphs/cells.js';
export { type AttrValue, attr, GraphBuilder } from './onnx/builder.js';
export {
  type AttributeSpec,
  type Dim,
  type ElemType,
  encodeModel,
  encodeModelWithExternalData,
  type FloatType,
  type GraphSpec,
  type ModelSpec,
  type NodeSpec,
  type TensorSpec,
  type ValueInfoSpec,
} from './onnx/model.js';
export type { CellModel } from './runtime/batch.js';
export type { OnnxGradient, OnnxHidden, OnnxInternal } from './runtime/engine.js';
export {
  CUDA_INSTALL_HINT,
  CUDA_PROVIDER_LIBRARIES,
  CUDA_RUNTIME_LIBRARIES,
  createSessionPool,
  diagnoseCudaLibraries,
  type ExecutionProvider,
  type LibrarySearch,
  releaseCachedSessions,
  type SessionPool,
} from './runtime/session.js';
export type { SparsityOptions, SparsityStats } from './sparsity.js';
export {
  createOnnxTrainable,
  type OnnxTrainable,
  type OnnxTrainableOptions,
  type TrainableCellModel,
} from './trainable.js';
export {
  createUserCellBackend,
  loadUserCell,
  type UserCell,
  type UserCellLoadOptions,
  type UserCellModels,
  type UserCellParameters,
  type UserParameter,
  type UserParameterInfo,
} from './user-cell.js';
