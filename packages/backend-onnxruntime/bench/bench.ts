/**
 * Benchmarks of the ONNX Runtime backend (CPU execution provider):
 *
 * 1. per-step forward and backward times of every cell at B=32 I=H=256 and B=64 I=H=512;
 * 2. the design choices (internal state saved or recomputed, fused forward ranges and their length,
 *    deferred weight gradients), on store-all passes and on msm at a 5% budget;
 * 3. LSTM B=32 H=256 T=1000: store-all against msm at 5% of its memory, in one run (peak checkpoint
 *    bytes, time per iteration and ratio, executor overhead).
 *
 * Usage: `pnpm bench` (about 1-3 minutes on 2 cores). Smaller: `pnpm bench --quick` (or BENCH_QUICK=1);
 * `--steps N` (T of part 3, default 1000), `--iterations N` (timed iterations per strategy, default 4),
 * `--threads N` (ONNX Runtime intra-op threads), `--only per-step|design|long|ranges|sessions`.
 * 4. the range-level backend (version 2) against the per-step one (version 1), store-all and msm at 5%,
 *    LSTM T=1000 B=32 H=256 with 89 one-hot inputs and a softmax over 89 classes, all four interleaved in
 *    every round (`--rounds N`, default 5): medians and spread, the CPU time other processes took in each
 *    round, and per iteration the ONNX Runtime runs and bytes moved in and out (`--json FILE` writes them).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  type CaseResult,
  DEFAULT_ROUNDS,
  formatSummary,
  interleave,
  median,
  pairedRatio,
} from '@rewind/bench-kit';
import { type CellBackendV1, runPolicy } from '@rewind/executor';
import {
  createReferenceModel,
  type ReferenceBatch,
  type ReferenceModel,
  randomBatch,
} from '@rewind/executor/reference';
import type { Policy } from '@rewind/policy';
import { memoryBudget, plan } from '@rewind/solver';
import { env } from 'onnxruntime-node';
import { createOnnxBackendV2 } from '../src/backend-v2.js';
import {
  createOnnxBackend,
  createSessionPool,
  type OnnxBackend,
  type OnnxBackendOptions,
  type OnnxBackendStats,
} from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env['BENCH_QUICK'] === '1' },
    steps: { type: 'string' },
    iterations: { type: 'string' },
    threads: { type: 'string' },
    only: { type: 'string' },
    rounds: { type: 'string' },
    json: { type: 'string' },
  },
});
const quick = args.quick === true;
const LONG_T = Number(args.steps ?? (quick ? 200 : 1000));
const ITERATIONS = Number(args.iterations ?? (quick ? 2 : DEFAULT_ROUNDS));
const threads = args.threads === undefined ? {} : { intraOpNumThreads: Number(args.threads) };
const only = args.only;
const now = (): number => performance.now();
const fmt = (ms: number, digits = 3): string => ms.toFixed(digits);
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

type Cell = 'rnn' | 'lstm' | 'gru';

function setup(
  cell: Cell,
  B: number,
  H: number,
  T: number,
): { model: ReferenceModel; batch: ReferenceBatch } {
  const model = createReferenceModel({
    cell,
    inputSize: H,
    hiddenSize: H,
    head: { kind: 'softmax', classes: 256 },
    seed: 1,
  });
  const batch = randomBatch(model, { steps: T, batchSize: B, seed: 2 });
  return { model, batch };
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/**
 * Per-step times through the backend interface, one ONNX Runtime run per step (no fusion): forward
 * keeping nothing, forward keeping the internal state, backward (gate gradients, head, and the share of
 * the deferred weight-gradient products). Minimum over `reps` passes (the machine may be shared).
 */
