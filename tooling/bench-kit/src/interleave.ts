/**
 * Interleaved rounds: every round runs every case once (in a rotated order), so that load from other
 * processes falls on all cases alike; each measurement records the CPU time other processes took meanwhile,
 * and a round in which they took more than a threshold is flagged as contaminated and left out of the
 * statistics (unless too few clean rounds remain).
 */
import { type CpuProbe, foreignMs, processCpu } from './cpu.js';
import { type Summary, summarize } from './stats.js';

/** Default number of timed rounds. */
export const DEFAULT_ROUNDS = 5;
/**
 * Default contamination threshold: other processes used more than this many cores on average during a
 * measurement (0.25: a quarter of one core).
 */
export const DEFAULT_FOREIGN_CORES = 0.25;

/** One case: a name and the work to time. */
export interface BenchCase<R> {
  readonly name: string;
  /** The work; its result is kept (e.g. counts or peak bytes to report next to the time). */
  run(): R | Promise<R>;
  /**
   * The run's own duration in ms, when the work times itself (e.g. to leave out set-up done inside `run`);
   * by default the wall time of `run`.
   */
  ms?(result: R): number;
}

/** One timed run of one case. */
export interface Sample<R> {
  readonly round: number;
  /** Wall time, ms. */
  readonly ms: number;
  /** CPU time other processes took meanwhile, ms (undefined where it cannot be read). */
  readonly foreignMs?: number;
  /** Whether other processes took more than the threshold. */
  readonly contaminated: boolean;
  readonly result: R;
}

/** The measurements of one case. */
export interface CaseResult<R> {
  readonly name: string;
  /** Every timed run, in round order. */
  readonly samples: readonly Sample<R>[];
  /** Statistics of the wall times of the clean runs (of all runs if fewer than `minClean` are clean). */
  readonly ms: Summary;
  /** How many runs were flagged as contaminated. */
  readonly contaminated: number;
  /** Whether the statistics leave the contaminated runs out. */
  readonly cleanOnly: boolean;
  /** Rounds kept: `rounds`, or fewer when `shouldStop` ended the measurement early. */
  readonly completedRounds: number;
}

export interface InterleaveOptions {
  /** Timed rounds, >= 1 (default 5). */
  readonly rounds?: number;
  /** Untimed rounds first (default 1). */
  readonly warmup?: number;
  /** Contamination threshold in cores (default 0.25). */
  readonly foreignCores?: number;
  /** Fewest clean runs the statistics are taken over; below it all runs count (default 3). */
  readonly minClean?: number;
  /** Called after every timed run (for a progress bar). */
  readonly onSample?: (done: number, total: number, name: string) => void;
  /** Milliseconds clock (default `performance.now`). */
  readonly now?: () => number;
  /** CPU readings (default: /proc/stat and `process.cpuUsage`). */
  readonly cpu?: CpuProbe;
  /**
   * Checked before every run: when it returns true, measuring stops and only the rounds that every case
   * completed are kept (see `completedRounds`); none completed throws.
   */
  readonly shouldStop?: () => boolean;
}

/** Run every case once per round, `rounds` rounds, after `warmup` untimed rounds. */
export async function interleave<R>(
  cases: readonly BenchCase<R>[],
  options: InterleaveOptions = {},
): Promise<CaseResult<R>[]> {
  const rounds = options.rounds ?? DEFAULT_ROUNDS;
  const warmup = options.warmup ?? 1;
  const threshold = options.foreignCores ?? DEFAULT_FOREIGN_CORES;
  const minClean = options.minClean ?? 3;
  if (!(Number.isSafeInteger(rounds) && rounds >= 1)) {
    throw new RangeError(`bench-kit: rounds ${rounds} is not an integer >= 1`);
  }
  if (!(Number.isSafeInteger(warmup) && warmup >= 0)) {
    throw new RangeError(`bench-kit: warmup ${warmup} is not an integer >= 0`);
  }
  if (cases.length === 0) throw new RangeError('bench-kit: no cases to measure');
  const now = options.now ?? (() => performance.now());
  const cpu = options.cpu ?? processCpu;
  for (let w = 0; w < warmup; w++) for (const c of cases) await c.run();
  const samples = cases.map(() => [] as Sample<R>[]);
  const total = rounds * cases.length;
  let done = 0;
  let completed = 0;
  measure: for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < cases.length; j++) {
      if (options.shouldStop?.() === true) break measure;
      // Rotate the order so that no case always runs first (or right after the same neighbour).
      const k = (j + round) % cases.length;
      const c = cases[k] as BenchCase<R>;
      const before = cpu.read();
      const start = now();
      const result = await c.run();
      const wall = now() - start;
      const ms = c.ms === undefined ? wall : c.ms(result);
      const after = cpu.read();
      const foreign = before === undefined || after === undefined ? undefined : foreignMs(before, after);
      const contaminated = foreign !== undefined && wall > 0 && foreign / wall > threshold;
      (samples[k] as Sample<R>[]).push({
        round,
        ms,
        ...(foreign === undefined ? {} : { foreignMs: foreign }),
        contaminated,
        result,
      });
      done++;
      options.onSample?.(done, total, c.name);
    }
    completed++;
  }
  if (completed === 0) throw new RangeError('bench-kit: stopped before the first round completed');
  return cases.map((c, k) => {
    const all = (samples[k] as Sample<R>[]).filter((s) => s.round < completed);
    const clean = all.filter((s) => !s.contaminated);
    const cleanOnly = clean.length >= Math.min(minClean, all.length);
    return {
      name: c.name,
      samples: all,
      ms: summarize((cleanOnly ? clean : all).map((s) => s.ms)),
      contaminated: all.length - clean.length,
      cleanOnly,
      completedRounds: completed,
    };
  });
}

/**
 * The ratio of two cases' times with its spread: median of the per-round ratios `a / b` (runs of the same
 * round, adjacent in time, share the machine's state), with their min-max and quartiles. Rounds where
 * either run is contaminated are left out unless fewer than `minClean` remain.
 */
export function pairedRatio<R>(a: CaseResult<R>, b: CaseResult<R>, minClean = 3): Summary {
  const byRound = new Map(b.samples.map((s) => [s.round, s]));
  const pairs = a.samples.flatMap((s) => {
    const t = byRound.get(s.round);
    return t === undefined || t.ms <= 0
      ? []
      : [{ r: s.ms / t.ms, clean: !s.contaminated && !t.contaminated }];
  });
  if (pairs.length === 0) throw new RangeError(`bench-kit: ${a.name} and ${b.name} share no round`);
  const clean = pairs.filter((p) => p.clean);
  return summarize((clean.length >= Math.min(minClean, pairs.length) ? clean : pairs).map((p) => p.r));
}
