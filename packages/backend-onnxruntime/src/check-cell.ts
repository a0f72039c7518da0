/**
 * `checkUserCell`: a finite-difference check of a user cell's backward model against its forward
 * model, over one step and over a short sequence, before any training relies on it.
 *
 * The loss is `L = sum_t sum_S <R_{t,S}, S_t>` with fixed random weights `R`: a loss on every carried
 * state at every step, so that each cotangent `grad_S` the backward receives is non-zero and mixes a
 * direct term with the gradient from later steps, as in training. The backward's gradients with respect
 * to `x_t`, the initial states and the parameters are accumulated over the steps as the backend does,
 * and compared with central differences `(L(v + e) - L(v - e)) / 2e`, the loss summed in float64.
 */
import { Tensor } from 'onnxruntime-node';
import { OnnxBackendError } from './errors.js';
import type { FloatType } from './onnx/model.js';
import { type FloatArray, floatData, toFloat } from './runtime/tensors.js';
import {
  checkBatchSize,
  runUserModel,
  type UserCell,
  type UserParameter,
  userOutputDims,
} from './user-cell.js';

/** Options of `checkUserCell`. */
export interface CheckUserCellOptions {
  /** Length of the sequence checked after the one-step check (default 4; 1 checks one step only). */
  readonly steps?: number;
  /** Sequences per batch (default 2, or the batch size a model was exported with). */
  readonly batchSize?: number;
  /** Seed of the random inputs, states, parameters and loss weights (default 1). */
  readonly seed?: number;
  /**
   * Parameter values by name (without `param_`); absent ones are random, scaled by `1/sqrt(last dim)`.
   * Needed for parameters declared with a dimension of unknown size.
   */
  readonly parameters?: Readonly<Record<string, UserParameter>>;
  /** Step of the central differences (default 1e-6 for float64 models, 1e-2 for float32). */
  readonly epsilon?: number;
  /**
   * Largest relative error that passes (default 1e-6 for float64 models, 2e-2 for float32): the largest
   * `|analytic - numeric|` of a tensor over the largest `|numeric|` of that tensor.
   */
  readonly tolerance?: number;
  /** Most entries of each tensor compared, chosen at random when a tensor has more (default 64). */
  readonly maxEntries?: number;
}

/** The comparison for one tensor: `x`, an initial state `S_prev`, or a parameter `param_P`. */
export interface GradientCheckEntry {
  /** The input differentiated: `x` (every step's), `S_prev` (the initial state), or `param_P`. */
  readonly input: string;
  /** The backward model's output that gives this gradient: `grad_x`, `grad_S_prev`, `grad_param_P`. */
  readonly gradient: string;
  /** Entries compared, of `size`. */
  readonly checked: number;
  readonly size: number;
  /** Largest `|analytic - numeric|` over the entries compared. */
  readonly maxAbsError: number;
  /** `maxAbsError` over the largest `|numeric|` of the entries compared. */
  readonly maxRelError: number;
  /** Where the largest error is (row-major index into the tensor; for `x`, into `[T, B, I]`). */
  readonly worstIndex: number;
  /** The backward's value and the finite difference there. */
  readonly analytic: number;
  readonly numeric: number;
  readonly passed: boolean;
}

/** The check over one sequence length. */
export interface GradientCheckRun {
  readonly steps: number;
  readonly entries: readonly GradientCheckEntry[];
  readonly passed: boolean;
}

/** The result of `checkUserCell`. */
export interface UserCellCheck {
  /** Whether every tensor of every run is within `tolerance`. */
  readonly passed: boolean;
  readonly dtype: FloatType;
  readonly tolerance: number;
  readonly epsilon: number;
  readonly batchSize: number;
  /** One step, then the sequence (unless `steps` is 1). */
  readonly runs: readonly GradientCheckRun[];
  /** The entry with the largest relative error, and the run it belongs to. */
  readonly worst: { readonly steps: number; readonly entry: GradientCheckEntry };
  /** One paragraph: passed or failed, naming the worst offender. */
  readonly message: string;
}

