import { describe, expect, it } from 'vitest';
import { formatSummary, median, quantile, summarize } from './stats.js';

describe('order statistics', () => {
  it('takes the middle value, or the mean of the two middle values', () => {
    expect(median([3])).toBe(3);
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([10, 1])).toBe(5.5);
  });

  it('interpolates quantiles between order statistics', () => {
    const xs = [7, 1, 5, 3, 9];
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile(xs, 1)).toBe(9);
    expect(quantile(xs, 0.25)).toBe(3);
    expect(quantile(xs, 0.75)).toBe(7);
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75);
    // Against the definition on random samples: the q-quantile splits the sorted sample at q (n - 1).
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed / 2 ** 31) * 100;
    };
    for (let n = 1; n < 30; n++) {
      const sample = Array.from({ length: n }, rand);
      const s = [...sample].sort((a, b) => a - b);
      for (const q of [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1]) {
        const at = q * (n - 1);
        const want = s[Math.floor(at)]! + (s[Math.ceil(at)]! - s[Math.floor(at)]!) * (at - Math.floor(at));
        expect(quantile(sample, q)).toBeCloseTo(want, 12);
      }
    }
  });

  it('summarizes a sample with its range and quartiles', () => {
    expect(summarize([2, 8, 4, 6, 10])).toEqual({ n: 5, median: 6, min: 2, max: 10, q1: 4, q3: 8, iqr: 4 });
    expect(formatSummary(summarize([1.5, 2, 3]), (x) => x.toFixed(1))).toBe('2.0 (1.5-3.0)');
  });

  it('refuses an empty sample, a non-finite value and a quantile outside [0, 1]', () => {
    expect(() => median([])).toThrow(/no values/);
    expect(() => median([1, Number.NaN])).toThrow(/NaN/);
    expect(() => quantile([1, 2], 1.5)).toThrow(/not in \[0, 1\]/);
  });
});
