import { FORMAT_NAME, FORMAT_VERSION, type JsonValue, type Policy } from '@rewind/policy';
import { type ChoiceTable, closedQuery, type DpSpec, saturationUnits, solveDp, tableCells } from './dp.js';
import { Emitter } from './emit.js';
import { invalid, SolverError } from './errors.js';
import { hsmCost } from './hsm.js';
import {
  type BudgetN,
  budgetUnits,
  budgetWholeSlots,
  type CostModelN,
  fits,
  gridFor,
  normBudgets,
  normCostModel,
  normMaxCells,
  normMaxInstructions,
  normMemory,
  normSteps,
  normStrategy,
} from './normalize.js';
import {
  chenRecursiveStats,
  chenSqrtStats,
  hsmChooser,
  type Mem,
  runChenRecursive,
  runChenSqrt,
  runRecomputeAll,
  runStoreAll,
  runTree,
} from './schedules.js';
import type {
  CostModelInput,
  FrontierPoint,
  FrontierRequest,
  MemoryBudget,
  MemorySpec,
  PlanRequest,
  Prediction,
  StrategyName,
} from './types.js';

type Concrete = Exclude<StrategyName, 'auto'>;

interface Ctx {
  readonly T: number;
  readonly cm: CostModelN;
  readonly budget: BudgetN;
  readonly maxCells: number;
  readonly maxInstructions: number;
  readonly requested: StrategyName;
}

interface Prepared {
  readonly strategy: Concrete;
  readonly forwards: number;
  readonly params: { [key: string]: JsonValue };
  run(em: Emitter): void;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function context(req: unknown): Ctx {
  if (!isObject(req)) throw invalid('request', req, 'an object { steps, memory, strategy, costModel? }');
  for (const key of Object.keys(req)) {
    if (!['steps', 'memory', 'strategy', 'costModel', 'maxTableCells', 'maxInstructions'].includes(key)) {
      throw new SolverError('E_INVALID_ARGUMENT', `unknown request key ${JSON.stringify(key)}`, {
        path: key,
        found: key,
        expected: 'one of steps, memory, strategy, costModel, maxTableCells, maxInstructions',
      });
    }
  }
  const T = normSteps(req['steps']);
  const requested = normStrategy(req['strategy']);
  const cm0 = normCostModel(req['costModel']);
  const mem = normMemory(req['memory'], req['costModel'], 'memory', T);
  const maxCells = normMaxCells(req['maxTableCells']);
  const maxInstructions = normMaxInstructions(req['maxInstructions']);
  const cm = mem.alpha === undefined ? cm0 : { ...cm0, alpha: mem.alpha };
  return { T, cm, budget: mem.budget, maxCells, maxInstructions, requested };
}

function memValue(ctx: Ctx, m: Mem): number {
  const sb = ctx.budget.stateBytes;
  if (ctx.budget.bytes !== undefined && sb !== undefined) return m.h * sb.hidden + m.i * sb.internal;
  return m.h + m.i * ctx.cm.alpha;
}

function tooSmall(ctx: Ctx, strategy: StrategyName, min: Mem): SolverError {
  const inBytes = ctx.budget.bytes !== undefined;
  const minimum = memValue(ctx, min);
  const found = inBytes ? ctx.budget.bytes : ctx.budget.slots;
  const unit = inBytes ? 'bytes' : 'slots';
  return new SolverError(
    'E_BUDGET_TOO_SMALL',
    `${strategy} needs at least ${minimum} ${unit} for ${ctx.T} steps; the budget is ${found} ${unit}`,
    {
      path: inBytes ? 'memory.bytes' : 'memory.slots',
      minimum,
      found,
      expected: `at least ${minimum} ${unit}`,
    },
  );
}

function chenSqrtBest(T: number, ok: (m: Mem) => boolean, value: (m: Mem) => number) {
  let best: { k: number; forwards: number; peak: number } | undefined;
  for (let k = 1; k <= T; k++) {
    const s = chenSqrtStats(T, k);
    if (!s.peaks.every(ok)) continue;
    const peak = Math.max(...s.peaks.map(value));
    if (
      best === undefined ||
      s.forwards < best.forwards ||
      (s.forwards === best.forwards && peak < best.peak)
    ) {
      best = { k, forwards: s.forwards, peak };
    }
  }
  return best;
}

function maxDepth(T: number): number {
  return T <= 1 ? 0 : Math.ceil(Math.log2(T));
}

function chenRecursiveBest(T: number, alpha: number, ok: (m: Mem) => boolean, value: (m: Mem) => number) {
  let best: { d: number; forwards: number; peak: number } | undefined;
  for (let d = 0; d <= maxDepth(T); d++) {
    const s = chenRecursiveStats(T, d, alpha);
    if (!ok(s.peak)) continue;
    const peak = value(s.peak);
    if (
      best === undefined ||
      s.forwards < best.forwards ||
      (s.forwards === best.forwards && peak < best.peak)
    ) {
      best = { d, forwards: s.forwards, peak };
    }
  }
  return best;
}

/** The smallest memory of a strategy, as checkpoint counts (minimised at the given alpha). */
function minMem(T: number, alpha: number, strategy: StrategyName): Mem {
  const value = (m: Mem) => m.h + m.i * alpha;
  switch (strategy) {
    case 'store-all':
      return { h: 1, i: T };
    case 'chen-sqrt': {
      let best: Mem = { h: 1, i: T };
      for (let k = 1; k <= T; k++) {
        const s = chenSqrtStats(T, k);
        const top = s.peaks.reduce((x, y) => (value(y) > value(x) ? y : x));
        if (value(top) < value(best)) best = top;
      }
      return best;
    }
    case 'chen-recursive': {
      let best: Mem = { h: 1, i: T };
      for (let d = 0; d <= maxDepth(T); d++) {
        const p = chenRecursiveStats(T, d, alpha).peak;
        if (value(p) < value(best)) best = p;
      }
      return best;
    }
    default:
      return { h: 1, i: 0 };
  }
}

/** Smallest M' <= M with hsmCost(T, M') == hsmCost(T, M). */
function hsmSlotsUsed(T: number, M: number): { slots: number; cost: number } {
  const cap = Math.min(M, Math.max(1, T - 1));
  const cost = hsmCost(T, cap);
  let lo = 1;
  let hi = cap;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (hsmCost(T, mid) === cost) hi = mid;
    else lo = mid + 1;
  }
  return { slots: lo, cost };
}

