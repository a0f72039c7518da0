/**
 * What the page computes, free of the DOM so that it runs in a worker, on the main thread, or under a test:
 * the policy of the chosen strategy (planned and verified, with its memory profile), the cost of every
 * strategy at the same budget, and the cost-memory frontier.
 */
import { type Counted, type MemoryProfile, type Policy, verify } from '@rewind/policy';
import { type FrontierPoint, frontier, plan, predict, SLOT_TOLERANCE, SolverError } from '@rewind/solver';
import { PAGE_STRATEGIES, type PageStrategy, type Settings, storeAllSlots } from './inputs';

/** A failure of the solver (or of verification), in a form that crosses a worker boundary. */
export interface Failure {
  readonly ok: false;
  readonly code: string;
  readonly message: string;
  /** For E_BUDGET_TOO_SMALL: the smallest budget, in slots, that the strategy runs in. */
  readonly minimum?: number;
  readonly path?: string;
}

/** The cost of one strategy's plan. */
export interface Cost {
  readonly ok: true;
  readonly strategy: string;
  readonly forwards: number;
  readonly backwards: number;
  readonly peakSlots: number;
  /** `forwards * 1 + backwards * backwardCost`. */
  readonly time: number;
  /** `time` over the time of store-all (one forward and one backward per step). */
  readonly timeRatio: number;
  /** `peakSlots` over the memory of store-all. */
  readonly memoryRatio: number;
}

export interface Planned {
  readonly ok: true;
  readonly policy: Policy;
  readonly cost: Cost;
  readonly counted: Counted;
  readonly profile: MemoryProfile;
}

export interface Comparison {
  readonly strategy: PageStrategy;
  readonly result: Cost | Failure;
}

export interface MainResult {
  readonly settings: Settings;
  readonly planned: Planned | Failure;
  readonly comparisons: readonly Comparison[];
  /** Milliseconds spent planning, verifying, and predicting the other strategies. */
  readonly timings: { readonly plan: number; readonly verify: number; readonly compare: number };
}

export interface FrontierResult {
  readonly settings: Settings;
  readonly points: readonly FrontierPoint[];
  readonly budgets: readonly number[];
  /** Strategies whose frontier stops early (the dynamic program's table grows with the budget). */
  readonly capped: readonly { readonly strategy: PageStrategy; readonly upTo: number }[];
  readonly failures: readonly { readonly strategy: PageStrategy; readonly failure: Failure }[];
  readonly ms: number;
}

/** Cells of the ism/msm dynamic program (steps times memory units) the frontier may use per strategy. */
export const FRONTIER_DP_CELLS = 12_000_000;

const now = (): number => performance.now();

