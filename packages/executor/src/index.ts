export { adaptV1 } from './adapt-v1.js';
export {
  BACKEND_SPECIFICATION_VERSION,
  type CellBackend,
  type CellBackendV1,
  type ForwardResult,
  type ForwardResultV1,
  type GradientReadout,
  type MaybePromise,
} from './backend.js';
export {
  BACKEND_V2_SPECIFICATION_VERSION,
  type BackwardRangeRequest,
  type BackwardSource,
  type CellBackendV2,
  type ForwardRangeRequest,
  type ForwardRangeResult,
} from './backend-v2.js';
export {
  ExecutorError,
  type ExecutorErrorCode,
  type ExecutorErrorDetails,
  isExecutorError,
} from './errors.js';
export { HandleBook, type HandleBookOptions, type HandleErrorCode, type HandleKind } from './handles.js';
export {
  type BatchShape,
  CELL_GATES,
  CELL_KINDS,
  type CellKind,
  cellParameterNames,
  checkBatch,
  checkHead,
  checkModelShape,
  denseBatch,
  GATE_ORDER,
  HEAD_PARAMETERS,
  headWidth,
  type LossHead,
  lossTokens,
  lossWeight,
  type ModelShape,
  oneHot,
  parameterShapes,
  parameterSizes,
  type SequenceBatch,
  STATE_PARTS,
} from './model.js';
export {
  type AbortSignalLike,
  checkRunnable,
  type OperationKind,
  type OperationTimings,
  type ProgressEvent,
  type RunnablePolicy,
  type RunPolicyOptions,
  type RunResult,
  rangeCalls,
  runPolicy,
} from './run-policy.js';
export {
  type SparsityCounts,
  type SparsityOptions,
  type SparsitySettings,
  type SparsityShape,
  type SparsityStats,
  sparsitySettings,
  sparsityStatistics,
} from './sparsity.js';
export {
  type BoundBackend,
  createArrayOptimizer,
  createTrainer,
  type OptimizerConfig,
  type ResolvedOptimizerConfig,
  resolveOptimizer,
  TRAINABLE_SPECIFICATION_VERSION,
  type TrainableOptimizer,
  type TrainableV1,
  type Trainer,
  type TrainerOptions,
  type TrainStepResult,
} from './training.js';
