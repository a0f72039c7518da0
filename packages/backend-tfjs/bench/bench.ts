// Benchmark of @rewind/backend-tfjs on the wasm backend: an LSTM language model trained with standard
// BPTT (store-all) and with MSM at a 5% memory budget, both through @rewind/executor, and store-all
// against a plain tfjs training loop that differentiates the unrolled sequence with tf.grads.
//
//   pnpm bench                      # B=32, H=256, T=1000 (about 3 minutes on 2 idle cores)
//   pnpm bench -- --steps 200 --iterations 1 --plain-steps 100
//
// Flags (or environment variables BENCH_<NAME>, e.g. BENCH_STEPS=200):
//   --steps T (1000)  --batch B (32)  --hidden H (256)  --vocab V (80)  --iterations N (3)
//   --budget fraction of store-all's checkpoint memory for MSM (0.05)
//   --plain-steps T for the plain tfjs loop (default: min(T, 500): its tape does not fit the wasm heap at
//                 T=1000)  --no-plain
//   --sweep-steps T for the weight-gradient chunk sweep (100)  --no-sweep
//   --threads N  threads of the wasm backend (default: one per core, at most 8)
//   --chunk weight-gradient chunk of the main runs (default: the package's default)
//   --no-counts  skip the dispatch counts on every tfjs engine (wasm, cpu, and WebGPU where Dawn starts:
//                Mesa's llvmpipe through OpenGL ES without a GPU)
//   --json FILE  also write the results as JSON
//   --no-fused   run the composite steps (tfjs operations) instead of the fused step kernels
//   --compare-composite  also time store-all and MSM on the composite steps, interleaved in the same rounds
//   --per-step   train through the per-step backend (createCellBackend) instead of the range-level one

import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import {
  type CaseResult,
  DEFAULT_ROUNDS,
  formatSummary,
  interleave,
  median,
  pairedRatio,
} from '@rewind/bench-kit';
import type { OperationTimings } from '@rewind/executor';
import { runPolicy } from '@rewind/executor';
import { type CharBatch, createCharDataset } from '@rewind/executor/data';
import type { Policy, StateBytes } from '@rewind/policy';
import { memoryBudget, plan } from '@rewind/solver';
import * as tf from '@tensorflow/tfjs-core';
import {
  adam,
  createCellBackend,
  createRangeBackend,
  createRecurrentModel,
  createTfjsEngine,
  createTrainer,
  KernelCounter,
  registerGradients,
  type TfjsEngine,
  type TfjsModel,
} from '../src/index.js';
import { unrolledLoss } from '../src/unrolled.test-util.js';

// ---------------------------------------------------------------------------------------------------
// Options

function option(name: string, fallback: number): number {
  const flag = `--${name}`;
  const i = process.argv.indexOf(flag);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got ${raw}`);
  return n;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const T = option('steps', 1000);
const B = option('batch', 32);
const H = option('hidden', 256);
const V = option('vocab', 80);
// Interleaved timed rounds of store-all and msm (after one warm-up round), @rewind/bench-kit's default.
const ITERATIONS = option('iterations', DEFAULT_ROUNDS);
const BUDGET = option('budget', 0.05);
// tf.grads keeps every intermediate tensor of the unrolled sequence: about 3.4 MiB per step here, so
// T=1000 exhausts the wasm heap (4 GiB at most; measured: the run aborts). 500 steps fit.
const PLAIN_T = option('plain-steps', Math.min(T, 500));
const SWEEP_T = option('sweep-steps', 100);
const CHUNK = option('chunk', Number.NaN);
// Threads of the wasm backend (default: the engine's 'auto', one per core up to 8).
const THREADS = option('threads', Number.NaN);
const PLAIN = !flag('no-plain');
const SWEEP = !flag('no-sweep');
const COUNTS = !flag('no-counts');
const FUSED = !flag('no-fused');
// Also time the composite steps (tfjs operations), interleaved with the fused ones in the same rounds.
const COMPARE = flag('compare-composite');
// Train through the range-level backend (the default, as training binds it) or the per-step one.
const RANGES = !flag('per-step');
const JSON_PATH = (() => {
  const i = process.argv.indexOf('--json');
  return i >= 0 ? process.argv[i + 1] : process.env['BENCH_JSON'];
})();
const results: Record<string, unknown> = {};

// ---------------------------------------------------------------------------------------------------
// Helpers

const clock = (): number => performance.now();

const ms = (x: number): string => `${x.toFixed(2)} ms`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

function table(rows: readonly (readonly string[])[]): void {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows)
    console.log(
      `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ')}`,
    );
}

