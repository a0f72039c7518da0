/**
 * Stable error codes of `@rewind/backend-tfjs`. New codes may be added in minor releases; existing ones
 * never change meaning.
 *
 * - `E_UNKNOWN_BACKEND`: the engine was asked for a tfjs backend other than `wasm`, `cpu` or `webgpu`.
 * - `E_BACKEND_INIT`: tfjs could not initialise the requested backend.
 * - `E_WEBGPU_UNAVAILABLE`: the optional peer dependencies `webgpu` or `@tensorflow/tfjs-backend-webgpu`
 *   are not installed, or Dawn's bindings failed to load.
 * - `E_WEBGPU_NO_ADAPTER`: WebGPU loaded but no adapter matches the requested options.
 * - `E_ENGINE_INACTIVE`: another engine switched tfjs to another backend; call `engine.activate()`.
 * - `E_ENGINE_DISPOSED`: the engine was disposed.
 * - `E_CONFIG`: a model or option is malformed (the message names what). A batch that does not fit its
 *   model is `@rewind/executor`'s `E_BATCH`, as on every backend.
 * - `E_HANDLE`: a handle was misused (disposed twice, from another backend, used after disposal).
 * - `E_STEP`: a step number outside `1..T`, a forward step from the wrong state, or backward steps out of
 *   order (the codes of `@rewind/executor`'s `HandleBook`, the same on every backend).
 * - `E_NO_GRADIENT`: a custom cell uses a tfjs kernel whose gradient is not registered.
 * - `E_DISPOSED`: a model, backend or trainer was used after it was disposed.
 */
export type TfjsBackendErrorCode =
  | 'E_UNKNOWN_BACKEND'
  | 'E_BACKEND_INIT'
  | 'E_WEBGPU_UNAVAILABLE'
  | 'E_WEBGPU_NO_ADAPTER'
  | 'E_ENGINE_INACTIVE'
  | 'E_ENGINE_DISPOSED'
  | 'E_CONFIG'
  | 'E_HANDLE'
  | 'E_STEP'
  | 'E_NO_GRADIENT'
  | 'E_DISPOSED';

/** The error every function of this package throws for failures of its own. */
export class TfjsBackendError extends Error {
  /** Stable machine-readable code. */
  readonly code: TfjsBackendErrorCode;

  constructor(code: TfjsBackendErrorCode, message: string, options: { readonly cause?: unknown } = {}) {
    super(`${code}: ${message}`, 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'TfjsBackendError';
    this.code = code;
  }
}

/** Whether `error` is a `TfjsBackendError`, optionally with the given code. */
export function isTfjsBackendError(error: unknown, code?: TfjsBackendErrorCode): error is TfjsBackendError {
  return error instanceof TfjsBackendError && (code === undefined || error.code === code);
}
