/** Stable error codes. New codes may be added in minor releases; existing ones never change meaning. */
export type PolicyErrorCode =
  // structure (validate)
  | 'E_TYPE'
  | 'E_REQUIRED'
  | 'E_UNKNOWN_KEY'
  | 'E_ENUM'
  | 'E_INTEGER'
  | 'E_RANGE'
  | 'E_FORMAT'
  | 'E_VERSION'
  | 'E_LIMIT'
  | 'E_JSON'
  // binary decoding
  | 'E_BINARY_MAGIC'
  | 'E_BINARY_TRUNCATED'
  | 'E_BINARY_OPCODE'
  | 'E_BINARY_VARINT'
  | 'E_BINARY_CHECKSUM'
  | 'E_BINARY_TRAILING'
  // replay (verify)
  | 'E_VERIFY_NO_SOURCE'
  | 'E_VERIFY_ORDER'
  | 'E_VERIFY_NO_STATE'
  | 'E_VERIFY_HELD'
  | 'E_VERIFY_NOT_HELD'
  | 'E_VERIFY_DEAD'
  | 'E_VERIFY_BUDGET'
  | 'E_VERIFY_INCOMPLETE'
  | 'E_VERIFY_TOTALS';

/**
 * Where a reader found a problem (docs/policy-format.md section 7): reading the bytes (`decode`), the structure
 * of each value (`schema`), rules across fields (`semantic`), the replay (`verify`); `encode` for a value that a
 * writer cannot encode.
 */
export type PolicyStage = 'decode' | 'schema' | 'semantic' | 'verify' | 'encode';

/** One problem found in a policy. */
export interface PolicyIssue {
  /** Stable machine-readable code. */
  readonly code: PolicyErrorCode;
  /** The stage of reading that found it. */
  readonly stage: PolicyStage;
  /** JSON pointer (RFC 6901) to the offending value, e.g. `/instructions/3/to`; `""` is the root. */
  readonly path: string;
  /** Human-readable sentence: what is wrong and what would be valid. */
  readonly message: string;
  /** The offending value, when there is one (truncated for large values). */
  readonly found?: unknown;
  /** What would be valid, in words. */
  readonly expected?: string;
}

/** The error thrown by the throwing entry points (`parsePolicy`, `decodeBinary`, `assertVerified`). */
export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  readonly stage: PolicyStage;
  readonly path: string;
  readonly found?: unknown;
  readonly expected?: string;
  /** Every issue found; the first is the one named in `message`. */
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly [PolicyIssue, ...PolicyIssue[]]) {
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(`${first.code}: ${first.path === '' ? '(root)' : first.path}: ${first.message}${more}`);
    this.name = 'PolicyError';
    this.code = first.code;
    this.stage = first.stage;
    this.path = first.path;
    if ('found' in first) this.found = first.found;
    if (first.expected !== undefined) this.expected = first.expected;
    this.issues = issues;
  }
}

/** Whether `error` is a `PolicyError`, optionally with the given code. */
export function isPolicyError(error: unknown, code?: PolicyErrorCode): error is PolicyError {
  return error instanceof PolicyError && (code === undefined || error.code === code);
}

/** Render a value for an error message, bounded in length. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

/** Append one segment to a JSON pointer, escaping `~` and `/` (RFC 6901). */
export function pointer(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}/${key}`;
  const safe = key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
  return `${parent}/${safe}`;
}

/** Make an issue, leaving out absent optional fields. */
export function issue(
  code: PolicyErrorCode,
  stage: PolicyStage,
  path: string,
  message: string,
  extra: { found?: unknown; expected?: string } = {},
): PolicyIssue {
  const out: { -readonly [K in keyof PolicyIssue]: PolicyIssue[K] } = { code, stage, path, message };
  if ('found' in extra) out.found = extra.found;
  if (extra.expected !== undefined) out.expected = extra.expected;
  return out;
}