/** A deterministic pseudo-text over `vocab` symbols with some structure (a random order-2 Markov chain). */
function syntheticText(vocab: number, length: number, seed: number): string {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
  const symbols = Array.from({ length: vocab }, (_, i) => String.fromCodePoint(0x21 + i));
  const next = Array.from({ length: vocab * vocab }, () =>
    Array.from({ length: 4 }, () => Math.floor(rand() * vocab)),
  );
  const out: string[] = [symbols[0] as string, symbols[1] as string];
  let a = 0;
  let b = 1;
  for (let i = 2; i < length; i++) {
    const choices = next[a * vocab + b] as number[];
    const c = rand() < 0.9 ? (choices[Math.floor(rand() * 4)] as number) : Math.floor(rand() * vocab);
    out.push(symbols[c] as string);
    a = b;
    b = c;
  }
  return out.join('');
}

function makeModel(engine: Awaited<ReturnType<typeof createTfjsEngine>>): TfjsModel {
  return createRecurrentModel(engine, {
    cell: 'lstm',
    inputSize: V,
    hiddenSize: H,
    head: { kind: 'softmax', classes: V },
    seed: 7,
  });
}

interface Measure {
  /** The training step's time, binding the batch left out. */
  readonly seconds: number;
  /** Binding the batch (building the cell backend over it): reported apart, not in `seconds`. */
  readonly bindSeconds: number;
  /** CPU time other processes used during the iteration (ms), when known. */
  readonly foreignMs: number | undefined;
  readonly runMs: number;
  readonly timings: OperationTimings;
  readonly forwards: number;
  readonly recomputes: number;
  readonly peakBytes: number;
  readonly loss: number;
}

const summarize = (runs: readonly Measure[], steps: number) => {
  const overhead = runs.map(
    (r) => r.timings.total - r.timings.forward - r.timings.recompute - r.timings.backward,
  );
  return {
    fastest: Math.min(...runs.map((r) => r.seconds)),
    slowest: Math.max(...runs.map((r) => r.seconds)),
    seconds: median(runs.map((r) => r.seconds)),
    runMs: median(runs.map((r) => r.runMs)),
    overheadMs: median(overhead),
    overheadShare: median(runs.map((r, i) => (overhead[i] as number) / r.timings.total)),
    forwardStep: median(runs.map((r) => (r.timings.forward + r.timings.recompute) / r.forwards)),
    backwardStep: median(runs.map((r) => r.timings.backward / steps)),
    forwards: runs[0]?.forwards ?? 0,
    recomputes: runs[0]?.recomputes ?? 0,
    peakBytes: Math.max(...runs.map((r) => r.peakBytes)),
    loss: runs.at(-1)?.loss ?? Number.NaN,
  };
};

// ---------------------------------------------------------------------------------------------------

const engine = await createTfjsEngine({
  backend: 'wasm',
  threads: Number.isNaN(THREADS) ? 'auto' : THREADS,
});
const cpu = cpus();
console.log('# @rewind/backend-tfjs benchmark');
console.log(
  `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${mib(totalmem())} RAM; Node ${process.version}; tfjs-core ${tf.version_core}; ${engine.description}`,
);
console.log(
  `model: LSTM, B=${B}, H=${H}, T=${T}, character language model over ${V} symbols (one-hot inputs, softmax head), Adam; ${RANGES ? 'range-level backend (createRangeBackend)' : 'per-step backend (createCellBackend)'}`,
);

const text = syntheticText(V, Math.max(200_000, 4 * B * (T + 1)), 1);

// ---------------------------------------------------------------------------------------------------
// Kernel dispatches per step and read-backs per iteration, on every tfjs engine (deterministic counts).

