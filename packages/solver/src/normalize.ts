import { DEFAULT_LIMITS } from '@rewind/policy';
import { invalid, SolverError } from './errors.js';
import { STRATEGIES, type StrategyName } from './types.js';

/** Largest `steps` accepted (the default reading limit of `@rewind/policy`). */
export const MAX_STEPS = 10_000_000;
/** Default limit on the cells of a planning table. */
export const DEFAULT_MAX_TABLE_CELLS = 2 ** 26;
/** Finest memory grid: a hidden state is at most this many units. */
export const MAX_GRID = 16;

export interface CostModelN {
  readonly alpha: number;
  readonly forwardCost: number;
  readonly backwardCost: number;
}

export interface ByteSizes {
  readonly hidden: number;
  readonly internal: number;
}

/** A validated memory budget. */
export interface BudgetN {
  /** Budget in slots (real). */
  readonly slots: number;
  /** Budget in bytes, with the state sizes. */
  readonly bytes?: number;
  readonly stateBytes?: ByteSizes;
}

export interface Grid {
  /** Units per hidden checkpoint. */
  readonly q: number;
  /** Units per internal checkpoint (`A / q >= alpha`). */
  readonly A: number;
  /** Whether `A / q == alpha` (the grid is exact). */
  readonly exact: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function checkKeys(obj: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new SolverError('E_INVALID_ARGUMENT', `${path}: unknown key ${JSON.stringify(key)}`, {
        path: path === '' ? key : `${path}.${key}`,
        found: key,
        expected: `one of ${allowed.join(', ')}`,
      });
    }
  }
}

export function normSteps(v: unknown, path = 'steps'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_STEPS) {
    throw invalid(path, v, `an integer from 1 to ${MAX_STEPS}`);
  }
  return v;
}

export function normStrategy(v: unknown, path = 'strategy'): StrategyName {
  if (typeof v !== 'string' || !(STRATEGIES as readonly string[]).includes(v)) {
    throw invalid(path, v, `one of ${STRATEGIES.join(', ')}`);
  }
  return v as StrategyName;
}

function finite(v: unknown, path: string, expected: string, ok: (x: number) => boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw invalid(path, v, expected);
  return v;
}

export function normCostModel(v: unknown, path = 'costModel'): CostModelN {
  if (v === undefined) return { alpha: 1, forwardCost: 1, backwardCost: 2 };
  if (!isObject(v)) throw invalid(path, v, 'an object { alpha?, forwardCost?, backwardCost? }');
  checkKeys(v, path, ['alpha', 'forwardCost', 'backwardCost']);
  const alpha =
    v['alpha'] === undefined ? 1 : finite(v['alpha'], `${path}.alpha`, 'a finite number >= 1', (x) => x >= 1);
  const forwardCost =
    v['forwardCost'] === undefined
      ? 1
      : finite(v['forwardCost'], `${path}.forwardCost`, 'a finite number > 0', (x) => x > 0);
  const backwardCost =
    v['backwardCost'] === undefined
      ? 2
      : finite(v['backwardCost'], `${path}.backwardCost`, 'a finite number >= 0', (x) => x >= 0);
  return { alpha, forwardCost, backwardCost };
}

const safeInt = (min: number) => (x: number) => Number.isSafeInteger(x) && x >= min;

/**
 * Relative tolerance of every comparison of a real-valued slot budget: a schedule fits `M` slots when its
 * memory is at most `M * (1 + SLOT_TOLERANCE)`, so that a budget computed in floating point (5% of 1001
 * slots is 50.050000000000004) keeps exactly the schedules of the intended value. Byte budgets are exact.
 */
export const SLOT_TOLERANCE = 1e-12;

/** The accepted range of a share of store-all, in words. */
export const SHARE_RANGE = 'a number > 0 and <= 1 (a share of the memory of store-all: 0.05 is 5%)';

const MEMORY_FORMS =
  'an object { slots }, { bytes, stateBytes: { hidden, internal } } or { share, stateBytes? }';

/**
 * Validate the memory spec; returns the budget and, for a byte budget, the alpha the state sizes imply.
 * A `{ share }` needs the sequence length (`steps`, already validated).
 */
export function normMemory(
  v: unknown,
  costModel: unknown,
  path = 'memory',
  steps?: number,
): { budget: BudgetN; alpha?: number } {
  if (!isObject(v)) throw invalid(path, v, MEMORY_FORMS);
  if ('slots' in v) {
    checkKeys(v, path, ['slots']);
    const slots = finite(v['slots'], `${path}.slots`, 'a finite number >= 0', (x) => x >= 0);
    return { budget: { slots } };
  }
  if ('share' in v) {
    checkKeys(v, path, ['share', 'stateBytes']);
    const share = finite(v['share'], `${path}.share`, SHARE_RANGE, (x) => x > 0 && x <= 1);
    if (steps === undefined) throw invalid('steps', steps, 'a sequence length for a share of store-all');
    if (v['stateBytes'] === undefined) {
      const alpha = normCostModel(costModel).alpha;
      return { budget: { slots: share * (1 + steps * alpha) } };
    }
    const sb = stateSizes(v['stateBytes'], `${path}.stateBytes`);
    const bytes = Math.floor(share * (sb.hidden + steps * sb.internal));
    return byteBudget(bytes, sb, costModel);
  }
  if (!('bytes' in v)) throw invalid(path, v, MEMORY_FORMS);
  checkKeys(v, path, ['bytes', 'stateBytes']);
  const bytes = finite(v['bytes'], `${path}.bytes`, 'a safe integer >= 0', safeInt(0));
  return byteBudget(bytes, stateSizes(v['stateBytes'], `${path}.stateBytes`), costModel);
}

