import type { CellBackendV1 } from '../backend.js';
import {
  type BackendFactory,
  type ConformanceBackend,
  type ConformanceOptions,
  type ConformancePlanner,
  defineConformance,
} from './suite.js';

export type {
  BackendFactory,
  ConformanceBackend,
  ConformanceCase,
  ConformanceOptions,
  ConformancePlanner,
  ConformanceStrategy,
  FiniteDifferenceOptions,
  Perturbation,
} from './suite.js';

/** Options of `describeBackendConformance`: the suite's options and the planner that makes its policies. */
export interface BackendConformanceOptions<B extends ConformanceBackend = CellBackendV1>
  extends ConformanceOptions<B> {
  /**
   * Makes the policies the suite runs, e.g. `solverPlanner` of `@rewind/solver` (the executor itself
   * depends on no planner).
   */
  readonly planner: ConformancePlanner;
}

/**
 * Register, with vitest's `describe` and `it`, the conformance tests every backend of the
 * `rewind-backend-v1` or `rewind-backend-v2` interface must pass (the factory says which; every check
 * runs on both versions, a version 2 backend through a version 2 handle tracker):
 *
 * - for random small sequence lengths and budgets and every strategy of the planner, the loss and every
 *   gradient (parameters, inputs, initial state) equal those of store-all, within `tolerance`; every run's
 *   forward and backward counts and ledger peak equal the verified ones;
 * - store-all equals central finite differences on a tiny model (asked for in float64);
 * - hand-made policies whose ranges keep checkpoints of each kind at every stride, leave working states,
 *   mix the sources of backward steps (internal checkpoints, working states, recomputation from hidden
 *   checkpoints and from views of internal ones) and run backward ranges of one step equal store-all;
 * - no handle leaks and no handle misuse across many runs; a version 2 backend receives exactly one range
 *   per `forward` and `backward` instruction;
 * - a policy for another sequence length, for other state sizes, or one that fails verification is
 *   refused before any work (no forward or backward work, range or step, is asked for);
 * - an abort after any operation frees every handle, and the backend stays usable.
 *
 * Call it at the top level of a test file. `factory` builds a fresh backend for a case; equal seeds and
 * lengths must give equal models and batches, and `perturb` must nudge the named scalar.
 */
export function describeBackendConformance<B extends ConformanceBackend = CellBackendV1>(
  name: string,
  factory: BackendFactory<B>,
  options: BackendConformanceOptions<B>,
): void {
  defineConformance(name, factory, options, options.planner);
}
