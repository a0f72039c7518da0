/**
 * Types of the Rewind policy-interchange format, version 1.
 *
 * The normative description is `docs/policy-format.md`; the JSON Schema is generated from
 * `spec.ts`. These types mirror both.
 */

/** The value of the `format` field of every policy. */
export const FORMAT_NAME = 'rewind-policy';

/** The major version this library reads and writes. */
export const FORMAT_MAJOR = 1;

/** The minor version this library writes. Readers accept any minor version of their major. */
export const FORMAT_MINOR = 0;

/** The version string this library writes: `"<major>.<minor>"`. */
export const FORMAT_VERSION = `${FORMAT_MAJOR}.${FORMAT_MINOR}`;

/** What a store keeps: a hidden state `h_p` (1 slot) or an internal state `s_p` (`alpha` slots). */
export type StoreKind = 'hidden' | 'internal';

/**
 * Run forward steps `from + 1 .. to`, starting from the held state at position `from`.
 *
 * With `store`, keeps a checkpoint of that kind at positions `from + k * stride` for
 * `k = 1 .. floor((to - from) / stride)`; `stride` defaults to `to - from` (only `to`).
 */
export interface ForwardInstruction {
  readonly op: 'forward';
  readonly from: number;
  readonly to: number;
  readonly store?: StoreKind;
  readonly stride?: number;
}

/**
 * Run backward steps `from, from - 1, .. to` (so `from >= to`), each with the internal state
 * of its step: a held internal checkpoint, the working state left by an immediately preceding
 * forward that ended at `from`, or one recomputed forward step from a held state at `t - 1`.
 */
export interface BackwardInstruction {
  readonly op: 'backward';
  readonly from: number;
  readonly to: number;
}

/** Release a held checkpoint before it dies on its own. */
export interface FreeInstruction {
  readonly op: 'free';
  readonly kind: StoreKind;
  readonly at: number;
}

/** One instruction of a policy body. */
export type Instruction = ForwardInstruction | BackwardInstruction | FreeInstruction;

/** The cost model a policy was planned under. */
export interface CostModel {
  /** Size of an internal state over a hidden state; a real number >= 1. */
  readonly alpha: number;
  /** Cost of one forward step (the unit: 1 unless measured otherwise). */
  readonly forwardCost: number;
  /** Cost of one backward step, in the same unit. */
  readonly backwardCost: number;
}

/** The memory budget for checkpoints. */
export interface Budget {
  /** Budget in hidden-state slots, counting the slot that holds the initial state. */
  readonly slots: number;
  /** Budget in bytes, when the state sizes are known. */
  readonly bytes?: number;
}

/** Byte sizes of one checkpoint of each kind, when known. */
export interface StateBytes {
  readonly hidden: number;
  readonly internal: number;
}

/** Totals predicted by the planner; `verify` proves them. */
export interface Totals {
  /** Forward step computations, the first pass and every recomputation included. */
  readonly forwards: number;
  /** Backward step computations: always `steps`. */
  readonly backwards: number;
  /** Peak live checkpoint memory in slots (the initial state's slot included). */
  readonly peakSlots: number;
  /** Peak live checkpoint memory in bytes; present when `stateBytes` is. */
  readonly peakBytes?: number;
}

/** A JSON value, for the free-form `meta` field. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** A complete backward-pass schedule over a chain of `steps` recurrent steps. */
export interface Policy {
  readonly format: typeof FORMAT_NAME;
  readonly version: string;
  readonly steps: number;
  readonly strategy: string;
  readonly costModel: CostModel;
  readonly budget: Budget;
  readonly stateBytes?: StateBytes;
  readonly totals: Totals;
  /** Free-form information (generator, parameters); never changes how a policy runs. */
  readonly meta?: { readonly [key: string]: JsonValue };
  readonly instructions: readonly Instruction[];
}
