/** Scales, axis ticks and number formatting for the charts. Pure. */

export interface Scale1 {
  (v: number): number;
  readonly domain: readonly [number, number];
  readonly range: readonly [number, number];
  readonly log: boolean;
}

/** A linear map from `[d0, d1]` to `[r0, r1]` (a zero-width domain maps to the middle of the range). */
export function linearScale(d0: number, d1: number, r0: number, r1: number): Scale1 {
  const k = d1 !== d0 ? (r1 - r0) / (d1 - d0) : 0;
  const mid = (r0 + r1) / 2;
  const f = (v: number): number => (k === 0 ? mid : r0 + (v - d0) * k);
  return Object.assign(f, { domain: [d0, d1] as const, range: [r0, r1] as const, log: false });
}

/** A base-10 logarithmic map from `[d0, d1]` (both > 0) to `[r0, r1]`. */
export function logScale(d0: number, d1: number, r0: number, r1: number): Scale1 {
  const l0 = Math.log10(d0);
  const l1 = Math.log10(d1);
  const lin = linearScale(l0, l1, r0, r1);
  const f = (v: number): number => lin(Math.log10(Math.max(v, Number.MIN_VALUE)));
  return Object.assign(f, { domain: [d0, d1] as const, range: [r0, r1] as const, log: true });
}

/** About `count` round tick values (1, 2 or 5 times a power of ten apart) covering `[lo, hi]`. */
export function linearTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const out: number[] = [];
  const first = Math.ceil(lo / step - 1e-9) * step;
  for (let v = first; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Tick values for a log axis over `[lo, hi]`: powers of ten, with 2 and 5 times them when few. */
export function logTicks(lo: number, hi: number, maxTicks = 12): number[] {
  const e0 = Math.floor(Math.log10(lo));
  const e1 = Math.ceil(Math.log10(hi));
  const within = (v: number) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  let out: number[] = [];
  for (const mults of [[1, 1.5, 2, 3, 5, 7], [1, 2, 5], [1, 3], [1]]) {
    out = [];
    for (let e = e0; e <= e1; e++) {
      for (const m of mults) {
        const v = Number((m * 10 ** e).toPrecision(12));
        if (within(v)) out.push(v);
      }
    }
    if (out.length <= maxTicks) break;
  }
  if (out.length < 2) return [lo, hi];
  return out;
}

/** A compact label: 12, 1.5, 2.35, 12.3k, 4.5M. */
export function formatCompact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  return trim(v);
}

function trim(v: number): string {
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return String(Number(v.toFixed(digits)));
}

/** A full number with thousands separators and at most `digits` decimals: 12,345.67. */
export function formatNumber(v: number, digits = 2): string {
  return v.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** A duration in milliseconds: 0.4 ms, 12 ms, 1.3 s. */
export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A memory amount: `1 slot`, `16 slots`, `99.9 slots`. */
export function formatSlots(v: number): string {
  return `${formatNumber(v)} ${v === 1 ? 'slot' : 'slots'}`;
}

/** A percentage: `12.5%`, `0.05%` (two significant digits below 1%). */
export function formatPercent(v: number): string {
  if (v === 0) return '0%';
  if (Math.abs(v) < 1) return `${Number(v.toPrecision(2))}%`;
  return `${formatNumber(v, 1)}%`;
}
