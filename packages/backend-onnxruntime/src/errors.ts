/**
 * Stable error codes of the ONNX Runtime backend. New codes may be added in minor releases; existing
 * ones never change meaning.
 *
 * - `E_CUDA_UNAVAILABLE`: the CUDA execution provider was asked for and could not be loaded (provider
 *   libraries, CUDA runtime libraries or the GPU are missing). Never a silent CPU run.
 * - `E_SESSION`: ONNX Runtime refused to create a session for one of the backend's own graphs.
 * - `E_OPTIONS`: an option is invalid.
 * - `E_BATCH`: the model and the batch do not fit together.
 * - `E_HANDLE`: a handle of another backend, of the wrong kind, or already disposed.
 * - `E_STEP`: a step outside `1..T`, a forward from the wrong position, a backward out of order.
 * - `E_USER_CELL_LOAD`: ONNX Runtime could not load a user cell's model.
 * - `E_USER_CELL_MISSING_INPUT` / `E_USER_CELL_MISSING_OUTPUT`: a name the contract requires is absent.
 * - `E_USER_CELL_UNKNOWN_INPUT`: a model input the contract does not define (it could never be fed).
 * - `E_USER_CELL_UNKNOWN_OUTPUT`: a model output the contract does not define (most often a misspelt name).
 * - `E_USER_CELL_TYPE`: a tensor of the wrong element type.
 * - `E_USER_CELL_RANK`: a tensor of the wrong rank.
 * - `E_USER_CELL_SHAPE`: a fixed dimension that contradicts the configuration or the batch, a symbolic
 *   dimension other than the batch symbol, a saved tensor without a batch dimension, or an output whose
 *   dimensions at run time are not those the contract requires.
 * - `E_USER_CELL_EXTERNAL_DATA`: a model given as bytes refers to external data (it can only be loaded
 *   from its file), or a model file's external data is not beside it.
 * - `E_USER_CELL_RUN`: ONNX Runtime failed while running a user cell's model.
 */
export type OnnxBackendErrorCode =
  | 'E_CUDA_UNAVAILABLE'
  | 'E_SESSION'
  | 'E_OPTIONS'
  | 'E_BATCH'
  | 'E_HANDLE'
  | 'E_STEP'
  | 'E_USER_CELL_LOAD'
  | 'E_USER_CELL_MISSING_INPUT'
  | 'E_USER_CELL_MISSING_OUTPUT'
  | 'E_USER_CELL_UNKNOWN_INPUT'
  | 'E_USER_CELL_UNKNOWN_OUTPUT'
  | 'E_USER_CELL_TYPE'
  | 'E_USER_CELL_RANK'
  | 'E_USER_CELL_SHAPE'
  | 'E_USER_CELL_EXTERNAL_DATA'
  | 'E_USER_CELL_RUN';

/** One way a user cell's models break the contract (`loadUserCell` reports all of them at once). */
export interface UserCellViolation {
  readonly code: OnnxBackendErrorCode;
  readonly model: 'forward' | 'backward';
  /** The input or output concerned. */
  readonly tensor: string;
  readonly message: string;
}

/** Extra information an `OnnxBackendError` carries. */
export interface OnnxBackendErrorDetails {
  /** For user-cell errors: which of the pair (`'forward'` or `'backward'`). */
  readonly model?: 'forward' | 'backward';
  /** For user-cell errors: the input or output concerned. */
  readonly tensor?: string;
  /** For `E_CUDA_UNAVAILABLE`: the shared libraries that were looked for and not found. */
  readonly missingLibraries?: readonly string[];
  /** For user-cell contract errors: every violation found (the error's code, model and tensor are the first's). */
  readonly violations?: readonly UserCellViolation[];
  /** The underlying error (e.g. ONNX Runtime's). */
  readonly cause?: unknown;
}

/** Every error this package throws on its own account. */
export class OnnxBackendError extends Error {
  /** Stable machine-readable code. */
  readonly code: OnnxBackendErrorCode;
  /** For user-cell errors: `'forward'` or `'backward'`. */
  readonly model: 'forward' | 'backward' | undefined;
  /** For user-cell errors: the tensor concerned. */
  readonly tensor: string | undefined;
  /** For `E_CUDA_UNAVAILABLE`: libraries looked for and not found (may be empty when the cause is elsewhere). */
  readonly missingLibraries: readonly string[];
  /** For user-cell contract errors: every violation found, in model order (empty otherwise). */
  readonly violations: readonly UserCellViolation[];

  constructor(code: OnnxBackendErrorCode, message: string, details: OnnxBackendErrorDetails = {}) {
    super(`${code}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'OnnxBackendError';
    this.code = code;
    this.model = details.model;
    this.tensor = details.tensor;
    this.missingLibraries = details.missingLibraries ?? [];
    this.violations = details.violations ?? [];
  }
}

/** Whether `error` is an `OnnxBackendError`, optionally with the given code. */
export function isOnnxBackendError(error: unknown, code?: OnnxBackendErrorCode): error is OnnxBackendError {
  return error instanceof OnnxBackendError && (code === undefined || error.code === code);
}