function prepare(ctx: Ctx, strategy: Concrete): Prepared {
  const { T, cm, budget } = ctx;
  const ok = (m: Mem) => fits(budget, cm.alpha, m.h, m.i);
  const value = (m: Mem) => memValue(ctx, m);
  switch (strategy) {
    case 'store-all': {
      if (!ok({ h: 1, i: T })) throw tooSmall(ctx, strategy, { h: 1, i: T });
      return { strategy, forwards: T, params: {}, run: (em) => runStoreAll(em, T) };
    }
    case 'recompute-all': {
      if (!ok({ h: 1, i: 0 })) throw tooSmall(ctx, strategy, { h: 1, i: 0 });
      return { strategy, forwards: (T * (T + 1)) / 2, params: {}, run: (em) => runRecomputeAll(em, T) };
    }
    case 'chen-sqrt': {
      const best = chenSqrtBest(T, ok, value);
      if (best === undefined) throw tooSmall(ctx, strategy, minMem(T, cm.alpha, strategy));
      const k = best.k;
      return {
        strategy,
        forwards: best.forwards,
        params: { segmentLength: k, segments: Math.ceil(T / k) },
        run: (em) => runChenSqrt(em, T, k),
      };
    }
    case 'chen-recursive': {
      const best = chenRecursiveBest(T, cm.alpha, ok, value);
      if (best === undefined) throw tooSmall(ctx, strategy, minMem(T, cm.alpha, strategy));
      const d = best.d;
      return {
        strategy,
        forwards: best.forwards,
        params: { depth: d, split: 'bisection', leafLength: Math.ceil(T / 2 ** d) },
        run: (em) => runChenRecursive(em, T, d),
      };
    }
    case 'hsm': {
      const M = budgetWholeSlots(budget);
      if (M < 1) throw tooSmall(ctx, strategy, { h: 1, i: 0 });
      const used = hsmSlotsUsed(T, M);
      return {
        strategy,
        forwards: used.cost,
        params: { slots: used.slots },
        run: (em) => runTree(em, T, used.slots, 1, 1, hsmChooser),
      };
    }
    case 'ism':
    case 'msm': {
      const grid = gridFor(cm.alpha, budget.stateBytes);
      const U = budgetUnits(budget, grid);
      if (U < 0) throw tooSmall(ctx, strategy, { h: 1, i: 0 });
      const hidden = strategy === 'msm';
      const units = Math.min(U, saturationUnits(T, grid.q, grid.A, hidden, true));
      const spec: DpSpec = {
        steps: T,
        units,
        q: grid.q,
        A: grid.A,
        hidden,
        internal: true,
        keepChoices: true,
      };
      let cost: number;
      let used: number;
      let choose: ChoiceTable;
      const closed = closedQuery(spec);
      if (closed !== undefined) {
        ({ cost, used, table: choose } = closed);
      } else {
        checkSize(spec, ctx.maxCells);
        const { top, table } = solveDp(spec);
        cost = top[units] as number;
        used = units;
        while (used > 0 && top[used - 1] === cost) used--;
        choose = table as ChoiceTable;
      }
      return {
        strategy,
        forwards: cost,
        params: { grid: { q: grid.q, A: grid.A, exact: grid.exact }, units: used },
        run: (em) => runTree(em, T, used, grid.q, grid.A, (isG, t, u) => choose.choice(isG, t, u)),
      };
    }
  }
}

