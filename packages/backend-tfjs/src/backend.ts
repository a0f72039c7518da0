import {
  type CellBackendV1,
  checkBatch,
  type ForwardResultV1,
  type GradientReadout,
  HandleBook,
  headWidth,
  type SequenceBatch,
} from '@rewind/executor';
import type { StateBytes } from '@rewind/policy';
import * as tf from '@tensorflow/tfjs-core';
import { GradientAccumulator, type LinearContribution } from './accumulate.js';
import { TfjsBackendError } from './errors.js';
import { type HeadTargets, headStep } from './head.js';
import { modelInternals, type TfjsModel } from './model.js';
import type { StateTensors } from './program.js';
import { Sparsifier, type SparsityOptions, type SparsityStats, sparsitySettings } from './sparsity.js';
import { share, tidy } from './util.js';

/**
 * One batch of `B` sequences of `T` steps: the model contract's `SequenceBatch` (dense inputs, or token ids
 * with `inputKind: 'ids'`, one-hot encoded on the device).
 */
export type TfjsBatch = SequenceBatch;

/** Options of `createCellBackend`. */
export interface CellBackendOptions {
  /** Compute the gradient at the inputs `x_1 .. x_T` (default false; it costs one product per step). */
  readonly inputGradients?: boolean;
  /** Sparsified backward for the built-in cells (default off). */
  readonly sparsity?: SparsityOptions;
  /**
   * Backward steps per weight-gradient product. 1 multiplies and accumulates at every step; `k > 1`
   * buffers `k` steps' gate gradients and layer inputs (shared, not copied) and makes one product over
   * `k` batches, saving the per-step additions into the accumulators; `Infinity` makes one product per
   * parameter at the end of the pass (working memory that grows with `T`). Default 8: about 10% faster
   * backward steps than 1 on wasm (see the README), for `8 B (gates H + 2 H + O)` buffered floats.
   */
  readonly weightGradientChunk?: number;
  /** A name for messages (default `'tfjs-<backend>/<cell>'`). */
  readonly name?: string;
}

/** A hidden-state handle: the tensors `[h]` (or `[h, c]`), each `[B, H]`. */
export interface TfjsHidden {
  readonly kind: 'hidden';
  /** The state's tensors; lent, never to be disposed by the caller. */
  readonly tensors: StateTensors;
}

/** An internal-state handle: everything backward step `step` needs, and `h_step` without computation. */
export interface TfjsInternal {
  readonly kind: 'internal';
  /** The step `t` that produced it. */
  readonly step: number;
}

/** A gradient handle: the gradient at a hidden state (`[dh]` or `[dh, dc]`). */
export interface TfjsGradient {
  readonly kind: 'gradient';
  /** The gradient's tensors; lent, never to be disposed by the caller. */
  readonly tensors: StateTensors;
}

/** A `rewind-backend-v1` backend over one model and one batch, on tfjs. */
export interface TfjsCellBackend extends CellBackendV1<TfjsHidden, TfjsInternal, TfjsGradient> {
  /** The model whose parameters the steps read. */
  readonly model: TfjsModel;
  /** `B`. */
  readonly batchSize: number;
  /** A fresh handle holding `h_0` (synchronous). */
  initialState(): TfjsHidden;
  /** Forward step `t` (synchronous). */
  forward(hPrev: TfjsHidden, t: number, keepInternal: boolean): ForwardResultV1<TfjsHidden, TfjsInternal>;
  /** Backward step `t` (synchronous). */
  backward(internal: TfjsInternal, dh: TfjsGradient | null, t: number): TfjsGradient;
  /** Reset the gradients, the loss and the sparsity statistics (synchronous). */
  zeroGradients(): void;
  /** Handles handed out and not yet disposed. */
  liveHandles(): number;
  /**
   * The accumulated parameter gradients as tensors (after flushing buffered products): lent, valid until
   * the next backward step, `zeroGradients()` or `release()`. Parameters without gradient get zeros.
   */
  gradientTensors(): Readonly<Record<string, tf.Tensor>>;
  /** What the sparsified backward achieved since the last `zeroGradients()`; undefined when it is off. */
  sparsityStats(): Promise<SparsityStats | undefined>;
  /** The loss accumulated since the last `zeroGradients()` (an asynchronous read-back). */
  loss(): Promise<number>;
  /** A snapshot of the gradients (asynchronous read-backs). */
  readGradients(): Promise<GradientReadout>;
  /** Release the batch's tensors and the accumulators. Live handles stay valid until disposed. */
  release(): void;
}

