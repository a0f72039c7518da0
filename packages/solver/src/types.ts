import type { JsonValue } from '@rewind/policy';

/** The planners this package implements. */
export type StrategyName =
  | 'store-all'
  | 'recompute-all'
  | 'chen-sqrt'
  | 'chen-recursive'
  | 'hsm'
  | 'ism'
  | 'msm'
  | 'auto';

/** Every strategy name, in a stable order. */
export const STRATEGIES: readonly StrategyName[] = [
  'store-all',
  'recompute-all',
  'chen-sqrt',
  'chen-recursive',
  'hsm',
  'ism',
  'msm',
  'auto',
];

/** The cost model; every field is optional. */
export interface CostModelInput {
  /** Size of an internal state over a hidden state, a real number >= 1 (default 1). */
  alpha?: number;
  /** Cost of one backward step in forward-step units, >= 0 (default 2). */
  backwardCost?: number;
  /** Cost of one forward step, > 0 (default 1). */
  forwardCost?: number;
}

/**
 * The memory budget for checkpoints: in slots (one slot holds one hidden state; the initial state's slot
 * counts), in bytes given the byte sizes of one hidden and one internal state, or as a share of the memory
 * of store-all (standard BPTT).
 *
 * `{ share }` is a number in (0, 1] (`0.05` is 5%). Without `stateBytes` it means
 * `share * (1 + steps * alpha)` slots (alpha from the cost model); with `stateBytes` it means
 * `floor(share * (hidden + steps * internal))` bytes, alpha then being `internal / hidden`. Either way it
 * plans exactly what the equivalent `{ slots }` or `{ bytes, stateBytes }` request plans.
 */
export type MemorySpec =
  | { slots: number }
  | { bytes: number; stateBytes: { hidden: number; internal: number } }
  | { share: number; stateBytes?: { hidden: number; internal: number } };

/** A memory budget resolved against a sequence length and cost model (see `memoryBudget`). */
export interface MemoryBudget {
  /** The budget in slots (for a byte budget, `bytes / stateBytes.hidden`). */
  readonly slots: number;
  /** The budget in bytes, for a byte budget or a share with `stateBytes`. */
  readonly bytes?: number;
  /** The state sizes of a byte budget. */
  readonly stateBytes?: { readonly hidden: number; readonly internal: number };
  /** Internal-state size over hidden-state size the budget was resolved with. */
  readonly alpha: number;
  /** The memory of store-all in slots, `1 + steps * alpha`. */
  readonly storeAllSlots: number;
  /** The memory of store-all in bytes, `hidden + steps * internal`, for a byte budget. */
  readonly storeAllBytes?: number;
  /** The budget over the memory of store-all. */
  readonly share: number;
}

/** A planning request. */
export interface PlanRequest {
  /** Number of recurrent steps `T`, an integer >= 1. */
  steps: number;
  /** The memory budget. */
  memory: MemorySpec;
  /** The planner. */
  strategy: StrategyName;
  /** The cost model (defaults: alpha 1, forwardCost 1, backwardCost 2). */
  costModel?: CostModelInput;
  /**
   * Largest planning table of the ism/msm dynamic programs, in cells (about 2 bytes each), default 2^26;
   * planning above it throws `E_TOO_LARGE`.
   */
  maxTableCells?: number;
  /**
   * Most instructions `plan` emits, default 10^7 (the reading limit of `@rewind/policy`); a policy with
   * more throws `E_TOO_LARGE` while it is emitted, so memory stays bounded. `predict` emits nothing.
   */
  maxInstructions?: number;
}

/** What a plan costs, computed without emitting the policy. Equal to the totals of `plan(req)`. */
export interface Prediction {
  /** The strategy that produced the schedule (for `auto`, the one chosen). */
  readonly strategy: Exclude<StrategyName, 'auto'>;
  /** The strategy that was asked for. */
  readonly requested: StrategyName;
  readonly steps: number;
  /** Forward step computations, first pass and recomputations included. */
  readonly forwards: number;
  /** Backward steps: always `steps`. */
  readonly backwards: number;
  /** Peak live checkpoint memory in slots, the initial state's slot included. */
  readonly peakSlots: number;
  /** Peak live checkpoint memory in bytes, for a byte budget. */
  readonly peakBytes?: number;
  /** The budget in slots (a byte budget divided by `stateBytes.hidden`). */
  readonly budgetSlots: number;
  /** The memory the schedule uses of the budget, in slots: the same as `peakSlots`. */
  readonly usedSlots: number;
  /** `forwards * forwardCost + backwards * backwardCost`. */
  readonly time: number;
  /** `time` over the time of store-all (standard BPTT, `steps` forwards). */
  readonly timeRatio: number;
  /** `peakSlots` over the memory of store-all, `1 + steps * alpha`. */
  readonly memoryRatio: number;
  /** Strategy parameters (e.g. the Chen segment length), also written to the policy's `meta`. */
  readonly params: { readonly [key: string]: JsonValue };
}

/** One point of the cost-memory frontier. */
export interface FrontierPoint {
  readonly strategy: Exclude<StrategyName, 'auto'>;
  /** The budget, in slots. */
  readonly budgetSlots: number;
  /** Forward step computations of the strategy's plan at that budget. */
  readonly forwards: number;
  /** `forwards * forwardCost + steps * backwardCost`. */
  readonly time: number;
  /** `time` over the time of store-all. */
  readonly timeRatio: number;
  /**
   * The memory the plan uses, in slots (for ism/msm with an alpha that the grid rounds up, an upper bound:
   * see the README).
   */
  readonly peakSlots: number;
  /** `peakSlots` over the memory of store-all. */
  readonly memoryRatio: number;
}

/** A frontier request. */
export interface FrontierRequest {
  steps: number;
  costModel?: CostModelInput;
  /** Strategies to evaluate (default: all but `auto`). */
  strategies?: StrategyName[];
  /** Budgets in slots (default: every integer from 1 to the memory of store-all, rounded up). */
  budgets?: number[];
  /** As in `PlanRequest`. */
  maxTableCells?: number;
}
