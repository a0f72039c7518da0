/**
 * `createOnnxBackendV2`: the ONNX Runtime backend of the built-in cells at the policy's granularity
 * (version 2 of the backend interface): a forward range is one `Scan` run, a backward range one reverse
 * `Scan` run.
 */
import {
  type BackwardRangeRequest,
  type CellBackendV2,
  type ForwardRangeRequest,
  type ForwardRangeResult,
  type GradientReadout,
  HandleBook,
} from '@rewind/executor';
import type { StateBytes } from '@rewind/policy';
import {
  measureStateBytes,
  type OnnxBackendOptions,
  type OnnxBackendStats,
  prepareBuiltin,
  type ResolvedOnnxBackendOptions,
} from './backend.js';
import { OnnxBackendError } from './errors.js';
import { type BuiltinProgram, zeroCounters } from './runtime/builtin.js';
import type { InternalData, OnnxGradient, OnnxHidden, OnnxInternal, StateTensors } from './runtime/engine.js';

/** Options of `createOnnxBackendV2`: those of `createOnnxBackend`, and the bound on strided forward runs. */
export interface OnnxBackendV2Options extends OnnxBackendOptions {
  /**
   * Most rows of stacked outputs a forward range that keeps every `k`-th state (`k > 1`) holds in one run
   * before the kept rows are sliced out (default 256): such a range runs in pieces of at most this many
   * steps (rounded down to a multiple of `k`), or, for `k` at least this, one run per kept state that
   * outputs only its final state. Ranges that keep every state, or none, are always one run.
   */
  readonly rangeRows?: number;
}

/** The ONNX Runtime backend as a `CellBackendV2`, with diagnostics. */
export interface OnnxBackendV2 extends CellBackendV2<OnnxHidden, OnnxInternal, OnnxGradient> {
  /** Internal-state bytes over hidden-state bytes, measured on the real tensors. */
  readonly alpha: number;
  /** The options in effect. */
  readonly options: ResolvedOnnxBackendOptions & { readonly rangeRows: number };
  /** Work and transfers since creation or the last `resetStats()`. */
  stats(): OnnxBackendStats;
  resetStats(): void;
  forwardRange(
    request: ForwardRangeRequest<OnnxHidden>,
  ): Promise<ForwardRangeResult<OnnxHidden, OnnxInternal>>;
  backwardRange(request: BackwardRangeRequest<OnnxHidden, OnnxInternal, OnnxGradient>): Promise<OnnxGradient>;
  /** Read the model's parameters again (also done at every `zeroGradients()`). */
  refreshParameters(): void;
  liveHandles(): number;
}

interface HiddenImpl extends OnnxHidden {
  readonly state: StateTensors;
  /** Lent by an internal state: the state entering its step. */
  readonly entering?: StateTensors;
}
interface InternalImpl extends OnnxInternal {
  readonly data: InternalData;
}
interface GradientImpl extends OnnxGradient {
  readonly tensors: StateTensors;
}

class RangeBackend implements OnnxBackendV2 {
  readonly specificationVersion = 'rewind-backend-v2' as const;
  readonly name: string;
  readonly steps: number;
  readonly alpha: number;
  readonly options: ResolvedOnnxBackendOptions & { readonly rangeRows: number };
  private readonly program: BuiltinProgram;
  private readonly bytes: StateBytes;
  private readonly book: HandleBook;
  private next: number;

  constructor(
    program: BuiltinProgram,
    bytes: StateBytes,
    options: ResolvedOnnxBackendOptions & { readonly rangeRows: number },
  ) {
    this.program = program;
    this.name = program.name;
    this.steps = program.steps;
    this.bytes = bytes;
    this.alpha = bytes.internal / bytes.hidden;
    this.options = options;
    this.next = program.steps;
    this.book = new HandleBook({
      name: program.name,
      steps: program.steps,
      error: (code, message) => new OnnxBackendError(code, message),
    });
  }

  stateBytes(): StateBytes {
    return { ...this.bytes };
  }

  liveHandles(): number {
    return this.book.live;
  }

  private hidden(state: StateTensors, step: number): HiddenImpl {
    return this.book.hidden<HiddenImpl>({ kind: 'hidden', step, state }, step);
  }

  initialState(): OnnxHidden {
    return this.hidden(this.program.initialState(), 0);
  }