function checkSize(spec: DpSpec, maxCells: number): void {
  const cells = tableCells(spec);
  const total = cells.choices + cells.ring;
  if (total > maxCells) {
    throw new SolverError(
      'E_TOO_LARGE',
      `the planning table needs ${total} cells (steps ${spec.steps}, ${spec.units + 1} memory units); the limit is ${maxCells}. Use hsm (closed form, any size), a smaller budget, or raise maxTableCells`,
      { path: 'maxTableCells', found: total, expected: `at most ${maxCells} cells` },
    );
  }
}

const AUTO_FALLBACK: readonly Concrete[] = [
  'hsm',
  'chen-sqrt',
  'chen-recursive',
  'store-all',
  'recompute-all',
];

function prepareRequested(ctx: Ctx): Prepared {
  if (ctx.requested !== 'auto') return prepare(ctx, ctx.requested);
  try {
    return prepare(ctx, 'msm');
  } catch (e) {
    if (!(e instanceof SolverError) || e.code !== 'E_TOO_LARGE') throw e;
  }
  let best: Prepared | undefined;
  for (const s of AUTO_FALLBACK) {
    try {
      const p = prepare(ctx, s);
      if (best === undefined || p.forwards < best.forwards) best = p;
    } catch (e) {
      if (!(e instanceof SolverError) || e.code !== 'E_BUDGET_TOO_SMALL') throw e;
    }
  }
  if (best === undefined) throw tooSmall(ctx, 'auto', { h: 1, i: 0 });
  return best;
}

function execute(ctx: Ctx, prepared: Prepared, record: boolean): Emitter {
  const em = new Emitter(ctx.T, ctx.cm.alpha, ctx.budget.stateBytes, record, ctx.maxInstructions);
  prepared.run(em);
  if (em.forwards !== prepared.forwards || em.backwards !== ctx.T) {
    throw new Error(
      `solver: internal error: ${prepared.strategy} schedule counted ${em.forwards} forwards, predicted ${prepared.forwards}`,
    );
  }
  const { budget } = ctx;
  if (
    em.peakSlots > budget.slots * (1 + 1e-9) ||
    (budget.bytes !== undefined && em.peakBytes > budget.bytes)
  ) {
    throw new Error(`solver: internal error: ${prepared.strategy} schedule exceeds the budget`);
  }
  return em;
}

function prediction(ctx: Ctx, p: Prepared, em: Emitter): Prediction {
  const { T, cm } = ctx;
  const time = em.forwards * cm.forwardCost + T * cm.backwardCost;
  const base = T * (cm.forwardCost + cm.backwardCost);
  const out: Prediction = {
    strategy: p.strategy,
    requested: ctx.requested,
    steps: T,
    forwards: em.forwards,
    backwards: T,
    peakSlots: em.peakSlots,
    ...(ctx.budget.stateBytes !== undefined ? { peakBytes: em.peakBytes } : {}),
    budgetSlots: ctx.budget.slots,
    usedSlots: em.peakSlots,
    time,
    timeRatio: base > 0 ? time / base : 1,
    memoryRatio: em.peakSlots / (1 + T * cm.alpha),
    params: p.params,
  };
  return out;
}

/**
 * Plan the backward pass of `req.steps` steps within the memory budget with the given strategy, and emit
 * it as a policy of `@rewind/policy` (`verify` accepts it; its totals are the prediction).
 *
 * @throws SolverError `E_INVALID_ARGUMENT` for bad input (before any computation),
 * `E_BUDGET_TOO_SMALL` (with `minimum`) when the strategy cannot run in the budget, `E_TOO_LARGE` when the
 * planning table would exceed `maxTableCells`.
 */
