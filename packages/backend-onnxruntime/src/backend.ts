/**
 * `createOnnxBackend`: the ONNX Runtime backend of the built-in cells (RNN, LSTM, GRU).
 */
import type { CellBackendV1, GradientReadout } from '@rewind/executor';
import type { StateBytes } from '@rewind/policy';
import { OnnxBackendError } from './errors.js';
import { hasCellState, type InternalMode } from './graphs/cells.js';
import type { FloatType } from './onnx/model.js';
import { batchArrays, type CellModel, checkBatch, checkModel, type SequenceBatch } from './runtime/batch.js';
import { BuiltinProgram } from './runtime/builtin.js';
import {
  Engine,
  type OnnxGradient,
  type OnnxHidden,
  type OnnxInternal,
  type StepProgram,
} from './runtime/engine.js';
import type { ExecutionProvider, SessionPool, SessionSettings } from './runtime/session.js';
import { tensorBytes } from './runtime/tensors.js';
import { type SparsityOptions, type SparsityStats, sparsitySettings } from './sparsity.js';

/** Options of `createOnnxBackend`. */
export interface OnnxBackendOptions {
  /** `'cpu'` (default) or `'cuda'`. CUDA never falls back to the CPU: it fails with `E_CUDA_UNAVAILABLE`. */
  readonly executionProvider?: ExecutionProvider;
  /** CUDA device ordinal (default 0). */
  readonly deviceId?: number;
  /** Element type of every tensor (default `'float32'`; `'float64'` for gradient checks). */
  readonly dtype?: FloatType;
  /**
   * What an internal state holds (default `'saved'`): the step's gate activations, or only the states
   * around the step with the activations recomputed in backward (`'recomputed'`: a smaller internal
   * state, one more matrix product per backward step). Same results either way.
   */
  readonly internalState?: InternalMode;
  /**
   * Defer forward steps until a value is needed and compute each pending range in one ONNX `Scan` run
   * (default true). False runs every forward step as it is called.
   */
  readonly fuseForward?: boolean;
  /**
   * Most forward steps in one fused run (default 16). Longer runs make fewer calls but allocate their
   * stacked outputs at once: on the CPU, the forward steps of one 1000-step run that kept every
   * internal state were about 2.8x slower than in runs of 16, and a run's outputs are working memory
   * outside the checkpoints. `Infinity`: no limit.
   */
  readonly fusedSteps?: number;
  /**
   * Backward steps whose weight gradients are computed together, as one matrix product over all their
   * rows (default 32). `1` computes them at every step; `Infinity` once per pass. The buffer this
   * needs (gate gradients and `h_{t-1}` of that many steps) is working memory outside the checkpoints.
   */
  readonly weightGradientSteps?: number;
  /** Sparsified backward (off by default; off is bit-identical to the dense path). */
  readonly sparsity?: SparsityOptions | undefined;
  /** ONNX Runtime intra-op threads (default: ONNX Runtime's, one per physical core). */
  readonly intraOpNumThreads?: number;
  /**
   * The pool the backend's sessions are created in and shared through (`createSessionPool()`; default:
   * the process-wide pool that `releaseCachedSessions()` releases). A trainable makes its own.
   */
  readonly sessions?: SessionPool;
  /**
   * CUDA only: allow TF32 matrix products (default false: full float32). With TF32, float32 results drift
   * by about 3e-4 relative (measured on an H200), for faster matrix products on Ampere and later GPUs.
   */
  readonly tf32?: boolean;
  /**
   * Compute the gradient at the inputs `x_1 .. x_T` (default true). False skips its matrix product (about
   * 8% of the arithmetic of a character model) and `readGradients()` returns no `inputs`: training needs
   * only the parameters' gradients.
   */
  readonly inputGradients?: boolean;
  /**
   * Let ONNX Runtime's intra-op threads spin while they wait for work (default false). Spinning threads
   * hold a core between runs, which the work between runs then lacks: on 2 cores MSM at 5% took 1.6x its
   * store-all's time with spinning and 1.13x without. Worth trying on many otherwise idle cores.
   */
  readonly intraOpSpinning?: boolean;
}

/** The options in effect. */
export interface ResolvedOnnxBackendOptions {
  readonly executionProvider: ExecutionProvider;
  readonly deviceId: number;
  readonly dtype: FloatType;
  readonly internalState: InternalMode;
  readonly fuseForward: boolean;
  readonly fusedSteps: number;
  readonly weightGradientSteps: number;
  readonly sparsity: SparsityOptions | undefined;
  /** Whether CUDA may use TF32 matrix products (always false on the CPU). */
  readonly tf32: boolean;
  /** Whether the gradient at the inputs is computed. */
  readonly inputGradients: boolean;
}