  private position(x: unknown, what: string, low: number): number {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < low || x > this.steps) {
      return this.book.fail(
        'E_STEP',
        `${what} must be an integer in ${low}..${this.steps}, got ${String(x)}`,
      );
    }
    return x;
  }

  async forwardRange(
    request: ForwardRangeRequest<OnnxHidden>,
  ): Promise<ForwardRangeResult<OnnxHidden, OnnxInternal>> {
    const from = this.position(request.from, 'forwardRange: from', 0);
    const to = this.position(request.to, 'forwardRange: to', 1);
    if (to <= from) this.book.fail('E_STEP', `forwardRange: from ${from} must be below to ${to}`);
    const start = this.book.use<HiddenImpl>(request.start, 'hidden', 'forwardRange');
    if (start.step !== from) {
      this.book.fail('E_STEP', `forwardRange from ${from} was given h_${start.step}, expected h_${from}`);
    }
    const store = request.store;
    if (store !== undefined) {
      if (store.kind !== 'hidden' && store.kind !== 'internal') {
        this.book.fail(
          'E_STEP',
          `forwardRange: store.kind must be 'hidden' or 'internal', got ${String(store.kind)}`,
        );
      }
      if (!Number.isInteger(store.stride) || store.stride < 1 || store.stride > to - from) {
        this.book.fail(
          'E_STEP',
          `forwardRange: store.stride must be an integer in 1..${to - from}, got ${String(store.stride)}`,
        );
      }
    }
    const out = await this.program.forwardRangeV2(
      start.state,
      from,
      to,
      store,
      request.keepWorking === true,
      start.entering,
    );
    const kept: (OnnxHidden | OnnxInternal)[] = out.kept.map((k, i) => {
      const p = from + (i + 1) * (store?.stride ?? 1);
      return store?.kind === 'internal'
        ? this.book.internal<InternalImpl>({ kind: 'internal', step: p, data: k as InternalData }, p)
        : this.hidden(k as StateTensors, p);
    });
    if (out.working === undefined) return { kept };
    const working = this.book.internal<InternalImpl>({ kind: 'internal', step: to, data: out.working }, to);
    return { kept, working };
  }

  hiddenOf(internal: OnnxInternal): OnnxHidden {
    const s = this.book.use<InternalImpl>(internal, 'internal', 'hiddenOf');
    return (
      this.book.viewOf<HiddenImpl>(s) ??
      this.book.lend<HiddenImpl>(s, {
        kind: 'hidden',
        step: s.step,
        state: s.data.next,
        entering: s.data.prev,
      })
    );
  }

  async backwardRange(
    request: BackwardRangeRequest<OnnxHidden, OnnxInternal, OnnxGradient>,
  ): Promise<OnnxGradient> {
    const from = this.position(request.from, 'backwardRange: from', 1);
    const to = this.position(request.to, 'backwardRange: to', 1);
    if (to > from) this.book.fail('E_STEP', `backwardRange: to ${to} must not exceed from ${from}`);
    if (from !== this.next && from !== this.steps) {
      this.book.fail(
        'E_STEP',
        `backwardRange from ${from} out of order; expected ${this.next} (or ${this.steps} to start a pass)`,
      );
    }
    const d =
      request.dh === null ? null : this.book.use<GradientImpl>(request.dh, 'gradient', 'backwardRange');
    if ((from === this.steps) !== (d === null)) {
      this.book.fail(
        'E_STEP',
        `backwardRange from ${from} needs ${from === this.steps ? 'no incoming gradient' : 'an incoming gradient'}`,
      );
    }
    const n = from - to + 1;
    if (!Array.isArray(request.sources) || request.sources.length !== n) {
      this.book.fail(
        'E_STEP',
        `backwardRange ${from}..${to} needs ${n} sources, got ${request.sources?.length}`,
      );
    }
    const sources = request.sources.map((src, i) => {
      const t = from - i;
      if (src !== null && typeof src === 'object' && 'internal' in src) {
        const s = this.book.use<InternalImpl>(src.internal, 'internal', 'backwardRange');
        if (s.step !== t) {
          this.book.fail('E_STEP', `backwardRange step ${t} was given the internal state of step ${s.step}`);
        }
        return { internal: s.data };
      }
      if (src !== null && typeof src === 'object' && 'recomputeFrom' in src) {
        const h = this.book.use<HiddenImpl>(src.recomputeFrom, 'hidden', 'backwardRange');
        if (h.step !== t - 1) {
          this.book.fail(
            'E_STEP',
            `backwardRange step ${t} recomputes from h_${h.step}, expected h_${t - 1}`,
          );
        }
        return { recomputeFrom: h.state };
      }
      return this.book.fail(
        'E_STEP',
        `backwardRange: the source of step ${t} is neither internal nor recomputeFrom`,
      );
    });
    const out = await this.program.backwardRangeV2(from, to, sources, d === null ? null : d.tensors);
    this.next = to === 1 ? this.steps : to - 1;
    return this.book.gradient<GradientImpl>({ kind: 'gradient', step: to - 1, tensors: out });
  }

  dispose(handle: OnnxHidden | OnnxInternal | OnnxGradient): void {
    this.book.dispose(handle);
  }

  async zeroGradients(): Promise<void> {
    this.next = this.steps;
    await this.program.zeroGradients();
  }

  loss(): number {
    return this.program.loss();
  }

  readGradients(): Promise<GradientReadout> {
    return this.program.readGradients();
  }

  refreshParameters(): void {
    this.program.refreshParameters();
  }

  stats(): OnnxBackendStats {
    const r = this.program.counters;
    return {
      forwardCalls: r.rangeForwardSteps,
      forwardSteps: r.rangeForwardSteps + r.rangeFrontSteps,
      backwardSteps: r.rangeBackwardSteps,
      runs: r.runs,
      forwardRuns: r.forwardRuns,
      backwardRuns: r.backwardRuns,
      weightGradientRuns: r.weightGradientRuns,
      forwardMs: r.forwardMs,
      backwardMs: r.backwardMs,
      weightGradientMs: r.weightGradientMs,
      deferredBytes: this.program.deferredBytes(),
      forwardBytesIn: r.forwardBytesIn,
      forwardBytesOut: r.forwardBytesOut,
      backwardBytesIn: r.backwardBytesIn,
      backwardBytesOut: r.backwardBytesOut,
      parameterBytesIn: r.parameterBytesIn,
      gatherBytes: r.gatherBytes,
    };
  }

  resetStats(): void {
    Object.assign(this.program.counters, zeroCounters());
  }
}