async function perStep(
  backend: OnnxBackend,
  reps: number,
): Promise<{ fwd: number; fwdKeep: number; bwd: number }> {
  const T = backend.steps;
  const best = {
    fwd: Number.POSITIVE_INFINITY,
    fwdKeep: Number.POSITIVE_INFINITY,
    bwd: Number.POSITIVE_INFINITY,
  };
  for (let r = 0; r < reps + 1; r++) {
    await backend.zeroGradients();
    let h = await backend.initialState();
    let t0 = now();
    for (let t = 1; t <= T; t++) {
      const out = await backend.forward(h, t, false);
      backend.dispose(h);
      h = out.h;
    }
    const fwd = (now() - t0) / T;
    backend.dispose(h);
    h = await backend.initialState();
    const internals = [];
    t0 = now();
    for (let t = 1; t <= T; t++) {
      const out = await backend.forward(h, t, true);
      backend.dispose(h);
      h = out.h;
      internals.push(out.internal!);
    }
    const fwdKeep = (now() - t0) / T;
    backend.dispose(h);
    t0 = now();
    let d = null;
    for (let t = T; t >= 1; t--) {
      const g = await backend.backward(internals[t - 1]!, d, t);
      backend.dispose(internals[t - 1]!);
      if (d !== null) backend.dispose(d);
      d = g;
    }
    await backend.readGradients();
    const bwd = (now() - t0) / T;
    if (d !== null) backend.dispose(d);
    if (r === 0) continue; // warm-up
    best.fwd = Math.min(best.fwd, fwd);
    best.fwdKeep = Math.min(best.fwdKeep, fwdKeep);
    best.bwd = Math.min(best.bwd, bwd);
  }
  return best;
}

/** Wrap a backend to measure the time spent inside its methods (the executor awaits them one by one). */
function timed<H, I, G>(
  inner: CellBackendV1<H, I, G>,
): { backend: CellBackendV1<H, I, G>; busy: () => number; reset: () => void } {
  let busy = 0;
  const wrap =
    <A extends unknown[], R>(f: (...a: A) => R) =>
    (...a: A): R => {
      const t0 = now();
      const r = f(...a);
      if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
        return (r as unknown as Promise<unknown>).then((v) => {
          busy += now() - t0;
          return v;
        }) as R;
      }
      busy += now() - t0;
      return r;
    };
  const backend: CellBackendV1<H, I, G> = {
    specificationVersion: inner.specificationVersion,
    name: inner.name,
    steps: inner.steps,
    stateBytes: () => inner.stateBytes(),
    initialState: wrap(() => inner.initialState()),
    forward: wrap((h: H, t: number, k: boolean) => inner.forward(h, t, k)),
    hiddenOf: wrap((s: I) => inner.hiddenOf(s)),
    backward: wrap((s: I, d: G | null, t: number) => inner.backward(s, d, t)),
    dispose: wrap((x: H | I | G) => inner.dispose(x)),
    zeroGradients: wrap(() => inner.zeroGradients()),
    loss: wrap(() => inner.loss()),
    readGradients: wrap(() => inner.readGradients()),
  };
  return {
    backend,
    busy: () => busy,
    reset: () => {
      busy = 0;
    },
  };
}

interface PassTiming {
  /** Milliseconds per iteration (a pass and the gradient read-out): median, min and max of the rounds. */
  readonly ms: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Milliseconds outside the backend's methods (the executor's own work), median. */
  readonly overheadMs: number;
  readonly peakBytes: number;
  readonly forwards: number;
  readonly runs: number;
  /** Runs left out: other processes took more than a quarter of a core meanwhile. */
  readonly contaminated: number;
  /** The rounds, for ratios round by round. */
  readonly result: CaseResult<{ overhead: number; runs: number; peak: number; forwards: number }>;
}

/**
 * Time iterations of several policies on one backend in interleaved rounds (`@rewind/bench-kit`), so that
 * load from other processes falls on all alike, after one warm-up round.
 */
async function compare(
  backend: OnnxBackend,
  policies: readonly Policy[],
  rounds: number,
): Promise<PassTiming[]> {
  const t = timed(backend);
  const results = await interleave(
    policies.map((policy, p) => ({
      name: `${policy.strategy} ${p}`,
      run: async () => {
        t.reset();
        backend.resetStats();
        const t0 = now();
        const result = await runPolicy(t.backend, policy);
        await t.backend.readGradients();
        const total = now() - t0;
        return {
          overhead: total - t.busy(),
          runs: backend.stats().runs,
          peak: result.peakBytes,
          forwards: result.forwards,
        };
      },
    })),
    { rounds, warmup: 1 },
  );
  return results.map((r) => {
    const outs = r.samples.map((x) => x.result);
    return {
      ms: r.ms.median,
      minMs: r.ms.min,
      maxMs: r.ms.max,
      overheadMs: median(outs.map((o) => o.overhead)),
      peakBytes: outs.at(-1)?.peak ?? 0,
      forwards: outs.at(-1)?.forwards ?? 0,
      runs: median(outs.map((o) => o.runs)),
      contaminated: r.contaminated,
      result: r,
    };
  });
}

