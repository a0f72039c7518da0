/** Parsing of command-line values shared by the commands. Pure: no I/O. */

/** Exit codes of the `rewind` command line. */
export const EXIT = {
  ok: 0,
  /** The policy is invalid or failed verification. */
  invalid: 1,
  /** Bad usage: unknown command or option, malformed value, wrong input file, unwritable output. */
  usage: 2,
  /** The memory budget is below the minimum any schedule of the strategy needs. */
  infeasible: 3,
  /** Anything else: I/O errors, a backend failure, a diverged training, an internal error. */
  failure: 4,
  /** Interrupted (SIGINT); what finished was kept. 128 + SIGINT, as shells report it. */
  interrupted: 130,
} as const;

/** A failure the command line reports as one line, `CODE: message`, with its exit code. */
export class CliError extends Error {
  readonly code: string;
  readonly exit: number;
  constructor(code: string, message: string, exit: number) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exit = exit;
  }
}

/** A usage error: exit code 2. */
export class UsageError extends CliError {
  constructor(code: string, message: string) {
    super(code, message, EXIT.usage);
    this.name = 'UsageError';
  }
}

/** How a `--memory` value was given. */
export type MemoryArg =
  | { readonly kind: 'slots'; readonly slots: number }
  | { readonly kind: 'bytes'; readonly bytes: number }
  | { readonly kind: 'percent'; readonly percent: number };

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

const NUMBER = '[+-]?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?';

/** The allowed shares of store-all, as the command line writes them. */
export const PERCENT_RANGE = 'a share of store-all > 0% and <= 100%';

/**
 * `--memory`: a number of slots (`120`, `37.5`), a byte size with a unit (`64MiB`, `1.5GB`, `4096B`), or a
 * share of the store-all memory (`5%`, more than 0% and at most 100%).
 */
export function parseMemory(text: string, option = '--memory'): MemoryArg {
  const t = text.trim();
  const shown = `${option} ${JSON.stringify(text)}`;
  const percent = new RegExp(`^(${NUMBER})\\s*%$`).exec(t);
  if (percent !== null) {
    const value = Number(percent[1]);
    if (value > 0 && value <= 100) return { kind: 'percent', percent: value };
    throw new UsageError('E_MEMORY', `${shown} is outside the allowed range: ${PERCENT_RANGE}`);
  }
  const sized = new RegExp(`^(${NUMBER})\\s*([a-zA-Z]+)$`).exec(t);
  if (sized !== null) {
    const unit = UNITS[sized[2]!.toLowerCase()];
    if (unit === undefined) {
      throw new UsageError(
        'E_MEMORY',
        `${shown} has an unknown unit ${JSON.stringify(sized[2])}: use B, KB, MB, GB, KiB, MiB or GiB`,
      );
    }
    const bytes = Math.floor(Number(sized[1]) * unit);
    if (bytes > 0 && Number.isSafeInteger(bytes)) return { kind: 'bytes', bytes };
    throw new UsageError(
      'E_MEMORY',
      `${shown} is outside the allowed range: a byte size >= 1 B and < 2^53 B`,
    );
  }
  if (new RegExp(`^${NUMBER}$`).test(t)) {
    const slots = Number(t);
    if (slots > 0 && Number.isFinite(slots)) return { kind: 'slots', slots };
    throw new UsageError('E_MEMORY', `${shown} is outside the allowed range: a number of slots > 0`);
  }
  throw new UsageError(
    'E_MEMORY',
    `${shown} is not a memory size; give slots (e.g. 120), bytes with a unit (64MiB, 1.5GB) or ${PERCENT_RANGE} (5%)`,
  );
}

/**
 * An integer option from `min` to `max` (default 1 to 2^53 - 1). Any number notation that denotes an
 * integer is accepted (`1000`, `1e6`).
 */
