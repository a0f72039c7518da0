import type { PolicyIssue } from './errors.js';
import type { Policy } from './types.js';

/** Bounds on untrusted input. Every field is optional; absent fields take `DEFAULT_LIMITS`. */
export interface ReadLimits {
  /** Largest accepted input, in bytes (JSON text or binary). */
  readonly maxBytes: number;
  /** Largest accepted `steps`. */
  readonly maxSteps: number;
  /** Largest accepted number of instructions. */
  readonly maxInstructions: number;
  /** Largest accepted `meta`, in canonical JSON bytes. */
  readonly maxMetaBytes: number;
  /** Deepest accepted nesting inside `meta`. */
  readonly maxMetaDepth: number;
}

/** Default limits for untrusted input (docs/policy-format.md section 6). */
export const DEFAULT_LIMITS: ReadLimits = {
  maxBytes: 256 * 1024 * 1024,
  maxSteps: 10_000_000,
  maxInstructions: 10_000_000,
  maxMetaBytes: 64 * 1024,
  maxMetaDepth: 16,
};

/** Options of the reading entry points. */
export interface ReadOptions {
  readonly limits?: Partial<ReadLimits>;
}

/** The outcome of `validate`. */
export type ValidationResult =
  | { readonly ok: true; readonly policy: Policy; readonly ignoredKeys: readonly string[] }
  | { readonly ok: false; readonly issues: readonly [PolicyIssue, ...PolicyIssue[]] };

/** Resolve partial limits against the defaults. */
export function resolveLimits(options: ReadOptions | undefined): ReadLimits {
  return { ...DEFAULT_LIMITS, ...options?.limits };
}

/**
 * Structural check of an untrusted value (e.g. the result of `JSON.parse`). Returns a fresh, frozen-free
 * copy holding only known keys, or every issue found with its JSON path.
 */
export function validate(input: unknown, options?: ReadOptions): ValidationResult {
  void input;
  void options;
  throw new Error('validate: not implemented yet');
}

/** Like `validate`, but returns the policy or throws a `PolicyError`. */
export function parsePolicy(input: unknown, options?: ReadOptions): Policy {
  void input;
  void options;
  throw new Error('parsePolicy: not implemented yet');
}