/** A seeded generator of uniform and normal numbers (mulberry32, Box-Muller). */
function generator(seed: number): { uniform: () => number; normal: () => number } {
  let a = (seed | 0) ^ 0x9e3779b9;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => {
    const u = 1 - uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return { uniform, normal };
}

function optionNumber(
  name: string,
  value: number | undefined,
  fallback: number,
  valid: (v: number) => boolean,
  what: string,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !valid(value)) {
    throw new OnnxBackendError('E_OPTIONS', `checkUserCell: ${name} must be ${what}, got ${String(value)}`);
  }
  return value;
}

const positiveInteger = (max: number) => (v: number) => Number.isSafeInteger(v) && v >= 1 && v <= max;
const positiveReal = (v: number) => Number.isFinite(v) && v > 0;

/** The data of one check: every value a run of the cell reads, as float64 copies. */
interface Problem {
  readonly T: number;
  readonly B: number;
  readonly x: Float64Array;
  readonly initial: Float64Array[];
  readonly params: Map<string, { dims: readonly number[]; values: Float64Array }>;
  /** Loss weights `R_{t,S}`: index `(t-1) * states + k`. */
  readonly weights: Float64Array[];
}

/** The loss of a forward pass from step `from` (1-based) with states `start`, plus the states on the way. */
async function forwardLoss(
  cell: UserCell,
  p: Problem,
  dims: Record<string, number[]>,
  from = 1,
  start?: readonly FloatArray[],
  keep?: FloatArray[][],
): Promise<number> {
  const { B, T } = p;
  const I = cell.inputSize;
  const H = cell.hiddenSize;
  const cast = (a: ArrayLike<number>): FloatArray => toFloat(cell.dtype, a);
  const params: Record<string, Tensor> = {};
  for (const [name, v] of p.params) params[`param_${name}`] = tensorOf(cast(v.values), v.dims);
  let states = start ?? p.initial.map(cast);
  let loss = 0;
  for (let t = from; t <= T; t++) {
    const feeds: Record<string, Tensor> = {
      ...params,
      x: tensorOf(cast(p.x.subarray((t - 1) * B * I, t * B * I)), [B, I]),
    };
    cell.state.forEach((s, k) => {
      feeds[`${s}_prev`] = tensorOf(states[k] as FloatArray, [B, H]);
    });
    const r = await runUserModel(cell, 'forward', feeds, dims, `check forward step ${t}`);
    states = cell.state.map((s) => floatData(r[s] as Tensor));
    keep?.push([...states]);
    cell.state.forEach((_, k) => {
      const w = p.weights[(t - 1) * cell.state.length + k] as Float64Array;
      const v = states[k] as FloatArray;
      for (let i = 0; i < w.length; i++) loss += (w[i] as number) * (v[i] as number);
    });
  }
  return loss;
}

function tensorOf(data: FloatArray, dims: readonly number[]): Tensor {
  return data instanceof Float32Array ? new Tensor('float32', data, dims) : new Tensor('float64', data, dims);
}