interface HiddenHandle extends TfjsHidden {
  readonly tensors: tf.Tensor2D[];
}

interface InternalHandle extends TfjsInternal {
  readonly prev: tf.Tensor2D[];
  readonly saved: tf.Tensor[];
  readonly next: tf.Tensor2D[];
  readonly view: HiddenHandle;
}

interface GradientHandle extends TfjsGradient {
  readonly tensors: tf.Tensor2D[];
}

function slice32(values: ArrayLike<number>, start: number, length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = values[start + i] as number;
  return out;
}

/** Ids already checked by `checkBatch`. */
function ids32(values: ArrayLike<number>, start: number, length: number): Int32Array {
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) out[i] = values[start + i] as number;
  return out;
}

/**
 * Create the `rewind-backend-v1` backend of one model and one batch: forward steps on tfjs tensors,
 * hand-written backward steps (autodiff for custom cells), the loss and every gradient accumulated on
 * the device. Handles and step order are checked by `@rewind/executor`'s `HandleBook`: misuse throws
 * `E_HANDLE`, steps out of range or order `E_STEP`; a batch that does not fit the model throws the
 * executor's `E_BATCH`. Release the batch's tensors with `release()` when done.
 */
export function createCellBackend(
  model: TfjsModel,
  batch: TfjsBatch,
  options: CellBackendOptions = {},
): TfjsCellBackend {
  if (model.disposed) throw new TfjsBackendError('E_DISPOSED', `model ${model.name} was disposed`);
  const engine = model.engine;
  engine.assertActive();
  const core = modelInternals(model);
  const program = core.program;
  const I = model.inputSize;
  const H = model.hiddenSize;
  const O = headWidth(model.head);
  const parts = model.stateParts;
  checkBatch({ inputSize: I, head: model.head, stateWidth: parts * H }, batch);
  const T = batch.steps;
  const B = batch.batchSize;
  const inputKind = batch.inputKind ?? 'dense';
  const lossSteps = batch.lossSteps ?? 'all';
  const settings = sparsitySettings(options.sparsity);
  if (settings !== undefined && core.gates === 0) {
    throw new TfjsBackendError(
      'E_CONFIG',
      `the sparsified backward applies to the built-in cells, not to ${model.name}`,
    );
  }
  const chunk = options.weightGradientChunk ?? 8;
  if (!(chunk === Number.POSITIVE_INFINITY || (Number.isSafeInteger(chunk) && chunk >= 1))) {
    throw new TfjsBackendError(
      'E_CONFIG',
      `weightGradientChunk must be a positive integer or Infinity, got ${chunk}`,
    );
  }
  const inputGradients = options.inputGradients === true;
  const name = options.name ?? `tfjs-${engine.backend}/${model.name}`;
  const stateBytes: StateBytes = model.stateBytes(B);
  const weight = 1 / (B * (lossSteps === 'last' ? 1 : T));
  const hasLoss = (t: number): boolean => lossSteps === 'all' || t === T;

  // The batch, on the device.
  const xs: tf.Tensor2D[] = [];
  const targets: (HeadTargets | undefined)[] = [];
  let initial: tf.Tensor2D[];
  try {
    for (let t = 1; t <= T; t++) {
      if (inputKind === 'dense') {
        xs.push(tf.tensor2d(slice32(batch.inputs, (t - 1) * B * I, B * I), [B, I], 'float32'));
      } else {
        const ids = ids32(batch.inputs, (t - 1) * B, B);
        const onehot = new Float32Array(B * I);
        ids.forEach((id, r) => {
          onehot[r * I + id] = 1;
        });
        xs.push(tf.tensor2d(onehot, [B, I], 'float32'));
      }
      if (!hasLoss(t)) {
        targets.push(undefined);
      } else if (model.head.kind === 'softmax') {
        targets.push(tf.tensor1d(ids32(batch.targets, (t - 1) * B, B), 'int32'));
      } else {
        targets.push(tf.tensor2d(slice32(batch.targets, (t - 1) * B * O, B * O), [B, O], 'float32'));
      }
    }
    const init = batch.initialState;
    initial = Array.from({ length: parts }, (_, k) =>
      init === undefined
        ? (tf.zeros([B, H], 'float32') as tf.Tensor2D)
        : tf.tensor2d(slice32(init, k * B * H, B * H), [B, H], 'float32'),
    );
  } catch (error) {
    for (const x of xs) x.dispose();
    for (const y of targets) y?.dispose();
    throw error;
  }

  const book = new HandleBook({
    name,
    steps: T,
    error: (code, message) => new TfjsBackendError(code, message),
  });
  let released = false;
  const accumulator = new GradientAccumulator(chunk);
  const sparsifier =
    settings === undefined
      ? undefined
      : new Sparsifier(settings, { batchSize: B, inputSize: I, hiddenSize: H, outputs: O });
  let lossSum: tf.Scalar | undefined;
  let dInputs: (tf.Tensor2D | undefined)[] = [];
  let dInitial: tf.Tensor2D[] | undefined;

  const ready = (): void => {
    if (released) throw new TfjsBackendError('E_DISPOSED', `${name} was released`);
    if (model.disposed) throw new TfjsBackendError('E_DISPOSED', `model ${model.name} was disposed`);
    engine.assertActive();
  };
  const hidden = (tensors: tf.Tensor2D[], step: number): HiddenHandle =>
    book.hidden({ kind: 'hidden', tensors }, step);
  const resetGradients = (): void => {
    accumulator.reset();
    sparsifier?.reset();
    lossSum?.dispose();
    lossSum = undefined;
    for (const d of dInputs) d?.dispose();
    dInputs = [];
    for (const d of dInitial ?? []) d.dispose();
    dInitial = undefined;
    book.resetOrder();
  };
  const shapes = (): Record<string, number[]> => {
    const out: Record<string, number[]> = {};
    for (const [pname, p] of Object.entries(model.parameters)) out[pname] = p.shape;
    return out;
  };

  const backend: TfjsCellBackend = {
    specificationVersion: 'rewind-backend-v1',
    name,
    steps: T,
    model,
    batchSize: B,
    stateBytes: () => ({ ...stateBytes }),
    initialState() {
      ready();
      return hidden(
        initial.map((t) => share(t)),
        0,
      );
    },
    forward(hPrev, t, keepInternal) {
      const prev = book.forward<HiddenHandle>(hPrev, t);
      ready();
      const x = xs[t - 1] as tf.Tensor2D;
      const params = model.parameters;
      const derived = core.derived();
      const out = tidy(() => program.forward(x, prev.tensors, keepInternal, params, derived, core.constants));
      if (!keepInternal) {
        for (const s of out.saved ?? []) s.dispose();
        return { h: hidden(out.next, t) };
      }
      const view: HiddenHandle = { kind: 'hidden', tensors: out.next };
      const internal: InternalHandle = {
        kind: 'internal',
        step: t,
        prev: prev.tensors.map((p) => share(p)),
        saved: out.saved ?? [],
        next: out.next,
        view,
      };
      return {
        h: hidden(
          out.next.map((n) => share(n)),
          t,
        ),
        internal: book.internal(internal, t, view),
      };
    },
    hiddenOf(internal) {
      return book.use<InternalHandle>(internal, 'internal', 'hiddenOf').view;
    },
    backward(internal, dh, t) {
      ready();
      const { internal: s, dh: d } = book.backward<InternalHandle, GradientHandle>(internal, dh, t);
      const x = xs[t - 1] as tf.Tensor2D;
      const params = model.parameters;
      const derived = core.derived();
      const target = targets[t - 1];
      const hNext = s.next[0] as tf.Tensor2D;
      const step = tidy(() => {
        let dhTotal: tf.Tensor2D | null = d === null ? null : (d.tensors[0] as tf.Tensor2D);
        let loss: tf.Scalar | undefined;
        let headLinear: LinearContribution | undefined;
        if (target !== undefined) {
          const head = headStep(model.head, hNext, target, weight, params, derived);
          loss = head.loss;
          headLinear = head.linear;
          dhTotal = dhTotal === null ? head.dh : tf.add(dhTotal, head.dh);
        }
        const dNext: (tf.Tensor2D | null)[] = [dhTotal ?? (tf.zerosLike(hNext) as tf.Tensor2D)];
        for (let k = 1; k < parts; k++) dNext.push(d === null ? null : (d.tensors[k] as tf.Tensor2D));
        const result = program.backward(
          { x, prev: s.prev, next: s.next, saved: s.saved, dNext, inputGradient: inputGradients, sparsifier },
          params,
          derived,
          core.constants,
        );
        return { loss, headLinear, result };
      });
      if (step.loss !== undefined) {
        if (lossSum === undefined) {
          lossSum = step.loss;
        } else {
          const next = tf.add(lossSum, step.loss) as tf.Scalar;
          lossSum.dispose();
          step.loss.dispose();
          lossSum = next;
        }
        sparsifier?.countHeadStep();
      }
      const { result } = step;
      accumulator.addLinear(
        step.headLinear === undefined ? result.linear : [...result.linear, step.headLinear],
      );
      for (const [pname, g] of Object.entries(result.direct ?? {})) accumulator.addDirect(pname, g);
      if (result.dx !== undefined) {
        dInputs[t - 1]?.dispose();
        dInputs[t - 1] = result.dx;
      }
      if (t === 1) {
        for (const old of dInitial ?? []) old.dispose();
        dInitial = result.dPrev.map((g) => share(g));
        accumulator.flush();
      }
      return book.gradient<GradientHandle>({ kind: 'gradient', tensors: result.dPrev });
    },
    dispose(handle) {
      const kind = book.dispose(handle);
      if (kind === 'internal') {
        const s = handle as InternalHandle;
        for (const t of s.prev) t.dispose();
        for (const t of s.saved) t.dispose();
        for (const t of s.next) t.dispose();
      } else {
        for (const t of (handle as HiddenHandle | GradientHandle).tensors) t.dispose();
      }
    },
    zeroGradients() {
      if (released) throw new TfjsBackendError('E_DISPOSED', `${name} was released`);
      resetGradients();
    },
    async loss() {
      if (released) throw new TfjsBackendError('E_DISPOSED', `${name} was released`);
      return lossSum === undefined ? 0 : ((await lossSum.data())[0] ?? 0);
    },
    async readGradients(): Promise<GradientReadout> {
      ready();
      accumulator.flush();
      // Read-backs are asynchronous: WebGPU cannot read synchronously under Node.
      const parameters: Record<string, Float32Array> = {};
      for (const [pname, shape] of Object.entries(shapes())) {
        const g = accumulator.get(pname);
        const size = shape.reduce((n, k) => n * k, 1);
        parameters[pname] = g === undefined ? new Float32Array(size) : Float32Array.from(await g.data());
      }
      const initialState = new Float32Array(parts * B * H);
      for (const [k, g] of (dInitial ?? []).entries()) initialState.set(await g.data(), k * B * H);
      if (!inputGradients) return { parameters, initialState };
      const inputs = new Float32Array(T * B * I);
      for (const [k, g] of dInputs.entries()) {
        if (g !== undefined) inputs.set(await g.data(), k * B * I);
      }
      return { parameters, inputs, initialState };
    },
    gradientTensors() {
      ready();
      accumulator.flush();
      const out: Record<string, tf.Tensor> = {};
      for (const [pname, shape] of Object.entries(shapes())) {
        let g = accumulator.get(pname);
        if (g === undefined) {
          accumulator.addDirect(pname, tf.zeros(shape));
          g = accumulator.get(pname) as tf.Tensor;
        }
        out[pname] = g;
      }
      return out;
    },
    sparsityStats: async () => (sparsifier === undefined ? undefined : sparsifier.stats()),
    liveHandles: () => book.live,
    release() {
      if (released) return;
      resetGradients();
      released = true;
      sparsifier?.dispose();
      for (const x of xs) x.dispose();
      for (const y of targets) y?.dispose();
      for (const h of initial) h.dispose();
      xs.length = 0;
      targets.length = 0;
      initial = [];
    },
  };
  return backend;
}
