/** Parsing of command-line values shared by the commands. Pure: no I/O. */

/** A usage error: exit code 2, printed without a stack trace. */
export class UsageError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'UsageError';
    this.code = code;
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

/**
 * `--memory`: a number of slots (`120`, `37.5`), a byte size with a unit (`64MiB`, `1.5GB`, `4096B`), or a
 * share of the store-all memory (`5%`).
 */
export function parseMemory(text: string): MemoryArg {
  const t = text.trim();
  const percent = /^([0-9]*\.?[0-9]+)\s*%$/.exec(t);
  if (percent !== null) {
    const value = Number(percent[1]);
    if (value > 0 && value <= 100) return { kind: 'percent', percent: value };
  }
  const sized = /^([0-9]*\.?[0-9]+)\s*([a-zA-Z]+)$/.exec(t);
  if (sized !== null) {
    const unit = UNITS[sized[2]!.toLowerCase()];
    if (unit !== undefined) {
      const bytes = Math.floor(Number(sized[1]) * unit);
      if (bytes > 0 && Number.isSafeInteger(bytes)) return { kind: 'bytes', bytes };
    }
  }
  if (/^[0-9]*\.?[0-9]+$/.test(t)) {
    const slots = Number(t);
    if (slots > 0 && Number.isFinite(slots)) return { kind: 'slots', slots };
  }
  throw new UsageError(
    'E_MEMORY',
    `--memory ${JSON.stringify(text)} is not a memory size; give slots (e.g. 120), bytes with a unit (64MiB, 1.5GB) or a share of store-all (5%)`,
  );
}

/** A positive integer option. */
export function parseCount(name: string, text: string | undefined, fallback?: number): number {
  if (text === undefined) {
    if (fallback !== undefined) return fallback;
    throw new UsageError('E_MISSING', `--${name} is required`);
  }
  const value = Number(text);
  if (!/^[0-9]+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError('E_NUMBER', `--${name} ${JSON.stringify(text)} is not a positive integer`);
  }
  return value;
}

/** A real option with a lower bound. */
export function parseReal(name: string, text: string | undefined, fallback: number, minimum: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < minimum) {
    throw new UsageError('E_NUMBER', `--${name} ${JSON.stringify(text)} is not a number >= ${minimum}`);
  }
  return value;
}

/** `--state-bytes HIDDEN[:INTERNAL]`, sizes of one checkpoint of each kind in bytes. */
export function parseStateBytes(text: string, alpha: number): { hidden: number; internal: number } {
  const m = /^([0-9]+)(?::([0-9]+))?$/.exec(text.trim());
  const hidden = m === null ? Number.NaN : Number(m[1]);
  const internal = m?.[2] === undefined ? Math.ceil(hidden * alpha) : Number(m[2]);
  if (!(hidden >= 1 && internal >= 1 && Number.isSafeInteger(hidden) && Number.isSafeInteger(internal))) {
    throw new UsageError(
      'E_STATE_BYTES',
      `--state-bytes ${JSON.stringify(text)} is not HIDDEN[:INTERNAL] in bytes (e.g. 65536 or 65536:229376)`,
    );
  }
  return { hidden, internal };
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
