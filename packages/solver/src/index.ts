export { isSolverError, SolverError, type SolverErrorCode } from './errors.js';
export {
  beta as hsmBeta,
  hsmBinomialBound,
  hsmCost,
  hsmLevel,
  hsmMaxSteps,
  hsmPowerBound,
  hsmSplit,
} from './hsm.js';
export { SHARE_RANGE, SLOT_TOLERANCE } from './normalize.js';
export { frontier, memoryBudget, minimumMemory, plan, predict } from './plan.js';
export { type BytePlanRequest, solverPlanner } from './planner.js';
export {
  type CostModelInput,
  type FrontierPoint,
  type FrontierRequest,
  type MemoryBudget,
  type MemorySpec,
  type PlanRequest,
  type Prediction,
  STRATEGIES,
  type StrategyName,
} from './types.js';