function storeAll(backend: OnnxBackend): Policy {
  const sb = backend.stateBytes();
  return plan({
    steps: backend.steps,
    memory: { bytes: sb.hidden + backend.steps * sb.internal, stateBytes: sb },
    strategy: 'store-all',
  });
}

function msmAt(backend: OnnxBackend, bytes: number, backwardCost: number): Policy {
  return plan({
    steps: backend.steps,
    memory: { bytes, stateBytes: backend.stateBytes() },
    strategy: 'msm',
    costModel: { backwardCost },
  });
}

function printMachine(): void {
  const cpu = cpus();
  console.log('# @rewind/backend-onnxruntime benchmark');
  console.log(
    `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} logical cores, ${mib(totalmem())} RAM; Node ${process.version}; onnxruntime-node ${env.versions.node ?? '?'} (CPU execution provider${args.threads === undefined ? ', default threads' : `, ${args.threads} threads`})`,
  );
  console.log(
    `mode: ${quick ? 'quick (reduced sizes)' : 'full'}; load average at start ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )} (other processes may share the cores: per-step and per-pass figures are minima, per-iteration ones medians, of repeated interleaved runs)\n`,
  );
}

async function partPerStep(): Promise<number> {
  console.log('## 1. Per-step times (ms), one run per step, float32');
  const sizes = quick
    ? [
        { B: 8, H: 64, T: 16 },
        { B: 16, H: 128, T: 8 },
      ]
    : [
        { B: 32, H: 256, T: 48 },
        { B: 64, H: 512, T: 24 },
      ];
  const rows: string[][] = [];
  let ratio = 2;
  for (const { B, H, T } of sizes) {
    for (const cell of ['rnn', 'lstm', 'gru'] as const) {
      const { model, batch } = setup(cell, B, H, T);
      const backend = await createOnnxBackend(model, batch, { fuseForward: false, ...threads });
      const r = await perStep(backend, quick ? 2 : 3);
      if (cell === 'lstm' && B === sizes[0]!.B) ratio = r.bwd / r.fwdKeep;
      rows.push([
        `${cell} B=${B} I=H=${H}`,
        fmt(r.fwd),
        fmt(r.fwdKeep),
        fmt(r.bwd),
        (r.bwd / r.fwdKeep).toFixed(2),
        String(backend.alpha),
      ]);
    }
  }
  table(['cell', 'forward', 'forward+keep s_t', 'backward', 'bwd/fwd', 'alpha'], rows);
  console.log(
    'forward: h_t only; forward+keep: also the internal state s_t; backward: gate gradients, head, dh_{t-1}, and the\n' +
      'step’s share of the deferred weight-gradient products (chunks of 32 steps).\n',
  );
  return ratio;
}

/**
 * The fastest store-all pass (and the backend's counters in it) of each backend, over `reps` timed
 * repetitions after a warm-up, interleaved across the backends so that load from other processes falls on
 * all alike.
 */
async function bestStoreAllPasses(
  backends: readonly OnnxBackend[],
  reps: number,
): Promise<{ ms: number; stats: OnnxBackendStats }[]> {
  const best = backends.map((b) => ({ ms: Number.POSITIVE_INFINITY, stats: b.stats() }));
  for (let rep = 0; rep <= reps; rep++) {
    for (const [v, backend] of backends.entries()) {
      const policy = storeAll(backend);
      backend.resetStats();
      const t0 = now();
      await runPolicy(backend, policy);
      await backend.readGradients();
      const ms = now() - t0;
      if (rep > 0 && ms < best[v]!.ms) best[v] = { ms, stats: backend.stats() };
    }
  }
  return best;
}