/** A thrown value as a `Failure`. */
export function toFailure(e: unknown): Failure {
  if (e instanceof SolverError) {
    return {
      ok: false,
      code: e.code,
      message: e.message,
      ...(e.minimum !== undefined ? { minimum: e.minimum } : {}),
      ...(e.path !== undefined ? { path: e.path } : {}),
    };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { ok: false, code: 'E_INTERNAL', message };
}

/** The cost of a policy, from its (verified) totals. */
export function costOfPolicy(policy: Policy): Cost {
  const { forwards, backwards, peakSlots } = policy.totals;
  const T = policy.steps;
  const { forwardCost, backwardCost, alpha } = policy.costModel;
  const time = forwards * forwardCost + backwards * backwardCost;
  const base = T * (forwardCost + backwardCost);
  return {
    ok: true,
    strategy: policy.strategy,
    forwards,
    backwards,
    peakSlots,
    time,
    timeRatio: base > 0 ? time / base : 1,
    memoryRatio: peakSlots / storeAllSlots(T, alpha),
  };
}

function request(settings: Settings, strategy: PageStrategy) {
  return {
    steps: settings.steps,
    memory: { slots: settings.budgetSlots },
    strategy,
    costModel: { alpha: settings.alpha, backwardCost: settings.backwardCost, forwardCost: 1 },
  };
}

/** Plan and verify the chosen strategy; predict the others at the same budget. */
export function computeMain(settings: Settings): MainResult {
  const t0 = now();
  let planned: Planned | Failure;
  let tPlan: number;
  let tVerify = 0;
  try {
    const policy = plan(request(settings, settings.strategy));
    tPlan = now() - t0;
    const t1 = now();
    planned = verifyPolicy(policy);
    tVerify = now() - t1;
  } catch (e) {
    tPlan = now() - t0;
    planned = toFailure(e);
  }
  const t2 = now();
  const comparisons = PAGE_STRATEGIES.map((strategy): Comparison => {
    if (strategy === settings.strategy && planned.ok) return { strategy, result: planned.cost };
    if (strategy === settings.strategy && !planned.ok) return { strategy, result: planned };
    try {
      const p = predict(request(settings, strategy));
      const result: Cost = {
        ok: true,
        strategy,
        forwards: p.forwards,
        backwards: p.backwards,
        peakSlots: p.peakSlots,
        time: p.time,
        timeRatio: p.timeRatio,
        memoryRatio: p.memoryRatio,
      };
      return { strategy, result };
    } catch (e) {
      return { strategy, result: toFailure(e) };
    }
  });
  return {
    settings,
    planned,
    comparisons,
    timings: { plan: tPlan, verify: tVerify, compare: now() - t2 },
  };
}

/** Verify a policy and collect its cost and memory profile, or say why it is invalid. */
export function verifyPolicy(policy: Policy): Planned | Failure {
  const report = verify(policy);
  if (!report.ok) {
    return {
      ok: false,
      code: report.issue.code,
      message: report.issue.message,
      path: report.issue.path,
    };
  }
  const profile = report.profile ?? {
    time: new Float64Array(0),
    hidden: new Int32Array(0),
    internal: new Int32Array(0),
  };
  return { ok: true, policy, cost: costOfPolicy(policy), counted: report.counted, profile };
}

/**
 * Budgets (slots) at which to evaluate the frontier: every whole slot up to store-all for small problems,
 * else about 60 budgets spaced evenly on a log scale; the current budget is always one of them.
 */
export function frontierBudgets(steps: number, alpha: number, current: number): number[] {
  const top = Math.ceil(storeAllSlots(steps, alpha) * (1 - SLOT_TOLERANCE));
  const set = new Set<number>();
  if (top <= 160) {
    for (let b = 1; b <= top; b++) set.add(b);
  } else {
    const n = 60;
    for (let i = 0; i <= n; i++) set.add(Math.round(top ** (i / n)));
  }
  if (current > 0) set.add(current);
  return [...set].sort((a, b) => a - b);
}

/** Units of a hidden state on the dynamic program's memory grid for `alpha`. */
function gridUnits(alpha: number): number {
  try {
    const p = predict({ steps: 2, memory: { slots: 2 }, strategy: 'msm', costModel: { alpha } });
    const grid = p.params['grid'];
    if (grid !== null && typeof grid === 'object' && !Array.isArray(grid)) {
      const q = (grid as { readonly [k: string]: unknown })['q'];
      if (typeof q === 'number' && q >= 1) return q;
    }
  } catch {
    // Fall through to the finest grid.
  }
  return 16;
}

/** The frontier of every page strategy; ism and msm stop where their table would exceed the cap. */
export function computeFrontier(settings: Settings, dpCells = FRONTIER_DP_CELLS): FrontierResult {
  const t0 = now();
  const { steps, alpha, backwardCost } = settings;
  const budgets = frontierBudgets(steps, alpha, settings.budgetSlots);
  const costModel = { alpha, backwardCost, forwardCost: 1 };
  const points: FrontierPoint[] = [];
  const capped: { strategy: PageStrategy; upTo: number }[] = [];
  const failures: { strategy: PageStrategy; failure: Failure }[] = [];
  const q = gridUnits(alpha);
  const dpLimit = 1 + dpCells / (steps * q);
  for (const strategy of PAGE_STRATEGIES) {
    let list = budgets;
    if (strategy === 'ism' || strategy === 'msm') {
      list = budgets.filter((b) => b <= dpLimit);
      if (list.length < budgets.length) capped.push({ strategy, upTo: list[list.length - 1] ?? 0 });
      if (list.length === 0) continue;
    }
    try {
      points.push(...frontier({ steps, costModel, strategies: [strategy], budgets: list }));
    } catch (e) {
      failures.push({ strategy, failure: toFailure(e) });
    }
  }
  return { settings, points, budgets, capped, failures, ms: now() - t0 };
}
