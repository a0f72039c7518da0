import type { PolicyIssue } from './errors.js';
import type { Policy } from './types.js';

/** Memory over time, as change points: after `time[i]` step computations, the live checkpoints were `hidden[i]`, `internal[i]`. */
export interface MemoryProfile {
  readonly time: Float64Array;
  readonly hidden: Int32Array;
  readonly internal: Int32Array;
}

/** What the replay counted. */
export interface Counted {
  readonly forwards: number;
  readonly backwards: number;
  readonly peakSlots: number;
  readonly peakBytes?: number;
  readonly peakHidden: number;
  readonly peakInternal: number;
}

/** The outcome of `verify`. */
export type VerifyReport =
  | { readonly ok: true; readonly counted: Counted; readonly profile?: MemoryProfile }
  | { readonly ok: false; readonly issue: PolicyIssue; readonly counted: Counted };

/** Options of `verify`. */
export interface VerifyOptions {
  /** Record the memory profile (default true). */
  readonly profile?: boolean;
  /** Skip the comparison of the header's totals with the counted ones (default false). */
  readonly skipTotals?: boolean;
}

/** Replay a structurally valid policy on the abstract machine of docs/policy-format.md. */
export function verify(policy: Policy, options?: VerifyOptions): VerifyReport {
  void policy;
  void options;
  throw new Error('verify: not implemented yet');
}
