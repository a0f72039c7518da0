import { type Instruction, type Policy, type StateBytes, verify } from '@rewind/policy';
import type { StrategyName } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import type { CellBackendV1, GradientReadout, MaybePromise } from '../backend.js';
import type { CellBackendV2 } from '../backend-v2.js';
import { ExecutorError } from '../errors.js';
import { createRng } from '../reference/rng.js';
import { type RunPolicyOptions, type RunResult, rangeCalls, runPolicy } from '../run-policy.js';
import { trackHandles, trackHandlesV2 } from '../tracking.js';

/** A planning strategy of `@rewind/solver`. */
export type ConformanceStrategy = StrategyName;

/** One scalar to nudge before building a backend, named as in `GradientReadout`. */
export interface Perturbation {
  readonly group: 'parameters' | 'inputs' | 'initialState';
  /** The parameter's name, for `group: 'parameters'`. */
  readonly name?: string;
  /** The index inside the flat array of that gradient. */
  readonly index: number;
  /** What to add to the scalar. */
  readonly delta: number;
}

/** What the suite asks a factory to build. */
export interface ConformanceCase {
  /** The sequence length `T` of the batch. */
  readonly steps: number;
  /** Equal seeds (with equal `steps`) must give the same model and batch. */
  readonly seed: number;
  /** Build in float64 if the backend can: set for the finite-difference check. */
  readonly float64: boolean;
  /** Add `delta` to one parameter, input or initial-state scalar of the model and batch built. */
  readonly perturb?: Perturbation;
}

/** A backend the suite runs: version 1 or version 2 of the backend interface. */
export type ConformanceBackend = CellBackendV1 | CellBackendV2;

/** Builds a fresh backend (model and batch) for a case: a version 1 backend unless `B` says otherwise. */
export type BackendFactory<B extends ConformanceBackend = CellBackendV1> = (
  testCase: ConformanceCase,
) => MaybePromise<B>;

/** Settings of the finite-difference check. */
export interface FiniteDifferenceOptions {
  /** Sequence length of the tiny model (default 3). */
  readonly steps?: number;
  /** Step of the central differences (default 1e-6). */
  readonly epsilon?: number;
  /** Allowed `|numeric - analytic| / max(1, |analytic|)` (default 1e-6). */
  readonly tolerance?: number;
  /** Coordinates checked per gradient array (default 3; the largest entry is always one of them). */
  readonly coordinates?: number;
}

/** Options of `describeBackendConformance`, for backends of type `B`. */
export interface ConformanceOptions<B extends ConformanceBackend = CellBackendV1> {
  /**
   * Allowed difference between any strategy's loss and gradients and store-all's, relative to the
   * largest magnitude of the compared array (or 1, whichever is larger). Default 1e-12, right for float64
   * backends; float32 backends need about 1e-4.
   */
  readonly tolerance?: number;
  /** Sequence lengths tried per strategy (default `[1, 2, 3, 5, 8, 12]`). */
  readonly steps?: readonly number[];
  /** Random budgets tried per strategy and sequence length (default 2). */
  readonly budgets?: number;
  /** Strategies tried (default: every strategy of the planner). */
  readonly strategies?: readonly ConformanceStrategy[];
  /** Seed of the random choices and of the cases (default 1). */
  readonly seed?: number;
  /** The finite-difference check, or false to skip it. */
  readonly finiteDifferences?: FiniteDifferenceOptions | false;
  /** Runs in the leak test (default 24). */
  readonly leakIterations?: number;
  /** Per-test timeout in milliseconds (default 60 000). */
  readonly timeout?: number;
  /** Release what a backend holds once the suite is done with it (e.g. its tensors). */
  readonly disposeBackend?: (backend: B) => MaybePromise<void>;
}

/**
 * What the suite needs from a planner: a policy for `steps` within `bytes` of checkpoints. When the budget
 * is too small for the strategy, `plan` throws and `retryBudget` names a larger budget to try.
 */
export interface ConformancePlanner {
  /** The strategies the suite tries unless `ConformanceOptions.strategies` says otherwise. */
  readonly strategies: readonly ConformanceStrategy[];
  plan(request: {
    readonly steps: number;
    readonly stateBytes: StateBytes;
    readonly strategy: ConformanceStrategy;
    readonly bytes: number;
  }): Policy;
  /** The budget to try after `error` was thrown at `bytes`, or undefined if the error is not about the budget. */
  retryBudget(error: unknown, bytes: number): number | undefined;
}