export function plan(req: PlanRequest): Policy {
  const ctx = context(req);
  const p = prepareRequested(ctx);
  const em = execute(ctx, p, true);
  const instructions = em.finish();
  const { budget, cm, T } = ctx;
  const meta: { [key: string]: JsonValue } = {
    generator: '@rewind/solver',
    requested: ctx.requested,
    ...p.params,
  };
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    steps: T,
    strategy: p.strategy,
    costModel: { alpha: cm.alpha, forwardCost: cm.forwardCost, backwardCost: cm.backwardCost },
    budget:
      budget.bytes !== undefined ? { slots: budget.slots, bytes: budget.bytes } : { slots: budget.slots },
    ...(budget.stateBytes !== undefined ? { stateBytes: { ...budget.stateBytes } } : {}),
    totals: {
      forwards: em.forwards,
      backwards: T,
      peakSlots: em.peakSlots,
      ...(budget.stateBytes !== undefined ? { peakBytes: em.peakBytes } : {}),
    },
    meta,
    instructions,
  };
}

/**
 * What `plan(req)` would cost, without building the policy: forwards, peak memory, time and the ratios to
 * store-all. Throws as `plan` does.
 */
export function predict(req: PlanRequest): Prediction {
  const ctx = context(req);
  const p = prepareRequested(ctx);
  return prediction(ctx, p, execute(ctx, p, false));
}

/**
 * The budget a memory spec means for `steps` steps under the cost model: in slots, in bytes where the spec
 * gives state sizes, and as a share of the memory of store-all. This is how `plan` and `predict` read
 * `memory` (a `{ share }` included), so callers that need the budget itself (to print it, or to size a
 * buffer) ask here instead of computing it. Throws `E_INVALID_ARGUMENT` as `plan` does.
 */
export function memoryBudget(steps: number, memory: MemorySpec, costModel?: CostModelInput): MemoryBudget {
  const T = normSteps(steps);
  normCostModel(costModel);
  const { budget, alpha: implied } = normMemory(memory, costModel, 'memory', T);
  const alpha = implied ?? normCostModel(costModel).alpha;
  const storeAllSlots = 1 + T * alpha;
  const sb = budget.stateBytes;
  if (budget.bytes !== undefined && sb !== undefined) {
    const storeAllBytes = sb.hidden + T * sb.internal;
    return {
      slots: budget.slots,
      bytes: budget.bytes,
      stateBytes: { hidden: sb.hidden, internal: sb.internal },
      alpha,
      storeAllSlots,
      storeAllBytes,
      share: budget.bytes / storeAllBytes,
    };
  }
  return { slots: budget.slots, alpha, storeAllSlots, share: budget.slots / storeAllSlots };
}

/**
 * The smallest budget, in slots, in which `strategy` can run `steps` steps: 1 (the initial state) for
 * recompute-all, hsm, ism, msm and auto; `1 + steps * alpha` for store-all.
 */
export function minimumMemory(steps: number, strategy: StrategyName, costModel?: CostModelInput): number {
  const T = normSteps(steps);
  const s = normStrategy(strategy);
  const cm = normCostModel(costModel);
  const m = minMem(T, cm.alpha, s);
  return m.h + m.i * cm.alpha;
}

/**
 * The cost of each strategy as a function of the memory budget: one point per (strategy, budget) where the
 * strategy fits. Budgets default to every integer from 1 to the memory of store-all, rounded up; the ism and
 * msm points of all budgets come from one run of the dynamic program.
 */
