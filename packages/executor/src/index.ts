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
  runPolicy,
} from './run-policy.js';
export {
  type SparsityOptions,
  type SparsitySettings,
  type SparsityStats,
  sparsitySettings,
} from './sparsity.js';
export {
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
