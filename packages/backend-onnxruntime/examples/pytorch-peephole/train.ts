/**
 * The Node side of the PyTorch recipe: load the exported peephole LSTM (two carried states, h and c),
 * check its backward against finite differences, then train it on a small regression task under msm
 * at 5% of store-all's checkpoint memory, next to store-all, and compare the two.
 *
 *   npx tsx train.ts [DIR] [--iterations N]        (DIR: the exported models, default ./fixtures)
 *
 * DIR holds forward_float32.onnx, backward_float32.onnx (trained) and forward_float64.onnx,
 * backward_float64.onnx (gradient-checked), as written by export.py or generate-fixtures.ts; a
 * backward_float32.onnx.data beside its model is found by ONNX Runtime, since models are loaded by path.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkUserCell,
  createUserCellBackend,
  loadUserCell,
  type UserCell,
  type UserCellCheck,
} from '@rewind/backend-onnxruntime';
import { runPolicy, type SequenceBatch } from '@rewind/executor';
import { plan } from '@rewind/solver';
import { peepholeParameters } from './peephole.js';

/** Options of `runExample`. */
export interface ExampleOptions {
  /** Where the exported models are. */
  readonly dir: string;
  readonly inputSize?: number;
  readonly hiddenSize?: number;
  readonly iterations?: number;
  readonly steps?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  /** The checkpoint budget of msm, as a share of store-all's (default 0.05). */
  readonly budgetShare?: number;
  readonly log?: (line: string) => void;
}

/** What one schedule did over the iterations. */
export interface TrainingRun {
  readonly losses: readonly number[];
  readonly peakBytes: number;
  readonly forwards: number;
}

/** The example's results. */
export interface ExampleResult {
  readonly check: UserCellCheck;
  readonly storeAll: TrainingRun;
  readonly msm: TrainingRun;
  readonly storeAllBytes: number;
  readonly budgetBytes: number;
  /** Largest relative difference between the two schedules' losses, over every iteration. */
  readonly lossDifference: number;
  /** Largest absolute difference between the two schedules' parameters after training. */
  readonly parameterDifference: number;
}

/**
 * A regression task that needs memory: `x_t` uniform in [-1, 1]^I, the target the mean of the first
 * input over the last five steps. Time-major: `x_t` of sequence `r` at `((t-1)*B + r)*I`.
 */
function movingAverageBatch(T: number, B: number, I: number, seed: number): SequenceBatch {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const inputs = Float64Array.from({ length: T * B * I }, () => 2 * uniform() - 1);
  const targets = new Float64Array(T * B);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < B; r++) {
      let sum = 0;
      for (let k = Math.max(0, t - 4); k <= t; k++) sum += inputs[(k * B + r) * I] as number;
      targets[t * B + r] = sum / 5;
    }
  }
  return { steps: T, batchSize: B, inputs, targets };
}

/** Adam over named parameter arrays, updated in place. */
function adam(
  rate: number,
): (params: Record<string, Float64Array>, grads: Readonly<Record<string, ArrayLike<number>>>) => void {
  const m = new Map<string, Float64Array>();
  const v = new Map<string, Float64Array>();
  let step = 0;
  return (params, grads) => {
    step++;
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name];
      if (g === undefined) throw new Error(`no gradient for ${name}`);
      const mm = m.get(name) ?? new Float64Array(p.length);
      const vv = v.get(name) ?? new Float64Array(p.length);
      m.set(name, mm);
      v.set(name, vv);
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] as number;
        mm[i] = 0.9 * (mm[i] as number) + 0.1 * gi;
        vv[i] = 0.999 * (vv[i] as number) + 0.001 * gi * gi;
        const mh = (mm[i] as number) / (1 - 0.9 ** step);
        const vh = (vv[i] as number) / (1 - 0.999 ** step);
        p[i] = (p[i] as number) - (rate * mh) / (Math.sqrt(vh) + 1e-8);
      }
    }
  };
}

