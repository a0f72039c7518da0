import { SolverError } from './errors.js';
import { plan } from './plan.js';
import { STRATEGIES, type StrategyName } from './types.js';

/** What `solverPlanner.plan` is asked for: a policy for `steps` within `bytes` of checkpoints. */
export interface BytePlanRequest {
  readonly steps: number;
  readonly stateBytes: { readonly hidden: number; readonly internal: number };
  readonly strategy: StrategyName;
  readonly bytes: number;
}

/**
 * The solver as a planner of byte budgets, in the shape `@rewind/executor`'s conformance suite takes
 * (`describeBackendConformance(name, factory, { planner: solverPlanner })`): `plan` plans at a byte budget,
 * and `retryBudget` names the smallest feasible budget after an `E_BUDGET_TOO_SMALL`.
 */
export const solverPlanner = {
  strategies: STRATEGIES,
  plan: ({ steps, stateBytes, strategy, bytes }: BytePlanRequest) =>
    plan({ steps, memory: { bytes, stateBytes }, strategy }),
  retryBudget: (error: unknown, bytes: number): number | undefined =>
    error instanceof SolverError && error.code === 'E_BUDGET_TOO_SMALL'
      ? Math.max(Math.ceil(error.minimum ?? 2 * bytes), bytes + 1)
      : undefined,
};
