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
import { KernelCounter } from './counts.js';
import { TfjsBackendError } from './errors.js';
import { ensureFusedKernels, sliceRows } from './fused.js';
import { type BlockHead, FusedCell, type FusedInputs, PROJECTION_BLOCK } from './fused-steps.js';
import { type HeadTargets, headStep } from './head.js';
import { modelInternals, type TfjsModel } from './model.js';
import type { CellBackwardResult, StateTensors } from './program.js';
import { Sparsifier, type SparsityOptions, type SparsityStats, sparsitySettings } from './sparsity.js';
import { share, tidy } from './util.js';

/**
 * One batch of `B` sequences of `T` steps: the model contract's `SequenceBatch` (dense inputs, or token ids
 * with `inputKind: 'ids'`: the fused cells read the ids, the others a one-hot encoding made on the device).
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
  /**
   * Run the built-in LSTM and GRU on this package's fused step kernels where it has them (wasm and cpu;
   * default true): per forward step 2 kernel dispatches instead of about 15. `false` keeps the composite
   * steps of tfjs operations (the same results up to float32 rounding).
   */
  readonly fusedKernels?: boolean;
  /** A name for messages (default `'tfjs-<backend>/<cell>'`). */
  readonly name?: string;
}

/** Kernel dispatches and read-backs of a cell backend since its creation or its last `zeroGradients()`. */
export interface StepDispatchCounts {
  /** Whether the fused step kernels run the cell. */
  readonly fused: boolean;
  /** Forward steps run and the kernels they dispatched (view-only `Reshape`s apart). */
  readonly forward: { readonly steps: number; readonly dispatches: number; readonly views: number };
  /** Backward steps run and the kernels they dispatched, buffered weight-gradient products included. */
  readonly backward: { readonly steps: number; readonly dispatches: number; readonly views: number };
  /** Kernels dispatched by `loss()`, `readGradients()` and `gradientTensors()`. */
  readonly readout: { readonly dispatches: number };
  /** Read-backs to JavaScript made by this backend (`loss()`, `readGradients()`). */
  readonly readbacks: number;
  /** Dispatches per kernel name, forward and backward together. */
  readonly byKernel: Readonly<Record<string, number>>;
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

/**
 * What the tfjs backends of one batch, per step and per range, have besides their cell interface: the
 * model, the diagnostics and the release of the batch's tensors.
 */
export interface TfjsBatchBackend {
  /** The model whose parameters the steps read. */
  readonly model: TfjsModel;
  /** `B`. */
  readonly batchSize: number;
  /** Reset the gradients, the loss and the sparsity statistics (synchronous). */
  zeroGradients(): void;
  /** Handles handed out and not yet disposed. */
  liveHandles(): number;
  /**
   * Diagnostic: the kernels tfjs dispatched for this backend's forward and backward steps and the
   * read-backs it made, since creation or the last `zeroGradients()` (deterministic counts).
   */
  dispatchCounts(): StepDispatchCounts;
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

/** A `rewind-backend-v1` backend over one model and one batch, on tfjs. */
export interface TfjsCellBackend
  extends CellBackendV1<TfjsHidden, TfjsInternal, TfjsGradient>,
    TfjsBatchBackend {
  /** A fresh handle holding `h_0` (synchronous). */
  initialState(): TfjsHidden;
  /** Forward step `t` (synchronous). */
  forward(hPrev: TfjsHidden, t: number, keepInternal: boolean): ForwardResultV1<TfjsHidden, TfjsInternal>;
  /** Backward step `t` (synchronous). */
  backward(internal: TfjsInternal, dh: TfjsGradient | null, t: number): TfjsGradient;
  zeroGradients(): void;
  liveHandles(): number;
  loss(): Promise<number>;
  readGradients(): Promise<GradientReadout>;
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

/** Backward steps per block of loss heads (divides the 32 steps per loss sum, see `pushLoss`). */
export const HEAD_BLOCK = 16;

/** Backward steps from held internal states with their loss heads as one block (see `backwardBlock`). */
export type BlockBackward = (
  internals: readonly TfjsInternal[],
  dh: TfjsGradient | null,
  from: number,
) => TfjsGradient;

/** The block backward of the cell backends that have one (fused cells, a loss at every step). */
export const blockBackwards = new WeakMap<TfjsCellBackend, BlockBackward>();

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
  const stateParts = parts;
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
  const fused =
    options.fusedKernels !== false &&
    (model.cell === 'lstm' || model.cell === 'gru') &&
    core.gates > 0 &&
    ensureFusedKernels(engine.backend);
  const name = options.name ?? `tfjs-${engine.backend}/${model.name}`;
  const stateBytes: StateBytes = model.stateBytes(B);
  const weight = 1 / (B * (lossSteps === 'last' ? 1 : T));
  const hasLoss = (t: number): boolean => lossSteps === 'all' || t === T;

  // The batch, on the device.
  const xs: tf.Tensor2D[] = [];
  const targets: (HeadTargets | undefined)[] = [];
  const fusedInputs: {
    kind: 'ids' | 'dense';
    ids: tf.Tensor1D[];
    blocks: tf.Tensor2D[];
    rows: tf.Tensor1D[];
  } = {
    kind: inputKind === 'ids' ? 'ids' : 'dense',
    ids: [],
    blocks: [],
    rows: [],
  };
  const disposeFusedInputs = (): void => {
    for (const list of [fusedInputs.ids, fusedInputs.blocks, fusedInputs.rows]) {
      for (const t of list) t.dispose();
      list.length = 0;
    }
  };
  let initial: tf.Tensor2D[];
  try {
    if (fused && inputKind !== 'ids') {
      // Dense inputs: blocks of PROJECTION_BLOCK steps, projected by one product each.
      for (let start = 0; start < T; start += PROJECTION_BLOCK) {
        const n = Math.min(PROJECTION_BLOCK, T - start);
        fusedInputs.blocks.push(
          tf.tensor2d(slice32(batch.inputs, start * B * I, n * B * I), [n * B, I], 'float32'),
        );
      }
      for (let j = 0; j < Math.min(PROJECTION_BLOCK, T); j++) {
        fusedInputs.rows.push(
          tf.tensor1d(
            Int32Array.from({ length: B }, (_, r) => j * B + r),
            'int32',
          ),
        );
      }
    }
    for (let t = 1; t <= T; t++) {
      if (inputKind === 'dense') {
        xs.push(tf.tensor2d(slice32(batch.inputs, (t - 1) * B * I, B * I), [B, I], 'float32'));
      } else {
        const ids = ids32(batch.inputs, (t - 1) * B, B);
        if (fused) {
          // The fused steps read the ids alone (a row gather forward, a row scatter backward).
          fusedInputs.ids.push(tf.tensor1d(ids, 'int32'));
        } else {
          const onehot = new Float32Array(B * I);
          ids.forEach((id, r) => {
            onehot[r * I + id] = 1;
          });
          xs.push(tf.tensor2d(onehot, [B, I], 'float32'));
        }
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
    disposeFusedInputs();
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
  // Step losses (scalars, or per-row terms from the fused WebGPU loss kernels) wait here and are summed
  // LOSS_BATCH steps at a time: concat + sum, not addN (tfjs' WebGPU addN binds every input at once and
  // breaks past the device's storage-buffer limit, 8 under OpenGL ES, while concat splits its inputs).
  const pendingLosses: tf.Tensor[] = [];
  let pendingSteps = 0;
  const LOSS_BATCH = 32;
  const sumLosses = (): void => {
    pendingSteps = 0;
    if (pendingLosses.length === 0) return;
    const terms = lossSum === undefined ? [...pendingLosses] : [lossSum, ...pendingLosses];
    const next =
      terms.length === 1 && terms[0]?.rank === 0
        ? (terms[0] as tf.Scalar)
        : tf.tidy(() => tf.sum(tf.concat(terms.map((t) => tf.reshape(t, [-1])))) as tf.Scalar);
    if (next !== terms[0]) for (const t of terms) t.dispose();
    pendingLosses.length = 0;
    lossSum = next;
  };
  /**
   * Queue the losses of `steps` backward steps. Sums are made every LOSS_BATCH steps; a block of steps
   * ({@link HEAD_BLOCK}, which divides LOSS_BATCH, never crossing its windows) reaches the same boundaries
   * as its steps one by one, so the loss is summed in the same groups in the same order either way.
   */
  const pushLoss = (loss: tf.Tensor, steps: number): void => {
    pendingLosses.push(loss);
    pendingSteps += steps;
    if (pendingSteps >= LOSS_BATCH) sumLosses();
  };
  const fusedCell: FusedCell | undefined = fused
    ? new FusedCell(
        model.cell as 'lstm' | 'gru',
        model.head,
        fusedInputs as FusedInputs,
        model.parameters,
        () => model.version,
      )
    : undefined;
  const forwardCounter = new KernelCounter();
  const backwardCounter = new KernelCounter();
  const readoutCounter = new KernelCounter();
  let forwardSteps = 0;
  let backwardSteps = 0;
  let readbacks = 0;
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
    for (const l of pendingLosses) l.dispose();
    pendingLosses.length = 0;
    pendingSteps = 0;
    forwardCounter.reset();
    backwardCounter.reset();
    readoutCounter.reset();
    forwardSteps = 0;
    backwardSteps = 0;
    readbacks = 0;
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

  const backwardStep = (
    s: InternalHandle,
    d: GradientHandle | null,
    t: number,
    block?: { readonly head: BlockHead; readonly row: number },
  ): GradientHandle => {
    const x = xs[t - 1];
    const params = model.parameters;
    const target = targets[t - 1];
    const hNext = s.next[0] as tf.Tensor2D;
    const step = tidy(() => {
      if (fusedCell !== undefined) {
        const dNext: (tf.Tensor2D | null)[] = [];
        for (let k = 0; k < parts; k++) dNext.push(d === null ? null : (d.tensors[k] as tf.Tensor2D));
        const rows = (m: tf.Tensor2D): tf.Tensor2D => sliceRows(m, (block?.row ?? 0) * B, B);
        const r = fusedCell.backward({
          t,
          ...(x === undefined ? {} : { x }),
          prev: s.prev,
          next: s.next,
          saved: s.saved,
          dNext,
          target,
          weight,
          inputGradient: inputGradients,
          sparsifier,
          ...(block === undefined ? {} : { head: { dy: rows(block.head.dy), dh: rows(block.head.dh) } }),
        });
        const result: CellBackwardResult = {
          dPrev: r.dPrev,
          linear: r.linear,
          ...(r.dx === undefined ? {} : { dx: r.dx }),
        };
        return { loss: r.loss, headLinear: undefined, result };
      }
      const derived = core.derived();
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
        {
          x: x as tf.Tensor2D,
          prev: s.prev,
          next: s.next,
          saved: s.saved,
          dNext,
          inputGradient: inputGradients,
          sparsifier,
        },
        params,
        derived,
        core.constants,
      );
      return { loss, headLinear, result };
    });
    if (step.loss !== undefined) {
      pushLoss(step.loss, 1);
      sparsifier?.countHeadStep();
    }
    if (block !== undefined) sparsifier?.countHeadStep();
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
  };

  /**
   * Backward steps `from, from - 1, ..` over the held internal states `internals` (one per step, at most
   * {@link HEAD_BLOCK}): the loss head of all of them as one block ({@link FusedCell.blockHead}), then the
   * steps. Returns the gradient at the state before the last step; the intermediate gradients are
   * disposed here. Only for fused cells with a loss at every step.
   */
  const backwardBlock = (
    internals: readonly TfjsInternal[],
    dh: TfjsGradient | null,
    from: number,
  ): TfjsGradient => {
    ready();
    if (fusedCell === undefined || lossSteps !== 'all') {
      throw new Error('internal: blocks of backward steps need the fused cells and a loss at every step');
    }
    const states = internals.map((h) => book.use<InternalHandle>(h, 'internal', 'backward'));
    // Every step's state checked before any step runs: a refused block changes nothing.
    states.forEach((s, i) => {
      if (s.step !== from - i)
        book.fail('E_STEP', `backward step ${from - i} was given the internal state of step ${s.step}`);
    });
    backwardCounter.start();
    let head: BlockHead | undefined;
    let lossQueued = false;
    let g: TfjsGradient | null = dh;
    try {
      head = fusedCell.blockHead(
        states.map((s) => s.next[0] as tf.Tensor2D),
        states.map((_, i) => targets[from - i - 1] as HeadTargets),
        weight,
      );
      for (let i = 0; i < states.length; i++) {
        const t = from - i;
        const { internal: s, dh: d } = book.backward<InternalHandle, GradientHandle>(internals[i], g, t);
        const next = backwardStep(s, d, t, { head, row: i });
        backwardSteps++;
        if (g !== dh && g !== null) backend.dispose(g);
        g = next;
      }
      pushLoss(head.loss, states.length);
      lossQueued = true;
      return g as TfjsGradient;
    } catch (error) {
      if (g !== dh && g !== null) backend.dispose(g);
      throw error;
    } finally {
      head?.dy.dispose();
      head?.dh.dispose();
      if (!lossQueued) head?.loss.dispose();
      backwardCounter.stop();
    }
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
      forwardCounter.start();
      let out: { next: tf.Tensor2D[]; saved?: tf.Tensor[] };
      try {
        out =
          fusedCell !== undefined
            ? fusedCell.forward(prev.tensors, keepInternal, t)
            : tidy(() =>
                program.forward(x, prev.tensors, keepInternal, params, core.derived(), core.constants),
              );
      } finally {
        forwardCounter.stop();
      }
      forwardSteps++;
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
      backwardCounter.start();
      try {
        return backwardStep(s, d, t);
      } finally {
        backwardCounter.stop();
        backwardSteps++;
      }
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
      readoutCounter.start();
      try {
        sumLosses();
      } finally {
        readoutCounter.stop();
      }
      if (lossSum === undefined) return 0;
      readbacks++;
      return (await lossSum.data())[0] ?? 0;
    },
    async readGradients(): Promise<GradientReadout> {
      ready();
      // One read-back for everything: the gradients flattened into one tensor on the device.
      // (Read-backs are asynchronous: WebGPU cannot read synchronously under Node.)
      const entries = Object.entries(shapes());
      const parts: tf.Tensor[] = [];
      readoutCounter.start();
      let all: tf.Tensor1D;
      try {
        accumulator.flush();
        all = tf.tidy(() => {
          for (const [pname, shape] of entries) {
            const g = accumulator.get(pname);
            parts.push(g === undefined ? tf.zeros([shape.reduce((n, k) => n * k, 1)]) : tf.reshape(g, [-1]));
          }
          parts.push(
            dInitial === undefined
              ? tf.zeros([stateParts * B * H])
              : tf.concat(dInitial.map((g) => tf.reshape(g, [-1]))),
          );
          if (inputGradients) {
            for (let k = 0; k < T; k++) {
              const g = dInputs[k];
              parts.push(g === undefined ? tf.zeros([B * I]) : tf.reshape(g, [-1]));
            }
          }
          return tf.concat(parts) as tf.Tensor1D;
        });
      } finally {
        readoutCounter.stop();
      }
      readbacks++;
      const values = await all.data();
      all.dispose();
      let offset = 0;
      const take = (n: number): Float32Array => {
        const out = Float32Array.from(values.subarray(offset, offset + n));
        offset += n;
        return out;
      };
      const parameters: Record<string, Float32Array> = {};
      for (const [pname, shape] of entries) parameters[pname] = take(shape.reduce((n, k) => n * k, 1));
      const initialState = take(stateParts * B * H);
      if (!inputGradients) return { parameters, initialState };
      return { parameters, inputs: take(T * B * I), initialState };
    },
    gradientTensors() {
      ready();
      readoutCounter.start();
      try {
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
      } finally {
        readoutCounter.stop();
      }
    },
    dispatchCounts() {
      const f = forwardCounter.counts();
      const b = backwardCounter.counts();
      const byKernel: Record<string, number> = { ...f.byKernel };
      for (const [k, n] of Object.entries(b.byKernel)) byKernel[k] = (byKernel[k] ?? 0) + n;
      return {
        fused,
        forward: { steps: forwardSteps, dispatches: f.dispatches, views: f.views },
        backward: { steps: backwardSteps, dispatches: b.dispatches, views: b.views },
        readout: { dispatches: readoutCounter.counts().dispatches },
        readbacks,
        byKernel,
      };
    },
    sparsityStats: async () => (sparsifier === undefined ? undefined : sparsifier.stats()),
    liveHandles: () => book.live,
    release() {
      if (released) return;
      resetGradients();
      accumulator.dispose();
      released = true;
      sparsifier?.dispose();
      for (const x of xs) x.dispose();
      for (const y of targets) y?.dispose();
      for (const h of initial) h.dispose();
      xs.length = 0;
      targets.length = 0;
      initial = [];
      fusedCell?.dispose();
      disposeFusedInputs();
    },
  };
  if (fusedCell !== undefined && lossSteps === 'all') blockBackwards.set(backend, backwardBlock);
  return backend;
}
