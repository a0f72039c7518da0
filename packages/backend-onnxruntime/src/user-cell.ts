/**
 * User cells: bring your own recurrent cell as a pair of ONNX models (a forward step and a backward
 * step) with the named inputs and outputs of the contract below, validated on load.
 *
 * Contract (names are exact; `S` ranges over the carried state names, default `['h']`, the first of
 * which must be `h`; `P` over the parameter names; every tensor has the backend's float type):
 *
 * Forward model
 * - inputs: `x` [B, I], `S_prev` [B, H] for every `S`, and any `param_P`;
 * - outputs: `S` [B, H] for every `S`, and any `saved_K` (the extra internal state backward needs).
 *
 * Backward model
 * - inputs: `grad_S` [B, H] for every `S` (the total gradient at `S_t`, loss included), and any of `x`,
 *   `S_prev`, `S` (the state after the step), `saved_K` (as output by forward), `param_P`;
 * - outputs: `grad_S_prev` [B, H] for every `S`, `grad_x` [B, I], and `grad_param_P` (the shape of
 *   `param_P`) for every parameter either model reads.
 *
 * `B` is symbolic (or the batch size), `I` and `H` are fixed or symbolic.
 */
import { readFile } from 'node:fs/promises';
import type { GradientReadout } from '@rewind/executor';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { Tensor as OrtTensor } from 'onnxruntime-node';
import {
  backendObject,
  measureStateBytes,
  type OnnxBackend,
  type ResolvedOnnxBackendOptions,
} from './backend.js';
import { OrtBackendError, type OrtBackendErrorCode } from './errors.js';
import { type HeadSpec, headGradientGraph, headStepGraph } from './graphs/cells.js';
import type { FloatType } from './onnx/model.js';
import {
  type BatchArrays,
  batchArrays,
  checkBatch,
  headWidth,
  lossWeight,
  type SequenceBatch,
} from './runtime/batch.js';
import type { RunCounters } from './runtime/builtin.js';
import {
  Engine,
  type InternalData,
  type PathResult,
  type StateTensors,
  type StepProgram,
  type Want,
} from './runtime/engine.js';
import {
  cachedSession,
  createSession,
  type ExecutionProvider,
  runSession,
  type SessionSettings,
} from './runtime/session.js';
import {
  accumulate,
  allocFloat,
  floatData,
  floatTensor,
  scalarOf,
  scalarTensor,
  tensorBytes,
  toFloat,
} from './runtime/tensors.js';

/** The two models of a user cell and their sizes. */
export interface UserCellModels {
  /** The forward-step model: its bytes, or a file path. */
  readonly forward: Uint8Array | string;
  /** The backward-step model: its bytes, or a file path. */
  readonly backward: Uint8Array | string;
  /** Width of `x_t`. */
  readonly inputSize: number;
  /** Width of every carried state tensor. */
  readonly hiddenSize: number;
  /** Carried state tensors, `h` first (default `['h']`; an LSTM-like cell: `['h', 'c']`). */
  readonly state?: readonly string[];
}

/** Options of `loadUserCell`. */
export interface UserCellLoadOptions {
  /** `'cpu'` (default) or `'cuda'` (never a silent CPU run: `E_CUDA_UNAVAILABLE`). */
  readonly executionProvider?: ExecutionProvider;
  readonly deviceId?: number;
  /** The float type of every tensor of the models (default `'float32'`). */
  readonly dtype?: FloatType;
  readonly intraOpNumThreads?: number;
}

/** What a parameter input of the models is declared as. */
export interface UserParameterInfo {
  readonly name: string;
  /** Fixed dimensions as numbers, symbolic ones as strings. */
  readonly shape: readonly (number | string)[];
}

/** A validated user cell: its sessions and what the contract found in its models. */
export interface UserCell {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly state: readonly string[];
  readonly dtype: FloatType;
  /** Parameter names (without the `param_` prefix) and their declared shapes. */
  readonly parameters: readonly UserParameterInfo[];
  /** Saved tensor names (with the `saved_` prefix), in the forward model's output order. */
  readonly saved: readonly string[];
  /** @internal */
  readonly sessions: { readonly forward: InferenceSession; readonly backward: InferenceSession };
  /** @internal */
  readonly settings: SessionSettings;
  /** @internal */
  readonly backwardInputs: readonly string[];
}

