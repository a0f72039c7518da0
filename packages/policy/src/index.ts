export * from './errors.js';
export * from './types.js';
export {
  DEFAULT_LIMITS,
  parsePolicy,
  type ReadLimits,
  type ReadOptions,
  resolveLimits,
  type ValidationResult,
  validate,
} from './validate.js';
export { assertVerified, type Counted, type MemoryProfile, slotsWithin, type VerifyOptions, type VerifyReport, verify } from "./verify.js";
export { policySchema } from "./schema.js";