async function partDesign(backwardCost: number): Promise<void> {
  console.log('## 2. Design choices (LSTM, float32)');
  const B = quick ? 8 : 32;
  const H = quick ? 64 : 256;
  const T = quick ? 32 : 96;
  const { model, batch } = setup('lstm', B, H, T);
  const variants: [string, OnnxBackendOptions][] = [
    ['chosen: saved s_t, fused runs of <= 16 steps, weight gradients per 32 steps', {}],
    ['recomputed s_t (alpha 2)', { internalState: 'recomputed' }],
    ['no fusion (one run per forward step)', { fuseForward: false }],
    ['weight gradients every step (K=1)', { weightGradientSteps: 1 }],
    ['weight gradients per 8 steps', { weightGradientSteps: 8 }],
    ['weight gradients per 16 steps', { weightGradientSteps: 16 }],
    ['weight gradients once per pass (K=T)', { weightGradientSteps: Number.POSITIVE_INFINITY }],
  ];
  const backends: OnnxBackend[] = [];
  for (const [, options] of variants)
    backends.push(await createOnnxBackend(model, batch, { ...options, ...threads }));
  const best = await bestStoreAllPasses(backends, quick ? 2 : 6);
  const base = best[0]!.ms;
  console.log(
    `store-all pass, B=${B} I=H=${H} T=${T} (ms per step; forward / backward / weight-gradient parts):`,
  );
  table(
    ['variant', 'ms/step', 'vs chosen', 'runs/pass', 'fwd', 'bwd', 'wgrad', 'deferred buffer'],
    variants.map(([label], v) => {
      const b = best[v]!;
      return [
        label,
        fmt(b.ms / T),
        `${(b.ms / base).toFixed(2)}x`,
        String(b.stats.runs),
        fmt(b.stats.forwardMs / T),
        fmt(b.stats.backwardMs / T),
        fmt(b.stats.weightGradientMs / T),
        mib(b.stats.deferredBytes),
      ];
    }),
  );

  // Length of the fused runs, on a longer store-all pass (one forward keeping every internal state).
  const runT = quick ? 128 : 1000;
  const runSetup = setup('lstm', B, H, runT);
  const lengths: [string, number][] = [
    ['unbounded (one run)', Number.POSITIVE_INFINITY],
    ['256 steps', 256],
    ['64 steps', 64],
    ['chosen: 16 steps', 16],
    ['4 steps', 4],
  ];
  const runBackends: OnnxBackend[] = [];
  for (const [, fusedSteps] of lengths)
    runBackends.push(await createOnnxBackend(runSetup.model, runSetup.batch, { fusedSteps, ...threads }));
  const runBest = await bestStoreAllPasses(runBackends, quick ? 2 : 4);
  const chosen = runBest[lengths.findIndex(([, n]) => n === 16)]!.ms;
  console.log(`\nfused run length (fusedSteps), store-all pass, B=${B} I=H=${H} T=${runT} (ms per step):`);
  table(
    ['longest fused run', 'ms/step', 'vs chosen', 'forward runs', 'fwd'],
    lengths.map(([label], v) => {
      const b = runBest[v]!;
      return [
        label,
        fmt(b.ms / runT),
        `${(b.ms / chosen).toFixed(2)}x`,
        String(b.stats.forwardRuns),
        fmt(b.stats.forwardMs / runT),
      ];
    }),
  );

  // The same choices where they matter most: msm at 5% of the store-all memory (recomputations).
  const longT = quick ? 100 : 400;
  const long = setup('lstm', B, H, longT);
  const msmVariants: [string, OnnxBackendOptions][] = [variants[0]!, variants[1]!, variants[2]!];
  const msmBackends: OnnxBackend[] = [];
  for (const [, options] of msmVariants)
    msmBackends.push(await createOnnxBackend(long.model, long.batch, { ...options, ...threads }));
  const saved = msmBackends[0]!.stateBytes();
  const budget = memoryBudget(longT, { share: 0.05, stateBytes: saved }).bytes as number;
  const rows: string[][] = [];
  for (let v = 0; v < msmVariants.length; v++) {
    const backend = msmBackends[v]!;
    const policy = msmAt(backend, budget, backwardCost);
    const [r] = await compare(backend, [policy], quick ? 1 : DEFAULT_ROUNDS);
    if (r === undefined) continue;
    rows.push([
      msmVariants[v]![0],
      String(backend.alpha),
      String(r.forwards),
      fmt(r.ms / longT),
      String(r.runs),
      mib(r.peakBytes),
    ]);
  }
  console.log(
    `\nmsm at 5% of the saved-state store-all memory (${mib(budget)}), B=${B} I=H=${H} T=${longT}:`,
  );
  table(['variant', 'alpha', 'forwards', 'ms/step', 'runs/pass', 'peak checkpoints'], rows);
  console.log('');
}

