/** Stable error codes of `@rewind/solver`. New codes may be added; existing ones never change meaning. */
export type SolverErrorCode =
  /** An argument has the wrong type, is out of range, or is unknown. Checked before any computation. */
  | 'E_INVALID_ARGUMENT'
  /** The memory budget is below the smallest budget the strategy can run in (`minimum`). */
  | 'E_BUDGET_TOO_SMALL'
  /** The planning table would exceed the configured size limit. */
  | 'E_TOO_LARGE';

/** The error thrown by every entry point of `@rewind/solver`. */
export class SolverError extends Error {
  /** Stable machine-readable code. */
  readonly code: SolverErrorCode;
  /**
   * The offending request field as a JSON pointer, e.g. `/memory/slots`; absent when no single field is at
   * fault.
   */
  readonly path?: string;
  /** For `E_BUDGET_TOO_SMALL`: the smallest feasible budget, in slots (or bytes, for a byte budget). */
  readonly minimum?: number;
  /** The offending value, when there is one. */
  readonly found?: unknown;
  /** What would be valid, in words. */
  readonly expected?: string;

  constructor(
    code: SolverErrorCode,
    message: string,
    details: { path?: string; minimum?: number; found?: unknown; expected?: string } = {},
  ) {
    super(`${code}: ${message}`);
    this.name = 'SolverError';
    this.code = code;
    if (details.path !== undefined) this.path = toPointer(details.path);
    if (details.minimum !== undefined) this.minimum = details.minimum;
    if ('found' in details) this.found = details.found;
    if (details.expected !== undefined) this.expected = details.expected;
  }
}

/** Whether `error` is a `SolverError`, optionally with the given code. */
export function isSolverError(error: unknown, code?: SolverErrorCode): error is SolverError {
  return error instanceof SolverError && (code === undefined || error.code === code);
}

/** A field path (`memory.slots`, or already a pointer) as a JSON pointer (`/memory/slots`). */
export function toPointer(path: string): string {
  if (path === '' || path.startsWith('/')) return path;
  return `/${path
    .split('.')
    .map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1'))
    .join('/')}`;
}

export function invalid(path: string, found: unknown, expected: string): SolverError {
  return new SolverError(
    'E_INVALID_ARGUMENT',
    `${toPointer(path)}: expected ${expected}, found ${show(found)}`,
    {
      path,
      found,
      expected,
    },
  );
}

function show(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}
