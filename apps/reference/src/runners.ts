/**
 * Training runners: one per execution backend, behind one small interface, so that `train`, `bench` and
 * `demo` drive every backend the same way. Backends are imported lazily: planning commands never load them.
 */
import type { SequenceBatch, TrainableV1 } from '@rewind/executor';
import type { Policy, StateBytes } from '@rewind/policy';

/** The backends the command line can train on. */
export const BACKENDS = ['tfjs-wasm', 'tfjs-cpu', 'tfjs-webgpu', 'ort-cpu', 'ort-cuda'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** The recurrent cells. */
export const CELLS = ['lstm', 'gru', 'rnn'] as const;
export type CellName = (typeof CELLS)[number];

/** The model and data of a run. */
export interface ModelSpec {
  readonly backend: BackendName;
  readonly cell: CellName;
  readonly hidden: number;
  readonly batch: number;
  readonly steps: number;
  readonly seed: number;
  readonly learningRate: number;
  readonly clipNorm: number;
  /** Target sparsity of the gate gradients in backward (dynamic threshold), or undefined for dense. */
  readonly sparsity?: number;
  /** Threads of the CPU backends (tfjs' wasm pool, ONNX Runtime's intra-op threads); default: theirs. */
  readonly threads?: number;
}

/** What one training step did. */
export interface StepOutcome {
  readonly loss: number;
  readonly seconds: number;
  /** The part of `seconds` spent binding the batch (a backend for a new batch). */
  readonly bindSeconds: number;
  readonly tokensPerSecond: number;
  readonly peakBytes: number;
  readonly forwards: number;
  readonly recomputes: number;
  readonly backwards: number;
  /** Milliseconds inside the backend's forward, backward and other calls, and in the executor itself. */
  readonly cellMs: number;
  readonly overheadMs: number;
  readonly sparsity?: { readonly achieved: number; readonly skippableShare: number };
  /** What the backend moved in this step, where it counts it (ONNX Runtime). */
  readonly transfers?: StepTransfers;
  /** The kernels dispatched and the read-backs made in this step, where the backend counts them (tfjs). */
  readonly dispatches?: StepDispatches;
  /**
   * Minor page faults of the process during the step (binding included): memory the step touched for the
   * first time, e.g. fresh buffers for its checkpoints.
   */
  readonly minorPageFaults: number;
}

/** Kernel dispatches and read-backs of one training step (tfjs backends; deterministic counts). */
export interface StepDispatches {
  /** Kernels per forward step computed (recomputations included) and per backward step. */
  readonly perForwardStep: number;
  readonly perBackwardStep: number;
  /** Every kernel of the step (forward, backward, loss, gradients, optimizer). */
  readonly perIteration: number;
  /** Read-backs to JavaScript in the step (the loss and the gradient norm). */
  readonly readbacks: number;
}

/** Runs and bytes moved into and out of the runtime in one training step (ONNX Runtime backends). */
export interface StepTransfers {
  readonly runs: number;
  /** Bytes fed into runs and copied out of them, parameters excluded. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Parameter bytes moved in (at most one copy of the parameters per step on the CPU). */
  readonly parameterBytesIn: number;
  /** Bytes in and out per forward step computed (recomputations included) and per backward step. */
  readonly bytesPerForwardStep: number;
  readonly bytesPerBackwardStep: number;
}

/** A model on a backend with its data, trained under policies chosen per call. */
export interface Runner {
  readonly description: string;
  /** Bytes of one hidden and one internal checkpoint for this model and batch size. */
  readonly stateBytes: StateBytes;
  /** Distinct characters of the text. */
  readonly vocabulary: number;
  /** Memory the backend can hold at most (the wasm heap's 4 GiB), when there is such a limit. */
  readonly memoryLimitBytes?: number;
  /** Whether CUDA may use TF32 matrix products (ONNX Runtime backends). */
  readonly tf32?: boolean;
  /** One training step on a fresh random batch (or on the batch of the previous call with `sameBatch`). */
  step(
    policy: Policy,
    options?: { sameBatch?: boolean; onProgress?: (done: number, total: number) => void },
  ): Promise<StepOutcome>;
  dispose(): Promise<void>;
}

/** A typed failure of a backend that the command line reports without a stack trace. */
export class RunnerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message);
    this.name = 'RunnerError';
    this.code = code;
  }
}