/** A parameter value: dimensions and row-major values. */
export interface UserParameter {
  readonly dims: readonly number[];
  readonly values: ArrayLike<number>;
}

/** The parameters and the loss head of a user-cell model. */
export interface UserCellParameters {
  /** One value per parameter the models read (`param_P`), by name `P`. */
  readonly parameters: Readonly<Record<string, UserParameter>>;
  /** The per-step loss head on `h`, as for the built-in cells. */
  readonly head: HeadSpec;
  /** The head's parameters: `Wy` (`O x H`) and `by` (`O`). */
  readonly headParameters: { readonly Wy: ArrayLike<number>; readonly by: ArrayLike<number> };
}

type Meta = InferenceSession.ValueMetadata;

function fail(
  code: OrtBackendErrorCode,
  model: 'forward' | 'backward',
  tensor: string,
  message: string,
): never {
  throw new OrtBackendError(code, `user cell ${model} model: ${message}`, { model, tensor });
}

/** Check a tensor's element type and rank, and its fixed dimensions against `expected` (undefined: any). */
function checkTensor(
  model: 'forward' | 'backward',
  m: Meta,
  dtype: FloatType,
  expected: readonly (number | undefined)[] | number,
  role: string,
): void {
  if (!m.isTensor) fail('E_USER_CELL_TYPE', model, m.name, `${role} ${m.name} must be a tensor`);
  if (m.type !== dtype)
    fail('E_USER_CELL_TYPE', model, m.name, `${role} ${m.name} must be ${dtype}, found ${m.type}`);
  const rank = typeof expected === 'number' ? expected : expected.length;
  if (m.shape.length !== rank) {
    fail(
      'E_USER_CELL_RANK',
      model,
      m.name,
      `${role} ${m.name} must have rank ${rank}, found rank ${m.shape.length} [${m.shape.join(', ')}]`,
    );
  }
  if (typeof expected === 'number') return;
  expected.forEach((want, axis) => {
    const got = m.shape[axis];
    if (want !== undefined && typeof got === 'number' && got !== want) {
      fail(
        'E_USER_CELL_SHAPE',
        model,
        m.name,
        `${role} ${m.name} has dimension ${got} on axis ${axis}, expected ${want} ([${m.shape.join(', ')}])`,
      );
    }
  });
}

function byName(list: readonly Meta[]): Map<string, Meta> {
  return new Map(list.map((m) => [m.name, m]));
}

/**
 * Load and validate a user cell. Sessions are created here; every input and output of both models is
 * checked against the contract (see the module documentation and the README).
 *
 * @throws OrtBackendError `E_USER_CELL_LOAD`, `E_USER_CELL_MISSING_INPUT`, `E_USER_CELL_MISSING_OUTPUT`,
 * `E_USER_CELL_UNKNOWN_INPUT`, `E_USER_CELL_UNKNOWN_OUTPUT`, `E_USER_CELL_TYPE`, `E_USER_CELL_RANK`,
 * `E_USER_CELL_SHAPE`, `E_OPTIONS`, `E_CUDA_UNAVAILABLE`.
 */
