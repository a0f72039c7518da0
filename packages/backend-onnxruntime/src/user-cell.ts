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
 * Backward model: the vector-Jacobian product of the step with the cotangents `grad_S`
 * - inputs: `grad_S` [B, H] for every `S`, and any of `x`, `S_prev`, `S` (the state after the step),
 *   `saved_K` (as output by forward), `param_P`. `grad_h` is the loss head's gradient at `h_t` plus the
 *   `grad_h_prev` of step `t+1`; any other `grad_S` is the `grad_S_prev` of step `t+1` only (the paths
 *   from `S_t` inside the step, e.g. through `h_t`, are the backward's to add);
 * - outputs: `grad_S_prev` [B, H] for every `S`, `grad_x` [B, I], and `grad_param_P` (the shape of
 *   `param_P`) for every parameter either model reads, for this step only.
 *
 * Every dimension is a fixed number or the model's batch symbol (axis 0 of the batch tensors only).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { GradientReadout } from '@rewind/executor';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { Tensor as OrtTensor } from 'onnxruntime-node';
import {
  backendObject,
  measureStateBytes,
  type OnnxBackend,
  type ResolvedOnnxBackendOptions,
} from './backend.js';
import { OnnxBackendError, type OnnxBackendErrorCode, type UserCellViolation } from './errors.js';
import { type HeadSpec, headGradientGraph, headStepGraph } from './graphs/cells.js';
import { externalDataLocations } from './onnx/external.js';
import type { FloatType } from './onnx/model.js';
import {
  type BatchArrays,
  batchArrays,
  checkBatch,
  headWidth,
  lossWeight,
  type SequenceBatch,
} from './runtime/batch.js';
import { type RunCounters, zeroCounters } from './runtime/builtin.js';
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
  /** @internal Where each model came from (file name), for messages. */
  readonly labels: { readonly forward: string; readonly backward: string };
  /** @internal A batch dimension exported with a fixed size, if any. */
  readonly fixedBatch:
    | { readonly model: 'forward' | 'backward'; readonly tensor: string; readonly size: number }
    | undefined;
  /** @internal The dimensions after the batch axis of each saved tensor (strings: unknown). */
  readonly savedShapes: readonly (readonly (number | string)[])[];
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
type Which = 'forward' | 'backward';

/** What an axis must be: a fixed size, the batch axis, or any fixed size (`undefined`). */
type Axis = number | 'batch' | undefined;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function describeShape(m: Meta): string {
  return m.isTensor ? `[${m.shape.map((d) => (d === '' ? '?' : String(d))).join(', ')}]` : '';
}

/** `name: type [dims]` of every input and output of a model, for error messages. */
function describeModel(which: Which, s: InferenceSession): string {
  const list = (ms: readonly Meta[]): string =>
    ms.length === 0
      ? '(none)'
      : ms
          .map((m) => (m.isTensor ? `${m.name}: ${m.type} ${describeShape(m)}` : `${m.name}: not a tensor`))
          .join(', ');
  return `the ${which} model has inputs ${list(s.inputMetadata)}; outputs ${list(s.outputMetadata)}`;
}

/** Collects every violation of the contract in both models. */
class ContractCheck {
  readonly violations: UserCellViolation[] = [];
  /** Tensors whose batch axis has a fixed size (checked against the batch when a backend is created). */
  readonly fixedBatch: { model: Which; tensor: string; size: number }[] = [];
  private readonly batchSymbol: Record<Which, string | undefined> = {
    forward: undefined,
    backward: undefined,
  };
  private readonly dtype: FloatType;

  constructor(dtype: FloatType) {
    this.dtype = dtype;
  }

  add(code: OnnxBackendErrorCode, model: Which, tensor: string, message: string): void {
    this.violations.push({ code, model, tensor, message });
  }

  /** Take the batch symbol of a model from this tensor's first axis, if it is a plain symbol. */
  batchFrom(model: Which, m: Meta | undefined): void {
    const d = m?.isTensor === true ? m.shape[0] : undefined;
    if (this.batchSymbol[model] === undefined && typeof d === 'string' && IDENTIFIER.test(d))
      this.batchSymbol[model] = d;
  }

  /** Check a tensor's element type, rank and each dimension against `expected`. */
  tensor(model: Which, m: Meta, expected: readonly Axis[], role: string): void {
    if (!m.isTensor) {
      this.add('E_USER_CELL_TYPE', model, m.name, `${role} ${m.name} must be a tensor`);
      return;
    }
    if (m.type !== this.dtype)
      this.add('E_USER_CELL_TYPE', model, m.name, `${role} ${m.name} must be ${this.dtype}, found ${m.type}`);
    if (m.shape.length !== expected.length) {
      this.add(
        'E_USER_CELL_RANK',
        model,
        m.name,
        `${role} ${m.name} must have rank ${expected.length}, found rank ${m.shape.length} ${describeShape(m)}`,
      );
      return;
    }
    expected.forEach((want, axis) => {
      const got = m.shape[axis];
      if (got === undefined || got === '') return; // unknown: checked at run time
      if (want === 'batch') {
        if (typeof got === 'number') {
          this.fixedBatch.push({ model, tensor: m.name, size: got });
          return;
        }
        this.batchFrom(model, m);
        const symbol = this.batchSymbol[model];
        if (got !== symbol) {
          this.add(
            'E_USER_CELL_SHAPE',
            model,
            m.name,
            `${role} ${m.name} has the symbolic size '${got}' on axis 0 ${describeShape(m)}, expected the batch ` +
              (symbol === undefined
                ? 'as one plain symbol'
                : `symbol '${symbol}' (name the batch dimension of every input and output alike)`),
          );
        }
        return;
      }
      if (typeof got === 'string') {
        this.add(
          'E_USER_CELL_SHAPE',
          model,
          m.name,
          `${role} ${m.name} has the symbolic size '${got}' on axis ${axis} ${describeShape(m)}: only the batch ` +
            'dimension (axis 0 of x, the states, saved tensors and their gradients) may be symbolic; export it with fixed sizes',
        );
      } else if (want !== undefined && got !== want) {
        this.add(
          'E_USER_CELL_SHAPE',
          model,
          m.name,
          `${role} ${m.name} has dimension ${got} on axis ${axis}, expected ${want} ${describeShape(m)}`,
        );
      }
    });
  }
}

/** The hint at the `state` option for a name that looks like a carried state the declaration lacks. */
function stateHint(name: string, state: readonly string[]): string {
  const m = /^(?:grad_)?([A-Za-z][A-Za-z0-9]*?)(?:_prev)?$/.exec(name);
  const s = m?.[1];
  if (s === undefined || state.includes(s) || !/(_prev$|^grad_)/.test(name)) return '';
  return `; if the cell carries ${s}, declare it: state: [${[...state, s].map((q) => `'${q}'`).join(', ')}]`;
}

const dims = (m: Meta | undefined): (number | string)[] => (m?.isTensor === true ? [...m.shape] : []);
const fixedOrAny = (shape: readonly (number | string)[]): Axis[] =>
  shape.map((d) => (typeof d === 'number' ? d : undefined));

/** Where a model comes from, for messages: its file name, or "bytes". */
function sourceLabel(source: Uint8Array | string): string {
  return typeof source === 'string' ? basename(source) : 'given as bytes';
}

const EXPORT_INLINE_HINT =
  'export it with every tensor inline: torch.onnx.export(..., external_data=False) with the default exporter, ' +
  'or onnx.save_model(model, path, save_as_external_data=False)';

/** Open one model: from bytes (refused if it refers to external data) or from its file (external data beside it). */
async function openModel(
  which: Which,
  source: Uint8Array | string,
  settings: SessionSettings,
): Promise<InferenceSession> {
  let bytes: Uint8Array;
  try {
    bytes = typeof source === 'string' ? new Uint8Array(await readFile(source)) : source;
  } catch (error) {
    throw new OnnxBackendError('E_USER_CELL_LOAD', `could not read the ${which} model: ${String(error)}`, {
      model: which,
      cause: error,
    });
  }
  let external: string[] = [];
  try {
    external = externalDataLocations(bytes);
  } catch {
    // Not a well-formed model: ONNX Runtime says so below.
  }
  if (external.length > 0) {
    if (typeof source !== 'string') {
      throw new OnnxBackendError(
        'E_USER_CELL_EXTERNAL_DATA',
        `the ${which} model refers to external data (${external.join(', ')}) and was given as bytes, which ` +
          `ONNX Runtime cannot resolve: pass the model's file path instead (with ${external.join(', ')} beside it), or ${EXPORT_INLINE_HINT}`,
        { model: which, tensor: external[0] ?? '' },
      );
    }
    const dir = dirname(source);
    const missing = external.filter((loc) => !existsSync(resolve(dir, loc)));
    if (missing.length > 0) {
      throw new OnnxBackendError(
        'E_USER_CELL_EXTERNAL_DATA',
        `the ${which} model ${basename(source)} refers to external data ${missing.join(', ')}, not found in ${dir}: ` +
          `copy the data file(s) written by the exporter beside the model, or ${EXPORT_INLINE_HINT}`,
        { model: which, tensor: missing[0] ?? '' },
      );
    }
  }
  try {
    // From its path, ONNX Runtime finds external data relative to the model file.
    return await createSession(
      external.length > 0 && typeof source === 'string' ? source : bytes,
      settings,
      `the user cell's ${which} model (${sourceLabel(source)})`,
      'E_USER_CELL_LOAD',
    );
  } catch (error) {
    if (error instanceof OnnxBackendError && error.code === 'E_USER_CELL_LOAD') {
      throw new OnnxBackendError('E_USER_CELL_LOAD', error.message.replace(/^E_USER_CELL_LOAD: /, ''), {
        model: which,
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Load and validate a user cell. Sessions are created here; every input and output of both models is
 * checked against the contract (see the module documentation and the README), and every violation is
 * reported at once, with what the models actually have.
 *
 * A model given as a file path may keep its weights in external data files beside it (as PyTorch's
 * exporter writes them); a model given as bytes must hold every tensor inline.
 *
 * @throws OnnxBackendError `E_USER_CELL_LOAD`, `E_USER_CELL_EXTERNAL_DATA`, or, with every violation in
 * `error.violations` (the error's own code, model and tensor being the first's): `E_USER_CELL_MISSING_INPUT`,
 * `E_USER_CELL_MISSING_OUTPUT`, `E_USER_CELL_UNKNOWN_INPUT`, `E_USER_CELL_UNKNOWN_OUTPUT`, `E_USER_CELL_TYPE`,
 * `E_USER_CELL_RANK`, `E_USER_CELL_SHAPE`; also `E_OPTIONS`, `E_CUDA_UNAVAILABLE`.
 */
export async function loadUserCell(
  models: UserCellModels,
  options: UserCellLoadOptions = {},
): Promise<UserCell> {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float64')
    throw new OnnxBackendError('E_OPTIONS', `dtype must be float32 or float64, got ${String(dtype)}`);
  const state = models.state ?? ['h'];
  if (!Array.isArray(state) || state[0] !== 'h')
    throw new OnnxBackendError(
      'E_OPTIONS',
      `the first carried state must be 'h', got ${String(state[0])} (e.g. state: ['h', 'c'])`,
    );
  if (new Set(state).size !== state.length)
    throw new OnnxBackendError('E_OPTIONS', 'carried state names must be distinct');
  for (const s of state) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(s)) {
      throw new OnnxBackendError(
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
      throw new OnnxBackendError('E_OPTIONS', `${k} must be a positive integer, got ${String(v)}`);
  }
  const ep = options.executionProvider ?? 'cpu';
  if (ep !== 'cpu' && ep !== 'cuda')
    throw new OnnxBackendError('E_OPTIONS', `executionProvider must be 'cpu' or 'cuda'`);
  const base = { executionProvider: ep, deviceId: options.deviceId ?? 0 };
  const settings: SessionSettings =
    options.intraOpNumThreads === undefined
      ? base
      : { ...base, intraOpNumThreads: options.intraOpNumThreads };

  const forward = await openModel('forward', models.forward, settings);
  let backward: InferenceSession;
  try {
    backward = await openModel('backward', models.backward, settings);
  } catch (error) {
    await forward.release();
    throw error;
  }
  const labels = { forward: sourceLabel(models.forward), backward: sourceLabel(models.backward) };

  const check = new ContractCheck(dtype);
  const row = (width: number): Axis[] => ['batch', width];
  const statePrev = state.map((s) => `${s}_prev`);
  // Forward inputs.
  const fIn = byName(forward.inputMetadata);
  check.batchFrom('forward', fIn.get('x'));
  const params = new Map<string, Meta>();
  for (const required of ['x', ...statePrev]) {
    if (!fIn.has(required)) {
      check.add(
        'E_USER_CELL_MISSING_INPUT',
        'forward',
        required,
        `forward model: missing input ${required} (its inputs: ${forward.inputNames.join(', ') || 'none'})`,
      );
    }
  }
  for (const m of forward.inputMetadata) {
    if (m.name === 'x') check.tensor('forward', m, row(I), 'input');
    else if (statePrev.includes(m.name)) check.tensor('forward', m, row(H), 'input');
    else if (m.name.startsWith('param_') && m.name.length > 6) {
      check.tensor('forward', m, fixedOrAny(dims(m)), 'input');
      params.set(m.name.slice(6), m);
    } else {
      check.add(
        'E_USER_CELL_UNKNOWN_INPUT',
        'forward',
        m.name,
        `forward model: input ${m.name} is not part of the contract (x, ${statePrev.join(', ')}, param_*)${stateHint(m.name, state)}`,
      );
    }
  }
  // Forward outputs.
  const fOut = byName(forward.outputMetadata);
  for (const s of state) {
    if (!fOut.has(s)) {
      check.add(
        'E_USER_CELL_MISSING_OUTPUT',
        'forward',
        s,
        `forward model: missing output ${s} (its outputs: ${forward.outputNames.join(', ') || 'none'}; ` +
          `name them when exporting, e.g. output_names=[${[...state.map((q) => `'${q}'`), "'saved_...'"].join(', ')}])`,
      );
    }
  }
  const saved: string[] = [];
  const savedMeta = new Map<string, Meta>();
  for (const m of forward.outputMetadata) {
    if (state.includes(m.name)) check.tensor('forward', m, row(H), 'output');
    else if (m.name.startsWith('saved_') && m.name.length > 6) {
      const shape = dims(m);
      if (m.isTensor && shape.length === 0) {
        check.add(
          'E_USER_CELL_SHAPE',
          'forward',
          m.name,
          `forward model: output ${m.name} is a scalar: a saved tensor needs the batch dimension first ([B, ...])`,
        );
      } else check.tensor('forward', m, ['batch', ...fixedOrAny(shape.slice(1))], 'output');
      saved.push(m.name);
      savedMeta.set(m.name, m);
    } else {
      const hint =
        fIn.has(`${m.name}_prev`) && !state.includes(m.name) ? stateHint(`${m.name}_prev`, state) : '';
      check.add(
        'E_USER_CELL_UNKNOWN_OUTPUT',
        'forward',
        m.name,
        `forward model: output ${m.name} is not part of the contract (${state.join(', ')}, saved_*)${hint}`,
      );
    }
  }
  // Backward inputs.
  const bIn = byName(backward.inputMetadata);
  check.batchFrom('backward', bIn.get('grad_h'));
  for (const s of state) {
    const g = `grad_${s}`;
    if (!bIn.has(g)) {
      check.add(
        'E_USER_CELL_MISSING_INPUT',
        'backward',
        g,
        `backward model: missing input ${g} (its inputs: ${backward.inputNames.join(', ') || 'none'})`,
      );
    }
  }
  for (const m of backward.inputMetadata) {
    if (m.name === 'x') check.tensor('backward', m, row(I), 'input');
    else if (state.some((s) => m.name === `${s}_prev` || m.name === s || m.name === `grad_${s}`)) {
      check.tensor('backward', m, row(H), 'input');
    } else if (m.name.startsWith('saved_')) {
      const f = savedMeta.get(m.name);
      if (f === undefined || !f.isTensor) {
        check.add(
          'E_USER_CELL_UNKNOWN_INPUT',
          'backward',
          m.name,
          `backward model: input ${m.name} is not an output of the forward model (its saved outputs: ${saved.join(', ') || 'none'})`,
        );
      } else if (f.shape.length > 0) {
        check.tensor('backward', m, ['batch', ...fixedOrAny(f.shape.slice(1))], 'input');
      }
    } else if (m.name.startsWith('param_') && m.name.length > 6) {
      const name = m.name.slice(6);
      const f = params.get(name);
      check.tensor('backward', m, fixedOrAny(f === undefined ? dims(m) : dims(f)), 'input');
      if (f === undefined) params.set(name, m);
    } else {
      check.add(
        'E_USER_CELL_UNKNOWN_INPUT',
        'backward',
        m.name,
        `backward model: input ${m.name} is not part of the contract (x, ${state.map((s) => `${s}_prev, ${s}, grad_${s}`).join(', ')}, saved_*, param_*)${stateHint(m.name, state) || (bIn.has(`${m.name}_prev`) ? stateHint(`${m.name}_prev`, state) : '')}`,
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
    if (!bOut.has(name)) {
      check.add(
        'E_USER_CELL_MISSING_OUTPUT',
        'backward',
        name,
        `backward model: missing output ${name} (its outputs: ${backward.outputNames.join(', ') || 'none'})`,
      );
    }
  }
  for (const m of backward.outputMetadata) {
    if (m.name === 'grad_x') check.tensor('backward', m, row(I), 'output');
    else if (state.some((s) => m.name === `grad_${s}_prev`)) check.tensor('backward', m, row(H), 'output');
    else if (m.name.startsWith('grad_param_') && params.has(m.name.slice(11))) {
      check.tensor('backward', m, fixedOrAny(dims(params.get(m.name.slice(11)))), 'output');
    } else {
      check.add(
        'E_USER_CELL_UNKNOWN_OUTPUT',
        'backward',
        m.name,
        `backward model: output ${m.name} is not part of the contract (${requiredOut.join(', ')})`,
      );
    }
  }
  const sizes = new Set(check.fixedBatch.map((f) => f.size));
  if (sizes.size > 1) {
    const f = check.fixedBatch[0] as { model: Which; tensor: string };
    check.add(
      'E_USER_CELL_SHAPE',
      f.model,
      f.tensor,
      `${f.model} model: the batch dimension is fixed to different sizes (${check.fixedBatch
        .map((b) => `${b.tensor}: ${b.size}`)
        .join(', ')})`,
    );
  }
  const first = check.violations[0];
  if (first !== undefined) {
    await Promise.allSettled([forward.release(), backward.release()]);
    const n = check.violations.length;
    const list = check.violations.map((v) => `  - ${v.message}`).join('\n');
    throw new OnnxBackendError(
      first.code,
      `user cell ${first.model} model: ${n === 1 ? 'one contract violation' : `${n} contract violations`}:\n${list}\n` +
        `${describeModel('forward', forward)}\n${describeModel('backward', backward)}`,
      { model: first.model, tensor: first.tensor, violations: check.violations },
    );
  }
  const parameters: UserParameterInfo[] = [...params.entries()].map(([name, m]) => ({
    name,
    shape: dims(m),
  }));
  const fixed = check.fixedBatch[0];
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
    labels,
    fixedBatch: fixed === undefined ? undefined : { ...fixed },
    savedShapes: saved.map((s) => dims(savedMeta.get(s)).slice(1)),
  };
}

/**
 * Run one of a user cell's models and check every output the contract reads: ONNX Runtime's failures
 * become `E_USER_CELL_RUN`, outputs of other dimensions `E_USER_CELL_SHAPE` (an output is never
 * written past or cut short). `expected` gives the dimensions of each output read (`-1`: any size).
 *
 * @internal
 */
export async function runUserModel(
  cell: UserCell,
  which: Which,
  available: Readonly<Record<string, Tensor | undefined>>,
  expected: Readonly<Record<string, readonly number[]>>,
  where: string,
): Promise<Record<string, Tensor>> {
  const session = cell.sessions[which];
  const feeds: Record<string, Tensor> = {};
  for (const name of session.inputNames) {
    const t = available[name];
    if (t === undefined) throw new Error(`${where}: no value for input ${name}`);
    feeds[name] = t;
  }
  let r: InferenceSession.ReturnType;
  try {
    r = await session.run(feeds);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new OnnxBackendError(
      'E_USER_CELL_RUN',
      `ONNX Runtime failed running the user cell's ${which} model (${cell.labels[which]}) at ${where}: ${reason}`,
      { model: which, cause: error },
    );
  }
  const out: Record<string, Tensor> = {};
  for (const [name, want] of Object.entries(expected)) {
    const t = r[name];
    if (t === undefined) throw new Error(`${where}: the ${which} model returned no ${name}`);
    const got = t.dims.reduce((a, b) => a * b, 1);
    const length = (t.data as { length?: number }).length;
    if (
      length !== got ||
      t.dims.length !== want.length ||
      t.dims.some((d, k) => want[k] !== -1 && d !== want[k])
    ) {
      const count = want.every((d) => d >= 0) ? ` (${want.reduce((a, b) => a * b, 1)} elements)` : '';
      throw new OnnxBackendError(
        'E_USER_CELL_SHAPE',
        `the user cell's ${which} model (${cell.labels[which]}) returned ${name} with dimensions [${t.dims.join(', ')}] ` +
          `(${length} elements) at ${where}, expected [${want.map((d) => (d === -1 ? '?' : d)).join(', ')}]${count}`,
        { model: which, tensor: name },
      );
    }
    if (t.type !== cell.dtype) {
      throw new OnnxBackendError(
        'E_USER_CELL_TYPE',
        `the user cell's ${which} model (${cell.labels[which]}) returned ${name} as ${t.type} at ${where}, expected ${cell.dtype}`,
        { model: which, tensor: name },
      );
    }
    out[name] = t;
  }
  return out;
}

/**
 * The dimensions of every output of a user cell read at batch size `B`, per model (`-1`: any size).
 *
 * @internal
 */
export function userOutputDims(
  cell: UserCell,
  B: number,
  parameterDims: (name: string) => readonly number[],
): { forward: Record<string, number[]>; backward: Record<string, number[]> } {
  const H = cell.hiddenSize;
  const forward: Record<string, number[]> = {};
  const backward: Record<string, number[]> = { grad_x: [B, cell.inputSize] };
  for (const s of cell.state) {
    forward[s] = [B, H];
    backward[`grad_${s}_prev`] = [B, H];
  }
  cell.saved.forEach((s, k) => {
    forward[s] = [B, ...(cell.savedShapes[k] ?? []).map((d) => (typeof d === 'number' ? d : -1))];
  });
  for (const p of cell.parameters) backward[`grad_param_${p.name}`] = [...parameterDims(p.name)];
  return { forward, backward };
}

/** Check a batch size against a cell exported with a fixed batch dimension. */
export function checkBatchSize(cell: UserCell, batchSize: number): void {
  const f = cell.fixedBatch;
  if (f !== undefined && f.size !== batchSize) {
    throw new OnnxBackendError(
      'E_USER_CELL_SHAPE',
      `the user cell's ${f.model} model (${cell.labels[f.model]}) was exported with a fixed batch of ${f.size} ` +
        `(${f.tensor}), the batch has ${batchSize} sequences: export it with a dynamic batch dimension ` +
        `(dynamic_shapes with torch.export.Dim, or dynamic_axes={name: {0: 'B'}} for every input and output), or use batches of ${f.size}`,
      { model: f.model, tensor: f.tensor },
    );
  }
}

function byName(list: readonly Meta[]): Map<string, Meta> {
  return new Map(list.map((m) => [m.name, m]));
}

/** The step program of a user cell: one run per forward step; the head, then the user's backward. */
class UserCellProgram implements StepProgram {
  readonly name: string;
  readonly steps: number;
  readonly counters: RunCounters = zeroCounters();
  private readonly cell: UserCell;
  private readonly values: UserCellParameters;
  private readonly batch: SequenceBatch;
  private readonly arrays: BatchArrays;
  private readonly B: number;
  private readonly O: number;
  private readonly zeros: Tensor;
  private readonly initial: StateTensors;
  /** The dimensions of every output read, per model (`-1`: any). */
  private readonly forwardDims: Record<string, number[]>;
  private readonly backwardDims: Record<string, number[]>;
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
    const dims = userOutputDims(cell, this.B, (p) => values.parameters[p]?.dims ?? []);
    this.forwardDims = dims.forward;
    this.backwardDims = dims.backward;
    this.refreshParameters();
    this.reset();
  }

  refreshParameters(): void {
    const dtype = this.cell.dtype;
    const params: Record<string, Tensor> = {};
    for (const p of this.cell.parameters) {
      const v = this.values.parameters[p.name];
      if (v === undefined) throw new OnnxBackendError('E_BATCH', `no value for parameter ${p.name}`);
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

  private out(r: Readonly<Record<string, Tensor>>, name: string): Tensor {
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
      const r = await runUserModel(
        this.cell,
        'forward',
        feeds,
        this.forwardDims,
        `forward step ${t0 + j + 1}`,
      );
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
        throw new OnnxBackendError(
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
    const r = await runUserModel(this.cell, 'backward', feeds, this.backwardDims, `backward step ${t}`);
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
 * @throws OnnxBackendError `E_BATCH` (batch or parameters that do not fit), `E_USER_CELL_SHAPE`
 * (a parameter whose dimensions contradict the model, a saved tensor that changes size), `E_OPTIONS`.
 */
export async function createUserCellBackend(
  cell: UserCell,
  values: UserCellParameters,
  batch: SequenceBatch,
): Promise<OnnxBackend> {
  const H = cell.hiddenSize;
  checkBatch(batch, cell.inputSize, values.head, cell.state.length * H);
  checkBatchSize(cell, batch.batchSize);
  const O = headWidth(values.head);
  if (values.headParameters.Wy.length !== O * H || values.headParameters.by.length !== O) {
    throw new OnnxBackendError('E_BATCH', `headParameters must hold Wy (${O * H} numbers) and by (${O})`);
  }
  for (const p of cell.parameters) {
    const v = values.parameters[p.name];
    if (v === undefined)
      throw new OnnxBackendError('E_BATCH', `no value for parameter ${p.name} (input param_${p.name})`);
    const size = v.dims.reduce((a, b) => a * b, 1);
    if (size !== v.values.length) {
      throw new OnnxBackendError(
        'E_BATCH',
        `parameter ${p.name} has ${v.values.length} values for dims [${v.dims.join(', ')}]`,
      );
    }
    if (
      v.dims.length !== p.shape.length ||
      p.shape.some((d, k) => typeof d === 'number' && d !== v.dims[k])
    ) {
      throw new OnnxBackendError(
        'E_USER_CELL_SHAPE',
        `parameter ${p.name} has dims [${v.dims.join(', ')}], the model declares param_${p.name} as [${p.shape.join(', ')}]`,
        { tensor: `param_${p.name}` },
      );
    }
  }
  for (const name of Object.keys(values.parameters)) {
    if (!cell.parameters.some((p) => p.name === name)) {
      throw new OnnxBackendError(
        'E_BATCH',
        `parameter ${name} is read by neither model (no input param_${name})`,
      );
    }
    if (name === 'Wy' || name === 'by')
      throw new OnnxBackendError('E_BATCH', `parameter name ${name} is the head's`);
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
    tf32: cell.settings.tf32 === true,
    inputGradients: true,
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