/** What a backend has done since its creation or the last `resetStats()`. */
export interface OnnxBackendStats {
  /** Forward steps the executor asked for. */
  readonly forwardCalls: number;
  /** Forward steps computed (with `fuseForward`, a step whose result nobody uses is never computed). */
  readonly forwardSteps: number;
  readonly backwardSteps: number;
  /** ONNX Runtime runs, all graphs together. */
  readonly runs: number;
  /** Runs of forward graphs (single steps and fused ranges). */
  readonly forwardRuns: number;
  readonly backwardRuns: number;
  /** Runs of the deferred weight-gradient graphs. */
  readonly weightGradientRuns: number;
  /** Milliseconds in forward runs, backward runs and weight-gradient runs (with their feeds and copies). */
  readonly forwardMs: number;
  readonly backwardMs: number;
  readonly weightGradientMs: number;
  /** Bytes of the deferred weight-gradient buffer (working memory, not counted as checkpoints). */
  readonly deferredBytes: number;
  /** Bytes fed into forward runs (parameters excluded). */
  readonly forwardBytesIn: number;
  /** Bytes of forward runs' outputs, copied out of ONNX Runtime. */
  readonly forwardBytesOut: number;
  /** Bytes fed into backward and weight-gradient runs (parameters excluded). */
  readonly backwardBytesIn: number;
  /** Bytes of backward and weight-gradient runs' outputs. */
  readonly backwardBytesOut: number;
  /**
   * Parameter bytes moved into ONNX Runtime. The parameter tensors are converted once per pass (at
   * `zeroGradients()`) and the same tensors are fed to every run: the CPU execution provider reads them in
   * place, so each counts once per pass there; CUDA copies every input of every run to the device, so there
   * every feed counts.
   */
  readonly parameterBytesIn: number;
  /** Bytes copied in JavaScript to stack checkpoints that did not lie side by side in one buffer. */
  readonly gatherBytes: number;
}

/** The ONNX Runtime backend: a `CellBackendV1` with diagnostics. */
export interface OnnxBackend extends CellBackendV1<OnnxHidden, OnnxInternal, OnnxGradient> {
  /** Internal-state bytes over hidden-state bytes, measured on the real tensors. */
  readonly alpha: number;
  /** The options in effect. */
  readonly options: ResolvedOnnxBackendOptions;
  /** Work done since creation or the last `resetStats()`. */
  stats(): OnnxBackendStats;
  resetStats(): void;
  /** Statistics of the sparsified backward since the last `zeroGradients()`; undefined when it is off. */
  sparsityStats(): SparsityStats | undefined;
  /**
   * Read the model's parameters again (they are converted at creation and at every `zeroGradients()`,
   * so that an optimiser may update the model's arrays between passes).
   */
  refreshParameters(): void;
  liveHandles(): number;
}

function resolve(options: OnnxBackendOptions): ResolvedOnnxBackendOptions {
  const ep = options.executionProvider ?? 'cpu';
  if (ep !== 'cpu' && ep !== 'cuda') {
    throw new OnnxBackendError('E_OPTIONS', `executionProvider must be 'cpu' or 'cuda', got ${String(ep)}`);
  }
  const deviceId = options.deviceId ?? 0;
  if (!Number.isSafeInteger(deviceId) || deviceId < 0) {
    throw new OnnxBackendError('E_OPTIONS', `deviceId must be a non-negative integer, got ${deviceId}`);
  }
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new OnnxBackendError('E_OPTIONS', `dtype must be 'float32' or 'float64', got ${String(dtype)}`);
  }
  const internalState = options.internalState ?? 'saved';
  if (internalState !== 'saved' && internalState !== 'recomputed') {
    throw new OnnxBackendError(
      'E_OPTIONS',
      `internalState must be 'saved' or 'recomputed', got ${String(internalState)}`,
    );
  }
  const steps = options.weightGradientSteps ?? 32;
  if (!(steps === Number.POSITIVE_INFINITY || (Number.isSafeInteger(steps) && steps >= 1))) {
    throw new OnnxBackendError(
      'E_OPTIONS',
      `weightGradientSteps must be a positive integer or Infinity, got ${steps}`,
    );
  }
  const fused = options.fusedSteps ?? 16;
  if (!(fused === Number.POSITIVE_INFINITY || (Number.isSafeInteger(fused) && fused >= 1))) {
    throw new OnnxBackendError(
      'E_OPTIONS',
      `fusedSteps must be a positive integer or Infinity, got ${fused}`,
    );
  }
  const threads = options.intraOpNumThreads;
  if (threads !== undefined && !(Number.isSafeInteger(threads) && threads >= 1)) {
    throw new OnnxBackendError('E_OPTIONS', `intraOpNumThreads must be a positive integer, got ${threads}`);
  }
  sparsitySettings(options.sparsity);
  const tf32 = options.tf32 ?? false;
  if (typeof tf32 !== 'boolean') {
    throw new OnnxBackendError('E_OPTIONS', `tf32 must be a boolean, got ${String(tf32)}`);
  }
  const inputGradients = options.inputGradients ?? true;
  if (typeof inputGradients !== 'boolean') {
    throw new OnnxBackendError(
      'E_OPTIONS',
      `inputGradients must be a boolean, got ${String(inputGradients)}`,
    );
  }
  return {
    tf32: ep === 'cuda' && tf32,
    inputGradients,
    executionProvider: ep,
    deviceId,
    dtype,
    internalState,
    fuseForward: options.fuseForward ?? true,
    fusedSteps: fused,
    weightGradientSteps: steps,
    sparsity: options.sparsity,
  };
}