/** What a runner drives: a trainable model on a backend, the text's batches, and what it owns. */
interface RunnerParts {
  readonly description: string;
  readonly trainable: TrainableV1<SequenceBatch>;
  readonly memoryLimitBytes?: number;
  /** Whether CUDA may use TF32 matrix products (ONNX Runtime; absent elsewhere). */
  readonly tf32?: boolean;
  /** The transfers of the last bound backend since its last bind, where the backend counts them. */
  transfers?(): StepTransfers | undefined;
  /** Run one training step counting its kernels and read-backs, where the backend can (tfjs). */
  counted?<T>(step: () => Promise<T>): Promise<{ readonly result: T; readonly dispatches: StepDispatches }>;
  dispose(): Promise<void>;
}

/**
 * The one runner over any backend: `@rewind/executor`'s training loop (`createTrainer`) with one optimizer
 * for the whole run, whatever policy each step uses, on batches of the character dataset.
 */
async function runnerOver(
  spec: ModelSpec,
  text: string,
  make: (V: number) => Promise<RunnerParts>,
): Promise<Runner> {
  const [executor, data] = await Promise.all([import('@rewind/executor'), import('@rewind/executor/data')]);
  const dataset = data.createCharDataset(text, { batchSize: spec.batch, steps: spec.steps, seed: spec.seed });
  const V = dataset.vocabulary.size;
  const parts = await make(V);
  let report: ((done: number, total: number) => void) | undefined;
  let trainer: ReturnType<typeof executor.createTrainer> | undefined;
  let batch = dataset.sample();
  let used = false;
  return {
    description: parts.description,
    stateBytes: parts.trainable.stateBytes(spec.batch),
    vocabulary: V,
    ...(parts.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: parts.memoryLimitBytes }),
    ...(parts.tf32 === undefined ? {} : { tf32: parts.tf32 }),
    async step(policy, options = {}) {
      trainer ??= executor.createTrainer(parts.trainable, {
        policy,
        optimizer: { kind: 'adam', learningRate: spec.learningRate },
        ...(spec.clipNorm > 0 ? { clipNorm: spec.clipNorm } : {}),
        run: { onProgress: (e) => report?.(e.done, e.total) },
      });
      if (used && options.sameBatch !== true) batch = dataset.sample();
      used = true;
      report = options.onProgress;
      try {
        const run = () => (trainer as NonNullable<typeof trainer>).step(batch, { policy });
        const faults = process.resourceUsage().minorPageFault;
        const counted = parts.counted === undefined ? undefined : await parts.counted(run);
        const r = counted === undefined ? await run() : counted.result;
        const minorPageFaults = process.resourceUsage().minorPageFault - faults;
        const t = r.timings;
        const cellMs = t.forward + t.recompute + t.backward;
        const transfers = parts.transfers?.();
        return {
          ...(transfers === undefined ? {} : { transfers }),
          ...(counted === undefined ? {} : { dispatches: counted.dispatches }),
          minorPageFaults,
          loss: r.loss,
          seconds: r.seconds,
          bindSeconds: r.bindSeconds,
          tokensPerSecond: r.tokensPerSecond,
          peakBytes: r.peakBytes,
          forwards: r.forwards,
          recomputes: r.recomputes,
          backwards: r.backwards,
          cellMs,
          overheadMs: t.total - cellMs,
          ...(r.sparsity === undefined
            ? {}
            : { sparsity: { achieved: r.sparsity.sparsity, skippableShare: r.sparsity.skippableShare } }),
        };
      } finally {
        report = undefined;
      }
    },
    async dispose() {
      trainer?.dispose();
      await parts.dispose();
    },
  };
}

async function tfjsParts(spec: ModelSpec, V: number): Promise<RunnerParts> {
  const tfjs = await import('@rewind/backend-tfjs');
  const backend = spec.backend === 'tfjs-cpu' ? 'cpu' : spec.backend === 'tfjs-webgpu' ? 'webgpu' : 'wasm';
  let engine: Awaited<ReturnType<typeof tfjs.createTfjsEngine>>;
  try {
    engine = await tfjs.createTfjsEngine({
      backend,
      ...(spec.threads === undefined ? {} : { threads: spec.threads }),
    });
  } catch (e) {
    if (tfjs.isTfjsBackendError(e)) throw new RunnerError(e.code, e.message);
    throw e;
  }
  const model = tfjs.createRecurrentModel(engine, {
    cell: spec.cell,
    inputSize: V,
    hiddenSize: spec.hidden,
    head: { kind: 'softmax', classes: V },
    seed: spec.seed,
  });
  const inner = tfjs.createTfjsTrainable(
    model,
    spec.sparsity === undefined ? {} : { sparsity: { targetSparsity: spec.sparsity } },
  );
  // The backend's counts of a step, taken when the trainer releases the backend (which resets them).
  let last: import('@rewind/backend-tfjs').StepDispatchCounts | undefined;
  const trainable: TrainableV1<SequenceBatch> = {
    ...inner,
    release(backend) {
      last = (backend as unknown as import('@rewind/backend-tfjs').TfjsBatchBackend).dispatchCounts();
      return inner.release(backend);
    },
  };
  return {
    description: `${spec.cell.toUpperCase()} H=${spec.hidden} on tfjs ${engine.description}`,
    trainable,
    async counted(step) {
      const counter = new tfjs.KernelCounter().start();
      let result: Awaited<ReturnType<typeof step>>;
      try {
        result = await step();
      } finally {
        counter.stop();
      }
      const all = counter.counts();
      const d = last;
      last = undefined;
      const per = (n: number, steps: number): number => (steps > 0 ? n / steps : 0);
      return {
        result,
        dispatches: {
          perForwardStep: d === undefined ? 0 : per(d.forward.dispatches, d.forward.steps),
          perBackwardStep: d === undefined ? 0 : per(d.backward.dispatches, d.backward.steps),
          perIteration: all.dispatches,
          readbacks: all.readbacks,
        },
      };
    },
    ...(backend === 'wasm' ? { memoryLimitBytes: 4 * 2 ** 30 } : {}),
    async dispose() {
      model.dispose();
      await engine.dispose();
    },
  };
}