function stateSizes(sb: unknown, path: string): ByteSizes {
  if (!isObject(sb)) throw invalid(path, sb, 'an object { hidden, internal }');
  checkKeys(sb, path, ['hidden', 'internal']);
  const hidden = finite(sb['hidden'], `${path}.hidden`, 'a safe integer >= 1', safeInt(1));
  const internal = finite(
    sb['internal'],
    `${path}.internal`,
    `a safe integer >= stateBytes.hidden (${hidden}), since alpha = internal / hidden >= 1`,
    (x) => safeInt(1)(x) && x >= hidden,
  );
  return { hidden, internal };
}

function byteBudget(bytes: number, sizes: ByteSizes, costModel: unknown): { budget: BudgetN; alpha: number } {
  const { hidden, internal } = sizes;
  const alpha = internal / hidden;
  if (isObject(costModel) && typeof costModel['alpha'] === 'number') {
    const given = costModel['alpha'];
    if (Math.abs(given - alpha) > 1e-9 * alpha) {
      throw invalid(
        'costModel.alpha',
        given,
        `internal / hidden = ${alpha} for this byte budget, or no alpha`,
      );
    }
  }
  return { budget: { slots: bytes / hidden, bytes, stateBytes: { hidden, internal } }, alpha };
}

/** Default limit on the instructions of an emitted policy: the reading limit of `@rewind/policy`. */
export const DEFAULT_MAX_INSTRUCTIONS = DEFAULT_LIMITS.maxInstructions;

export function normMaxInstructions(v: unknown, path = 'maxInstructions'): number {
  if (v === undefined) return DEFAULT_MAX_INSTRUCTIONS;
  return finite(v, path, 'a safe integer >= 1', safeInt(1));
}

export function normMaxCells(v: unknown, path = 'maxTableCells'): number {
  if (v === undefined) return DEFAULT_MAX_TABLE_CELLS;
  return finite(v, path, 'a safe integer >= 1', safeInt(1));
}

export function normBudgets(v: unknown, path = 'budgets'): number[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw invalid(path, v, 'an array of budgets in slots');
  return v.map((b, i) => finite(b, `${path}.${i}`, 'a finite number >= 0', (x) => x >= 0));
}

/** The memory grid for `alpha` (and the byte sizes, when the budget is in bytes). */
export function gridFor(alpha: number, stateBytes?: ByteSizes): Grid {
  if (stateBytes !== undefined) {
    const g = gcd(stateBytes.hidden, stateBytes.internal);
    const q0 = stateBytes.hidden / g;
    if (q0 <= MAX_GRID) return { q: q0, A: stateBytes.internal / g, exact: true };
    const A = Number(
      (BigInt(MAX_GRID) * BigInt(stateBytes.internal) + BigInt(stateBytes.hidden) - 1n) /
        BigInt(stateBytes.hidden),
    );
    return { q: MAX_GRID, A, exact: false };
  }
  for (let q = 1; q <= MAX_GRID; q++) {
    const v = alpha * q;
    const r = Math.round(v);
    if (Math.abs(v - r) <= 1e-12 * v) return { q, A: r, exact: true };
  }
  return { q: MAX_GRID, A: Math.ceil(alpha * MAX_GRID), exact: false };
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * The memory of a budget on the grid, in units, excluding the initial state's slot: the largest `U` with
 * `(1 + U / q)` slots (and the corresponding bytes) within the budget; -1 when not even the initial state fits.
 */
export function budgetUnits(budget: BudgetN, grid: Grid): number {
  if (budget.bytes !== undefined && budget.stateBytes !== undefined) {
    const rest = BigInt(budget.bytes) - BigInt(budget.stateBytes.hidden);
    if (rest < 0n) return -1;
    return Number((BigInt(grid.q) * rest) / BigInt(budget.stateBytes.hidden));
  }
  const x = (budget.slots - 1) * grid.q;
  return Math.floor(x + SLOT_TOLERANCE * Math.max(1, Math.abs(x)));
}

/** Whether `hidden` hidden (the initial state's included) and `internal` internal checkpoints fit. */
export function fits(budget: BudgetN, alpha: number, hidden: number, internal: number): boolean {
  if (budget.bytes !== undefined && budget.stateBytes !== undefined) {
    return hidden * budget.stateBytes.hidden + internal * budget.stateBytes.internal <= budget.bytes;
  }
  return hidden + internal * alpha <= budget.slots * (1 + SLOT_TOLERANCE);
}

/** Whole hidden-state slots of a budget (for hsm). */
export function budgetWholeSlots(budget: BudgetN): number {
  if (budget.bytes !== undefined && budget.stateBytes !== undefined) {
    return Number(BigInt(budget.bytes) / BigInt(budget.stateBytes.hidden));
  }
  return Math.floor(budget.slots * (1 + SLOT_TOLERANCE));
}