export async function loadUserCell(
  models: UserCellModels,
  options: UserCellLoadOptions = {},
): Promise<UserCell> {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float64')
    throw new OrtBackendError('E_OPTIONS', `dtype must be float32 or float64`);
  const state = models.state ?? ['h'];
  if (state[0] !== 'h')
    throw new OrtBackendError('E_OPTIONS', `the first carried state must be 'h', got ${String(state[0])}`);
  if (new Set(state).size !== state.length)
    throw new OrtBackendError('E_OPTIONS', 'carried state names must be distinct');
  for (const s of state) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(s)) {
      throw new OrtBackendError(
        'E_OPTIONS',
        `carried state name ${JSON.stringify(s)} must be letters and digits`,
      );
    }
  }
  const I = models.inputSize;
  const H = models.hiddenSize;
  for (const [k, v] of [
    ['inputSize', I],
    ['hiddenSize', H],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1)
      throw new OrtBackendError('E_OPTIONS', `${k} must be a positive integer`);
  }
  const ep = options.executionProvider ?? 'cpu';
  if (ep !== 'cpu' && ep !== 'cuda')
    throw new OrtBackendError('E_OPTIONS', `executionProvider must be 'cpu' or 'cuda'`);
  const base = { executionProvider: ep, deviceId: options.deviceId ?? 0 };
  const settings: SessionSettings =
    options.intraOpNumThreads === undefined
      ? base
      : { ...base, intraOpNumThreads: options.intraOpNumThreads };

  const open = async (
    which: 'forward' | 'backward',
    source: Uint8Array | string,
  ): Promise<InferenceSession> => {
    try {
      return await createSession(
        typeof source === 'string' ? new Uint8Array(await readFile(source)) : source,
        settings,
        `the user cell's ${which} model`,
        'E_USER_CELL_LOAD',
      );
    } catch (error) {
      if (error instanceof OrtBackendError) {
        if (error.code !== 'E_USER_CELL_LOAD') throw error;
        throw new OrtBackendError('E_USER_CELL_LOAD', error.message.replace(/^E_USER_CELL_LOAD: /, ''), {
          model: which,
          cause: error,
        });
      }
      throw new OrtBackendError('E_USER_CELL_LOAD', `could not read the ${which} model: ${String(error)}`, {
        model: which,
        cause: error,
      });
    }
  };
  const forward = await open('forward', models.forward);
  const backward = await open('backward', models.backward);

  const row = (width: number): (number | undefined)[] => [undefined, width];
  // Forward inputs.
  const fIn = byName(forward.inputMetadata);
  const params = new Map<string, Meta>();
  for (const required of ['x', ...state.map((s) => `${s}_prev`)]) {
    if (!fIn.has(required))
      fail('E_USER_CELL_MISSING_INPUT', 'forward', required, `missing input ${required}`);
  }
  for (const m of forward.inputMetadata) {
    if (m.name === 'x') checkTensor('forward', m, dtype, row(I), 'input');
    else if (state.some((s) => m.name === `${s}_prev`)) checkTensor('forward', m, dtype, row(H), 'input');
    else if (m.name.startsWith('param_') && m.name.length > 6) {
      checkTensor('forward', m, dtype, m.isTensor ? m.shape.length : 0, 'input');
      params.set(m.name.slice(6), m);
    } else {
      fail(
        'E_USER_CELL_UNKNOWN_INPUT',
        'forward',
        m.name,
        `input ${m.name} is not part of the contract (x, ${state.map((s) => `${s}_prev`).join(', ')}, param_*)`,
      );
    }
  }
  // Forward outputs.
  const fOut = byName(forward.outputMetadata);
  for (const s of state)
    if (!fOut.has(s)) fail('E_USER_CELL_MISSING_OUTPUT', 'forward', s, `missing output ${s}`);
  const saved: string[] = [];
  const savedMeta = new Map<string, Meta>();
  for (const m of forward.outputMetadata) {
    if (state.includes(m.name)) checkTensor('forward', m, dtype, row(H), 'output');
    else if (m.name.startsWith('saved_') && m.name.length > 6) {
      checkTensor('forward', m, dtype, m.isTensor ? m.shape.length : 0, 'output');
      saved.push(m.name);
      savedMeta.set(m.name, m);
    } else {
      fail(
        'E_USER_CELL_UNKNOWN_OUTPUT',
        'forward',
        m.name,
        `output ${m.name} is not part of the contract (${state.join(', ')}, saved_*)`,
      );
    }
  }
  // Backward inputs.
  const bIn = byName(backward.inputMetadata);
  for (const s of state) {
    const g = `grad_${s}`;
    if (!bIn.has(g)) fail('E_USER_CELL_MISSING_INPUT', 'backward', g, `missing input ${g}`);
  }
  for (const m of backward.inputMetadata) {
    if (m.name === 'x') checkTensor('backward', m, dtype, row(I), 'input');
    else if (state.some((s) => m.name === `${s}_prev` || m.name === s || m.name === `grad_${s}`)) {
      checkTensor('backward', m, dtype, row(H), 'input');
    } else if (m.name.startsWith('saved_')) {
      const f = savedMeta.get(m.name);
      if (f === undefined || !f.isTensor) {
        fail(
          'E_USER_CELL_UNKNOWN_INPUT',
          'backward',
          m.name,
          `input ${m.name} is not an output of the forward model`,
        );
      }
      checkTensor('backward', m, dtype, f.shape.length, 'input');
    } else if (m.name.startsWith('param_') && m.name.length > 6) {
      const name = m.name.slice(6);
      const f = params.get(name);
      checkTensor(
        'backward',
        m,
        dtype,
        f?.isTensor === true ? f.shape.length : m.isTensor ? m.shape.length : 0,
        'input',
      );
      if (f === undefined) params.set(name, m);
    } else {
      fail(
        'E_USER_CELL_UNKNOWN_INPUT',
        'backward',
        m.name,
        `input ${m.name} is not part of the contract (x, ${state.map((s) => `${s}_prev, ${s}, grad_${s}`).join(', ')}, saved_*, param_*)`,
      );
    }
  }
  // Backward outputs.
  const bOut = byName(backward.outputMetadata);
  const requiredOut = [
    ...state.map((s) => `grad_${s}_prev`),
    'grad_x',
    ...[...params.keys()].map((p) => `grad_param_${p}`),
  ];
  for (const name of requiredOut) {
    if (!bOut.has(name)) fail('E_USER_CELL_MISSING_OUTPUT', 'backward', name, `missing output ${name}`);
  }
  for (const m of backward.outputMetadata) {
    if (m.name === 'grad_x') checkTensor('backward', m, dtype, row(I), 'output');
    else if (state.some((s) => m.name === `grad_${s}_prev`))
      checkTensor('backward', m, dtype, row(H), 'output');
    else if (m.name.startsWith('grad_param_') && params.has(m.name.slice(11))) {
      const p = params.get(m.name.slice(11));
      const shape = p?.isTensor === true ? p.shape : [];
      checkTensor(
        'backward',
        m,
        dtype,
        shape.map((d) => (typeof d === 'number' ? d : undefined)),
        'output',
      );
    } else {
      fail(
        'E_USER_CELL_UNKNOWN_OUTPUT',
        'backward',
        m.name,
        `output ${m.name} is not part of the contract (${requiredOut.join(', ')})`,
      );
    }
  }
  const parameters: UserParameterInfo[] = [...params.entries()].map(([name, m]) => ({
    name,
    shape: m.isTensor ? [...m.shape] : [],
  }));
  return {
    inputSize: I,
    hiddenSize: H,
    state,
    dtype,
    parameters,
    saved,
    sessions: { forward, backward },
    settings,
    backwardInputs: backward.inputNames,
  };
}