/** The analytic gradients: a forward pass keeping every step's inputs and outputs, then the backward pass. */
async function analytic(
  cell: UserCell,
  p: Problem,
  dims: { forward: Record<string, number[]>; backward: Record<string, number[]> },
): Promise<Map<string, Float64Array>> {
  const { B, T } = p;
  const I = cell.inputSize;
  const H = cell.hiddenSize;
  const cast = (a: ArrayLike<number>): FloatArray => toFloat(cell.dtype, a);
  const params: Record<string, Tensor> = {};
  for (const [name, v] of p.params) params[`param_${name}`] = tensorOf(cast(v.values), v.dims);
  const xs: Tensor[] = [];
  const steps: Record<string, Tensor>[] = [];
  let prev: Tensor[] = p.initial.map((a) => tensorOf(cast(a), [B, H]));
  for (let t = 1; t <= T; t++) {
    const x = tensorOf(cast(p.x.subarray((t - 1) * B * I, t * B * I)), [B, I]);
    xs.push(x);
    const feeds: Record<string, Tensor> = { ...params, x };
    cell.state.forEach((s, k) => {
      feeds[`${s}_prev`] = prev[k] as Tensor;
    });
    const r = await runUserModel(cell, 'forward', feeds, dims.forward, `check forward step ${t}`);
    const step: Record<string, Tensor> = { ...feeds, ...r };
    steps.push(step);
    prev = cell.state.map((s) => r[s] as Tensor);
  }
  const grads = new Map<string, Float64Array>();
  grads.set('x', new Float64Array(T * B * I));
  for (const [name, v] of p.params) grads.set(`param_${name}`, new Float64Array(v.values.length));
  let incoming: FloatArray[] | undefined;
  for (let t = T; t >= 1; t--) {
    const feeds: Record<string, Tensor> = { ...(steps[t - 1] as Record<string, Tensor>) };
    cell.state.forEach((s, k) => {
      const w = p.weights[(t - 1) * cell.state.length + k] as Float64Array;
      const g = Float64Array.from(w);
      const from = incoming?.[k];
      if (from !== undefined) for (let i = 0; i < g.length; i++) g[i]! += from[i] as number;
      feeds[`grad_${s}`] = tensorOf(cast(g), [B, H]);
    });
    const r = await runUserModel(cell, 'backward', feeds, dims.backward, `check backward step ${t}`);
    const gx = floatData(r['grad_x'] as Tensor);
    const dx = grads.get('x') as Float64Array;
    for (let i = 0; i < gx.length; i++) dx[(t - 1) * B * I + i]! += gx[i] as number;
    for (const name of p.params.keys()) {
      const acc = grads.get(`param_${name}`) as Float64Array;
      const g = floatData(r[`grad_param_${name}`] as Tensor);
      for (let i = 0; i < g.length; i++) acc[i]! += g[i] as number;
    }
    incoming = cell.state.map((s) => floatData(r[`grad_${s}_prev`] as Tensor));
  }
  cell.state.forEach((s, k) => {
    grads.set(`${s}_prev`, Float64Array.from(incoming?.[k] ?? []));
  });
  return grads;
}

/** The entries compared: all of them, or `max` distinct ones at random. */
function pickEntries(size: number, max: number, uniform: () => number): number[] {
  const all = Array.from({ length: size }, (_, i) => i);
  if (size <= max) return all;
  for (let i = 0; i < max; i++) {
    const j = i + Math.floor(uniform() * (size - i));
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, max).sort((a, b) => a - b);
}

async function checkRun(
  cell: UserCell,
  p: Problem,
  settings: { epsilon: number; tolerance: number; maxEntries: number; seed: number },
): Promise<GradientCheckRun> {
  const { B, T } = p;
  const I = cell.inputSize;
  const dims = userOutputDims(cell, B, (name) => p.params.get(name)?.dims ?? []);
  const grads = await analytic(cell, p, dims);
  // The unperturbed states, to restart from step t when x_t is perturbed.
  const base: FloatArray[][] = [];
  await forwardLoss(cell, p, dims.forward, 1, undefined, base);
  const round = cell.dtype === 'float32' ? Math.fround : (v: number) => v;
  const { uniform } = generator(settings.seed * 7919 + T);

  const targets: { input: string; gradient: string; values: Float64Array }[] = [
    { input: 'x', gradient: 'grad_x', values: p.x },
    ...cell.state.map((s, k) => ({
      input: `${s}_prev`,
      gradient: `grad_${s}_prev`,
      values: p.initial[k] as Float64Array,
    })),
    ...[...p.params].map(([name, v]) => ({
      input: `param_${name}`,
      gradient: `grad_param_${name}`,
      values: v.values,
    })),
  ];
  const entries: GradientCheckEntry[] = [];
  for (const target of targets) {
    const a = grads.get(target.input) as Float64Array;
    const picked = pickEntries(target.values.length, settings.maxEntries, uniform);
    let maxAbs = 0;
    let scale = 0;
    let worst = picked[0] ?? 0;
    let worstA = 0;
    let worstN = 0;
    for (const i of picked) {
      const v = target.values[i] as number;
      const plus = round(v + settings.epsilon);
      const minus = round(v - settings.epsilon);
      // x_t only changes the steps from t on; everything else reruns the whole sequence.
      const from = target.input === 'x' ? Math.floor(i / (B * I)) + 1 : 1;
      const start = from > 1 ? base[from - 2] : undefined;
      target.values[i] = plus;
      const lp = await forwardLoss(cell, p, dims.forward, from, start);
      target.values[i] = minus;
      const lm = await forwardLoss(cell, p, dims.forward, from, start);
      target.values[i] = v;
      const numeric = (lp - lm) / (plus - minus);
      const err = Math.abs((a[i] as number) - numeric);
      scale = Math.max(scale, Math.abs(numeric));
      if (i === picked[0] || err > maxAbs) {
        maxAbs = err;
        worst = i;
        worstA = a[i] as number;
        worstN = numeric;
      }
    }
    const rel = maxAbs / Math.max(scale, 1e-12);
    entries.push({
      input: target.input,
      gradient: target.gradient,
      checked: picked.length,
      size: target.values.length,
      maxAbsError: maxAbs,
      maxRelError: rel,
      worstIndex: worst,
      analytic: worstA,
      numeric: worstN,
      passed: rel <= settings.tolerance,
    });
  }
  return { steps: T, entries, passed: entries.every((e) => e.passed) };
}

