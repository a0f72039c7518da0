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
  type SparsityCounts,
  type SparsityOptions,
  type SparsitySettings,
  type SparsityShape,
  type SparsityStats,
  sparsitySettings,
  sparsityStatistics,
} from './sparsity.js';
export { type HandleTracker, type TrackedMethod, trackHandles } from './tracking.js';
