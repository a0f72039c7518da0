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
export { type Counted, type MemoryProfile, type VerifyOptions, type VerifyReport, verify } from './verify.js';