/** The step program of a user cell: one run per forward step; the head, then the user's backward. */
class UserCellProgram implements StepProgram {
  readonly name: string;
  readonly steps: number;
  readonly counters: RunCounters = {
    runs: 0,
    forwardMs: 0,
    backwardMs: 0,
    weightGradientMs: 0,
    forwardRuns: 0,
    backwardRuns: 0,
    weightGradientRuns: 0,
  };
  private readonly cell: UserCell;
  private readonly values: UserCellParameters;
  private readonly batch: SequenceBatch;
  private readonly arrays: BatchArrays;
  private readonly B: number;
  private readonly O: number;
  private readonly zeros: Tensor;
  private readonly initial: StateTensors;
  private params: Record<string, Tensor> = {};
  private head: { Wy: Tensor; by: Tensor } | undefined;
  private grads: Record<string, Float64Array> = {};
  private readonly dInputs: Float64Array;
  private readonly dInitial: Float64Array;
  private lossSum = 0;
  private savedBytes: readonly number[] | undefined;
  /** Head rows (`dy`, `h`) of the steps with a loss, flushed into `Wy`, `by` in one product. */
  private readonly headRows: { dy: Float64Array[]; h: Float64Array[] } = { dy: [], h: [] };

  constructor(
    name: string,
    cell: UserCell,
    values: UserCellParameters,
    batch: SequenceBatch,
    arrays: BatchArrays,
  ) {
    this.name = name;
    this.cell = cell;
    this.values = values;
    this.batch = batch;
    this.arrays = arrays;
    this.steps = batch.steps;
    this.B = batch.batchSize;
    this.O = headWidth(values.head);
    const BH = this.B * cell.hiddenSize;
    this.zeros = floatTensor(allocFloat(cell.dtype, BH), [this.B, cell.hiddenSize]);
    this.initial = arrays.initial.map((a) => floatTensor(a, [this.B, cell.hiddenSize]));
    this.dInputs = new Float64Array(arrays.inputs.length);
    this.dInitial = new Float64Array(cell.state.length * BH);
    this.refreshParameters();
    this.reset();
  }