async function countOn(open: () => Promise<TfjsEngine>): Promise<Record<string, unknown> | string> {
  let e: TfjsEngine;
  try {
    e = await open();
  } catch (error) {
    return `unavailable: ${String(error).split('\n')[0]}`;
  }
  const out: Record<string, unknown> = { engine: e.description };
  try {
    for (const cell of ['lstm', 'gru'] as const) {
      const steps = 64;
      const data = createCharDataset(text, { batchSize: 4, steps, seed: 3 });
      const model = createRecurrentModel(e, {
        cell,
        inputSize: V,
        hiddenSize: 16,
        head: { kind: 'softmax', classes: V },
        seed: 7,
      });
      const sb = model.stateBytes(4);
      const policy = plan({
        steps,
        memory: { bytes: sb.hidden + steps * sb.internal, stateBytes: sb },
        strategy: 'store-all',
      });
      // One cell backend through runPolicy for the per-step counts ...
      const backend = createCellBackend(model, data.batch(0), { fusedKernels: FUSED });
      await runPolicy(backend, policy);
      const d = backend.dispatchCounts();
      backend.release();
      // ... the range-level backend's (what training binds) ...
      const ranged = createRangeBackend(model, data.batch(0), { fusedKernels: FUSED });
      await runPolicy(ranged, policy);
      const dr = ranged.dispatchCounts();
      ranged.release();
      // ... and one training iteration (forward, backward, optimizer) for the read-backs.
      const trainer = createTrainer(model, {
        policy,
        optimizer: { kind: 'adam' },
        clipNorm: 5,
        backend: { fusedKernels: FUSED },
      });
      await trainer.step(data.batch(1));
      const counter = new KernelCounter().start();
      await trainer.step(data.batch(2));
      counter.stop();
      const c = counter.counts();
      trainer.dispose();
      model.dispose();
      out[cell] = {
        fused: d.fused,
        forwardPerStep: d.forward.dispatches / d.forward.steps,
        backwardPerStep: d.backward.dispatches / d.backward.steps,
        rangeForwardPerStep: dr.forward.dispatches / dr.forward.steps,
        rangeBackwardPerStep: dr.backward.dispatches / dr.backward.steps,
        readbacksPerIteration: c.readbacks,
        dispatchesPerIteration: c.dispatches,
        gpuProgramsPerIteration: c.gpuPrograms,
      };
    }
  } finally {
    await e.dispose();
    await engine.activate();
  }
  return out;
}

if (COUNTS) {
  console.log(
    `\n## Kernel dispatches per step and read-backs per training iteration (store-all, T=64, B=4, H=16, V=${V}${FUSED ? '' : ', composite steps'})`,
  );
  const counted: Record<string, Record<string, unknown> | string> = {
    wasm: await countOn(() => createTfjsEngine({ backend: 'wasm' })),
    cpu: await countOn(() => createTfjsEngine({ backend: 'cpu' })),
    webgpu: await countOn(async () => {
      process.env['EGL_PLATFORM'] ??= 'surfaceless';
      try {
        return await createTfjsEngine({ backend: 'webgpu' });
      } catch {
        return await createTfjsEngine({
          backend: 'webgpu',
          webgpu: { dawnOptions: ['backend=opengles'], featureLevel: 'compatibility' },
        });
      }
    }),
  };
  results['counts'] = counted;
  const rows: string[][] = [
    [
      'engine',
      'cell',
      'fused',
      'forward/step',
      'backward/step',
      'ranges: forward/step',
      'ranges: backward/step',
      'read-backs/iteration',
      'GPU programs/iteration',
    ],
  ];
  let met = true;
  for (const [name, entry] of Object.entries(counted)) {
    if (typeof entry === 'string') {
      rows.push([name, '-', '-', '-', '-', '-', '-', entry, '-']);
      continue;
    }
    for (const cell of ['lstm', 'gru'] as const) {
      const r = entry[cell] as {
        fused: boolean;
        forwardPerStep: number;
        backwardPerStep: number;
        rangeForwardPerStep: number;
        rangeBackwardPerStep: number;
        readbacksPerIteration: number;
        gpuProgramsPerIteration: number;
      };
      met &&=
        Math.max(r.forwardPerStep, r.rangeForwardPerStep) <= 6 &&
        Math.max(r.backwardPerStep, r.rangeBackwardPerStep) <= 10 &&
        r.readbacksPerIteration <= 3;
      rows.push([
        name,
        cell,
        r.fused ? 'yes' : 'no',
        r.forwardPerStep.toFixed(2),
        r.backwardPerStep.toFixed(2),
        r.rangeForwardPerStep.toFixed(2),
        r.rangeBackwardPerStep.toFixed(2),
        String(r.readbacksPerIteration),
        name === 'webgpu' ? String(r.gpuProgramsPerIteration) : '-',
      ]);
    }
  }
  table(rows);
  console.log(
    `  [${met ? 'met' : 'MISSED'}] <= 6 dispatches per forward step, <= 10 per backward step, <= 3 read-backs per iteration (every engine that started)`,
  );
}
const dataset = (steps: number) => createCharDataset(text, { batchSize: B, steps, seed: 11 });
const chunkOption = Number.isNaN(CHUNK) ? {} : { weightGradientChunk: CHUNK };

