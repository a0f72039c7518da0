import type { PolicyIssue } from '@rewind/policy';

/**
 * Stable error codes of the executor. New codes may be added in minor releases; existing ones never
 * change meaning.
 *
 * - `E_BACKEND_VERSION`: the backend declares a `specificationVersion` this executor does not run.
 * - `E_BACKEND_CONTRACT`: the backend broke its interface (e.g. bad `stateBytes`, no internal state when
 *   one was asked for).
 * - `E_STEPS_MISMATCH`: the policy's `steps` is not the batch's sequence length.
 * - `E_STATE_BYTES_MISMATCH`: the policy's `stateBytes` differ from the backend's.
 * - `E_POLICY_INVALID`: the policy is malformed or fails `verify` (see `issues`).
 * - `E_BUDGET_EXCEEDED`: the held checkpoints outgrow the policy's budget on this backend: found by
 *   `checkRunnable` before any work (a policy planned with a smaller `alpha` than the backend's), or, as a
 *   safeguard, by the ledger at run time.
 * - `E_ABORTED`: the run was aborted through its `AbortSignal`.
 * - `E_OPTIONS`: an option (of `runPolicy`, a trainer, an optimizer) is invalid.
 * - `E_MODEL`: a model's shape or parameters break the model contract (`checkModelShape`).
 * - `E_BATCH`: a batch does not fit its model (`checkBatch`).
 * - `E_HANDLE`: a backend was given a handle of another backend, of the wrong kind, disposed, or lent
 *   (`HandleBook`).
 * - `E_STEP`: a step outside `1..T`, a forward step from the wrong state, a backward step out of order
 *   (`HandleBook`).
 * - `E_DIVERGED`: training met a loss or a gradient that is not finite.
 * - `E_DISPOSED`: a trainer or backend was used after `dispose()`.
 * - `E_DATA`: a data set cannot make batches (a text too short, or with fewer than 2 distinct characters).
 */
export type ExecutorErrorCode =
  | 'E_BACKEND_VERSION'
  | 'E_BACKEND_CONTRACT'
  | 'E_STEPS_MISMATCH'
  | 'E_STATE_BYTES_MISMATCH'
  | 'E_POLICY_INVALID'
  | 'E_BUDGET_EXCEEDED'
  | 'E_ABORTED'
  | 'E_OPTIONS'
  | 'E_MODEL'
  | 'E_BATCH'
  | 'E_HANDLE'
  | 'E_STEP'
  | 'E_DIVERGED'
  | 'E_DISPOSED'
  | 'E_DATA';

/** Extra information carried by an `ExecutorError`. */
export interface ExecutorErrorDetails {
  /** The policy issues behind an `E_POLICY_INVALID`. */
  readonly issues?: readonly PolicyIssue[];
  /** The underlying cause (e.g. the signal's `reason` for `E_ABORTED`). */
  readonly cause?: unknown;
  /** The offending field, as a JSON pointer (e.g. `/targets/17`, `/optimizer/learningRate`). */
  readonly path?: string;
}

/** The error `runPolicy` throws for every failure of its own; errors thrown by a backend pass through unchanged. */
export class ExecutorError extends Error {
  /** Stable machine-readable code. */
  readonly code: ExecutorErrorCode;
  /** The policy issues behind an `E_POLICY_INVALID`; empty otherwise. */
  readonly issues: readonly PolicyIssue[];
  /** The offending field as a JSON pointer, when the error is about one. */
  readonly path: string | undefined;

  constructor(code: ExecutorErrorCode, message: string, details: ExecutorErrorDetails = {}) {
    super(`${code}: ${message}`, 'cause' in details ? { cause: details.cause } : undefined);
    this.name = 'ExecutorError';
    this.code = code;
    this.issues = details.issues ?? [];
    this.path = details.path;
  }
}

/** Whether `error` is an `ExecutorError`, optionally with the given code. */
export function isExecutorError(error: unknown, code?: ExecutorErrorCode): error is ExecutorError {
  return error instanceof ExecutorError && (code === undefined || error.code === code);
}