/** Train the float32 cell under one schedule; returns its losses and its parameters after training. */
async function train(
  cell: UserCell,
  batch: SequenceBatch,
  strategy: 'store-all' | 'msm',
  budgetShare: number,
  iterations: number,
  rate: number,
): Promise<{ run: TrainingRun; params: Record<string, Float64Array>; storeAll: number; budget: number }> {
  const I = cell.inputSize;
  const H = cell.hiddenSize;
  const init = peepholeParameters(I, H, 7);
  // One object holds every array: the backend reads them again before each pass (runPolicy's zeroGradients).
  const params: Record<string, Float64Array> = {};
  for (const [name, p] of Object.entries(init)) params[name] = p.values;
  params['Wy'] = Float64Array.from({ length: H }, (_, k) => (k % 2 === 0 ? 0.1 : -0.1));
  params['by'] = new Float64Array(1);
  const backend = await createUserCellBackend(
    cell,
    {
      parameters: Object.fromEntries(
        Object.entries(init).map(([name, p]) => [
          name,
          { dims: p.dims, values: params[name] as Float64Array },
        ]),
      ),
      head: { kind: 'mse', outputs: 1 },
      headParameters: { Wy: params['Wy'] as Float64Array, by: params['by'] as Float64Array },
    },
    batch,
  );
  const sb = backend.stateBytes();
  const storeAll = sb.hidden + batch.steps * sb.internal;
  const budget = strategy === 'store-all' ? storeAll : Math.floor(budgetShare * storeAll);
  const policy = plan({ steps: batch.steps, memory: { bytes: budget, stateBytes: sb }, strategy });
  const step = adam(rate);
  const losses: number[] = [];
  let peakBytes = 0;
  let forwards = 0;
  for (let k = 0; k < iterations; k++) {
    const result = await runPolicy(backend, policy);
    losses.push(result.loss);
    peakBytes = Math.max(peakBytes, result.peakBytes);
    forwards = result.forwards;
    const g = await backend.readGradients();
    step(params, g.parameters);
  }
  return { run: { losses, peakBytes, forwards }, params, storeAll, budget };
}

/** Check the float64 export, then train the float32 export under store-all and under msm. */
export async function runExample(options: ExampleOptions): Promise<ExampleResult> {
  const log = options.log ?? (() => {});
  const I = options.inputSize ?? 3;
  const H = options.hiddenSize ?? 8;
  const models = (dtype: 'float32' | 'float64') => ({
    forward: join(options.dir, `forward_${dtype}.onnx`),
    backward: join(options.dir, `backward_${dtype}.onnx`),
    inputSize: I,
    hiddenSize: H,
    state: ['h', 'c'],
  });

  // 1. The gradient check, in float64: one step, then a sequence of 4.
  const cell64 = await loadUserCell(models('float64'), { dtype: 'float64' });
  const check = await checkUserCell(cell64);
  log(check.message);
  if (!check.passed) throw new Error(check.message);

  // 2. Training in float32, store-all and msm at 5% side by side, from the same weights on the same batch.
  const cell = await loadUserCell(models('float32'));
  const batch = movingAverageBatch(options.steps ?? 200, options.batchSize ?? 8, I, 3);
  const iterations = options.iterations ?? 20;
  const rate = options.learningRate ?? 0.02;
  const share = options.budgetShare ?? 0.05;
  const a = await train(cell, batch, 'store-all', share, iterations, rate);
  const b = await train(cell, batch, 'msm', share, iterations, rate);
  let lossDifference = 0;
  a.run.losses.forEach((l, k) => {
    lossDifference = Math.max(lossDifference, Math.abs(l - (b.run.losses[k] as number)) / Math.abs(l));
  });
  let parameterDifference = 0;
  for (const [name, p] of Object.entries(a.params)) {
    const q = b.params[name] as Float64Array;
    for (let i = 0; i < p.length; i++)
      parameterDifference = Math.max(parameterDifference, Math.abs((p[i] as number) - (q[i] as number)));
  }
  const first = a.run.losses[0] ?? Number.NaN;
  const last = a.run.losses[a.run.losses.length - 1] ?? Number.NaN;
  log(
    `trained ${iterations} iterations on ${batch.steps} steps x ${batch.batchSize} sequences: loss ${first.toFixed(4)} -> ${last.toFixed(4)}`,
  );
  log(
    `store-all: ${a.run.peakBytes} checkpoint bytes, ${a.run.forwards} forwards per pass; ` +
      `msm at ${(100 * share).toFixed(0)}%: ${b.run.peakBytes} bytes (budget ${b.budget}), ${b.run.forwards} forwards`,
  );
  log(
    `msm against store-all: losses differ by ${lossDifference.toExponential(2)} (relative), parameters by ${parameterDifference.toExponential(2)}`,
  );
  return {
    check,
    storeAll: a.run,
    msm: b.run,
    storeAllBytes: a.storeAll,
    budgetBytes: b.budget,
    lossDifference,
    parameterDifference,
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    options: { iterations: { type: 'string' } },
    allowPositionals: true,
  });
  const here = dirname(fileURLToPath(import.meta.url));
  await runExample({
    dir: positionals[0] ?? join(here, 'fixtures'),
    iterations: values.iterations === undefined ? 20 : Number(values.iterations),
    log: (line) => console.log(line),
  });
}