// Per-step costs, measured on a short store-all run, give the planner its backward cost.
const probe = async (
  steps: number,
  chunk: number | undefined,
  runs = 3,
): Promise<{ forward: number; backward: number }> => {
  const model = makeModel(engine);
  const data = dataset(steps);
  const backend = createCellBackend(
    model,
    data.batch(0),
    chunk === undefined ? {} : { weightGradientChunk: chunk },
  );
  const sb = backend.stateBytes();
  const policy = plan({
    steps,
    memory: { bytes: sb.hidden + steps * sb.internal, stateBytes: sb },
    strategy: 'store-all',
  });
  const fw: number[] = [];
  const bw: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await runPolicy(backend, policy);
    if (runs > 1 && i === 0) continue;
    fw.push(r.timings.forward / r.forwards);
    bw.push(r.timings.backward / steps);
  }
  backend.release();
  model.dispose();
  return { forward: median(fw), backward: median(bw) };
};

await probe(50, undefined, 2); // warm-up: JIT and the wasm heap
if (SWEEP) {
  console.log(
    `\n## Weight-gradient products made every k steps (store-all, T=${SWEEP_T}, fastest of 3 interleaved runs)`,
  );
  const chunks = [1, 4, 8, 16, 64, Number.POSITIVE_INFINITY];
  const seen = new Map<number, { forward: number[]; backward: number[] }>();
  for (let round = 0; round < 3; round++) {
    for (const chunk of chunks) {
      const r = await probe(SWEEP_T, chunk, 1);
      const entry = seen.get(chunk) ?? { forward: [], backward: [] };
      entry.forward.push(r.forward);
      entry.backward.push(r.backward);
      seen.set(chunk, entry);
    }
  }
  const rows: string[][] = [['k', 'forward/step', 'backward/step']];
  for (const chunk of chunks) {
    const e = seen.get(chunk) as { forward: number[]; backward: number[] };
    rows.push([
      chunk === Number.POSITIVE_INFINITY ? 'end of pass' : String(chunk),
      ms(Math.min(...e.forward)),
      ms(Math.min(...e.backward)),
    ]);
  }
  table(rows);
}

const costs = await probe(Math.min(T, 100), Number.isNaN(CHUNK) ? undefined : CHUNK);
const backwardCost = costs.backward / costs.forward;