export function parseCount(
  name: string,
  text: string | undefined,
  fallback?: number,
  range: { readonly min?: number; readonly max?: number } = {},
): number {
  if (text === undefined) {
    if (fallback !== undefined) return fallback;
    throw new UsageError('E_MISSING', `--${name} is required`);
  }
  const min = range.min ?? 1;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const value = Number(text.trim());
  const ok = new RegExp(`^${NUMBER}$`).test(text.trim()) && Number.isSafeInteger(value);
  if (!ok || value < min || value > max) {
    const allowed =
      max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw new UsageError(
      'E_NUMBER',
      `--${name} ${JSON.stringify(text)} is ${ok ? 'outside the allowed range' : 'not a positive integer'}: ${allowed}`,
    );
  }
  return value;
}

/** Bounds of a real option; `above` excludes the bound, `min` includes it. */
export interface RealRange {
  readonly min?: number;
  readonly above?: number;
  readonly max?: number;
}

function describeRange(r: RealRange): string {
  const parts: string[] = [];
  if (r.above !== undefined) parts.push(`> ${r.above}`);
  if (r.min !== undefined) parts.push(`>= ${r.min}`);
  if (r.max !== undefined) parts.push(`<= ${r.max}`);
  return `a number ${parts.join(' and ')}`;
}

/** A real option within a range. */
export function parseReal(
  name: string,
  text: string | undefined,
  fallback: number,
  range: RealRange,
): number {
  if (text === undefined) return fallback;
  const value = Number(text.trim());
  const ok =
    new RegExp(`^${NUMBER}$`).test(text.trim()) &&
    Number.isFinite(value) &&
    (range.min === undefined || value >= range.min) &&
    (range.above === undefined || value > range.above) &&
    (range.max === undefined || value <= range.max);
  if (!ok) {
    throw new UsageError('E_NUMBER', `--${name} ${JSON.stringify(text)} is not ${describeRange(range)}`);
  }
  return value;
}

/**
 * `--state-bytes HIDDEN[:INTERNAL]`, sizes of one checkpoint of each kind in bytes. Without INTERNAL, it is
 * `ceil(HIDDEN * alpha)` (alpha from `--alpha`, default 1).
 */
export function parseStateBytes(text: string, alpha: number): { hidden: number; internal: number } {
  const m = /^([0-9]+)(?::([0-9]+))?$/.exec(text.trim());
  const hidden = m === null ? Number.NaN : Number(m[1]);
  const internal = m?.[2] === undefined ? Math.ceil(hidden * alpha) : Number(m[2]);
  if (!(hidden >= 1 && internal >= 1 && Number.isSafeInteger(hidden) && Number.isSafeInteger(internal))) {
    throw new UsageError(
      'E_STATE_BYTES',
      `--state-bytes ${JSON.stringify(text)} is not HIDDEN[:INTERNAL]: integers >= 1, in bytes (e.g. 65536 or 65536:294912)`,
    );
  }
  if (internal < hidden) {
    throw new UsageError(
      'E_STATE_BYTES',
      `--state-bytes ${JSON.stringify(text)}: INTERNAL must be >= HIDDEN (an internal state holds the hidden one)`,
    );
  }
  return { hidden, internal };
}

/** A comma-separated list option; every item trimmed, none empty. */
export function parseList(name: string, text: string): string[] {
  const items = text.split(',').map((x) => x.trim());
  if (items.some((x) => x === '')) {
    throw new UsageError('E_LIST', `--${name} ${JSON.stringify(text)} has an empty item: give A,B,C`);
  }
  return items;
}

/** One of a fixed set of names. */
export function parseChoice<T extends string>(name: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(
      `E_${name.toUpperCase().replace(/-/g, '_')}`,
      `--${name} ${JSON.stringify(text)} is not one of ${choices.join(', ')}`,
    );
  }
  return text as T;
}

/** A number for people: at most 12 significant digits (no `50.050000000000004`). */
export function formatNumber(x: number): string {
  return String(Number(x.toPrecision(12)));
}

/** `n unit`, with the plural for anything but exactly 1. */
export function plural(n: number, unit: string): string {
  return `${formatNumber(n)} ${n === 1 ? unit : `${unit}s`}`;
}

/** Format a byte count for people. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${i === 0 ? value : value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[i]}`;
}

/** Seconds for people: `45 s`, `3.2 min`, `1.5 h`. */
export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
