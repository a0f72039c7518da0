import {
  type BackendFactory,
  type ConformanceOptions,
  type ConformancePlanner,
  defineConformance,
} from './suite.js';

export type {
  BackendFactory,
  ConformanceCase,
  ConformanceOptions,
  ConformancePlanner,
  ConformanceStrategy,
  FiniteDifferenceOptions,
  Perturbation,
} from './suite.js';

/** Options of `describeBackendConformance`: the suite's options and the planner that makes its policies. */
export interface BackendConformanceOptions extends ConformanceOptions {
  /**
   * Makes the policies the suite runs, e.g. `solverPlanner` of `@rewind/solver` (the executor itself
   * depends on no planner).
   */
  readonly planner: ConformancePlanner;
}

/**
 * Register, with vitest's `describe` and `it`, the conformance tests every backend of the
 * `rewind-backend-v1` interface must pass:
 *
 * - for random small sequence lengths and budgets and every strategy of the planner, the loss and every
 *   gradient (parameters, inputs, initial state) equal those of store-all, within `tolerance`; every run's
 *   forward and backward counts and ledger peak equal the verified ones;
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
  options: BackendConformanceOptions,
): void {
  defineConformance(name, factory, options, options.planner);
}
