import { memoryBudget } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_INPUTS,
  inputsFromHash,
  inputsToHash,
  MAX_PAGE_STEPS,
  PAGE_STRATEGIES,
  parseInputs,
  parseNumber,
  percentToSlots,
  type RawInputs,
  storeAllSlots,
} from './inputs';

const raw = (over: Partial<RawInputs> = {}): RawInputs => ({ ...DEFAULT_INPUTS, ...over });

describe('parseNumber', () => {
  it('reads plain, signed, decimal and exponent forms', () => {
    expect(parseNumber('100')).toBe(100);
    expect(parseNumber('  2.5 ')).toBe(2.5);
    expect(parseNumber('.5')).toBe(0.5);
    expect(parseNumber('1e4')).toBe(10_000);
    expect(parseNumber('-3')).toBe(-3);
    expect(parseNumber('7.')).toBe(7);
  });

  it('allows digit group separators', () => {
    expect(parseNumber('10_000')).toBe(10_000);
    expect(parseNumber('10 000')).toBe(10_000);
  });

  it('rejects what is not a finite number', () => {
    for (const bad of ['', ' ', 'abc', '1,5', '0x10', 'Infinity', 'NaN', '1e999', '1 2.3.4', '--1', '_1']) {
      expect(parseNumber(bad), bad).toBeUndefined();
    }
  });
});

describe('parseInputs', () => {
  it('accepts the defaults', () => {
    const r = parseInputs(DEFAULT_INPUTS);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.settings).toEqual({
      steps: 100,
      alpha: 2,
      backwardCost: 2,
      budget: 16,
      budgetUnit: 'slots',
      budgetSlots: 16,
      strategy: 'msm',
    });
  });

  it('converts a percentage of store-all into slots', () => {
    const r = parseInputs(raw({ steps: '50', alpha: '1.5', budget: '10', budgetUnit: 'percent' }));
    expect(r.ok && r.settings.budgetSlots).toBeCloseTo(0.1 * (1 + 50 * 1.5), 12);
    expect(storeAllSlots(50, 1.5)).toBe(76);
  });

  it('accepts every page strategy and nothing else', () => {
    for (const s of PAGE_STRATEGIES) expect(parseInputs(raw({ strategy: s })).ok).toBe(true);
    const r = parseInputs(raw({ strategy: 'auto' }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.field)).toEqual(['strategy']);
  });

  it.each([
    ['steps', '0', /whole number from 1/],
    ['steps', '2.5', /whole number/],
    ['steps', String(MAX_PAGE_STEPS + 1), /100,000/],
    ['steps', 'ten', /T must be/],
    ['alpha', '0.5', /alpha/],
    ['alpha', '', /alpha/],
    ['backwardCost', '-1', />= 0/],
    ['budget', '0', /slots > 0/],
    ['budget', 'lots', /slots > 0/],
    ['budgetUnit', 'bytes', /slots or percent/],
  ] as const)('says what is wrong with %s = %j', (field, value, message) => {
    const r = parseInputs(raw({ [field]: value }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]?.field).toBe(field);
    expect(r.errors[0]?.message).toMatch(message);
  });

  it('refuses a share of store-all above 100% as the command line does, and computes shares with the solver', () => {
    for (const budget of ['150', '100.5', '0']) {
      const r = parseInputs(raw({ budget, budgetUnit: 'percent' }));
      expect(r.ok).toBe(false);
      expect(!r.ok && r.errors[0]?.message).toMatch(/> 0% and <= 100%/);
    }
    const full = parseInputs(raw({ steps: '1000', alpha: '1', budget: '100', budgetUnit: 'percent' }));
    expect(full.ok && full.settings.budgetSlots).toBe(1001);
    const five = parseInputs(raw({ steps: '1000', alpha: '1', budget: '5', budgetUnit: 'percent' }));
    expect(five.ok && five.settings.budgetSlots).toBe(memoryBudget(1000, { share: 0.05 }).slots);
    expect(percentToSlots(1000, 1, 150)).toBeUndefined();
    expect(percentToSlots(1000, 4.5, 5)).toBe(0.05 * 4501);
    // 150 slots (not percent) stays a valid slot budget.
    expect(parseInputs(raw({ budget: '150', budgetUnit: 'slots' })).ok).toBe(true);
  });

  it('speaks of percent when the budget is a percentage', () => {
    const r = parseInputs(raw({ budget: '-5', budgetUnit: 'percent' }));
    expect(!r.ok && r.errors[0]?.message).toMatch(/percentage/);
  });

  it('reports every bad field at once', () => {
    const r = parseInputs({
      steps: 'x',
      alpha: 'y',
      backwardCost: 'z',
      budget: '',
      budgetUnit: '?',
      strategy: '',
    });
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.errors.map((e) => e.field).sort()).toEqual([
        'alpha',
        'backwardCost',
        'budget',
        'budgetUnit',
        'steps',
        'strategy',
      ]);
  });

  it('accepts a backward cost of zero and a fractional slot budget', () => {
    const r = parseInputs(raw({ backwardCost: '0', budget: '3.5' }));
    expect(r.ok && r.settings.backwardCost).toBe(0);
    expect(r.ok && r.settings.budgetSlots).toBe(3.5);
  });
});

describe('URL hash', () => {
  it('round-trips the inputs', () => {
    const r = raw({
      steps: '1000',
      alpha: '1.25',
      backwardCost: '3',
      budget: '25',
      budgetUnit: 'percent',
      strategy: 'hsm',
    });
    const hash = inputsToHash(r);
    expect(hash).toBe('#T=1000&alpha=1.25&bwd=3&budget=25&unit=percent&strategy=hsm');
    expect(inputsFromHash(hash)).toEqual(r);
  });

  it('keeps defaults for missing keys and ignores unknown or overlong ones', () => {
    expect(inputsFromHash('')).toEqual(DEFAULT_INPUTS);
    expect(inputsFromHash('#T=42&foo=1')).toEqual(raw({ steps: '42' }));
    expect(inputsFromHash(`#T=${'9'.repeat(100)}`)).toEqual(DEFAULT_INPUTS);
  });

  it('passes bad values through for parseInputs to report', () => {
    const r = inputsFromHash('#T=abc');
    expect(r.steps).toBe('abc');
    expect(parseInputs(r).ok).toBe(false);
  });
});