  refreshParameters(): void {
    const dtype = this.cell.dtype;
    const params: Record<string, Tensor> = {};
    for (const p of this.cell.parameters) {
      const v = this.values.parameters[p.name];
      if (v === undefined) throw new OrtBackendError('E_BATCH', `no value for parameter ${p.name}`);
      params[`param_${p.name}`] = floatTensor(toFloat(dtype, v.values), v.dims);
    }
    this.params = params;
    const H = this.cell.hiddenSize;
    this.head = {
      Wy: floatTensor(toFloat(dtype, this.values.headParameters.Wy), [this.O, H]),
      by: floatTensor(toFloat(dtype, this.values.headParameters.by), [this.O]),
    };
  }

  private reset(): void {
    const grads: Record<string, Float64Array> = {};
    for (const p of this.cell.parameters) {
      grads[p.name] = new Float64Array((this.values.parameters[p.name]?.values.length ?? 0) as number);
    }
    grads['Wy'] = new Float64Array(this.O * this.cell.hiddenSize);
    grads['by'] = new Float64Array(this.O);
    this.grads = grads;
    this.dInputs.fill(0);
    this.dInitial.fill(0);
    this.lossSum = 0;
    this.headRows.dy = [];
    this.headRows.h = [];
  }

  initialState(): StateTensors {
    return this.initial;
  }

  private x(t: number): Tensor {
    const n = this.B * this.cell.inputSize;
    return floatTensor(this.arrays.inputs.subarray((t - 1) * n, t * n), [this.B, this.cell.inputSize]);
  }

  private out(r: InferenceSession.ReturnType, name: string): Tensor {
    const t = r[name];
    if (t === undefined) throw new Error(`${this.name}: the model returned no ${name}`);
    return t;
  }

  async forwardPath(root: StateTensors, t0: number, wants: readonly Want[]): Promise<PathResult> {
    const start = performance.now();
    const states: (StateTensors | undefined)[] = [];
    const internals: (InternalData | undefined)[] = [];
    let prev = root;
    for (let j = 0; j < wants.length; j++) {
      const feeds: Record<string, Tensor | undefined> = { x: this.x(t0 + j + 1), ...this.params };
      this.cell.state.forEach((s, k) => {
        feeds[`${s}_prev`] = prev[k];
      });
      const r = await runSession(this.cell.sessions.forward, feeds, `${this.name} forward`);
      this.counters.runs++;
      this.counters.forwardRuns++;
      const next = this.cell.state.map((s) => this.out(r, s));
      const extra = this.cell.saved.map((s) => this.out(r, s));
      this.checkSaved(extra);
      states.push(next);
      internals.push(wants[j] === 'internal' ? { prev, next, extra } : undefined);
      prev = next;
    }
    this.counters.forwardMs += performance.now() - start;
    return { states, internals };
  }

  /** The saved tensors must keep one size: checkpoints are planned with constant state sizes. */
  private checkSaved(extra: readonly Tensor[]): void {
    const sizes = extra.map((t) => tensorBytes([t]));
    if (this.savedBytes === undefined) {
      this.savedBytes = sizes;
      return;
    }
    sizes.forEach((n, k) => {
      if (n !== this.savedBytes?.[k]) {
        throw new OrtBackendError(
          'E_USER_CELL_SHAPE',
          `user cell forward model: ${this.cell.saved[k]} changed size from ${this.savedBytes?.[k]} to ${n} bytes between steps`,
          { model: 'forward', tensor: this.cell.saved[k] ?? '' },
        );
      }
    });
  }