async function partLong(backwardCost: number): Promise<void> {
  const B = quick ? 8 : 32;
  const H = quick ? 64 : 256;
  const T = LONG_T;
  console.log(`## 3. LSTM B=${B} I=H=${H} T=${T}, ort-cpu: store-all vs msm at a 5% memory budget`);
  const { model, batch } = setup('lstm', B, H, T);
  const backend = await createOnnxBackend(model, batch, threads);
  const sb = backend.stateBytes();
  const all = storeAll(backend);
  const budget = memoryBudget(T, { share: 0.05, stateBytes: sb }).bytes as number;
  const msm = msmAt(backend, budget, backwardCost);
  console.log(
    `state bytes: hidden ${sb.hidden}, internal ${sb.internal} (alpha ${backend.alpha}); backward cost ${backwardCost.toFixed(2)} forwards (measured)`,
  );
  const [a, m] = await compare(backend, [all, msm], ITERATIONS);
  if (a === undefined || m === undefined) return;
  const row = (name: string, budgetBytes: number, r: PassTiming): string[] => [
    name,
    mib(budgetBytes),
    mib(r.peakBytes),
    String(r.forwards),
    fmt(r.ms, 1),
    `${fmt(r.minMs, 1)}-${fmt(r.maxMs, 1)}`,
    `${fmt(r.overheadMs, 1)} ms (${((100 * r.overheadMs) / r.ms).toFixed(2)}%)`,
    String(r.runs),
  ];
  table(
    [
      'strategy',
      'budget',
      'peak checkpoints',
      'forwards',
      'ms/iter (median)',
      'ms/iter (min-max)',
      'executor overhead',
      'runs',
    ],
    [row('store-all', sb.hidden + T * sb.internal, a), row('msm 5%', budget, m)],
  );
  const predicted = (msm.totals.forwards + backwardCost * T) / (all.totals.forwards + backwardCost * T);
  console.log(
    `msm / store-all: peak checkpoint memory ${((100 * m.peakBytes) / a.peakBytes).toFixed(1)}%, time per iteration ` +
      `${formatSummary(pairedRatio(m.result, a.result), (x) => x.toFixed(3))}x (median and min-max of the per-round ratios over ${a.result.completedRounds} interleaved rounds); the cost model predicts ${predicted.toFixed(3)}x`,
  );
  console.log(
    `runs left out as contaminated by other processes: store-all ${a.contaminated}, msm ${m.contaminated}`,
  );
  console.log(
    `executor overhead = time per iteration outside the backend's methods (interpreting the policy, the ledger, handle tracking);\n` +
      `deferred weight-gradient buffer (working memory, not a checkpoint): ${mib(backend.stats().deferredBytes)}\n`,
  );
}

/** CPU time (ms) of the whole machine and of this process, for the contamination of a round. */
function cpuTimes(): { machine: number; own: number } {
  let machine = 0;
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system (idle iowait excluded) irq softirq steal
    const ticks = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    machine = (ticks * 1000) / 100;
  } catch {
    machine = Number.NaN;
  }
  const u = process.cpuUsage();
  return { machine, own: (u.user + u.system) / 1000 };
}

interface RangeRow {
  readonly name: string;
  readonly times: number[];
  readonly foreign: number[];
  /** Garbage collection inside each timed run (ms), and the minor page faults of the process during it. */
  readonly gc: number[];
  readonly faults: number[];
  stats?: OnnxBackendStats;
  forwards: number;
  instructions: number;
}