function problem(
  cell: UserCell,
  T: number,
  B: number,
  seed: number,
  given: Readonly<Record<string, UserParameter>>,
): Problem {
  const { normal } = generator(seed);
  const fill = (n: number, scale: number): Float64Array => {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = normal() * scale;
    return a;
  };
  const params = new Map<string, { dims: readonly number[]; values: Float64Array }>();
  for (const p of cell.parameters) {
    const v = given[p.name];
    if (v !== undefined) {
      params.set(p.name, { dims: [...v.dims], values: Float64Array.from(v.values) });
      continue;
    }
    const dims = p.shape.map((d) => (typeof d === 'number' ? d : Number.NaN));
    const last = dims[dims.length - 1] ?? 1;
    const n = dims.reduce((a, b) => a * b, 1);
    params.set(p.name, { dims, values: fill(n, 0.5 / Math.sqrt(Math.max(1, last))) });
  }
  const H = cell.hiddenSize;
  return {
    T,
    B,
    x: fill(T * B * cell.inputSize, 1),
    initial: cell.state.map(() => fill(B * H, 0.5)),
    params,
    weights: Array.from({ length: T * cell.state.length }, () => fill(B * H, 1)),
  };
}

const fmt = (v: number): string => v.toExponential(2);

function describeEntry(e: GradientCheckEntry): string {
  const what = e.input.startsWith('param_')
    ? `parameter ${e.input.slice(6)}`
    : e.input === 'x'
      ? 'the inputs x'
      : `the initial state ${e.input.slice(0, -5)}`;
  return `${e.gradient} (the gradient of ${what})`;
}

/**
 * Check a user cell's backward model against its forward model by central finite differences: once
 * over one step, then over a sequence of `steps` steps (default 4), on random inputs, states and
 * parameters (or the given parameter values) and a random linear loss on every carried state at every
 * step. Compares the gradients of the inputs `x`, of the initial states and of every parameter; a cell
 * passes when every relative error is within the tolerance. Check a float64 export of the cell (the
 * same graph in double precision): float32 finite differences only catch gross errors.
 *
 * The models are run exactly as in training (same names, same feeds, same output checks), so a wrong
 * output size or an ONNX Runtime failure is reported as the typed error training would raise.
 *
 * @throws OnnxBackendError `E_OPTIONS` (bad options, a parameter of unknown size without a value),
 * `E_BATCH` (a parameter value that does not fit), and the run-time errors of the cell
 * (`E_USER_CELL_RUN`, `E_USER_CELL_SHAPE`, `E_USER_CELL_TYPE`).
 */
