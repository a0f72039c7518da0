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
 * - `E_USER_CELL_SHAPE`: a fixed dimension that contradicts the configuration, or a saved tensor
 *   without a batch dimension.
 */
export type OrtBackendErrorCode =
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
  | 'E_USER_CELL_SHAPE';

/** Extra information an `OrtBackendError` carries. */
export interface OrtBackendErrorDetails {
  /** For user-cell errors: which of the pair (`'forward'` or `'backward'`). */
  readonly model?: 'forward' | 'backward';
  /** For user-cell errors: the input or output concerned. */
  readonly tensor?: string;
  /** For `E_CUDA_UNAVAILABLE`: the shared libraries that were looked for and not found. */
  readonly missingLibraries?: readonly string[];
  /** The underlying error (e.g. ONNX Runtime's). */
  readonly cause?: unknown;
}

/** Every error this package throws on its own account. */
export class OrtBackendError extends Error {
  /** Stable machine-readable code. */
  readonly code: OrtBackendErrorCode;
  /** For user-cell errors: `'forward'` or `'backward'`. */
  readonly model: 'forward' | 'backward' | undefined;
  /** For user-cell errors: the tensor concerned. */
  readonly tensor: string | undefined;
  /** For `E_CUDA_UNAVAILABLE`: libraries looked for and not found (may be empty when the cause is elsewhere). */
  readonly missingLibraries: readonly string[];

  constructor(code: OrtBackendErrorCode, message: string, details: OrtBackendErrorDetails = {}) {
    super(`${code}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'OrtBackendError';
    this.code = code;
    this.model = details.model;
    this.tensor = details.tensor;
    this.missingLibraries = details.missingLibraries ?? [];
  }
}

/** Whether `error` is an `OrtBackendError`, optionally with the given code. */
export function isOrtBackendError(error: unknown, code?: OrtBackendErrorCode): error is OrtBackendError {
  return error instanceof OrtBackendError && (code === undefined || error.code === code);
}