/** Parts 4 and 5: the reference app's character model (LSTM, 89 one-hot inputs, a softmax over 89), at `LONG_T`. */
function characterCase(): {
  B: number;
  H: number;
  V: number;
  T: number;
  model: ReferenceModel;
  batch: ReferenceBatch;
} {
  const B = quick ? 8 : 32;
  const H = quick ? 64 : 256;
  const V = 89;
  const T = LONG_T;
  const model = createReferenceModel({
    cell: 'lstm',
    inputSize: V,
    hiddenSize: H,
    head: { kind: 'softmax', classes: V },
    seed: 1,
  });
  const batch = randomBatch(model, { steps: T, batchSize: B, seed: 2 });
  const inputs = batch.inputs as unknown as Float64Array | number[];
  for (let r = 0; r < T * B; r++) {
    const hot = (r * 7919) % V;
    for (let k = 0; k < V; k++) inputs[r * V + k] = k === hot ? 1 : 0;
  }
  return { B, H, V, T, model, batch };
}

async function partRanges(backwardCost: number): Promise<void> {
  const { B, H, V, T, model, batch } = characterCase();
  const rounds = Number(args.rounds ?? (quick ? 3 : 5));
  console.log(
    `## 4. Range-level (v2) vs per-step (v1) backend: LSTM B=${B} H=${H}, ${V} one-hot inputs, softmax over ${V}, T=${T}; store-all and msm at 5%, interleaved, ${rounds} rounds`,
  );
  const v1 = await createOnnxBackend(model, batch, threads);
  const v2 = await createOnnxBackendV2(model, batch, threads);
  const sb = v2.stateBytes();
  const all = storeAll(v1);
  const budget = Math.floor(0.05 * (sb.hidden + T * sb.internal));
  const msm = msmAt(v1, budget, backwardCost);
  const cases: {
    row: RangeRow;
    run: () => Promise<void>;
    stats: () => OnnxBackendStats;
    reset: () => void;
  }[] = [];
  for (const [label, policy] of [
    ['store-all', all],
    ['msm 5%', msm],
  ] as const) {
    cases.push({
      row: {
        name: `v1 ${label}`,
        times: [],
        foreign: [],
        gc: [],
        faults: [],
        forwards: policy.totals.forwards,
        instructions: policy.instructions.length,
      },
      run: async () => {
        await runPolicy(v1, policy);
        await v1.readGradients();
      },
      stats: () => v1.stats(),
      reset: () => v1.resetStats(),
    });
    cases.push({
      row: {
        name: `v2 ${label}`,
        times: [],
        foreign: [],
        gc: [],
        faults: [],
        forwards: policy.totals.forwards,
        instructions: policy.instructions.length,
      },
      run: async () => {
        await runPolicy(v2, policy);
        await v2.readGradients();
      },
      stats: () => v2.stats(),
      reset: () => v2.resetStats(),
    });
  }
  // Garbage collection pauses, summed as they are reported (entries arrive after the run: wait a turn).
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  for (let round = 0; round <= rounds; round++) {
    for (const c of cases) {
      c.reset();
      await turn();
      const gc0 = gcMs;
      const faults0 = process.resourceUsage().minorPageFault;
      const before = cpuTimes();
      const t0 = now();
      await c.run();
      const ms = now() - t0;
      const after = cpuTimes();
      const faults = process.resourceUsage().minorPageFault - faults0;
      await turn();
      if (round === 0) continue; // warm-up
      c.row.gc.push(gcMs - gc0);
      c.row.faults.push(faults);
      c.row.times.push(ms);
      c.row.foreign.push(Math.max(0, after.machine - before.machine - (after.own - before.own)));
      c.row.stats = c.stats();
    }
  }
  const mb = (x: number): string => (x / 1e6).toFixed(1);
  // A round is clean when other processes took less than 5% of its wall time in CPU time.
  const cleanTimes = (row: RangeRow): number[] =>
    row.times.filter((t, i) => (row.foreign[i] ?? 0) <= 0.05 * t);
  const cleanMedian = (row: RangeRow): number => {
    const c = cleanTimes(row);
    return c.length === 0 ? Number.NaN : median(c);
  };
  const rows = cases.map(({ row }) => {
    const s = row.stats!;
    const bytes = s.forwardBytesIn + s.forwardBytesOut + s.backwardBytesIn + s.backwardBytesOut;
    return [
      row.name,
      fmt(median(row.times), 1),
      `${fmt(cleanMedian(row), 1)} (${cleanTimes(row).length})`,
      `${fmt(Math.min(...row.times), 1)}-${fmt(Math.max(...row.times), 1)}`,
      fmt(median(row.foreign), 0),
      String(s.runs),
      String(row.instructions),
      mb(bytes),
      mb(s.parameterBytesIn),
      (s.forwardSteps > 0 ? (s.forwardBytesIn + s.forwardBytesOut) / s.forwardSteps / 1e3 : 0).toFixed(1),
      ((s.backwardBytesIn + s.backwardBytesOut) / T / 1e3).toFixed(1),
      mb(s.gatherBytes),
      fmt(median(row.gc), 1),
      String(Math.round(median(row.faults))),
    ];
  });
  observer.disconnect();
  table(
    [
      'backend',
      'ms/iter (median)',
      'clean median (rounds)',
      'spread (min-max)',
      'foreign CPU ms',
      'runs',
      'instructions',
      'MB in+out',
      'param MB',
      'kB/fwd step',
      'kB/bwd step',
      'gathered MB',
      'GC ms',
      'page faults',
    ],
    rows,
  );
  const med = (name: string): number => median(cases.find((c) => c.row.name === name)!.row.times);
  const clean = (name: string): number => cleanMedian(cases.find((c) => c.row.name === name)!.row);
  const ratios = (f: (name: string) => number): string =>
    `msm / store-all: v1 ${(f('v1 msm 5%') / f('v1 store-all')).toFixed(3)}x, v2 ${(f('v2 msm 5%') / f('v2 store-all')).toFixed(3)}x; ` +
    `v2 / v1 store-all ${(f('v2 store-all') / f('v1 store-all')).toFixed(3)}x`;
  console.log(`all rounds: ${ratios(med)}`);
  console.log(`clean rounds: ${ratios(clean)}`);
  // Per round (both in the same round, so under the same load): the ratio of msm to store-all.
  const perRound = (a: string, b: string): string => {
    const ra = cases.find((c) => c.row.name === a)!.row.times;
    const rb = cases.find((c) => c.row.name === b)!.row.times;
    return ra.map((x, i) => (x / (rb[i] ?? Number.NaN)).toFixed(2)).join(' ');
  };
  console.log(
    `v2 msm / v2 store-all per round: ${perRound('v2 msm 5%', 'v2 store-all')}; v1: ${perRound('v1 msm 5%', 'v1 store-all')}`,
  );
  console.log(`tf32: ${v2.options.tf32} (CPU: not applicable)`);
  console.log(
    'foreign CPU ms: CPU time other processes took during the round (from /proc/stat, minus this process); compare rows within one run.\n' +
      'GC ms: garbage collection pauses during the iteration; page faults: minor page faults (memory touched for the first time); medians.\n',
  );
  if (args.json !== undefined) {
    const out = {
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
      sizes: { cell: 'lstm', T, B, H, inputs: V, classes: V },
      executionProvider: 'cpu',
      tf32: v2.options.tf32,
      rounds,
      results: cases.map(({ row }) => ({
        backend: row.name,
        msPerIteration: {
          median: median(row.times),
          min: Math.min(...row.times),
          max: Math.max(...row.times),
          all: row.times,
        },
        foreignCpuMs: row.foreign,
        gcMs: row.gc,
        minorPageFaults: row.faults,
        instructions: row.instructions,
        forwards: row.forwards,
        perIteration: row.stats,
      })),
    };
    writeFileSync(args.json, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`wrote ${args.json}`);
  }
}