const stateBytes: StateBytes = (() => {
  const m = makeModel(engine);
  const sb = m.stateBytes(B);
  m.dispose();
  return sb;
})();
// The budget as a share of store-all, resolved by the solver.
const resolved = memoryBudget(T, { share: BUDGET, stateBytes });
const storeAllBytes = resolved.storeAllBytes as number;
const budgetBytes = resolved.bytes as number;
const policies: Record<'store-all' | 'msm', Policy> = {
  'store-all': plan({
    steps: T,
    memory: { bytes: storeAllBytes, stateBytes },
    strategy: 'store-all',
    costModel: { backwardCost },
  }),
  msm: plan({
    steps: T,
    memory: { bytes: budgetBytes, stateBytes },
    strategy: 'msm',
    costModel: { backwardCost },
  }),
};
const msmPolicy = policies.msm;
const predicted = (msmPolicy.totals.forwards + T * backwardCost) / (T + T * backwardCost);
console.log(
  `\nstate sizes: hidden ${stateBytes.hidden} B, internal ${stateBytes.internal} B (alpha ${(stateBytes.internal / stateBytes.hidden).toFixed(2)}); ` +
    `measured forward ${ms(costs.forward)}, backward ${ms(costs.backward)} per step -> backwardCost ${backwardCost.toFixed(2)}`,
);
console.log(
  `MSM budget: ${(BUDGET * 100).toFixed(1)}% of store-all's ${mib(storeAllBytes)} = ${mib(budgetBytes)}; plan: ${msmPolicy.totals.forwards} forwards (${(msmPolicy.totals.forwards / T).toFixed(3)} T), predicted time ratio ${predicted.toFixed(3)}`,
);

// ---------------------------------------------------------------------------------------------------
// Store-all against MSM, iterations interleaved so that both see the same machine load.

console.log(
  `\n## Store-all against MSM at ${(BUDGET * 100).toFixed(1)}% memory (1 warm-up + ${ITERATIONS} interleaved rounds: medians and min-max, @rewind/bench-kit)`,
);
const data = dataset(T);
const runs: Record<'store-all' | 'msm', Measure[]> = { 'store-all': [], msm: [] };
const models = { 'store-all': makeModel(engine), msm: makeModel(engine) };
const trainers = {
  'store-all': createTrainer(models['store-all'], {
    policy: policies['store-all'],
    optimizer: { kind: 'adam' },
    clipNorm: 5,
    backend: { ...chunkOption, fusedKernels: FUSED, ranges: RANGES },
  }),
  msm: createTrainer(models.msm, {
    policy: policies.msm,
    optimizer: { kind: 'adam' },
    clipNorm: 5,
    backend: { ...chunkOption, fusedKernels: FUSED, ranges: RANGES },
  }),
};
const composite = COMPARE
  ? {
      models: { 'store-all': makeModel(engine), msm: makeModel(engine) },
      runs: { 'store-all': [] as number[], msm: [] as number[] },
    }
  : undefined;
const compositeTrainers =
  composite === undefined
    ? undefined
    : {
        'store-all': createTrainer(composite.models['store-all'], {
          policy: policies['store-all'],
          optimizer: { kind: 'adam' },
          clipNorm: 5,
          backend: { ...chunkOption, fusedKernels: false },
        }),
        msm: createTrainer(composite.models.msm, {
          policy: policies.msm,
          optimizer: { kind: 'adam' },
          clipNorm: 5,
          backend: { ...chunkOption, fusedKernels: false },
        }),
      };
const tensorsBefore = engine.numTensors();
let tensorsAfterWarmup = 0;
// Every round trains each case on the same batch (round r of the warm-up and timed rounds uses batch r).
const names = ['store-all', 'msm'] as const;
const caseNames: readonly string[] = [
  ...(compositeTrainers === undefined ? [] : names.map((n) => `composite ${n}`)),
  ...names,
];
let started = 0;
const measured = await interleave(
  caseNames.map((name) => ({
    name,
    run: async (): Promise<Measure> => {
      const batch = data.batch(Math.floor(started++ / caseNames.length));
      const which = name.startsWith('composite ') ? compositeTrainers : trainers;
      const key = name.replace('composite ', '') as (typeof names)[number];
      const t0 = clock();
      const r = await (which ?? trainers)[key].step(batch);
      // The step's own time: binding the round's batch (a new cell backend over it) is reported apart, as
      // in `rewind bench` (the anchors' figures are of steps on data already in place).
      const seconds = (clock() - t0) / 1000 - r.bindSeconds;
      if (started === caseNames.length) tensorsAfterWarmup = engine.numTensors();
      return {
        seconds,
        bindSeconds: r.bindSeconds,
        foreignMs: undefined,
        runMs: r.timings.total,
        timings: r.timings,
        forwards: r.forwards,
        recomputes: r.recomputes,
        peakBytes: r.peakBytes,
        loss: r.loss,
      };
    },
    ms: (m: Measure) => 1000 * m.seconds,
  })),
  { rounds: ITERATIONS, warmup: 1 },
);
const byName = (name: string): CaseResult<Measure> =>
  measured.find((c) => c.name === name) as CaseResult<Measure>;
