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
 * - `E_CONFIG`: a model, batch or option is malformed (the message names what).
 * - `E_HANDLE`: a handle was misused (disposed twice, from another backend, used after disposal).
 * - `E_ORDER`: backward steps were called out of order, or a step number is outside `1..T`.
 * - `E_NO_GRADIENT`: a custom cell uses a tfjs kernel whose gradient is not registered.
 * - `E_POLICY`: a training policy does not fit the batch (another sequence length).
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
  | 'E_ORDER'
  | 'E_NO_GRADIENT'
  | 'E_POLICY'
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
