import { plan, SolverError, STRATEGIES } from '@rewind/solver';
import {
  type BackendFactory,
  type ConformanceOptions,
  type ConformancePlanner,
  defineConformance,
} from './suite.js';

export {
  type BackendFactory,
  type ConformanceCase,
  type ConformanceOptions,
  type ConformancePlanner,
  type ConformanceStrategy,
  defineConformance,
  type FiniteDifferenceOptions,
  type Perturbation,
} from './suite.js';

/** `@rewind/solver` as the suite's planner: budgets in bytes, with the backend's state sizes. */
export const solverPlanner: ConformancePlanner = {
  strategies: STRATEGIES,
  plan: ({ steps, stateBytes, strategy, bytes }) => plan({ steps, memory: { bytes, stateBytes }, strategy }),
  retryBudget: (error, bytes) =>
    error instanceof SolverError && error.code === 'E_BUDGET_TOO_SMALL'
      ? Math.max(Math.ceil(error.minimum ?? 2 * bytes), bytes + 1)
      : undefined,
};

/**
 * Register, with vitest's `describe` and `it`, the conformance tests every backend of the
 * `rewind-backend-v1` interface must pass:
 *
 * - for random small sequence lengths and budgets and every planning strategy of `@rewind/solver`, the
 *   loss and every gradient (parameters, inputs, initial state) equal those of store-all, within
 *   `tolerance`; every run's forward and backward counts and ledger peak equal the verified ones;
 * - store-all equals central finite differences on a tiny model (asked for in float64);
 * - no handle leaks and no handle misuse across many runs;
 * - a policy for another sequence length, for other state sizes, or one that fails verification is
 *   refused before any work (the backend's `forward` is never called);
 * - an abort after any operation frees every handle, and the backend stays usable.
 *
 * Call it at the top level of a test file. `factory` builds a fresh backend for a case; equal seeds and
 * lengths must give equal models and batches, and `perturb` must nudge the named scalar.
 */
export function describeBackendConformance(
  name: string,
  factory: BackendFactory,
  options: ConformanceOptions = {},
): void {
  defineConformance(name, factory, options, solverPlanner);
}