/** Measure the checkpoint sizes on real tensors: one forward step from `h_0`, keeping its internal state. */
export async function measureStateBytes(program: StepProgram): Promise<StateBytes> {
  const h0 = program.initialState();
  const { states, internals } = await program.forwardPath(h0, 0, ['internal']);
  const s = states[0];
  const i = internals[0];
  if (s === undefined || i === undefined) throw new Error(`${program.name}: the probe step returned nothing`);
  return {
    hidden: tensorBytes(s),
    internal: tensorBytes(i.prev) + tensorBytes(i.next) + tensorBytes(i.extra),
  };
}

/** Wrap an engine and its program as the public backend object. */
export function backendObject(
  engine: Engine,
  program: StepProgram & {
    readonly counters: {
      runs: number;
      forwardRuns: number;
      backwardRuns: number;
      weightGradientRuns: number;
      forwardMs: number;
      backwardMs: number;
      weightGradientMs: number;
      forwardBytesIn?: number;
      forwardBytesOut?: number;
      backwardBytesIn?: number;
      backwardBytesOut?: number;
      parameterBytesIn?: number;
      gatherBytes?: number;
    };
  },
  extras: {
    readonly alpha: number;
    readonly options: ResolvedOnnxBackendOptions;
    readonly deferredBytes: () => number;
    readonly sparsityStats: () => SparsityStats | undefined;
    readonly refreshParameters: () => void;
  },
): OnnxBackend {
  return {
    specificationVersion: engine.specificationVersion,
    name: engine.name,
    steps: engine.steps,
    alpha: extras.alpha,
    options: extras.options,
    stateBytes: () => engine.stateBytes(),
    initialState: () => engine.initialState(),
    forward: (h, t, keep) => engine.forward(h, t, keep),
    hiddenOf: (s) => engine.hiddenOf(s),
    backward: (s, d, t) => engine.backward(s, d, t),
    dispose: (h) => engine.dispose(h),
    zeroGradients: () => engine.zeroGradients(),
    loss: () => engine.loss(),
    readGradients: (): Promise<GradientReadout> => engine.readGradients(),
    liveHandles: () => engine.liveHandles(),
    sparsityStats: extras.sparsityStats,
    refreshParameters: extras.refreshParameters,
    stats: () => {
      const e = engine.counters;
      const r = program.counters;
      return {
        forwardCalls: e.forwardCalls,
        forwardSteps: e.forwardSteps,
        backwardSteps: e.backwardSteps,
        runs: r.runs,
        forwardRuns: r.forwardRuns,
        backwardRuns: r.backwardRuns,
        weightGradientRuns: r.weightGradientRuns,
        forwardMs: r.forwardMs,
        backwardMs: r.backwardMs,
        weightGradientMs: r.weightGradientMs,
        deferredBytes: extras.deferredBytes(),
        forwardBytesIn: r.forwardBytesIn ?? 0,
        forwardBytesOut: r.forwardBytesOut ?? 0,
        backwardBytesIn: r.backwardBytesIn ?? 0,
        backwardBytesOut: r.backwardBytesOut ?? 0,
        parameterBytesIn: r.parameterBytesIn ?? 0,
        gatherBytes: r.gatherBytes ?? 0,
      };
    },
    resetStats: () => {
      const e = engine.counters;
      e.forwardCalls = 0;
      e.forwardSteps = 0;
      e.paths = 0;
      e.backwardSteps = 0;
      const r = program.counters;
      r.runs = 0;
      r.forwardRuns = 0;
      r.backwardRuns = 0;
      r.weightGradientRuns = 0;
      r.forwardMs = 0;
      r.backwardMs = 0;
      r.weightGradientMs = 0;
      for (const key of [
        'forwardBytesIn',
        'forwardBytesOut',
        'backwardBytesIn',
        'backwardBytesOut',
        'parameterBytesIn',
        'gatherBytes',
      ] as const) {
        if (r[key] !== undefined) r[key] = 0;
      }
    },
  };
}