/**
 * What parameters as initializers would cost: sessions built into a graph are fixed, so parameters baked in
 * as initializers mean new sessions after every optimizer step. Times, per strategy, a backend and one pass
 * with a cold session pool against the same with a warm one (the difference is the building of every
 * session an iteration needs), and the parameter bytes the iteration's runs are fed (on CUDA each run
 * copies its inputs to the device: that is what the initializers would save).
 */
async function partSessions(backwardCost: number): Promise<void> {
  const { B, H, V, T, model, batch } = characterCase();
  const rounds = Number(args.rounds ?? (quick ? 2 : 5));
  console.log(
    `## 5. Session building (parameters as initializers?): LSTM B=${B} H=${H}, ${V} one-hot inputs, T=${T}; store-all and msm at 5%, ${rounds} rounds`,
  );
  const probe = await createOnnxBackendV2(model, batch, threads);
  const sb = probe.stateBytes();
  const policies: [string, Policy][] = [
    [
      'store-all',
      plan({
        steps: T,
        memory: { bytes: sb.hidden + T * sb.internal, stateBytes: sb },
        strategy: 'store-all',
      }),
    ],
    [
      'msm 5%',
      plan({
        steps: T,
        memory: { bytes: Math.floor(0.05 * (sb.hidden + T * sb.internal)), stateBytes: sb },
        strategy: 'msm',
        costModel: { backwardCost },
      }),
    ],
  ];
  const parameterBytes = 4 * (4 * H * V + 4 * H * H + 4 * H + V * H + V);
  const rows: string[][] = [];
  const foreign: number[] = [];
  const timed = async (sessions: ReturnType<typeof createSessionPool>, policy: Policy) => {
    const before = cpuTimes();
    const t0 = now();
    const backend = await createOnnxBackendV2(model, batch, { ...threads, sessions });
    await runPolicy(backend, policy);
    await backend.readGradients();
    const ms = now() - t0;
    const after = cpuTimes();
    foreign.push(Math.max(0, after.machine - before.machine - (after.own - before.own)));
    return { ms, runs: backend.stats().runs };
  };
  for (const [name, policy] of policies) {
    const cold: number[] = [];
    const warm: number[] = [];
    let built = 0;
    let runs = 0;
    for (let round = 0; round < rounds; round++) {
      const sessions = createSessionPool();
      cold.push((await timed(sessions, policy)).ms);
      built = sessions.size;
      const w = await timed(sessions, policy);
      warm.push(w.ms);
      runs = w.runs;
      await sessions.release();
    }
    const build = cold.map((c, i) => c - (warm[i] ?? 0));
    rows.push([
      name,
      String(built),
      fmt(median(cold), 0),
      fmt(median(warm), 0),
      `${fmt(median(build), 0)} (${fmt(Math.min(...build), 0)}-${fmt(Math.max(...build), 0)})`,
      String(runs),
      (parameterBytes / 1e6).toFixed(2),
      ((runs * parameterBytes) / 1e6).toFixed(0),
    ]);
  }
  table(
    [
      'policy',
      'sessions built',
      'cold ms',
      'warm ms',
      'building ms (min-max)',
      'runs',
      'param MB',
      'param MB if every run copies',
    ],
    rows,
  );
  console.log(
    `foreign CPU: other processes took ${fmt(median(foreign), 0)} ms of CPU per timed pass (median; max ${fmt(Math.max(...foreign), 0)}).\n` +
      'cold: a backend and one pass (gradients read) with a new session pool; warm: the same again on that pool; building = cold - warm, per round (median, min-max):\n' +
      'the sessions and their memory arenas, what sessions with the parameters as initializers would cost after every optimizer step.\n' +
      'param MB if every run copies: what CUDA moves per iteration when the parameters are run inputs (an upper bound: every run counted).\n',
  );
}

async function main(): Promise<void> {
  const start = now();
  printMachine();
  let backwardCost = 2;
  if (only === undefined || only === 'per-step') backwardCost = await partPerStep();
  if (only === undefined || only === 'design') await partDesign(backwardCost);
  if (only === undefined || only === 'long') await partLong(backwardCost);
  if (only === undefined || only === 'ranges') await partRanges(backwardCost);
  if (only === undefined || only === 'sessions') await partSessions(backwardCost);
  console.log(
    `total bench time: ${((now() - start) / 1000).toFixed(1)} s; load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

await main();