  async backward(internal: InternalData, d: StateTensors | null, t: number): Promise<StateTensors> {
    const start = performance.now();
    const dtype = this.cell.dtype;
    const B = this.B;
    const grads: Tensor[] = this.cell.state.map((_, k) => d?.[k] ?? this.zeros);
    const weight = lossWeight(this.batch, t);
    if (weight > 0 && this.head !== undefined) {
      const targets = this.arrays.targets;
      const target =
        targets instanceof BigInt64Array
          ? new OrtTensor('int64', targets.subarray((t - 1) * B, t * B), [B])
          : floatTensor(targets.subarray((t - 1) * B * this.O, t * B * this.O), [B, this.O]);
      const session = await cachedSession(
        `user-head:${dtype}:H${this.cell.hiddenSize}:${this.values.head.kind}${this.O}`,
        this.cell.settings,
        () => headStepGraph(dtype, this.cell.hiddenSize, this.values.head),
      );
      const r = await runSession(
        session,
        {
          h: internal.next[0],
          dh: grads[0],
          Wy: this.head.Wy,
          by: this.head.by,
          weight: scalarTensor(dtype, weight),
          target,
        },
        `${this.name} head`,
      );
      this.counters.runs++;
      this.lossSum += scalarOf(this.out(r, 'loss'));
      grads[0] = this.out(r, 'dh_total');
      this.headRows.dy.push(Float64Array.from(floatData(this.out(r, 'dy'))));
      this.headRows.h.push(Float64Array.from(floatData(internal.next[0] as Tensor)));
    }
    const feeds: Record<string, Tensor | undefined> = { x: this.x(t), ...this.params };
    this.cell.state.forEach((s, k) => {
      feeds[`${s}_prev`] = internal.prev[k];
      feeds[s] = internal.next[k];
      feeds[`grad_${s}`] = grads[k];
    });
    this.cell.saved.forEach((s, k) => {
      feeds[s] = internal.extra[k];
    });
    const r = await runSession(this.cell.sessions.backward, feeds, `${this.name} backward`);
    this.counters.runs++;
    this.counters.backwardRuns++;
    const dPrev = this.cell.state.map((s) => this.out(r, `grad_${s}_prev`));
    const n = B * this.cell.inputSize;
    accumulate(this.dInputs, floatData(this.out(r, 'grad_x')), (t - 1) * n);
    for (const p of this.cell.parameters) {
      accumulate(this.grads[p.name] as Float64Array, floatData(this.out(r, `grad_param_${p.name}`)));
    }
    if (t === 1) {
      dPrev.forEach((g, k) => {
        this.dInitial.set(floatData(g), k * B * this.cell.hiddenSize);
      });
      await this.flushHead();
    }
    this.counters.backwardMs += performance.now() - start;
    return dPrev;
  }

  /** The head's weight gradients over every step with a loss, in one product. */
  private async flushHead(): Promise<void> {
    const rows = this.headRows.dy.length;
    if (rows === 0) return;
    const start = performance.now();
    const dtype = this.cell.dtype;
    const H = this.cell.hiddenSize;
    const B = this.B;
    const dy = allocFloat(dtype, rows * B * this.O);
    const h = allocFloat(dtype, rows * B * H);
    for (let k = 0; k < rows; k++) {
      dy.set(this.headRows.dy[k] as Float64Array, k * B * this.O);
      h.set(this.headRows.h[k] as Float64Array, k * B * H);
    }
    const session = await cachedSession(
      `user-head-grad:${dtype}:H${H}:${this.values.head.kind}${this.O}`,
      this.cell.settings,
      () => headGradientGraph(dtype, H, this.values.head),
    );
    const r = await runSession(
      session,
      { dy: floatTensor(dy, [rows * B, this.O]), h: floatTensor(h, [rows * B, H]) },
      `${this.name} head gradients`,
    );
    this.counters.runs++;
    this.counters.weightGradientRuns++;
    accumulate(this.grads['Wy'] as Float64Array, floatData(this.out(r, 'dWy')));
    accumulate(this.grads['by'] as Float64Array, floatData(this.out(r, 'dby')));
    this.headRows.dy = [];
    this.headRows.h = [];
    this.counters.weightGradientMs += performance.now() - start;
  }