/**
 * Create the ONNX Runtime backend of a built-in cell for one model and batch.
 *
 * The model has the shape of `@rewind/executor`'s `ReferenceModel` (same cells, gate layout, loss heads
 * and parameter names) and the batch that of its `ReferenceBatch`, so results compare with the reference
 * backend. Sessions are created once per cell configuration in `options.sessions` (default: the
 * process-wide pool) and shared by every backend that uses that pool.
 *
 * @throws OnnxBackendError `E_OPTIONS`, `E_CUDA_UNAVAILABLE` (CUDA asked for and not loadable), `E_SESSION`;
 * `ExecutorError` `E_MODEL` or `E_BATCH` for a model or batch that breaks the model contract.
 */
export async function createOnnxBackend(
  model: CellModel,
  batch: SequenceBatch,
  options: OnnxBackendOptions = {},
): Promise<OnnxBackend> {
  const { program, resolved } = await prepareBuiltin(model, batch, options, Number.POSITIVE_INFINITY);
  const stateBytes = await measureStateBytes(program);
  const engine = new Engine(program, { lazy: resolved.fuseForward, stateBytes });
  const backend = backendObject(engine, program, {
    alpha: stateBytes.internal / stateBytes.hidden,
    options: resolved,
    deferredBytes: () => program.deferredBytes(),
    sparsityStats: () => (resolved.sparsity === undefined ? undefined : program.sparsityCounter.stats()),
    refreshParameters: () => program.refreshParameters(),
  });
  backend.resetStats();
  return backend;
}

/** Check the model, batch and options, and build the program of a built-in cell (its sessions created). */
export async function prepareBuiltin(
  model: CellModel,
  batch: SequenceBatch,
  options: OnnxBackendOptions,
  rangeRows: number,
  allowIds = false,
): Promise<{ program: BuiltinProgram; resolved: ResolvedOnnxBackendOptions }> {
  const resolved = resolve(options);
  const { cell, inputSize: I, hiddenSize: H, head } = model.config;
  checkModel(model);
  const carried = hasCellState(cell) ? 2 : 1;
  checkBatch(batch, I, head, carried * H, allowIds);
  if (options.intraOpSpinning !== undefined && typeof options.intraOpSpinning !== 'boolean') {
    throw new OnnxBackendError(
      'E_OPTIONS',
      `intraOpSpinning must be a boolean, got ${String(options.intraOpSpinning)}`,
    );
  }
  const base: SessionSettings = {
    executionProvider: resolved.executionProvider,
    deviceId: resolved.deviceId,
    tf32: resolved.tf32,
    spinning: options.intraOpSpinning === true,
  };
  const session: SessionSettings =
    options.intraOpNumThreads === undefined
      ? base
      : { ...base, intraOpNumThreads: options.intraOpNumThreads };
  // The RNN's internal state is the same either way: nothing to recompute.
  const mode: InternalMode = cell === 'rnn' ? 'saved' : resolved.internalState;
  const arrays = batchArrays(batch, head, resolved.dtype, carried, H);
  const name = `onnxruntime-${resolved.executionProvider}/${cell}`;
  const program = new BuiltinProgram(name, model, batch, arrays, {
    graph: { cell, inputSize: I, hiddenSize: H, dtype: resolved.dtype },
    head,
    mode,
    chunkSteps: resolved.weightGradientSteps,
    fusedSteps: resolved.fusedSteps,
    rangeRows,
    inputGradients: resolved.inputGradients,
    sparsity: sparsitySettings(resolved.sparsity),
    session,
    ...(options.sessions === undefined ? {} : { pool: options.sessions }),
  });
  await program.warmUp();
  return { program, resolved: { ...resolved, internalState: mode } };
}
