export { BINARY_MAGIC, decodeBinary, decodeBinaryRaw, encodeBinary } from './binary.js';
export { crc32 } from './crc32.js';
export {
  isPolicyError,
  PolicyError,
  type PolicyErrorCode,
  type PolicyIssue,
  type PolicyStage,
} from './errors.js';
export { canonicalJson, contentHash, decodeJson, encodeJson, encodeJsonBytes } from './json.js';
export { policySchema } from './schema.js';
export { sha256, sha256Hex } from './sha256.js';
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
export {
  assertVerified,
  type Counted,
  type MemoryProfile,
  slotsWithin,
  type VerifyOptions,
  type VerifyReport,
  verify,
} from './verify.js';