const saRuns = byName('store-all');
const msmRuns = byName('msm');
const withForeignMs = (c: CaseResult<Measure>): Measure[] =>
  c.samples.map((x) => ({ ...x.result, foreignMs: x.foreignMs }));
runs['store-all'] = withForeignMs(saRuns);
runs.msm = withForeignMs(msmRuns);
if (composite !== undefined) {
  for (const n of names) composite.runs[n] = byName(`composite ${n}`).samples.map((x) => x.ms / 1000);
}
const ratio = pairedRatio(msmRuns, saRuns);
const tensorsAfter = engine.numTensors();
console.log(
  'rounds (seconds per iteration; CPU time other processes took meanwhile, of 2 x wall time per core):',
);
for (let i = 0; i < ITERATIONS; i++) {
  const cells = (['store-all', 'msm'] as const).map((name) => {
    const r = runs[name][i] as Measure;
    const foreign =
      r.foreignMs === undefined ? 'unknown' : `${(r.foreignMs / 1000).toFixed(2)} s foreign CPU`;
    return `${name} ${r.seconds.toFixed(3)} s (${foreign})`;
  });
  console.log(`  round ${i + 1}: ${cells.join(', ')}`);
}
const sa = summarize(runs['store-all'], T);
const msm = summarize(runs.msm, T);
table([
  ['', 'store-all', 'msm', 'msm / store-all'],
  [
    'peak checkpoint memory',
    mib(sa.peakBytes),
    mib(msm.peakBytes),
    `${((100 * msm.peakBytes) / sa.peakBytes).toFixed(2)}%`,
  ],
  [
    'forward steps (recomputed: beyond the first pass)',
    `${sa.forwards} (${sa.forwards - T})`,
    `${msm.forwards} (${msm.forwards - T})`,
    (msm.forwards / sa.forwards).toFixed(3),
  ],
  [
    'time per iteration (median)',
    `${sa.seconds.toFixed(3)} s`,
    `${msm.seconds.toFixed(3)} s`,
    (msm.seconds / sa.seconds).toFixed(3),
  ],
  [
    'time per iteration (min-max)',
    `${formatSummary(saRuns.ms, (x) => (x / 1000).toFixed(3))} s`,
    `${formatSummary(msmRuns.ms, (x) => (x / 1000).toFixed(3))} s`,
    `${formatSummary(ratio, (x) => x.toFixed(3))} (per round)`,
  ],
  [
    'time per iteration (fastest)',
    `${sa.fastest.toFixed(3)} s`,
    `${msm.fastest.toFixed(3)} s`,
    (msm.fastest / sa.fastest).toFixed(3),
  ],
  [
    'binding the batch (median; not included)',
    `${median(runs['store-all'].map((r) => r.bindSeconds)).toFixed(3)} s`,
    `${median(runs.msm.map((r) => r.bindSeconds)).toFixed(3)} s`,
    '',
  ],
  [
    '  of which runPolicy (median)',
    `${(sa.runMs / 1000).toFixed(3)} s`,
    `${(msm.runMs / 1000).toFixed(3)} s`,
    (msm.runMs / sa.runMs).toFixed(3),
  ],
  [
    'executor overhead',
    `${ms(sa.overheadMs)} (${(100 * sa.overheadShare).toFixed(2)}%)`,
    `${ms(msm.overheadMs)} (${(100 * msm.overheadShare).toFixed(2)}%)`,
    '',
  ],
  ['forward per step', ms(sa.forwardStep), ms(msm.forwardStep), ''],
  ['backward per step', ms(sa.backwardStep), ms(msm.backwardStep), ''],
  ['tokens per second', ((B * T) / sa.seconds).toFixed(0), ((B * T) / msm.seconds).toFixed(0), ''],
  ['loss (last iteration)', sa.loss.toFixed(4), msm.loss.toFixed(4), ''],
]);
console.log(
  `runs left out (other processes took > 0.25 core meanwhile): store-all ${saRuns.contaminated}, msm ${msmRuns.contaminated}`,
);
console.log(
  `tensors: ${tensorsBefore} before, ${tensorsAfterWarmup} after the warm-up, ${tensorsAfter} after ${ITERATIONS} more iterations per strategy`,
);
const checks = [
  [`peak <= ${(BUDGET * 100).toFixed(1)}% of store-all`, msm.peakBytes <= BUDGET * sa.peakBytes],
  ['msm time <= 1.33x store-all (medians)', msm.seconds <= 1.33 * sa.seconds],
  ['msm time <= 1.25x store-all (medians; the aim)', msm.seconds <= 1.25 * sa.seconds],
  ['executor overhead < 5% (both)', sa.overheadShare < 0.05 && msm.overheadShare < 0.05],
] as const;
for (const [what, ok] of checks) console.log(`  [${ok ? 'met' : 'MISSED'}] ${what}`);
if (composite !== undefined && compositeTrainers !== undefined) {
  const cs = composite.runs['store-all'];
  const cm = composite.runs.msm;
  console.log('composite steps (tfjs operations), timed in the same rounds:');
  table([
    ['', 'store-all', 'msm', 'msm / store-all'],
    [
      'time per iteration (median)',
      `${median(cs).toFixed(3)} s`,
      `${median(cm).toFixed(3)} s`,
      (median(cm) / median(cs)).toFixed(3),
    ],
    [
      'time per iteration (spread)',
      `${Math.min(...cs).toFixed(3)} .. ${Math.max(...cs).toFixed(3)} s`,
      `${Math.min(...cm).toFixed(3)} .. ${Math.max(...cm).toFixed(3)} s`,
      '',
    ],
    [
      'fused / composite (medians)',
      (sa.seconds / median(cs)).toFixed(3),
      (msm.seconds / median(cm)).toFixed(3),
      '',
    ],
  ]);
  results['composite'] = {
    storeAll: { medianS: median(cs), rounds: cs },
    msm: { medianS: median(cm), rounds: cm },
  };
  for (const name of ['store-all', 'msm'] as const) {
    compositeTrainers[name].dispose();
    composite.models[name].dispose();
  }
}
results['timing'] = {
  T,
  B,
  H,
  V,
  budget: BUDGET,
  fused: FUSED,
  engine: engine.description,
  storeAll: {
    medianS: sa.seconds,
    fastestS: sa.fastest,
    slowestS: sa.slowest,
    peakBytes: sa.peakBytes,
    forwardStepMs: sa.forwardStep,
    backwardStepMs: sa.backwardStep,
  },
  msm: {
    medianS: msm.seconds,
    fastestS: msm.fastest,
    slowestS: msm.slowest,
    peakBytes: msm.peakBytes,
    forwards: msm.forwards,
  },
  ratio: msm.seconds / sa.seconds,
  rounds: runs['store-all'].map((r, i) => ({
    storeAllS: r.seconds,
    msmS: runs.msm[i]?.seconds,
    foreignCpuMs: [r.foreignMs, runs.msm[i]?.foreignMs],
  })),
};
for (const name of ['store-all', 'msm'] as const) {
  trainers[name].dispose();
  models[name].dispose();
}