export function frontier(req: FrontierRequest): FrontierPoint[] {
  if (!isObject(req)) throw invalid('request', req, 'an object { steps, costModel?, strategies?, budgets? }');
  const T = normSteps(req['steps']);
  const cm = normCostModel(req['costModel']);
  const raw = req['strategies'];
  if (raw !== undefined && !Array.isArray(raw))
    throw invalid('strategies', raw, 'an array of strategy names');
  const requested = (
    raw ?? ['store-all', 'recompute-all', 'chen-sqrt', 'chen-recursive', 'hsm', 'ism', 'msm']
  ).map((s, i) => normStrategy(s, `strategies.${i}`));
  const budgets = normBudgets(req['budgets']) ?? defaultBudgets(T, cm.alpha);
  const maxCells = normMaxCells(req['maxTableCells']);
  const strategies = [...new Set(requested.map((s): Concrete => (s === 'auto' ? 'msm' : s)))];
  const storeAllMem = 1 + T * cm.alpha;
  const base = T * (cm.forwardCost + cm.backwardCost);
  const point = (
    strategy: Concrete,
    budgetSlots: number,
    forwards: number,
    peakSlots: number,
  ): FrontierPoint => {
    const time = forwards * cm.forwardCost + T * cm.backwardCost;
    return {
      strategy,
      budgetSlots,
      forwards,
      time,
      timeRatio: base > 0 ? time / base : 1,
      peakSlots,
      memoryRatio: peakSlots / storeAllMem,
    };
  };
  const out: FrontierPoint[] = [];
  for (const s of strategies) {
    const fitsSlots = (b: number, m: Mem) => fits({ slots: b }, cm.alpha, m.h, m.i);
    const value = (m: Mem) => m.h + m.i * cm.alpha;
    switch (s) {
      case 'store-all':
        for (const b of budgets) if (fitsSlots(b, { h: 1, i: T })) out.push(point(s, b, T, storeAllMem));
        break;
      case 'recompute-all':
        for (const b of budgets)
          if (fitsSlots(b, { h: 1, i: 0 })) out.push(point(s, b, (T * (T + 1)) / 2, 1));
        break;
      case 'chen-sqrt': {
        // Options sorted by peak; the best (fewest forwards) option within each budget.
        const opts: { forwards: number; peak: number; mems: Mem[] }[] = [];
        for (let k = 1; k <= T; k++) {
          const st = chenSqrtStats(T, k);
          opts.push({ forwards: st.forwards, peak: Math.max(...st.peaks.map(value)), mems: st.peaks });
        }
        opts.sort((x, y) => x.peak - y.peak || x.forwards - y.forwards);
        const bestUpTo: { forwards: number; peak: number }[] = [];
        for (const o of opts) {
          const prev = bestUpTo[bestUpTo.length - 1];
          bestUpTo.push(prev !== undefined && prev.forwards <= o.forwards ? prev : o);
        }
        for (const b of budgets) {
          let lo = 0;
          let hi = opts.length;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if ((opts[mid] as (typeof opts)[number]).mems.every((m) => fitsSlots(b, m))) lo = mid + 1;
            else hi = mid;
          }
          const best = bestUpTo[lo - 1];
          if (best !== undefined) out.push(point(s, b, best.forwards, best.peak));
        }
        break;
      }
      case 'chen-recursive': {
        const opts = [];
        for (let d = 0; d <= maxDepth(T); d++) opts.push(chenRecursiveStats(T, d, cm.alpha));
        for (const b of budgets) {
          let best: { forwards: number; peak: number } | undefined;
          for (const o of opts) {
            if (!fitsSlots(b, o.peak)) continue;
            const peak = value(o.peak);
            if (
              best === undefined ||
              o.forwards < best.forwards ||
              (o.forwards === best.forwards && peak < best.peak)
            ) {
              best = { forwards: o.forwards, peak };
            }
          }
          if (best !== undefined) out.push(point(s, b, best.forwards, best.peak));
        }
        break;
      }
      case 'hsm':
        for (const b of budgets) {
          const M = budgetWholeSlots({ slots: b });
          if (M < 1) continue;
          const used = hsmSlotsUsed(T, M);
          out.push(point(s, b, used.cost, used.slots));
        }
        break;
      case 'ism':
      case 'msm': {
        const grid = gridFor(cm.alpha);
        const hidden = s === 'msm';
        const sat = saturationUnits(T, grid.q, grid.A, hidden, true);
        const units = budgets.map((b) => Math.min(budgetUnits({ slots: b }, grid), sat));
        const maxU = units.reduce((m, x) => Math.max(m, x), -1);
        if (maxU < 0) break;
        const spec: DpSpec = {
          steps: T,
          units: maxU,
          q: grid.q,
          A: grid.A,
          hidden,
          internal: true,
          keepChoices: false,
        };
        checkSize(spec, maxCells);
        const { top } = solveDp(spec);
        const first = new Int32Array(maxU + 1);
        for (let u = 1; u <= maxU; u++) first[u] = top[u] === top[u - 1] ? (first[u - 1] as number) : u;
        budgets.forEach((b, i) => {
          const U = units[i] as number;
          if (U < 0) return;
          out.push(point(s, b, top[U] as number, 1 + (first[U] as number) / grid.q));
        });
        break;
      }
    }
  }
  return out;
}

function defaultBudgets(T: number, alpha: number): number[] {
  const max = Math.ceil(1 + T * alpha - 1e-9);
  return Array.from({ length: max }, (_, i) => i + 1);
}