  zeroGradients(): void {
    this.refreshParameters();
    this.reset();
  }

  loss(): number {
    return this.lossSum;
  }

  async readGradients(): Promise<GradientReadout> {
    await this.flushHead();
    const parameters: Record<string, Float64Array> = {};
    for (const [k, v] of Object.entries(this.grads)) parameters[k] = v.slice();
    return { parameters, inputs: this.dInputs.slice(), initialState: this.dInitial.slice() };
  }
}

/**
 * Create a backend over a loaded user cell, its parameter values and one batch. Forward steps run one
 * at a time (no fused ranges: the cell's graph is opaque); the loss head is the built-in one, on `h`.
 *
 * @throws OrtBackendError `E_BATCH` (batch or parameters that do not fit), `E_USER_CELL_SHAPE`
 * (a parameter whose dimensions contradict the model, a saved tensor that changes size), `E_OPTIONS`.
 */
export async function createUserCellBackend(
  cell: UserCell,
  values: UserCellParameters,
  batch: SequenceBatch,
): Promise<OnnxBackend> {
  const H = cell.hiddenSize;
  checkBatch(batch, cell.inputSize, values.head, cell.state.length * H);
  const O = headWidth(values.head);
  if (values.headParameters.Wy.length !== O * H || values.headParameters.by.length !== O) {
    throw new OrtBackendError('E_BATCH', `headParameters must hold Wy (${O * H} numbers) and by (${O})`);
  }
  for (const p of cell.parameters) {
    const v = values.parameters[p.name];
    if (v === undefined)
      throw new OrtBackendError('E_BATCH', `no value for parameter ${p.name} (input param_${p.name})`);
    const size = v.dims.reduce((a, b) => a * b, 1);
    if (size !== v.values.length) {
      throw new OrtBackendError(
        'E_BATCH',
        `parameter ${p.name} has ${v.values.length} values for dims [${v.dims.join(', ')}]`,
      );
    }
    if (
      v.dims.length !== p.shape.length ||
      p.shape.some((d, k) => typeof d === 'number' && d !== v.dims[k])
    ) {
      throw new OrtBackendError(
        'E_USER_CELL_SHAPE',
        `parameter ${p.name} has dims [${v.dims.join(', ')}], the model declares param_${p.name} as [${p.shape.join(', ')}]`,
        { tensor: `param_${p.name}` },
      );
    }
  }
  for (const name of Object.keys(values.parameters)) {
    if (!cell.parameters.some((p) => p.name === name)) {
      throw new OrtBackendError(
        'E_BATCH',
        `parameter ${name} is read by neither model (no input param_${name})`,
      );
    }
    if (name === 'Wy' || name === 'by')
      throw new OrtBackendError('E_BATCH', `parameter name ${name} is the head's`);
  }
  const arrays = batchArrays(batch, values.head, cell.dtype, cell.state.length, H);
  const name = `onnxruntime-${cell.settings.executionProvider}/user`;
  const program = new UserCellProgram(name, cell, values, batch, arrays);
  const stateBytes = await measureStateBytes(program);
  const engine = new Engine(program, { lazy: false, stateBytes });
  const options: ResolvedOnnxBackendOptions = {
    executionProvider: cell.settings.executionProvider,
    deviceId: cell.settings.deviceId,
    dtype: cell.dtype,
    internalState: 'saved',
    fuseForward: false,
    fusedSteps: 1,
    weightGradientSteps: 1,
    sparsity: undefined,
  };
  const backend = backendObject(engine, program, {
    alpha: stateBytes.internal / stateBytes.hidden,
    options,
    deferredBytes: () => 0,
    sparsityStats: () => undefined,
    refreshParameters: () => program.refreshParameters(),
  });
  backend.resetStats();
  return backend;
}