// ---------------------------------------------------------------------------------------------------
// Store-all against a plain tfjs loop: tf.grads through the whole unrolled sequence.

if (PLAIN) {
  registerGradients();
  console.log(
    `\n## Store-all (hand-written steps, executor) against a plain tfjs loop (tf.grads of the unrolled sequence), T=${PLAIN_T}`,
  );
  if (PLAIN_T !== T) {
    console.log(
      `(the plain loop runs at T=${PLAIN_T}: at T=${T} its tape outgrows the wasm heap, which holds 4 GiB at most; store-all is re-measured at T=${PLAIN_T})`,
    );
  }
  const plainData = dataset(PLAIN_T);
  const model = makeModel(engine);
  const optimizer = adam();
  const names = Object.keys(model.parameters);
  // tfjs memory at the end of the plain loop's forward pass (everything the tape keeps for tf.grads).
  let plainPeak = 0;
  const plainStep = async (batch: CharBatch): Promise<{ seconds: number; loss: number }> => {
    const t0 = clock();
    const { value, grads } = tf.tidy(() => {
      const xs = Array.from({ length: PLAIN_T }, (_, t) => {
        const onehot = new Float32Array(B * V);
        for (let r = 0; r < B; r++) onehot[r * V + (batch.inputs[t * B + r] as number)] = 1;
        return tf.tensor2d(onehot, [B, V]);
      });
      const targets = Array.from({ length: PLAIN_T }, (_, t) =>
        tf.tensor1d(batch.targets.subarray(t * B, (t + 1) * B), 'int32'),
      );
      const initial = [tf.zeros([B, H]) as tf.Tensor2D, tf.zeros([B, H]) as tf.Tensor2D];
      const problem = {
        cell: 'lstm' as const,
        head: { kind: 'softmax' as const, classes: V },
        xs,
        targets,
        initial,
        weight: 1 / (B * PLAIN_T),
      };
      const f = (...ps: tf.Tensor[]): tf.Scalar => {
        const record: Record<string, tf.Tensor> = {};
        names.forEach((n, k) => {
          record[n] = ps[k] as tf.Tensor;
        });
        const loss = unrolledLoss(problem, record);
        plainPeak = Math.max(plainPeak, tf.memory().numBytes);
        return loss;
      };
      const out = tf.valueAndGrads(f)(names.map((n) => model.parameters[n] as tf.Tensor));
      const record: Record<string, tf.Tensor> = {};
      names.forEach((n, k) => {
        record[n] = out.grads[k] as tf.Tensor;
      });
      return { value: out.value, grads: record };
    });
    optimizer.apply(model.parameters, grads);
    const loss = (await value.data())[0] ?? Number.NaN;
    tf.dispose([value, ...Object.values(grads)]);
    model.markUpdated();
    return { seconds: (clock() - t0) / 1000, loss };
  };
  let reference = sa.seconds;
  let referenceLabel = `store-all at T=${T} (above)`;
  const storeAllAtPlainT: number[] = [];
  const saModel = makeModel(engine);
  const sb = saModel.stateBytes(B);
  const saTrainer = createTrainer(saModel, {
    policy: plan({
      steps: PLAIN_T,
      memory: { bytes: sb.hidden + PLAIN_T * sb.internal, stateBytes: sb },
      strategy: 'store-all',
    }),
    optimizer: { kind: 'adam' },
    backend: chunkOption,
  });
  const plainTimes: number[] = [];
  let plainLoss = Number.NaN;
  for (let i = 0; i <= ITERATIONS; i++) {
    const batch = plainData.batch(i);
    const p = await plainStep(batch);
    if (PLAIN_T !== T) {
      const r = await saTrainer.step(batch);
      if (i > 0) storeAllAtPlainT.push(r.seconds);
    }
    if (i > 0) {
      plainTimes.push(p.seconds);
      plainLoss = p.loss;
    }
  }
  if (PLAIN_T !== T) {
    reference = median(storeAllAtPlainT);
    referenceLabel = `store-all at T=${PLAIN_T}`;
  }
  const plain = median(plainTimes);
  table([
    ['', 'time per iteration', 'tokens per second'],
    [referenceLabel, `${reference.toFixed(3)} s`, ((B * PLAIN_T) / reference).toFixed(0)],
    ['plain tfjs loop (tf.grads)', `${plain.toFixed(3)} s`, ((B * PLAIN_T) / plain).toFixed(0)],
  ]);
  console.log(
    `  plain loop / store-all: ${(plain / reference).toFixed(2)}x (plain loop's last loss ${plainLoss.toFixed(4)})`,
  );
  console.log(
    `  tfjs memory at the end of the plain loop's forward pass: ${mib(plainPeak)} (its tape keeps every intermediate tensor)`,
  );
  saTrainer.dispose();
  saModel.dispose();
  optimizer.dispose();
  model.dispose();
}
await engine.dispose();
if (JSON_PATH !== undefined) {
  writeFileSync(JSON_PATH, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults written to ${JSON_PATH}`);
}
// Dawn (WebGPU) may keep the process alive.
process.exit(0);
