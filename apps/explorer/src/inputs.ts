/**
 * The page's inputs: parsing the raw text of the form into settings (or per-field messages), the budget
 * conversion from percent of store-all to slots, and the URL-hash encoding that makes a view shareable.
 */

import { memoryBudget, SolverError } from '@rewind/solver';

/** The strategies the page offers, in the order of the strategy menu (msm, the default, first). */
export const PAGE_STRATEGIES = [
  'msm',
  'hsm',
  'ism',
  'chen-sqrt',
  'chen-recursive',
  'recompute-all',
  'store-all',
] as const;

export type PageStrategy = (typeof PAGE_STRATEGIES)[number];

export type BudgetUnit = 'slots' | 'percent';

/** Largest T the page plans (the solver goes further; the drawing and the dynamic programs get slow). */
export const MAX_PAGE_STEPS = 100_000;
export const MAX_ALPHA = 1000;
export const MAX_BACKWARD_COST = 1e6;

/** The form's values as typed. */
export interface RawInputs {
  readonly steps: string;
  readonly alpha: string;
  readonly backwardCost: string;
  readonly budget: string;
  readonly budgetUnit: string;
  readonly strategy: string;
}

/** Validated settings. `budgetSlots` is the budget in slots whatever unit it was typed in. */
export interface Settings {
  readonly steps: number;
  readonly alpha: number;
  readonly backwardCost: number;
  readonly budget: number;
  readonly budgetUnit: BudgetUnit;
  readonly budgetSlots: number;
  readonly strategy: PageStrategy;
}

export type Field = keyof RawInputs;

export interface FieldError {
  readonly field: Field;
  readonly message: string;
}

export type ParseResult =
  | { readonly ok: true; readonly settings: Settings }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

export const DEFAULT_INPUTS: RawInputs = {
  steps: '100',
  alpha: '2',
  backwardCost: '2',
  budget: '16',
  budgetUnit: 'slots',
  strategy: 'msm',
};

/** The memory of store-all in slots (the initial state plus `T` internal states of `alpha` slots), from the solver. */
export function storeAllSlots(steps: number, alpha: number): number {
  return memoryBudget(steps, { share: 1 }, { alpha }).storeAllSlots;
}

/** A share of store-all in percent as slots, computed by the solver; undefined outside (0%, 100%]. */
export function percentToSlots(steps: number, alpha: number, percent: number): number | undefined {
  try {
    return memoryBudget(steps, { share: percent / 100 }, { alpha }).slots;
  } catch (e) {
    // The share is out of range (the path reads memory.share, or /memory/share as a JSON pointer).
    if (e instanceof SolverError && /share$/.test(e.path ?? '')) return undefined;
    throw e;
  }
}

/**
 * A number typed by a person: surrounding blanks, `_` and blanks between digit groups are allowed
 * (`10 000`, `10_000`), as are exponents (`1e4`). Returns undefined when it is not a finite number.
 */
export function parseNumber(text: string): number | undefined {
  const t = text.trim().replace(/(?<=\d)[_\s](?=\d)/g, '');
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : undefined;
}

function isStrategy(s: string): s is PageStrategy {
  return (PAGE_STRATEGIES as readonly string[]).includes(s);
}

/** Turn the form's text into settings, or say for each bad field what is wrong. */
export function parseInputs(raw: RawInputs): ParseResult {
  const errors: FieldError[] = [];
  const steps = parseNumber(raw.steps);
  if (steps === undefined || !Number.isInteger(steps) || steps < 1 || steps > MAX_PAGE_STEPS) {
    errors.push({
      field: 'steps',
      message: `T must be a whole number from 1 to ${MAX_PAGE_STEPS.toLocaleString('en-US')}`,
    });
  }
  const alpha = parseNumber(raw.alpha);
  if (alpha === undefined || alpha < 1 || alpha > MAX_ALPHA) {
    errors.push({
      field: 'alpha',
      message: `alpha (internal state size / hidden state size) must be a number from 1 to ${MAX_ALPHA}`,
    });
  }
  const backwardCost = parseNumber(raw.backwardCost);
  if (backwardCost === undefined || backwardCost < 0 || backwardCost > MAX_BACKWARD_COST) {
    errors.push({
      field: 'backwardCost',
      message: 'the backward cost (in forward steps) must be a number >= 0',
    });
  }
  const budgetUnit: BudgetUnit | undefined =
    raw.budgetUnit === 'slots' || raw.budgetUnit === 'percent' ? raw.budgetUnit : undefined;
  if (budgetUnit === undefined) {
    errors.push({ field: 'budgetUnit', message: 'the budget unit must be slots or percent' });
  }
  const budget = parseNumber(raw.budget);
  if (budget === undefined || budget <= 0 || (budgetUnit === 'percent' && budget > 100)) {
    errors.push({
      field: 'budget',
      message:
        budgetUnit === 'percent'
          ? 'the budget must be a percentage of the memory of store-all, > 0% and <= 100% (as in the command line)'
          : 'the budget must be a number of slots > 0 (one slot holds one hidden state)',
    });
  }
  const strategy = raw.strategy;
  if (!isStrategy(strategy)) {
    errors.push({ field: 'strategy', message: `the strategy must be one of ${PAGE_STRATEGIES.join(', ')}` });
  }
  if (
    errors.length > 0 ||
    steps === undefined ||
    alpha === undefined ||
    backwardCost === undefined ||
    budget === undefined ||
    budgetUnit === undefined ||
    !isStrategy(strategy)
  ) {
    return { ok: false, errors };
  }
  const budgetSlots = budgetUnit === 'percent' ? percentToSlots(steps, alpha, budget) : budget;
  if (budgetSlots === undefined) {
    return {
      ok: false,
      errors: [
        {
          field: 'budget',
          message:
            'the budget must be a percentage of the memory of store-all, > 0% and <= 100% (as in the command line)',
        },
      ],
    };
  }
  return { ok: true, settings: { steps, alpha, backwardCost, budget, budgetUnit, budgetSlots, strategy } };
}

const HASH_KEYS: readonly [Field, string][] = [
  ['steps', 'T'],
  ['alpha', 'alpha'],
  ['backwardCost', 'bwd'],
  ['budget', 'budget'],
  ['budgetUnit', 'unit'],
  ['strategy', 'strategy'],
];

/** The inputs as a URL hash, `#T=100&alpha=2&...`. */
export function inputsToHash(raw: RawInputs): string {
  const p = new URLSearchParams();
  for (const [field, key] of HASH_KEYS) p.set(key, raw[field].trim());
  return `#${p.toString()}`;
}

/** Inputs from a URL hash; missing keys keep their defaults. Values are checked later by `parseInputs`. */
export function inputsFromHash(hash: string, defaults: RawInputs = DEFAULT_INPUTS): RawInputs {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const out: Record<Field, string> = { ...defaults };
  for (const [field, key] of HASH_KEYS) {
    const v = p.get(key);
    if (v !== null && v.length <= 64) out[field] = v;
  }
  return out;
}
