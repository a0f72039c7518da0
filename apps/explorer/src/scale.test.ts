import { describe, expect, it } from 'vitest';
import {
  formatCompact,
  formatMs,
  formatNumber,
  formatPercent,
  formatSlots,
  linearScale,
  linearTicks,
  logScale,
  logTicks,
} from './scale';

describe('scales', () => {
  it('maps linearly, including reversed ranges', () => {
    const s = linearScale(0, 100, 400, 0);
    expect(s(0)).toBe(400);
    expect(s(100)).toBe(0);
    expect(s(25)).toBe(300);
    expect(linearScale(5, 5, 0, 10)(5)).toBe(5);
  });

  it('maps logarithmically', () => {
    const s = logScale(1, 1000, 0, 300);
    expect(s(1)).toBeCloseTo(0, 9);
    expect(s(10)).toBeCloseTo(100, 9);
    expect(s(1000)).toBeCloseTo(300, 9);
  });
});

describe('ticks', () => {
  it('chooses round linear steps', () => {
    expect(linearTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(linearTicks(0, 318, 10)).toEqual([0, 50, 100, 150, 200, 250, 300]);
    expect(linearTicks(0, 1, 4)).toEqual([0, 0.5, 1]);
    expect(linearTicks(0, 0.3, 3)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(linearTicks(3, 3)).toEqual([3]);
  });

  it('chooses log ticks, thinning them to the limit', () => {
    expect(logTicks(1, 1000)).toEqual([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]);
    expect(logTicks(1, 1000, 5)).toEqual([1, 10, 100, 1000]);
    expect(logTicks(1, 20)).toEqual([1, 1.5, 2, 3, 5, 7, 10, 15, 20]);
    expect(logTicks(2, 3)).toEqual([2, 3]);
  });
});

describe('formatting', () => {
  it('formats compactly', () => {
    expect(formatCompact(12)).toBe('12');
    expect(formatCompact(1.234)).toBe('1.23');
    expect(formatCompact(12_300)).toBe('12.3k');
    expect(formatCompact(4_500_000)).toBe('4.5M');
    expect(formatCompact(2e9)).toBe('2G');
  });

  it('formats numbers, slots and durations', () => {
    expect(formatNumber(12345.678)).toBe('12,345.68');
    expect(formatNumber(1.4444, 3)).toBe('1.444');
    expect(formatSlots(1)).toBe('1 slot');
    expect(formatSlots(16)).toBe('16 slots');
    expect(formatPercent(12.345)).toBe('12.3%');
    expect(formatPercent(0.04999)).toBe('0.05%');
    expect(formatPercent(0)).toBe('0%');
    expect(formatMs(0.42)).toBe('0.4 ms');
    expect(formatMs(123.4)).toBe('123 ms');
    expect(formatMs(1300)).toBe('1.3 s');
  });
});