export async function checkUserCell(
  cell: UserCell,
  options: CheckUserCellOptions = {},
): Promise<UserCellCheck> {
  const f64 = cell.dtype === 'float64';
  const steps = optionNumber('steps', options.steps, 4, positiveInteger(1000), 'an integer in 1..1000');
  const B = optionNumber(
    'batchSize',
    options.batchSize,
    cell.fixedBatch?.size ?? 2,
    positiveInteger(4096),
    'an integer in 1..4096',
  );
  checkBatchSize(cell, B);
  const seed = optionNumber('seed', options.seed, 1, Number.isSafeInteger, 'an integer');
  const epsilon = optionNumber(
    'epsilon',
    options.epsilon,
    f64 ? 1e-6 : 1e-2,
    positiveReal,
    'a positive number',
  );
  const tolerance = optionNumber(
    'tolerance',
    options.tolerance,
    f64 ? 1e-6 : 2e-2,
    positiveReal,
    'a positive number',
  );
  const maxEntries = optionNumber(
    'maxEntries',
    options.maxEntries,
    64,
    positiveInteger(1e6),
    'a positive integer',
  );
  const given = options.parameters ?? {};
  for (const name of Object.keys(given)) {
    if (!cell.parameters.some((p) => p.name === name))
      throw new OnnxBackendError('E_BATCH', `checkUserCell: parameter ${name} is read by neither model`);
  }
  for (const p of cell.parameters) {
    const v = given[p.name];
    if (v === undefined) {
      if (p.shape.some((d) => typeof d !== 'number')) {
        throw new OnnxBackendError(
          'E_OPTIONS',
          `checkUserCell: param_${p.name} has a dimension of unknown size [${p.shape.join(', ')}]; pass its value in options.parameters`,
        );
      }
      continue;
    }
    const n = v.dims.reduce((a, b) => a * b, 1);
    if (
      n !== v.values.length ||
      v.dims.length !== p.shape.length ||
      p.shape.some((d, k) => typeof d === 'number' && d !== v.dims[k])
    ) {
      throw new OnnxBackendError(
        'E_BATCH',
        `checkUserCell: parameter ${p.name} has dims [${v.dims.join(', ')}] and ${v.values.length} values; the model declares param_${p.name} as [${p.shape.join(', ')}]`,
      );
    }
  }
  const settings = { epsilon, tolerance, maxEntries, seed };
  const lengths = steps === 1 ? [1] : [1, steps];
  const runs: GradientCheckRun[] = [];
  for (const T of lengths) runs.push(await checkRun(cell, problem(cell, T, B, seed + T, given), settings));
  let worst: { steps: number; entry: GradientCheckEntry } | undefined;
  for (const run of runs) {
    for (const entry of run.entries) {
      if (worst === undefined || entry.maxRelError > worst.entry.maxRelError)
        worst = { steps: run.steps, entry };
    }
  }
  if (worst === undefined) throw new Error('checkUserCell: nothing was compared');
  const passed = runs.every((r) => r.passed);
  const where = (steps: number): string => (steps === 1 ? 'one step' : `a sequence of ${steps} steps`);
  const e = worst.entry;
  const how = `central differences in ${cell.dtype}, epsilon ${epsilon.toExponential()}, tolerance ${tolerance.toExponential()}, batch ${B}`;
  let message: string;
  if (passed) {
    message =
      `gradient check passed (${how}): the largest relative error is ${fmt(e.maxRelError)}, in ${e.gradient} ` +
      `over ${where(worst.steps)}.`;
  } else {
    const others = [
      ...new Set(runs.flatMap((r) => r.entries.filter((x) => !x.passed && x !== e).map((x) => x.gradient))),
    ].filter((g) => g !== e.gradient);
    const failingRuns = runs.filter((r) => !r.passed).map((r) => where(r.steps));
    message =
      `gradient check FAILED (${how}): ${describeEntry(e)} is wrong: relative error ${fmt(e.maxRelError)} ` +
      `(absolute ${fmt(e.maxAbsError)}) over ${where(worst.steps)}, worst at index ${e.worstIndex}: backward gives ` +
      `${e.analytic.toPrecision(6)}, finite differences ${e.numeric.toPrecision(6)}` +
      (others.length > 0 ? `; also wrong: ${others.join(', ')}` : '') +
      `. Failing: ${failingRuns.join(' and ')}.`;
  }
  return { passed, dtype: cell.dtype, tolerance, epsilon, batchSize: B, runs, worst, message };
}
