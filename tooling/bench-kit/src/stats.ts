/** Order statistics of a sample. Pure. */

/** Median, min-max range and interquartile range of a sample. */
export interface Summary {
  /** Number of values. */
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** First and third quartiles (linear interpolation between order statistics). */
  readonly q1: number;
  readonly q3: number;
  /** `q3 - q1`. */
  readonly iqr: number;
}

function sorted(values: readonly number[]): number[] {
  if (values.length === 0) throw new RangeError('bench-kit: a statistic of no values');
  for (const v of values) {
    if (!Number.isFinite(v)) throw new RangeError(`bench-kit: a sample holds ${v}`);
  }
  return [...values].sort((a, b) => a - b);
}

/** The `q`-quantile (0 <= q <= 1) by linear interpolation between the order statistics. */
export function quantile(values: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`bench-kit: quantile ${q} is not in [0, 1]`);
  const s = sorted(values);
  const at = q * (s.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (at - lo);
}

/** The median: the middle value, or the mean of the two middle values of an even count. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Median, range and quartiles. */
export function summarize(values: readonly number[]): Summary {
  const s = sorted(values);
  const q1 = quantile(s, 0.25);
  const q3 = quantile(s, 0.75);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    min: s[0] as number,
    max: s[s.length - 1] as number,
    q1,
    q3,
    iqr: q3 - q1,
  };
}

/** `median (min-max)` with the given formatter, e.g. `12.3 ms (11.9-13.0)`. */
export function formatSummary(s: Summary, format: (x: number) => string = (x) => x.toPrecision(3)): string {
  return `${format(s.median)} (${format(s.min)}-${format(s.max)})`;
}