/**
 * Create the ONNX Runtime backend of a built-in cell as a `CellBackendV2` (the policy's forward and
 * backward ranges, each one run). Same model, batch and options as `createOnnxBackend`, same results; the
 * internal state is always the saved one, and the sparsified backward is not available here.
 *
 * @throws OnnxBackendError `E_OPTIONS` (also for `sparsity` or `internalState: 'recomputed'`, which need
 * `createOnnxBackend`), `E_CUDA_UNAVAILABLE`, `E_SESSION`; `ExecutorError` `E_MODEL` or `E_BATCH`.
 */
export async function createOnnxBackendV2(
  model: Parameters<typeof prepareBuiltin>[0],
  batch: Parameters<typeof prepareBuiltin>[1],
  options: OnnxBackendV2Options = {},
): Promise<OnnxBackendV2> {
  if (options.sparsity !== undefined) {
    throw new OnnxBackendError(
      'E_OPTIONS',
      'sparsity is not available in the range-level backend; use createOnnxBackend for a sparsified backward',
    );
  }
  if (options.internalState === 'recomputed') {
    throw new OnnxBackendError(
      'E_OPTIONS',
      "internalState 'recomputed' is not available in the range-level backend (it keeps the saved activations); use createOnnxBackend",
    );
  }
  const rangeRows = options.rangeRows ?? 256;
  if (!(rangeRows === Number.POSITIVE_INFINITY || (Number.isSafeInteger(rangeRows) && rangeRows >= 1))) {
    throw new OnnxBackendError(
      'E_OPTIONS',
      `rangeRows must be a positive integer or Infinity, got ${rangeRows}`,
    );
  }
  const { program, resolved } = await prepareBuiltin(model, batch, options, rangeRows, true);
  await program.warmUpRanges();
  const bytes = await measureStateBytes(program);
  const backend = new RangeBackend(program, bytes, { ...resolved, rangeRows });
  backend.resetStats();
  return backend;
}