interface Snapshot {
  readonly loss: number;
  readonly gradients: GradientReadout;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** The first difference beyond the tolerance between two snapshots, in words; undefined when none. */
function mismatch(actual: Snapshot, expected: Snapshot, tolerance: number): string | undefined {
  const lossLimit = tolerance * Math.max(1, Math.abs(expected.loss));
  if (!(Math.abs(actual.loss - expected.loss) <= lossLimit)) {
    return `loss ${actual.loss} differs from ${expected.loss}`;
  }
  const arrays = (g: GradientReadout): Map<string, ArrayLike<number>> => {
    const out = new Map<string, ArrayLike<number>>();
    for (const [name, v] of Object.entries(g.parameters)) out.set(`parameters.${name}`, v);
    if (g.inputs !== undefined) out.set('inputs', g.inputs);
    if (g.initialState !== undefined) out.set('initialState', g.initialState);
    return out;
  };
  const a = arrays(actual.gradients);
  const e = arrays(expected.gradients);
  const names = [...e.keys()].sort();
  if (names.join() !== [...a.keys()].sort().join()) {
    return `gradient arrays ${[...a.keys()].sort().join(', ')} differ from ${names.join(', ')}`;
  }
  for (const name of names) {
    const x = a.get(name)!;
    const y = e.get(name)!;
    if (x.length !== y.length) return `${name} has ${x.length} entries, expected ${y.length}`;
    const limit = tolerance * Math.max(1, maxAbs(y));
    for (let i = 0; i < y.length; i++) {
      if (!(Math.abs(x[i]! - y[i]!) <= limit)) return `${name}[${i}] = ${x[i]} differs from ${y[i]}`;
    }
  }
  return undefined;
}

async function snapshot(backend: ConformanceBackend, loss: number): Promise<Snapshot> {
  return { loss, gradients: await backend.readGradients() };
}

/** Plan at `bytes`, or at the smallest larger budget the planner accepts. */
function planAtLeast(
  planner: ConformancePlanner,
  steps: number,
  stateBytes: StateBytes,
  strategy: ConformanceStrategy,
  bytes: number,
): Policy {
  let budget = Math.max(stateBytes.hidden, Math.floor(bytes));
  for (let attempt = 0; ; attempt++) {
    try {
      return planner.plan({ steps, stateBytes, strategy, bytes: budget });
    } catch (error) {
      const next = planner.retryBudget(error, budget);
      if (next === undefined || !(next > budget) || attempt >= 64) throw error;
      budget = Math.ceil(next);
    }
  }
}

/** What the suite reads from a handle tracker of either interface version. */
interface Tracked {
  readonly backend: ConformanceBackend;
  readonly live: number;
  readonly violations: readonly string[];
  /** Calls that compute or allocate: forward and backward work, the initial state, zeroing. */
  work(): number;
  /** Version 2 only: the forward and backward ranges run. */
  readonly ranges?: () => readonly [number, number];
}

function track(backend: ConformanceBackend): Tracked {
  if (backend.specificationVersion === 'rewind-backend-v2') {
    const t = trackHandlesV2(backend);
    const c = t.calls;
    return {
      backend: t.backend,
      get live() {
        return t.live;
      },
      violations: t.violations,
      work: () => c.forwardRange + c.backwardRange + c.initialState + c.zeroGradients,
      ranges: () => [c.forwardRange, c.backwardRange],
    };
  }
  const t = trackHandles(backend);
  const c = t.calls;
  return {
    backend: t.backend,
    get live() {
      return t.live;
    },
    violations: t.violations,
    work: () => c.forward + c.backward + c.initialState + c.zeroGradients,
  };
}

/** Wrap instructions into a policy whose totals and (tight) budget come from replaying it. */
function wrapPolicy(steps: number, stateBytes: StateBytes, instructions: readonly Instruction[]): Policy {
  const draft: Policy = {
    format: 'rewind-policy',
    version: '1.0',
    steps,
    strategy: 'conformance',
    costModel: { alpha: stateBytes.internal / stateBytes.hidden, forwardCost: 1, backwardCost: 1 },
    budget: { slots: Number.MAX_SAFE_INTEGER },
    stateBytes,
    totals: { forwards: 0, backwards: 0, peakSlots: 0 },
    instructions,
  };
  const replay = verify(draft, { skipTotals: true, profile: false });
  if (!replay.ok) throw new Error(`conformance policy is invalid: ${replay.issue.message}`);
  const c = replay.counted;
  return {
    ...draft,
    budget: { slots: c.peakSlots, bytes: c.peakBytes ?? 0 },
    totals: {
      forwards: c.forwards,
      backwards: c.backwards,
      peakSlots: c.peakSlots,
      peakBytes: c.peakBytes ?? 0,
    },
  };
}

/**
 * Policies whose ranges cover what a range backend must handle: a first forward range keeping checkpoints
 * of each kind at each stride (with a working state when it reaches `T`), then backward ranges as long as
 * their sources allow (internal checkpoints, the working state, recomputation from hidden checkpoints and
 * from views of internal ones), each preceded when needed by a forward range that keeps nothing, an
 * internal checkpoint at its end, or hidden checkpoints and a working state; and the same with backward
 * ranges of one step.
 */
export function rangePolicies(
  steps: number,
  stateBytes: StateBytes,
): Array<{ readonly label: string; readonly policy: Policy }> {
  const out: Array<{ label: string; policy: Policy }> = [];
  const fills = ['none', 'internal', 'hidden'] as const;
  for (const kind of ['hidden', 'internal'] as const) {
    for (let stride = 1; stride <= steps; stride++) {
      // A hidden checkpoint at T is dead on arrival: stop the first range short of it.
      const to = kind === 'hidden' && steps % stride === 0 ? steps - 1 : steps;
      if (stride > to) continue;
      for (const [fill, single] of [...fills.map((f) => [f, false] as const), ['none', true] as const]) {
        const instructions: Instruction[] = [{ op: 'forward', from: 0, to, store: kind, stride }];
        const hidden = new Set<number>([0]);
        const internal = new Set<number>();
        for (let p = stride; p <= to; p += stride) (kind === 'hidden' ? hidden : internal).add(p);
        let working = to === steps ? steps : -1;
        let next = steps;
        const held = (p: number): boolean => hidden.has(p) || internal.has(p);
        while (next > 0) {
          const b = next;
          if (!(internal.has(b) || working === b || held(b - 1))) {
            let p = b - 1;
            while (!held(p)) p--;
            if (fill === 'internal') {
              instructions.push({ op: 'forward', from: p, to: b, store: 'internal', stride: b - p });
              internal.add(b);
            } else if (fill === 'hidden' && b - p >= 3) {
              instructions.push({ op: 'forward', from: p, to: b, store: 'hidden', stride: b - p - 1 });
              hidden.add(b - 1);
            } else instructions.push({ op: 'forward', from: p, to: b });
            working = b;
          }
          let a = b;
          if (!single) while (a > 1 && (internal.has(a - 1) || held(a - 2))) a--;
          instructions.push({ op: 'backward', from: b, to: a });
          for (const p of [...hidden]) if (p >= a - 1) hidden.delete(p);
          for (const p of [...internal]) if (p >= a) internal.delete(p);
          working = -1;
          next = a - 1;
        }
        const label = `ranges: first ${kind}/${stride} to ${to}, then ${fill}${single ? ', one-step backward ranges' : ''}`;
        out.push({ label, policy: wrapPolicy(steps, stateBytes, instructions) });
      }
    }
  }
  return out;
}

/**
 * Register the conformance tests of a backend with vitest, with an explicit planner. See
 * `describeBackendConformance`.
 */
export function defineConformance<B extends ConformanceBackend>(
  name: string,
  factory: BackendFactory<B>,
  options: ConformanceOptions<B>,
  planner: ConformancePlanner,
): void {
  const tolerance = options.tolerance ?? 1e-12;
  const stepList = options.steps ?? [1, 2, 3, 5, 8, 12];
  const budgets = options.budgets ?? 2;
  const strategies = options.strategies ?? planner.strategies;
  const seed = options.seed ?? 1;
  const timeout = options.timeout ?? 60_000;
  const leakIterations = options.leakIterations ?? 24;

  const build = async (c: ConformanceCase): Promise<ConformanceBackend> => factory(c);
  const release = async (backend: ConformanceBackend): Promise<void> => {
    await options.disposeBackend?.(backend as B);
  };
  const plan = (backend: ConformanceBackend, strategy: ConformanceStrategy, bytes: number): Policy =>
    planAtLeast(planner, backend.steps, backend.stateBytes(), strategy, bytes);
  const storeAllPolicy = (backend: ConformanceBackend): Policy => {
    const sb = backend.stateBytes();
    return plan(backend, 'store-all', sb.hidden + backend.steps * sb.internal);
  };
  /** Run a policy through a tracking wrapper and check the run's own invariants. */
  const checkedRun = async (
    backend: ConformanceBackend,
    policy: Policy,
    what: string,
    runOptions: RunPolicyOptions = {},
  ): Promise<RunResult> => {
    const baseline = backend.liveHandles?.();
    const tracker = track(backend);
    const result = await runPolicy(tracker.backend, policy, runOptions);
    expect(tracker.violations, `${what}: handle misuse`).toEqual([]);
    expect(tracker.live, `${what}: handles left live`).toBe(0);
    if (tracker.ranges !== undefined) {
      const calls = rangeCalls(policy);
      expect(tracker.ranges(), `${what}: the ranges of the policy's instructions`).toEqual([
        calls.forward,
        calls.backward,
      ]);
    }
    if (baseline !== undefined) expect(backend.liveHandles?.(), `${what}: backend handles`).toBe(baseline);
    expect(result.backwards, `${what}: backward steps`).toBe(policy.steps);
    expect(result.forwards, `${what}: forward steps`).toBe(policy.totals.forwards);
    expect(result.peakBytes, `${what}: peak bytes within the budget`).toBeLessThanOrEqual(result.budgetBytes);
    if (policy.totals.peakBytes !== undefined) {
      expect(result.peakBytes, `${what}: ledger peak equals the verified peak`).toBe(policy.totals.peakBytes);
    }
    expect(Number.isFinite(result.loss), `${what}: finite loss`).toBe(true);
    return result;
  };

  describe(`backend conformance: ${name}`, () => {
    it('declares the v1 or v2 interface, its sequence length and positive integer state sizes', {
      timeout,
    }, async () => {
      const backend = await build({ steps: 4, seed, float64: false });
      try {
        expect(['rewind-backend-v1', 'rewind-backend-v2']).toContain(backend.specificationVersion);
        const methods =
          backend.specificationVersion === 'rewind-backend-v2'
            ? ['forwardRange', 'backwardRange']
            : ['forward', 'backward'];
        for (const method of [...methods, 'initialState', 'hiddenOf', 'dispose', 'zeroGradients', 'loss']) {
          expect(typeof (backend as unknown as Record<string, unknown>)[method], method).toBe('function');
        }
        expect(typeof backend.name).toBe('string');
        expect(backend.steps).toBe(4);
        const sb = backend.stateBytes();
        expect(Number.isSafeInteger(sb.hidden) && sb.hidden >= 1).toBe(true);
        expect(Number.isSafeInteger(sb.internal) && sb.internal >= 1).toBe(true);
        expect(backend.stateBytes()).toEqual(sb);
      } finally {
        await release(backend);
      }
    });

    for (const strategy of strategies) {
      it(`${strategy}: loss and every gradient equal store-all's, at random lengths and budgets`, {
        timeout,
      }, async () => {
        const rng = createRng(seed * 1_000_003 + strategies.indexOf(strategy));
        for (const steps of stepList) {
          const backend = await build({ steps, seed: seed + steps, float64: false });
          try {
            const base = await checkedRun(backend, storeAllPolicy(backend), `store-all, T=${steps}`);
            const expected = await snapshot(backend, base.loss);
            const sb = backend.stateBytes();
            for (let k = 0; k < budgets; k++) {
              const bytes = sb.hidden + Math.floor(rng() * (steps * sb.internal + 1));
              const policy = plan(backend, strategy, bytes);
              const what = `${strategy}, T=${steps}, budget ${policy.budget.bytes ?? policy.budget.slots} `;
              const result = await checkedRun(backend, policy, what);
              const diff = mismatch(await snapshot(backend, result.loss), expected, tolerance);
              expect(diff, `${what}: compared with store-all`).toBeUndefined();
            }
          } finally {
            await release(backend);
          }
        }
      });
    }

    const fd = options.finiteDifferences;
    if (fd !== false) {
      const fdSteps = fd?.steps ?? 3;
      const epsilon = fd?.epsilon ?? 1e-6;
      const fdTolerance = fd?.tolerance ?? 1e-6;
      const perArray = fd?.coordinates ?? 3;
      it('store-all matches central finite differences on a tiny model', { timeout }, async () => {
        const rng = createRng(seed ^ 0x2545f491);
        const lossOf = async (perturb: Perturbation | undefined): Promise<number> => {
          const c: ConformanceCase = { steps: fdSteps, seed, float64: true };
          const backend = await build(perturb === undefined ? c : { ...c, perturb });
          try {
            return (await runPolicy(backend, storeAllPolicy(backend))).loss;
          } finally {
            await release(backend);
          }
        };
        const backend = await build({ steps: fdSteps, seed, float64: true });
        let analytic: Snapshot;
        try {
          const result = await checkedRun(backend, storeAllPolicy(backend), 'store-all (float64)');
          analytic = await snapshot(backend, result.loss);
        } finally {
          await release(backend);
        }
        const targets: Array<{ group: Perturbation['group']; name?: string; values: ArrayLike<number> }> = [];
        for (const [pname, values] of Object.entries(analytic.gradients.parameters)) {
          targets.push({ group: 'parameters', name: pname, values });
        }
        if (analytic.gradients.inputs !== undefined)
          targets.push({ group: 'inputs', values: analytic.gradients.inputs });
        if (analytic.gradients.initialState !== undefined) {
          targets.push({ group: 'initialState', values: analytic.gradients.initialState });
        }
        expect(targets.length).toBeGreaterThan(0);
        let checked = 0;
        for (const target of targets) {
          const { values } = target;
          if (values.length === 0) continue;
          const indices = new Set<number>();
          let largest = 0;
          for (let i = 1; i < values.length; i++)
            if (Math.abs(values[i]!) > Math.abs(values[largest]!)) largest = i;
          indices.add(largest);
          while (indices.size < Math.min(perArray, values.length)) {
            indices.add(Math.min(values.length - 1, Math.floor(rng() * values.length)));
          }
          for (const index of indices) {
            const at = (delta: number): Perturbation =>
              target.name === undefined
                ? { group: target.group, index, delta }
                : { group: target.group, name: target.name, index, delta };
            const numeric = ((await lossOf(at(epsilon))) - (await lossOf(at(-epsilon)))) / (2 * epsilon);
            const exact = values[index]!;
            const label = `${target.group}${target.name === undefined ? '' : `.${target.name}`}[${index}]`;
            expect(
              Math.abs(numeric - exact) / Math.max(1, Math.abs(exact)),
              `${label}: analytic ${exact}, numeric ${numeric}`,
            ).toBeLessThanOrEqual(fdTolerance);
            checked++;
          }
        }
        expect(checked).toBeGreaterThan(0);
      });
    }

    it('ranges of every store kind and stride, working states, mixed sources and one-step backward ranges equal store-all', {
      timeout,
    }, async () => {
      const steps = 7;
      const backend = await build({ steps, seed, float64: false });
      try {
        const base = await checkedRun(backend, storeAllPolicy(backend), `store-all, T=${steps}`);
        const expected = await snapshot(backend, base.loss);
        const cases = rangePolicies(steps, backend.stateBytes());
        expect(cases.length).toBeGreaterThan(40);
        for (const { label, policy } of cases) {
          const result = await checkedRun(backend, policy, label);
          const diff = mismatch(await snapshot(backend, result.loss), expected, tolerance);
          expect(diff, `${label}: compared with store-all`).toBeUndefined();
        }
      } finally {
        await release(backend);
      }
    });

    it('leaks no handle across many runs of every strategy', { timeout }, async () => {
      const steps = 7;
      const backend = await build({ steps, seed, float64: false });
      try {
        const baseline = backend.liveHandles?.();
        const sb = backend.stateBytes();
        const rng = createRng(seed + 77);
        for (let i = 0; i < leakIterations; i++) {
          const strategy = strategies[i % strategies.length]!;
          const policy = plan(backend, strategy, sb.hidden + Math.floor(rng() * (steps * sb.internal + 1)));
          await checkedRun(backend, policy, `run ${i} (${strategy})`);
        }
        if (baseline !== undefined) expect(backend.liveHandles?.()).toBe(baseline);
      } finally {
        await release(backend);
      }
    });

    const refused = async (backend: ConformanceBackend, policy: Policy, code: string): Promise<void> => {
      const tracker = track(backend);
      const error = await runPolicy(tracker.backend, policy).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, 'the run must be refused').toBeInstanceOf(ExecutorError);
      expect((error as ExecutorError).code).toBe(code);
      expect(
        tracker.work(),
        'forward, backward, initialState and zeroGradients calls before the refusal',
      ).toBe(0);
      expect(tracker.live).toBe(0);
    };

    it('refuses a policy for another sequence length before any work', { timeout }, async () => {
      const backend = await build({ steps: 5, seed, float64: false });
      try {
        const sb = backend.stateBytes();
        for (const steps of [4, 6]) {
          const policy = planAtLeast(planner, steps, sb, 'store-all', sb.hidden + steps * sb.internal);
          await refused(backend, policy, 'E_STEPS_MISMATCH');
        }
      } finally {
        await release(backend);
      }
    });

    it('refuses a policy planned for other state sizes before any work', { timeout }, async () => {
      const backend = await build({ steps: 5, seed, float64: false });
      try {
        const sb = backend.stateBytes();
        for (const other of [
          { hidden: sb.hidden + 1, internal: sb.internal },
          { hidden: sb.hidden, internal: sb.internal * 2 },
        ]) {
          const policy = planAtLeast(planner, 5, other, 'msm', other.hidden + 5 * other.internal);
          await refused(backend, policy, 'E_STATE_BYTES_MISMATCH');
        }
      } finally {
        await release(backend);
      }
    });

    it('refuses a policy that fails verification before any work', { timeout }, async () => {
      const backend = await build({ steps: 5, seed, float64: false });
      try {
        const good = storeAllPolicy(backend);
        await refused(
          backend,
          { ...good, totals: { ...good.totals, forwards: good.totals.forwards + 1 } },
          'E_POLICY_INVALID',
        );
        await refused(backend, { ...good, instructions: good.instructions.slice(0, -1) }, 'E_POLICY_INVALID');
        const reversed: Policy = { ...good, instructions: [...good.instructions].reverse() };
        await refused(backend, reversed, 'E_POLICY_INVALID');
      } finally {
        await release(backend);
      }
    });

    it('an abort at any point frees everything', { timeout }, async () => {
      const steps = 6;
      const backend = await build({ steps, seed, float64: false });
      try {
        const sb = backend.stateBytes();
        const baseline = backend.liveHandles?.();
        for (const strategy of ['hsm', 'msm', 'store-all'] as const) {
          if (!strategies.includes(strategy)) continue;
          const policy = plan(backend, strategy, sb.hidden + Math.floor((steps * sb.internal) / 3));
          // One progress event per range.
          const calls = rangeCalls(policy);
          const total = calls.forward + calls.backward;
          for (let k = 1; k < total; k++) {
            const signal: { aborted: boolean; reason?: unknown } = { aborted: false };
            const tracker = track(backend);
            let seen = 0;
            const error = await runPolicy(tracker.backend, policy, {
              signal,
              onProgress: () => {
                if (++seen === k) {
                  signal.aborted = true;
                  signal.reason = 'conformance abort';
                }
              },
            }).then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(error, `${strategy}: abort after ${k} operations`).toBeInstanceOf(ExecutorError);
            expect((error as ExecutorError).code).toBe('E_ABORTED');
            expect(seen, 'no operation after the abort').toBe(k);
            expect(tracker.violations).toEqual([]);
            expect(tracker.live, `${strategy}: handles live after an abort at ${k}`).toBe(0);
            if (baseline !== undefined) expect(backend.liveHandles?.()).toBe(baseline);
          }
        }
        // The backend is still usable after the aborts.
        await checkedRun(backend, storeAllPolicy(backend), 'store-all after aborts');
      } finally {
        await release(backend);
      }
    });
  });
}
