/**
 * Training runners: one per execution backend, behind one small interface, so that `train`, `bench` and
 * `demo` drive every backend the same way. Backends are imported lazily: planning commands never load them.
 */
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
}

/** What one training step did. */
export interface StepOutcome {
  readonly loss: number;
  readonly seconds: number;
  readonly tokensPerSecond: number;
  readonly peakBytes: number;
  readonly forwards: number;
  readonly recomputes: number;
  readonly backwards: number;
  /** Milliseconds inside the backend's forward, backward and other calls, and in the executor itself. */
  readonly cellMs: number;
  readonly overheadMs: number;
  readonly sparsity?: { readonly achieved: number; readonly skippableShare: number };
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

async function tfjsRunner(spec: ModelSpec, text: string): Promise<Runner> {
  const tfjs = await import('@rewind/backend-tfjs');
  const backend = spec.backend === 'tfjs-cpu' ? 'cpu' : spec.backend === 'tfjs-webgpu' ? 'webgpu' : 'wasm';
  let engine: Awaited<ReturnType<typeof tfjs.createTfjsEngine>>;
  try {
    engine = await tfjs.createTfjsEngine({ backend });
  } catch (e) {
    if (tfjs.isTfjsBackendError(e)) throw new RunnerError(e.code, e.message);
    throw e;
  }
  const data = tfjs.createCharDataset(text, { batchSize: spec.batch, steps: spec.steps, seed: spec.seed });
  const V = data.vocabulary.size;
  const model = tfjs.createRecurrentModel(engine, {
    cell: spec.cell,
    inputSize: V,
    hiddenSize: spec.hidden,
    head: { kind: 'softmax', classes: V },
    seed: spec.seed,
  });
  const optimizer = tfjs.adam({ learningRate: spec.learningRate });
  const trainers = new Map<Policy, ReturnType<typeof tfjs.createTrainer>>();
  let batch = data.sample();
  let used = false;
  let report: ((done: number, total: number) => void) | undefined;
  return {
    description: `${spec.cell.toUpperCase()} H=${spec.hidden} on tfjs ${engine.description}`,
    stateBytes: model.stateBytes(spec.batch),
    vocabulary: V,
    ...(backend === 'wasm' ? { memoryLimitBytes: 4 * 2 ** 30 } : {}),
    async step(policy, options = {}) {
      let trainer = trainers.get(policy);
      if (trainer === undefined) {
        trainer = tfjs.createTrainer(model, {
          policy,
          optimizer,
          clipNorm: spec.clipNorm,
          run: { onProgress: (e) => report?.(e.done, e.total) },
          ...(spec.sparsity === undefined
            ? {}
            : { backend: { sparsity: { targetSparsity: spec.sparsity } } }),
        });
        trainers.set(policy, trainer);
      }
      if (used && options.sameBatch !== true) batch = data.sample();
      used = true;
      report = options.onProgress;
      const r = await trainer.step(batch);
      report = undefined;
      const t = r.timings;
      const cellMs = t.forward + t.recompute + t.backward;
      return {
        loss: r.loss,
        seconds: r.seconds,
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
    },
    async dispose() {
      for (const trainer of trainers.values()) trainer.dispose();
      model.dispose();
      await engine.dispose();
    },
  };
}

/** Adam with global-norm clipping over plain parameter arrays (for backends that hold no optimiser). */
export function createAdam(
  params: Readonly<Record<string, Float64Array>>,
  learningRate: number,
  clipNorm: number,
) {
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const m = new Map(Object.entries(params).map(([k, v]) => [k, new Float64Array(v.length)]));
  const v = new Map(Object.entries(params).map(([k, p]) => [k, new Float64Array(p.length)]));
  let t = 0;
  return {
    /** Apply one update; returns the gradients' global norm before clipping. */
    step(grads: Readonly<Record<string, ArrayLike<number>>>): number {
      let sq = 0;
      for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
      const norm = Math.sqrt(sq);
      const scale = clipNorm > 0 && norm > clipNorm ? clipNorm / norm : 1;
      t++;
      const c1 = 1 - beta1 ** t;
      const c2 = 1 - beta2 ** t;
      for (const [name, p] of Object.entries(params)) {
        const g = grads[name];
        if (g === undefined) continue;
        const mm = m.get(name)!;
        const vv = v.get(name)!;
        for (let i = 0; i < p.length; i++) {
          const gi = g[i]! * scale;
          mm[i] = beta1 * mm[i]! + (1 - beta1) * gi;
          vv[i] = beta2 * vv[i]! + (1 - beta2) * gi * gi;
          p[i] = p[i]! - (learningRate * (mm[i]! / c1)) / (Math.sqrt(vv[i]! / c2) + eps);
        }
      }
      return norm;
    },
  };
}

async function ortRunner(spec: ModelSpec, text: string): Promise<Runner> {
  const [ort, ref, executor, tfjs] = await Promise.all([
    import('@rewind/backend-onnxruntime'),
    import('@rewind/executor/reference'),
    import('@rewind/executor'),
    import('@rewind/backend-tfjs'),
  ]);
  // The character dataset is pure (token ids); its batches have the executor's layout, `(t-1) * B + r`.
  const data = tfjs.createCharDataset(text, { batchSize: spec.batch, steps: spec.steps, seed: spec.seed });
  const V = data.vocabulary.size;
  const model = ref.createReferenceModel({
    cell: spec.cell,
    inputSize: V,
    hiddenSize: spec.hidden,
    head: { kind: 'softmax', classes: V },
    seed: spec.seed,
  });
  const toBatch = (b: { inputs: Int32Array; targets: Int32Array }) => ({
    steps: spec.steps,
    batchSize: spec.batch,
    inputs: ref.oneHot(b.inputs, V),
    targets: b.targets,
  });
  const options = {
    executionProvider: spec.backend === 'ort-cuda' ? ('cuda' as const) : ('cpu' as const),
    ...(spec.sparsity === undefined ? {} : { sparsity: { targetSparsity: spec.sparsity } }),
  };
  const make = async (b: ReturnType<typeof toBatch>) => {
    try {
      return await ort.createOnnxBackend(model, b, options);
    } catch (e) {
      if (ort.isOrtBackendError(e)) throw new RunnerError(e.code, e.message);
      throw e;
    }
  };
  let batch = toBatch(data.sample());
  let backend = await make(batch);
  let used = false;
  const adam = createAdam(model.params, spec.learningRate, spec.clipNorm);
  return {
    description: `${spec.cell.toUpperCase()} H=${spec.hidden} on onnxruntime ${options.executionProvider}`,
    stateBytes: backend.stateBytes(),
    vocabulary: V,
    async step(policy, opts = {}) {
      if (used && opts.sameBatch !== true) {
        batch = toBatch(data.sample());
        backend = await make(batch);
      }
      used = true;
      const started = performance.now();
      const r = await executor.runPolicy(backend, policy, {
        ...(opts.onProgress === undefined ? {} : { onProgress: (e) => opts.onProgress?.(e.done, e.total) }),
      });
      const grads = await backend.readGradients();
      const sparsity = backend.sparsityStats();
      adam.step(grads.parameters);
      const seconds = (performance.now() - started) / 1000;
      const t = r.timings;
      const cellMs = t.forward + t.recompute + t.backward;
      return {
        loss: r.loss,
        seconds,
        tokensPerSecond: (spec.batch * spec.steps) / seconds,
        peakBytes: r.peakBytes,
        forwards: r.forwards,
        recomputes: r.recomputes,
        backwards: r.backwards,
        cellMs,
        overheadMs: t.total - cellMs,
        ...(sparsity === undefined
          ? {}
          : { sparsity: { achieved: sparsity.sparsity, skippableShare: sparsity.skippableShare } }),
      };
    },
    async dispose() {
      ort.releaseCachedSessions();
    },
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
      return tfjsRunner(spec, text);
    case 'ort-cpu':
    case 'ort-cuda':
      return ortRunner(spec, text);
  }
}