async function ortParts(spec: ModelSpec, V: number): Promise<RunnerParts> {
  const [ort, ref] = await Promise.all([
    import('@rewind/backend-onnxruntime'),
    import('@rewind/executor/reference'),
  ]);
  const model = ref.createReferenceModel({
    cell: spec.cell,
    inputSize: V,
    hiddenSize: spec.hidden,
    head: { kind: 'softmax', classes: V },
    seed: spec.seed,
  });
  const executionProvider = spec.backend === 'ort-cuda' ? ('cuda' as const) : ('cpu' as const);
  const trainable = ort.createOnnxTrainable(model, {
    executionProvider,
    ...(spec.sparsity === undefined ? {} : { sparsity: { targetSparsity: spec.sparsity } }),
    ...(spec.threads === undefined ? {} : { intraOpNumThreads: spec.threads }),
  });
  let bound:
    | { stats(): import('@rewind/backend-onnxruntime').OnnxBackendStats; resetStats(): void }
    | undefined;
  return {
    description: `${spec.cell.toUpperCase()} H=${spec.hidden} on onnxruntime ${executionProvider}`,
    tf32: false,
    transfers() {
      if (bound === undefined) return undefined;
      const s = bound.stats();
      return {
        runs: s.runs,
        bytesIn: s.forwardBytesIn + s.backwardBytesIn,
        bytesOut: s.forwardBytesOut + s.backwardBytesOut,
        parameterBytesIn: s.parameterBytesIn,
        bytesPerForwardStep: s.forwardSteps > 0 ? (s.forwardBytesIn + s.forwardBytesOut) / s.forwardSteps : 0,
        bytesPerBackwardStep:
          s.backwardSteps > 0 ? (s.backwardBytesIn + s.backwardBytesOut) / s.backwardSteps : 0,
      };
    },
    trainable: {
      ...trainable,
      // Backend creation errors (CUDA unavailable, sessions) are typed: report them as runner errors.
      async bind(batch) {
        try {
          const backend = await trainable.bind(batch);
          bound = backend as unknown as typeof bound;
          bound?.resetStats();
          return backend;
        } catch (e) {
          if (ort.isOnnxBackendError(e)) throw new RunnerError(e.code, e.message);
          throw e;
        }
      },
    },
    dispose: () => trainable.dispose(),
  };
}

/**
 * Refuse, before any computation, a policy whose checkpoints cannot fit in the backend's memory (with room
 * for the weights and working tensors).
 */
export function checkFits(runner: Runner, policy: Policy): void {
  const limit = runner.memoryLimitBytes;
  const peak = policy.totals.peakBytes;
  if (limit === undefined || peak === undefined || peak <= 0.85 * limit) return;
  const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;
  throw new RunnerError(
    'E_MEMORY_LIMIT',
    `the ${policy.strategy} schedule holds ${gib(peak)} of checkpoints, more than ${runner.description} can hold ` +
      `(${gib(limit)} in all, about ${gib(0.85 * limit)} for checkpoints); give a smaller --memory, e.g. 5%`,
  );
}

/** Build the runner of a backend. */
export async function createRunner(spec: ModelSpec, text: string): Promise<Runner> {
  switch (spec.backend) {
    case 'tfjs-wasm':
    case 'tfjs-cpu':
    case 'tfjs-webgpu':
      return runnerOver(spec, text, (V) => tfjsParts(spec, V));
    case 'ort-cpu':
    case 'ort-cuda':
      return runnerOver(spec, text, (V) => ortParts(spec, V));
  }
}
