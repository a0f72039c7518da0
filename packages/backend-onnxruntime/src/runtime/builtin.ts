/**
 * The step program of the built-in cells: forward paths (single steps or fused Scan ranges), backward
 * steps returning gate gradients, and the deferred weight-gradient products over chunks of steps.
 */
import type { GradientReadout } from '@rewind/executor';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { Tensor as OrtTensor } from 'onnxruntime-node';
import {
  ACTS_WIDTH,
  backwardStepGraph,
  type CellGraphConfig,
  forwardRangeGraph,
  forwardStepGraph,
  GATE_COUNT,
  type HeadSpec,
  hasCellState,
  type InternalMode,
  type SparsifyKind,
  savesActs,
} from '../graphs/cells.js';
import {
  backwardRangeGraph,
  chunkGradientGraph,
  forwardRangeGraphV2,
  type RangeKeep,
} from '../graphs/ranges.js';
import { keptCount, SparsityCounter, type SparsitySettings } from '../sparsity.js';
import { type BatchArrays, type CellModel, headWidth, lossWeight, type SequenceBatch } from './batch.js';
import { CHUNK_ROLES, type Chunk, type ChunkRole, ChunkStore } from './chunks.js';
import type { InternalData, PathResult, StateTensors, StepProgram, Want } from './engine.js';
import { cachedSession, runSession, type SessionPool, type SessionSettings } from './session.js';
import { sideBySide } from './side-by-side.js';
import {
  accumulate,
  allocFloat,
  type FloatArray,
  floatData,
  floatTensor,
  scalarOf,
  scalarTensor,
  sliceStacked,
  toFloat,
} from './tensors.js';

/** The chunk product graphs' input (after its group prefix) of each role of a chunk's rows. */
const CHUNK_INPUTS: Readonly<Record<ChunkRole, string>> = {
  dA: 'dgates',
  dAh: 'dgates_h',
  x: 'x',
  hPrev: 'h_prev',
  dy: 'dy',
  h: 'h',
};

/** Resolved settings of a built-in program. */
export interface BuiltinSettings {
  readonly graph: CellGraphConfig;
  readonly head: HeadSpec;
  readonly mode: InternalMode;
  /** Backward steps whose weight gradients are computed together (1: every step). */
  readonly chunkSteps: number;
  /** Most forward steps in one fused run. */
  readonly fusedSteps: number;
  /** Range-level program: most stacked rows a strided forward range holds in one run. */
  readonly rangeRows: number;
  /** Compute the gradient at the inputs (default true). */
  readonly inputGradients?: boolean;
  readonly sparsity: SparsitySettings | undefined;
  readonly session: SessionSettings;
  /** Where the graphs' sessions live (default: the process-wide pool). */
  readonly pool?: SessionPool;
}

/** Time and run counters of a program. */
export interface RunCounters {
  runs: number;
  /** Milliseconds inside ONNX Runtime runs (and the copies around them), by kind of graph. */
  forwardMs: number;
  backwardMs: number;
  weightGradientMs: number;
  forwardRuns: number;
  backwardRuns: number;
  weightGradientRuns: number;
  /** Bytes fed into runs (parameters excluded), by forward and backward (weight gradients included) runs. */
  forwardBytesIn: number;
  backwardBytesIn: number;
  /** Bytes of run outputs copied out of ONNX Runtime. */
  forwardBytesOut: number;
  backwardBytesOut: number;
  /**
   * Parameter bytes moved into ONNX Runtime. CPU: the CPU execution provider reads a fed tensor's buffer in
   * place, and the same parameter tensors are fed until the parameters are read again, so each parameter
   * counts once per `refreshParameters()`. CUDA: every run copies its inputs to the device, so every feed counts.
   */
  parameterBytesIn: number;
  /** Bytes copied in JavaScript to stack checkpoints that did not lie contiguously in one buffer. */
  gatherBytes: number;
  /** Forward and backward steps the range-level program was asked for. */
  rangeForwardSteps: number;
  rangeBackwardSteps: number;
  /** Steps a forward range computed again in front of itself (see `forwardRangeV2`'s `entering`). */
  rangeFrontSteps: number;
}

/** Zeroed run counters. */
export function zeroCounters(): RunCounters {
  return {
    runs: 0,
    forwardMs: 0,
    backwardMs: 0,
    weightGradientMs: 0,
    forwardRuns: 0,
    backwardRuns: 0,
    weightGradientRuns: 0,
    forwardBytesIn: 0,
    backwardBytesIn: 0,
    forwardBytesOut: 0,
    backwardBytesOut: 0,
    parameterBytesIn: 0,
    gatherBytes: 0,
    rangeForwardSteps: 0,
    rangeBackwardSteps: 0,
    rangeFrontSteps: 0,
  };
}

const now = (): number => performance.now();

function byteLength(t: Tensor): number {
  const d = t.data as { byteLength?: number };
  return d.byteLength ?? 0;
}

function graphKey(c: CellGraphConfig): string {
  return `${c.cell}:I${c.inputSize}:H${c.hiddenSize}:${c.dtype}`;
}

function headKey(h: HeadSpec): string {
  return h.kind === 'softmax' ? `softmax${h.classes}` : `mse${h.outputs}`;
}

/** The program of a built-in cell over one batch. */
export class BuiltinProgram implements StepProgram {
  readonly name: string;
  readonly steps: number;
  readonly counters: RunCounters = zeroCounters();
  readonly sparsityCounter: SparsityCounter;
  private readonly s: BuiltinSettings;
  private readonly model: CellModel;
  private readonly batch: SequenceBatch;
  private readonly arrays: BatchArrays;
  private readonly B: number;
  private readonly I: number;
  private readonly H: number;
  private readonly G: number;
  private readonly O: number;
  private readonly lstm: boolean;
  private readonly zeros: Tensor;
  private actsZeros: Tensor | undefined;
  private readonly initial: StateTensors;
  private params: Record<string, Tensor> = {};
  /** Parameter tensors already fed since the parameters were last read (CPU: they are not copied again). */
  private readonly paramsFed = new Set<Tensor>();
  private readonly paramSet = new Set<Tensor>();
  private grads: Record<string, Float64Array> = {};
  private dInputs: Float64Array;
  private dInitial: Float64Array;
  private lossSum = 0;
  /** Backward steps' rows awaiting their weight-gradient products. */
  private readonly chunks: ChunkStore;
  /**
   * Reusable buffers by role: what `stack` copies into (reused from one backward range to the next but
   * one), and the ones of the row sums.
   */
  private readonly stackScratch = new Map<string, FloatArray>();
  /** Which of the two sets of stacking buffers the next backward range uses (see `backwardRangeV2`). */
  private scratchSet = 0;
  /** `[B, O]` zeros: the head gradient of a step without a loss term. */
  private readonly zerosHead: FloatArray;

  constructor(
    name: string,
    model: CellModel,
    batch: SequenceBatch,
    arrays: BatchArrays,
    settings: BuiltinSettings,
  ) {
    this.name = name;
    this.s = settings;
    this.model = model;
    this.batch = batch;
    this.arrays = arrays;
    this.steps = batch.steps;
    this.B = batch.batchSize;
    this.I = settings.graph.inputSize;
    this.H = settings.graph.hiddenSize;
    this.G = GATE_COUNT[settings.graph.cell] * this.H;
    this.O = headWidth(settings.head);
    this.lstm = hasCellState(settings.graph.cell);
    this.sparsityCounter = new SparsityCounter({
      batchSize: this.B,
      inputSize: this.I,
      hiddenSize: this.H,
      outputs: this.O,
    });
    const dtype = settings.graph.dtype;
    this.zeros = floatTensor(allocFloat(dtype, this.B * this.H), [this.B, this.H]);
    this.initial = arrays.initial.map((a) => floatTensor(a, [this.B, this.H]));
    // The inputs' gradient, `T B I` float64: only when it is asked for (training does not read it).
    this.dInputs = new Float64Array(settings.inputGradients === false ? 0 : batch.steps * this.B * this.I);
    this.dInitial = new Float64Array(this.initial.length * this.B * this.H);
    this.chunks = new ChunkStore(
      settings.chunkSteps,
      batch.steps,
      this.B,
      {
        dA: this.G,
        dAh: settings.graph.cell === 'gru' ? this.G : 0,
        x: this.I,
        hPrev: this.H,
        dy: this.O,
        h: this.H,
      },
      dtype,
    );
    this.zerosHead = allocFloat(dtype, this.B * this.O);
    this.refreshParameters();
    this.resetAccumulators();
  }

  /** Parameter names (cell and head), in the layout of the model. */
  parameterNames(): string[] {
    return [...(this.s.graph.cell === 'gru' ? ['W', 'U', 'b', 'bu'] : ['W', 'U', 'b']), 'Wy', 'by'];
  }

  /** Convert the model's current parameters for the runtime (the model's arrays may have changed). */
  refreshParameters(): void {
    const dtype = this.s.graph.dtype;
    const { G, I, H, O } = this;
    const shapes: Record<string, number[]> = { W: [G, I], U: [G, H], b: [G], bu: [G], Wy: [O, H], by: [O] };
    const params: Record<string, Tensor> = {};
    for (const name of this.parameterNames()) {
      const values = this.model.params[name];
      const shape = shapes[name];
      if (values === undefined || shape === undefined) throw new Error(`${this.name}: no parameter ${name}`);
      params[name] = floatTensor(toFloat(dtype, values), shape);
    }
    this.params = params;
    this.paramSet.clear();
    for (const t of Object.values(params)) this.paramSet.add(t);
    this.paramsFed.clear();
  }

  private resetAccumulators(): void {
    const sizes: Record<string, number> = {
      W: this.G * this.I,
      U: this.G * this.H,
      b: this.G,
      bu: this.G,
      Wy: this.O * this.H,
      by: this.O,
    };
    const grads: Record<string, Float64Array> = {};
    for (const name of this.parameterNames()) grads[name] = new Float64Array(sizes[name] ?? 0);
    this.grads = grads;
    this.dInputs.fill(0);
    this.dInitial.fill(0);
    this.lossSum = 0;
    this.chunks.clear();
    this.sparsityCounter.reset();
  }

  private session(kind: string): Promise<InferenceSession> {
    const c = this.s.graph;
    const base = graphKey(c);
    const head = this.s.head;
    const sparsify: SparsifyKind = this.s.sparsity === undefined ? 'none' : this.s.sparsity.mode;
    const get = (key: string, build: () => Uint8Array): Promise<InferenceSession> =>
      cachedSession(key, this.s.session, build, this.s.pool);
    switch (kind) {
      case 'fwd':
        return get(`${base}:forward`, () => forwardStepGraph(c, { acts: false }));
      case 'fwd-acts':
        return get(`${base}:forward+acts`, () => forwardStepGraph(c, { acts: true }));
      case 'range':
        return get(`${base}:range`, () => forwardRangeGraph(c, { stackedActs: false, finalActs: false }));
      case 'range-final':
        return get(`${base}:range+final`, () =>
          forwardRangeGraph(c, { stackedActs: false, finalActs: true }),
        );
      case 'range-stacked':
        return get(`${base}:range+stacked`, () =>
          forwardRangeGraph(c, { stackedActs: true, finalActs: false }),
        );
      case 'bwd-head':
        return get(`${base}:backward:${this.s.mode}:${headKey(head)}:${sparsify}`, () =>
          backwardStepGraph(c, { mode: this.s.mode, head, sparsify }),
        );
      case 'bwd':
        return get(`${base}:backward:${this.s.mode}:nohead:${sparsify}`, () =>
          backwardStepGraph(c, { mode: this.s.mode, sparsify }),
        );
      case 'chunks:F':
      case 'chunks:S':
      case 'chunks:FS': {
        const full = kind.includes('F');
        const short = kind.endsWith('S');
        const inputGradients = this.s.inputGradients !== false;
        return get(`${base}:chunk-gradients:${headKey(head)}:${kind}:${inputGradients}`, () =>
          chunkGradientGraph(c, { head, full, short, inputGradients }),
        );
      }
      case 'v2bwd':
        return get(`${base}:backward-range:${headKey(head)}`, () => backwardRangeGraph(c, { head }));
      case 'v2bwd:chunks':
      case 'v2bwd:recompute':
      case 'v2bwd:chunks:recompute': {
        const inputGradients = this.s.inputGradients !== false;
        const chunks = kind.includes(':chunks');
        const recompute = kind.endsWith(':recompute');
        const ids = recompute && this.arrays.ids !== undefined;
        return get(
          `${base}:backward-range:${headKey(head)}:${kind}:${inputGradients}${ids ? ':ids' : ''}`,
          () =>
            backwardRangeGraph(c, {
              head,
              ...(chunks ? { chunks: { inputGradients } } : {}),
              recompute,
              ids,
            }),
        );
      }
      default: {
        const m = /^v2fwd:(none|hidden|internal):(strided|all):(working|final)$/.exec(kind);
        if (m !== null) {
          const ids = this.arrays.ids !== undefined;
          return get(`${base}:forward-range-v2:${m[1]}:${m[2]}:${m[3]}${ids ? ':ids' : ''}`, () =>
            forwardRangeGraphV2(c, {
              keep: m[1] as RangeKeep,
              strided: m[2] === 'strided',
              working: m[3] === 'working',
              ids,
            }),
          );
        }
        throw new Error(`unknown graph ${kind}`);
      }
    }
  }

  /** Create every session this program may use (so that timings exclude session creation). */
  async warmUp(): Promise<void> {
    const kinds = ['fwd', 'fwd-acts', 'range', 'bwd-head', 'bwd', 'chunks:F', 'chunks:S'];
    if (savesActs(this.s.graph.cell, this.s.mode)) kinds.push('range-final', 'range-stacked');
    // One first: a provider that cannot load fails once, not once per graph.
    await this.session('fwd');
    await Promise.all(kinds.map((k) => this.session(k)));
  }

  /** Create every session of the range-level program (so that timings exclude session creation). */
  async warmUpRanges(): Promise<void> {
    const kinds = ['v2bwd', 'v2bwd:chunks', 'v2bwd:recompute', 'v2bwd:chunks:recompute'];
    kinds.push('chunks:F', 'chunks:S', 'chunks:FS');
    for (const keep of ['none', 'hidden', 'internal'])
      for (const rows of ['all', 'strided'])
        for (const last of ['working', 'final']) kinds.push(`v2fwd:${keep}:${rows}:${last}`);
    await this.session('v2bwd');
    await Promise.all(kinds.map((k) => this.session(k)));
  }

  initialState(): StateTensors {
    return this.initial;
  }

  /**
   * `x_t .. x_{t+n-1}` as one tensor `[n, B, I]` (or `[B, I]` for one step), without a copy (for a batch of
   * token ids, their one-hot rows, built here).
   */
  private inputs(t: number, n: number, layout: 'steps' | 'rows' = 'steps'): Tensor {
    const size = this.B * this.I;
    const data =
      this.arrays.ids === undefined
        ? this.arrays.inputs.subarray((t - 1) * size, (t - 1 + n) * size)
        : this.oneHotRows(t, t + n - 1);
    if (layout === 'rows') return floatTensor(data, [n * this.B, this.I]);
    return floatTensor(data, n === 1 ? [this.B, this.I] : [n, this.B, this.I]);
  }

  private async run(
    kind: string,
    feeds: Record<string, Tensor | undefined>,
  ): Promise<InferenceSession.ReturnType> {
    const session = await this.session(kind);
    this.counters.runs++;
    const forward = kind.startsWith('fwd') || kind.startsWith('range') || kind.startsWith('v2fwd');
    const c = this.counters;
    const cpu = this.s.session.executionProvider === 'cpu';
    for (const name of session.inputNames) {
      const t = feeds[name];
      if (t === undefined) continue;
      const bytes = byteLength(t);
      if (this.paramSet.has(t)) {
        if (!cpu || !this.paramsFed.has(t)) c.parameterBytesIn += bytes;
        this.paramsFed.add(t);
      } else if (forward) c.forwardBytesIn += bytes;
      else c.backwardBytesIn += bytes;
    }
    const result = await runSession(session, feeds, `${this.name} (${kind})`);
    let out = 0;
    for (const t of Object.values(result)) out += byteLength(t);
    if (forward) c.forwardBytesOut += out;
    else c.backwardBytesOut += out;
    return result;
  }

  private stateFeeds(prev: StateTensors, prefix: 'h_prev' | 'h0'): Record<string, Tensor | undefined> {
    return prefix === 'h_prev' ? { h_prev: prev[0], c_prev: prev[1] } : { h0: prev[0], c0: prev[1] };
  }

  private out(result: InferenceSession.ReturnType, name: string): Tensor {
    const t = result[name];
    if (t === undefined) throw new Error(`${this.name}: the graph returned no ${name}`);
    return t;
  }

  async forwardPath(root: StateTensors, t0: number, wants: readonly Want[]): Promise<PathResult> {
    const start = now();
    const k = wants.length;
    const states: (StateTensors | undefined)[] = new Array(k).fill(undefined);
    const internals: (InternalData | undefined)[] = new Array(k).fill(undefined);
    const acts = savesActs(this.s.graph.cell, this.s.mode);
    let prev = root;
    // Every segment holds at most `fusedSteps` steps: the last index it may reach from `i`.
    const limit = (from: number): number => Math.min(k - 1, from + this.s.fusedSteps - 1);
    let i = 0;
    while (i < k) {
      // A segment [i, j]: either a run of steps that all keep their internal state (stacked), or steps
      // that keep none, ending at the first that does (its internal state as the Scan's final state).
      // Either way at most `fusedSteps` steps.
      let j = i;
      let stacked = false;
      if (acts && wants[i] === 'internal' && wants[i + 1] === 'internal') {
        stacked = true;
        while (j < limit(i) && wants[j + 1] === 'internal') j++;
      } else if (acts) {
        while (j < limit(i) && wants[j] !== 'internal') j++;
      } else {
        j = limit(i);
      }
      prev = await this.segment(
        prev,
        t0 + i,
        j - i + 1,
        wants.slice(i, j + 1),
        stacked,
        i,
        states,
        internals,
      );
      i = j + 1;
    }
    this.counters.forwardMs += now() - start;
    return { states, internals };
  }

  /**
   * Compute steps `t0+1 .. t0+n` from `prev`; fill `states`/`internals` at `offset + j`; return the last state.
   */
  private async segment(
    prev: StateTensors,
    t0: number,
    n: number,
    wants: readonly Want[],
    stacked: boolean,
    offset: number,
    states: (StateTensors | undefined)[],
    internals: (InternalData | undefined)[],
  ): Promise<StateTensors> {
    const acts = savesActs(this.s.graph.cell, this.s.mode);
    const lastWantsInternal = wants[n - 1] === 'internal';
    this.counters.forwardRuns++;
    if (n === 1) {
      const withActs = acts && lastWantsInternal;
      const r = await this.run(withActs ? 'fwd-acts' : 'fwd', {
        x: this.inputs(t0 + 1, 1),
        ...this.stateFeeds(prev, 'h_prev'),
        ...this.params,
      });
      const next = this.lstm ? [this.out(r, 'h'), this.out(r, 'c')] : [this.out(r, 'h')];
      states[offset] = next;
      if (lastWantsInternal) internals[offset] = { prev, next, extra: withActs ? [this.out(r, 'acts')] : [] };
      return next;
    }
    const kind = stacked ? 'range-stacked' : acts && lastWantsInternal ? 'range-final' : 'range';
    const feeds: Record<string, Tensor | undefined> = {
      xs: this.inputs(t0 + 1, n),
      ...this.stateFeeds(prev, 'h0'),
      ...this.params,
    };
    if (kind === 'range-final') {
      // The initial value of the carried activations is never read; one zero tensor serves every run.
      const A = ACTS_WIDTH[this.s.graph.cell] * this.H;
      this.actsZeros ??= floatTensor(allocFloat(this.s.graph.dtype, this.B * A), [this.B, A]);
      feeds['acts0'] = this.actsZeros;
    }
    const r = await this.run(kind, feeds);
    const hAll = this.out(r, 'h_all');
    const cAll = this.lstm ? this.out(r, 'c_all') : undefined;
    const last = this.lstm ? [this.out(r, 'h_last'), this.out(r, 'c_last')] : [this.out(r, 'h_last')];
    const stateCache = new Map<number, StateTensors>();
    const stateAt = (j: number): StateTensors => {
      if (j < 0) return prev;
      if (j === n - 1) return last;
      let s = stateCache.get(j);
      if (s === undefined) {
        s = cAll === undefined ? [sliceStacked(hAll, j)] : [sliceStacked(hAll, j), sliceStacked(cAll, j)];
        stateCache.set(j, s);
      }
      return s;
    };
    const actsAll = kind === 'range-stacked' ? this.out(r, 'acts_all') : undefined;
    for (let j = 0; j < n; j++) {
      const want = wants[j];
      if (want === 'none') continue;
      states[offset + j] = stateAt(j);
      if (want !== 'internal') continue;
      let extra: Tensor[] = [];
      if (acts) {
        if (actsAll !== undefined) extra = [sliceStacked(actsAll, j)];
        else if (j === n - 1) extra = [this.out(r, 'acts_last')];
        else throw new Error(`${this.name}: internal state of step ${t0 + j + 1} in the middle of a range`);
      }
      internals[offset + j] = { prev: stateAt(j - 1), next: stateAt(j), extra };
    }
    return last;
  }

  async backward(internal: InternalData, d: StateTensors | null, t: number): Promise<StateTensors> {
    const start = now();
    const { B, H, G } = this;
    const dtype = this.s.graph.dtype;
    const weight = lossWeight(this.batch, t);
    const withHead = weight > 0;
    const feeds: Record<string, Tensor | undefined> = {
      U: this.params['U'],
      dh: d?.[0] ?? this.zeros,
      dc: d?.[1] ?? this.zeros,
      h_prev: internal.prev[0],
      c_prev: internal.prev[1],
      h: internal.next[0],
      c: internal.next[1],
      acts: internal.extra[0],
    };
    if (this.s.mode === 'recomputed') {
      feeds['x'] = this.inputs(t, 1);
      Object.assign(feeds, this.params);
    }
    if (withHead) {
      feeds['Wy'] = this.params['Wy'];
      feeds['by'] = this.params['by'];
      feeds['weight'] = scalarTensor(dtype, weight);
      const targets = this.arrays.targets;
      if (targets instanceof BigInt64Array) {
        feeds['target'] = new OrtTensor('int64', targets.subarray((t - 1) * B, t * B), [B]);
      } else {
        feeds['target'] = floatTensor(targets.subarray((t - 1) * B * this.O, t * B * this.O), [B, this.O]);
      }
    }
    const sp = this.s.sparsity;
    let sampleSize = B * G;
    if (sp?.mode === 'fixed') feeds['threshold'] = scalarTensor(dtype, sp.threshold);
    else if (sp?.mode === 'dynamic') {
      const rows = Math.min(B, sp.sampleRows ?? B);
      sampleSize = rows * G;
      feeds['keep_count'] = new OrtTensor(
        'int64',
        BigInt64Array.of(BigInt(keptCount(sampleSize, sp.targetSparsity))),
        [1],
      );
      feeds['sample_rows'] = new OrtTensor('int64', BigInt64Array.of(BigInt(rows)), [1]);
    }
    const r = await this.run(withHead ? 'bwd-head' : 'bwd', feeds);
    this.counters.backwardRuns++;
    const dPrev = this.lstm ? [this.out(r, 'dh_prev'), this.out(r, 'dc_prev')] : [this.out(r, 'dh_prev')];
    if (withHead) this.lossSum += scalarOf(this.out(r, 'loss'));
    if (sp !== undefined) {
      this.sparsityCounter.add(
        B * G,
        scalarOf(this.out(r, 'zeros')),
        scalarOf(this.out(r, 'threshold_used')),
      );
      if (withHead) this.sparsityCounter.addHeadStep();
    }
    const hPrev = internal.prev[0];
    const hNext = internal.next[0];
    if (hPrev === undefined || hNext === undefined)
      throw new Error(`${this.name}: incomplete internal state`);
    this.addRows(r, t, t, {
      hPrev: floatData(hPrev),
      dy: withHead ? floatData(this.out(r, 'dy')) : this.zerosHead,
      h: floatData(hNext),
    });
    this.counters.backwardMs += now() - start;
    if (t === 1) {
      let o = 0;
      for (const part of dPrev) {
        this.dInitial.set(floatData(part), o);
        o += B * H;
      }
    }
    await this.flush();
    return dPrev;
  }

  /** Hand the rows of backward steps `to .. from` (a backward run's outputs, and theirs) to the chunk store. */
  private addRows(
    r: InferenceSession.ReturnType,
    from: number,
    to: number,
    rows: { readonly hPrev: FloatArray; readonly dy: FloatArray; readonly h: FloatArray },
  ): void {
    const size = this.B * this.I;
    this.chunks.add(from, to, {
      dA: floatData(this.out(r, 'dgates')),
      dAh: this.s.graph.cell === 'gru' ? floatData(this.out(r, 'dgates_h')) : undefined,
      x:
        this.arrays.ids === undefined
          ? this.arrays.inputs.subarray((to - 1) * size, from * size)
          : this.oneHotRows(to, from),
      ...rows,
    });
  }

  /**
   * The one-hot rows of the token ids of steps `to .. from` (a batch of ids), `(from - to + 1) B I` in
   * ascending step order: built for the weight-gradient products of the rows a backward range hands over,
   * rather than for the whole batch at once (`T B I` floats: 1.1 GB at T = 100,000 with 89 symbols).
   */
  private oneHotRows(to: number, from: number): FloatArray {
    const ids = this.arrays.ids as BigInt64Array;
    const I = this.I;
    const rows = (from - to + 1) * this.B;
    const out = allocFloat(this.s.graph.dtype, rows * I);
    const first = (to - 1) * this.B;
    for (let r = 0; r < rows; r++) out[r * I + Number(ids[first + r])] = 1;
    return out;
  }

  /** Make the weight-gradient products of the complete chunks in one run of their own, and add them up. */
  private async flush(): Promise<void> {
    if (!this.chunks.hasComplete) return;
    const start = now();
    const { full, short } = this.chunks.takeComplete();
    const kind = `chunks:${full.length > 0 ? 'F' : ''}${short === undefined ? '' : 'S'}`;
    const feeds: Record<string, Tensor | undefined> = {};
    if (this.s.inputGradients !== false) feeds['W'] = this.params['W'];
    const ascending = [...full].reverse();
    if (full.length > 0) Object.assign(feeds, this.chunkFeeds('cg', ascending));
    if (short !== undefined) Object.assign(feeds, this.chunkFeeds('cs', [short]));
    const r = await this.run(kind, feeds);
    this.counters.weightGradientRuns++;
    if (full.length > 0) this.addChunkProducts(r, 'cg', ascending);
    if (short !== undefined) this.addChunkProducts(r, 'cs', [short]);
    this.chunks.release([...full, short]);
    this.counters.weightGradientMs += now() - start;
  }

  /**
   * The inputs of a group of chunks (`prefix` `cg` or `cs`) of equal size, in ascending step order: per
   * role one tensor `[C, rows, width]`, a view when the chunks' rows lie one after another in one buffer.
   */
  private chunkFeeds(prefix: string, chunks: readonly Chunk[]): Record<string, Tensor | undefined> {
    const first = chunks[0];
    if (first === undefined) throw new Error(`${this.name}: an empty group of chunks`);
    const C = chunks.length;
    const R = first.size * this.B;
    const feeds: Record<string, Tensor | undefined> = {};
    for (const role of CHUNK_ROLES) {
      const parts = chunks.map((c) => c.rows[role]);
      if (parts.some((p) => p === undefined)) continue;
      const rows = parts as FloatArray[];
      feeds[`${prefix}_${CHUNK_INPUTS[role]}`] = floatTensor(
        this.stackArrays(rows, `${prefix}:${role}`).data,
        [C, R, (rows[0] as FloatArray).length / R],
      );
    }
    const n = C * R;
    // The row sums' ones: a reusable buffer of its own, filled whenever it is allocated anew (zeros).
    const ones = this.scratch('ones', n);
    if (ones[0] !== 1) ones.fill(1);
    feeds[`${prefix}_ones`] = floatTensor(ones.subarray(0, n), [C, 1, R]);
    return feeds;
  }

  /** Add a group's products up, highest chunk first: the same order whatever the groups and runs. */
  private addChunkProducts(
    r: InferenceSession.ReturnType,
    prefix: string,
    ascending: readonly Chunk[],
  ): void {
    const names =
      this.s.graph.cell === 'gru' ? ['W', 'U', 'b', 'bu', 'Wy', 'by'] : ['W', 'U', 'b', 'Wy', 'by'];
    const outputs = names.map((name) => [name, floatData(this.out(r, `${prefix}_d${name}`))] as const);
    const dx = this.s.inputGradients !== false ? floatData(this.out(r, `${prefix}_dx`)) : undefined;
    const size = this.B * this.I;
    for (let c = ascending.length - 1; c >= 0; c--) {
      const chunk = ascending[c] as Chunk;
      for (const [name, all] of outputs) {
        const acc = this.grads[name] as Float64Array;
        accumulate(acc, all.subarray(c * acc.length, (c + 1) * acc.length));
      }
      if (dx !== undefined) {
        const rows = chunk.size * size;
        accumulate(this.dInputs, dx.subarray(c * rows, (c + 1) * rows), (chunk.low - 1) * size);
      }
    }
  }

  /**
   * The reusable buffer of `role`, at least `total` elements. It grows at least twofold: ranges grow a
   * little at a time (MSM's backward ranges: 3, 4, .. 44 steps), and allocating each size anew made a
   * backend's first pass touch hundreds of megabytes of fresh memory.
   */
  private scratch(role: string, total: number): FloatArray {
    let buffer = this.stackScratch.get(role);
    if (buffer === undefined || buffer.length < total) {
      buffer = allocFloat(this.s.graph.dtype, Math.max(total, 2 * (buffer?.length ?? 0)));
      this.stackScratch.set(role, buffer);
    }
    return buffer;
  }

  /**
   * `parts` one after another: a view when they already are (see `sideBySide`), otherwise a copy into the
   * buffer of `role`.
   */
  private stackArrays(
    parts: readonly FloatArray[],
    role: string,
  ): { readonly data: FloatArray; readonly copied: boolean } {
    if (parts.length === 0) throw new Error(`${this.name}: nothing to stack`);
    const view = sideBySide(parts);
    if (view !== undefined) return { data: view, copied: false };
    let total = 0;
    for (const p of parts) total += p.length;
    const data = this.scratch(role, total).subarray(0, total);
    let o = 0;
    for (const p of parts) {
      data.set(p, o);
      o += p.length;
    }
    return { data, copied: true };
  }

  zeroGradients(): void {
    this.refreshParameters();
    this.resetAccumulators();
  }

  loss(): number {
    return this.lossSum;
  }

  async readGradients(): Promise<GradientReadout> {
    await this.flush();
    const parameters: Record<string, Float64Array> = {};
    for (const [k, v] of Object.entries(this.grads)) parameters[k] = v.slice();
    const initialState = this.dInitial.slice();
    if (this.s.inputGradients === false) return { parameters, initialState };
    return { parameters, inputs: this.dInputs.slice(), initialState };
  }

  // The range-level program (version 2 of the backend interface).

  /**
   * `x_{t}, .., x_{t+n-1}` as the forward range graph's input, without a copy: `xs` `[n, B, I]`, or for a
   * batch of token ids `ids` `[n, B]`.
   */
  private stackedInputs(t: number, n: number): { xs: Tensor } | { ids: Tensor } {
    const ids = this.arrays.ids;
    if (ids !== undefined)
      return {
        ids: new OrtTensor('int64', ids.subarray((t - 1) * this.B, (t - 1 + n) * this.B), [n, this.B]),
      };
    const size = this.B * this.I;
    return {
      xs: floatTensor(this.arrays.inputs.subarray((t - 1) * size, (t - 1 + n) * size), [n, this.B, this.I]),
    };
  }

  /**
   * `parts` (tensors of equal size, in order) as one tensor of shape `dims`: a view when they lie one after
   * another in one buffer (checkpoints that came out of one stacked output), otherwise a copy into the
   * buffer of `role` (counted in `gatherBytes`).
   */
  private stack(parts: readonly Tensor[], dims: readonly number[], role: string): Tensor {
    // A copy is reused: what a backward range stacks is held until the next backward range's run at most
    // (see the two sets of buffers in `backwardRangeV2`).
    const { data, copied } = this.stackArrays(
      parts.map((p) => floatData(p)),
      role,
    );
    if (copied) this.counters.gatherBytes += data.byteLength;
    return floatTensor(data, dims);
  }

  /** Row `j` of a stacked output `[K, ...]`, as a view (no copy). */
  private row(t: Tensor, j: number): Tensor {
    const rest = t.dims.slice(1);
    const size = rest.reduce((a, b) => a * b, 1);
    return floatTensor(floatData(t).subarray(j * size, (j + 1) * size), rest);
  }

  /**
   * Forward steps `from + 1 .. to` from `start`, keeping one checkpoint of `store.kind` at every
   * `from + i * stride` and, when `keepWorking`, the internal state of step `to` (unless kept already).
   *
   * One run per range, except a strided store, which runs in pieces of at most `rangeRows` steps (rounded
   * down to a multiple of the stride; a stride of at least `rangeRows` runs one piece per stride that
   * outputs only its final state): the stacked outputs a run holds before its rows are sliced are bounded
   * by `max(rangeRows, stride)` rows. A range that stores nothing outputs only its final state (and the
   * working internal state when asked): no stacked outputs.
   *
   * `entering`, when `start` is the state after an internal checkpoint's step, is the state before that
   * step: a range keeping every internal state then computes the checkpoint's step again in front, so that
   * a backward range over both finds all their rows side by side in one buffer (`sideBySide`: no copy of
   * the range's states). One step more; the row in front is not returned.
   */
  async forwardRangeV2(
    start: StateTensors,
    from: number,
    to: number,
    store: { readonly kind: 'hidden' | 'internal'; readonly stride: number } | undefined,
    keepWorking: boolean,
    entering?: StateTensors,
  ): Promise<{ kept: (StateTensors | InternalData)[]; working?: InternalData }> {
    const t0 = now();
    const n = to - from;
    type Piece = { a: number; b: number; keep: RangeKeep; strided: boolean; last?: 'hidden' | 'internal' };
    const pieces: Piece[] = [];
    if (store === undefined) pieces.push({ a: from, b: to, keep: 'none', strided: false });
    else if (store.stride === n)
      pieces.push({ a: from, b: to, keep: 'none', strided: false, last: store.kind });
    else if (store.stride === 1) pieces.push({ a: from, b: to, keep: store.kind, strided: false });
    else {
      const k = store.stride;
      if (k >= this.s.rangeRows) {
        let a = from;
        for (; a + k <= to; a += k)
          pieces.push({ a, b: a + k, keep: 'none', strided: false, last: store.kind });
        if (a < to) pieces.push({ a, b: to, keep: 'none', strided: false });
      } else {
        const span = Math.floor(this.s.rangeRows / k) * k;
        for (let a = from; a < to; a += span) {
          pieces.push({ a, b: Math.min(to, a + span), keep: store.kind, strided: true });
        }
      }
    }
    const internalAtEnd = store?.kind === 'internal' && n % store.stride === 0;
    const wantWorking = keepWorking && !internalAtEnd;
    const kept: (StateTensors | InternalData)[] = [];
    let working: InternalData | undefined;
    let prev = start;
    for (let p = 0; p < pieces.length; p++) {
      const piece = pieces[p] as Piece;
      const lastPiece = p === pieces.length - 1;
      const front =
        entering !== undefined &&
        from > 0 &&
        pieces.length === 1 &&
        piece.keep === 'internal' &&
        !piece.strided
          ? 1
          : 0;
      this.counters.rangeFrontSteps += front;
      const pieceWorking = piece.last === 'internal' || (lastPiece && wantWorking);
      // One step whose internal state is wanted: the graph keeping every internal state (one row).
      const single = piece.keep === 'none' && pieceWorking && piece.b - piece.a === 1;
      const kind = single
        ? 'v2fwd:internal:all:final'
        : `v2fwd:${piece.keep}:${piece.strided ? 'strided' : 'all'}:${pieceWorking ? 'working' : 'final'}`;
      const first = front === 1 ? (entering as StateTensors) : prev;
      const feeds: Record<string, Tensor | undefined> = {
        ...this.stackedInputs(piece.a + 1 - front, piece.b - piece.a + front),
        h0: first[0],
        c0: first[1],
        ...this.params,
      };
      if (piece.strided && store !== undefined) {
        feeds['keep_start'] = new OrtTensor('int64', BigInt64Array.of(BigInt(store.stride - 1)), [1]);
        feeds['keep_step'] = new OrtTensor('int64', BigInt64Array.of(BigInt(store.stride)), [1]);
      }
      const r = await this.run(kind, feeds);
      this.counters.forwardRuns++;
      let last: StateTensors;
      if (single) {
        last = this.lstm
          ? [this.row(this.out(r, 'h_all'), 0), this.row(this.out(r, 'c_all'), 0)]
          : [this.row(this.out(r, 'h_all'), 0)];
      } else if (piece.keep !== 'none' && !piece.strided) {
        const hAll = this.out(r, 'h_all');
        const j = (hAll.dims[0] ?? 0) - 1;
        last = this.lstm ? [this.row(hAll, j), this.row(this.out(r, 'c_all'), j)] : [this.row(hAll, j)];
      } else {
        last = this.lstm ? [this.out(r, 'h_last'), this.out(r, 'c_last')] : [this.out(r, 'h_last')];
      }
      const workingOf = (): InternalData =>
        single
          ? {
              prev: this.lstm
                ? [this.row(this.out(r, 'hp_all'), 0), this.row(this.out(r, 'cp_all'), 0)]
                : [this.row(this.out(r, 'hp_all'), 0)],
              next: last,
              extra: savesActs(this.s.graph.cell, 'saved') ? [this.row(this.out(r, 'acts_all'), 0)] : [],
            }
          : {
              prev: this.lstm ? [this.out(r, 'wp_h'), this.out(r, 'wp_c')] : [this.out(r, 'wp_h')],
              next: last,
              extra: savesActs(this.s.graph.cell, 'saved') ? [this.out(r, 'w_acts')] : [],
            };
      if (piece.keep !== 'none') {
        const hAll = this.out(r, 'h_all');
        const cAll = this.lstm ? this.out(r, 'c_all') : undefined;
        const rows = hAll.dims[0] ?? 0;
        const state = (j: number): StateTensors =>
          cAll === undefined ? [this.row(hAll, j)] : [this.row(hAll, j), this.row(cAll, j)];
        if (piece.keep === 'hidden') {
          for (let j = 0; j < rows; j++) kept.push(state(j));
        } else {
          // (`front`: row 0 is the step before the range, not returned.)
          const hpAll = this.out(r, 'hp_all');
          const cpAll = this.lstm ? this.out(r, 'cp_all') : undefined;
          const actsAll = savesActs(this.s.graph.cell, 'saved') ? this.out(r, 'acts_all') : undefined;
          for (let j = front; j < rows; j++) {
            kept.push({
              prev: cpAll === undefined ? [this.row(hpAll, j)] : [this.row(hpAll, j), this.row(cpAll, j)],
              next: state(j),
              extra: actsAll === undefined ? [] : [this.row(actsAll, j)],
            });
          }
        }
      } else if (piece.last === 'hidden') kept.push(last);
      else if (piece.last === 'internal') kept.push(workingOf());
      if (lastPiece && wantWorking)
        working = piece.last === 'internal' ? (kept[kept.length - 1] as InternalData) : workingOf();
      prev = last;
    }
    this.counters.rangeForwardSteps += n;
    this.counters.forwardMs += now() - t0;
    return working === undefined ? { kept } : { kept, working };
  }

  /**
   * Backward steps `from, .., to` as one reverse `Scan` run (and, when some steps are recomputed from a
   * held state, one forward run before it computing all of them side by side in the batch dimension).
   * `sources[i]` is step `from - i`'s internal state, or the state at its position `t - 1` to recompute it
   * from. The gate gradients join the deferred weight-gradient chunks, whose boundaries do not depend on
   * the ranges, so that every policy sums the same products in the same order. The products of the chunks
   * that earlier ranges completed are made in this range's run; the last range (ending at step 1) makes
   * those of its own chunks in one more run: runs per pass are the instructions' plus one.
   */
  async backwardRangeV2(
    from: number,
    to: number,
    sources: readonly ({ readonly internal: InternalData } | { readonly recomputeFrom: StateTensors })[],
    d: StateTensors | null,
  ): Promise<StateTensors> {
    const t0 = now();
    const { B, H, O } = this;
    const n = from - to + 1;
    const dtype = this.s.graph.dtype;
    const internals: (InternalData | undefined)[] = new Array(n).fill(undefined);
    const recompute: number[] = [];
    for (let i = 0; i < n; i++) {
      const src = sources[i];
      if (src === undefined) throw new Error(`${this.name}: no source for step ${from - i}`);
      if ('internal' in src) internals[n - 1 - i] = src.internal;
      else recompute.push(n - 1 - i);
    }
    // Steps whose internal state is not held are recomputed inside the backward run, side by side in the
    // batch dimension, from the states they start from: their rows of the stacked inputs are placeholders
    // (zeros) that the graph replaces.
    const recomputeFeeds: Record<string, Tensor | undefined> = {};
    if (recompute.length > 0) {
      recompute.sort((a, b) => a - b);
      const m = recompute.length;
      const starts = recompute.map((j) => {
        const src = sources[n - 1 - j] as { readonly recomputeFrom: StateTensors };
        return src.recomputeFrom;
      });
      const ids = this.arrays.ids;
      if (ids !== undefined) {
        const rows = new BigInt64Array(m * B);
        recompute.forEach((j, k) => {
          rows.set(ids.subarray((to + j - 1) * B, (to + j) * B), k * B);
        });
        recomputeFeeds['r_ids'] = new OrtTensor('int64', rows, [1, m * B]);
      } else {
        const size = B * this.I;
        recomputeFeeds['r_xs'] = this.stack(
          recompute.map((j) =>
            floatTensor(this.arrays.inputs.subarray((to + j - 1) * size, (to + j) * size), [1, B, this.I]),
          ),
          [1, m * B, this.I],
          'xs',
        );
      }
      recomputeFeeds['r_h0'] = this.stack(
        starts.map((s) => s[0] as Tensor),
        [m * B, H],
        'h0',
      );
      if (this.lstm) {
        recomputeFeeds['r_c0'] = this.stack(
          starts.map((s) => s[1] as Tensor),
          [m * B, H],
          'c0',
        );
      }
      recomputeFeeds['r_index'] = new OrtTensor(
        'int64',
        BigInt64Array.from(recompute, (j) => BigInt(j)),
        [m, 1],
      );
      Object.assign(recomputeFeeds, this.params);
      this.counters.rangeForwardSteps += m;
      const A = ACTS_WIDTH[this.s.graph.cell] * H;
      if (A > 0) this.actsZeros ??= floatTensor(allocFloat(dtype, B * A), [B, A]);
      recompute.forEach((j, k) => {
        const start = starts[k] as StateTensors;
        internals[j] = {
          prev: start,
          next: this.lstm ? [this.zeros, this.zeros] : [this.zeros],
          extra: A > 0 && this.actsZeros !== undefined ? [this.actsZeros] : [],
        };
      });
    }
    const all = internals as InternalData[];
    // The rows of this range stay referenced by chunks waiting for their products until the next backward
    // range's run: consecutive backward ranges stack into two sets of buffers in turn.
    const set = this.scratchSet;
    this.scratchSet = 1 - set;
    const pick = (role: string, f: (s: InternalData) => Tensor | undefined, width: number): Tensor =>
      this.stack(
        all.map((s) => {
          const v = f(s);
          if (v === undefined) throw new Error(`${this.name}: an internal state lacks a tensor`);
          return v;
        }),
        [n, B, width],
        `${role}#${set}`,
      );
    const A = ACTS_WIDTH[this.s.graph.cell] * H;
    const hNext = pick('h', (s) => s.next[0], H);
    const hPrev = pick('h_prev', (s) => s.prev[0], H);
    const weights = allocFloat(dtype, n);
    for (let j = 0; j < n; j++) weights[j] = lossWeight(this.batch, to + j);
    const targets = this.arrays.targets;
    const feeds: Record<string, Tensor | undefined> = {
      U: this.params['U'],
      Wy: this.params['Wy'],
      by: this.params['by'],
      dh: d?.[0] ?? this.zeros,
      dc: this.lstm ? (d?.[1] ?? this.zeros) : undefined,
      h: hNext,
      acts: A > 0 ? pick('acts', (s) => s.extra[0], A) : undefined,
      c_prev: this.lstm ? pick('c_prev', (s) => s.prev[1], H) : undefined,
      c: this.lstm ? pick('c', (s) => s.next[1], H) : undefined,
      h_prev: hPrev,
      target:
        targets instanceof BigInt64Array
          ? new OrtTensor('int64', targets.subarray((to - 1) * B, from * B), [n, B])
          : floatTensor(targets.subarray((to - 1) * B * O, from * B * O), [n, B, O]),
      weight: floatTensor(weights, [n]),
    };
    // Chunks completed by earlier backward ranges get their products in this run. (Only the chunk ending at
    // step 1 can be shorter, and it completes in the last range: never waiting here.)
    const waiting = this.chunks.takeComplete();
    if (waiting.short !== undefined) throw new Error(`${this.name}: internal: a short chunk waited`);
    const ascending = [...waiting.full].reverse();
    if (ascending.length > 0) {
      Object.assign(feeds, this.chunkFeeds('cg', ascending));
      if (this.s.inputGradients !== false) feeds['W'] = this.params['W'];
    }
    Object.assign(feeds, recomputeFeeds);
    const kind = `v2bwd${ascending.length > 0 ? ':chunks' : ''}${recompute.length > 0 ? ':recompute' : ''}`;
    const r = await this.run(kind, feeds);
    this.counters.backwardRuns++;
    if (ascending.length > 0) {
      this.addChunkProducts(r, 'cg', ascending);
      this.chunks.release(ascending);
    }
    const dPrev: StateTensors = this.lstm
      ? [this.out(r, 'dh_first'), this.out(r, 'dc_first')]
      : [this.out(r, 'dh_first')];
    const losses = floatData(this.out(r, 'loss'));
    for (let j = n - 1; j >= 0; j--) if ((weights[j] as number) > 0) this.lossSum += losses[j] as number;
    this.addRows(r, from, to, {
      hPrev: floatData(hPrev),
      dy: floatData(this.out(r, 'dy')),
      h: floatData(recompute.length > 0 ? this.out(r, 'h_all') : hNext),
    });
    this.counters.backwardMs += now() - t0;
    if (to === 1) {
      let o = 0;
      for (const part of dPrev) {
        this.dInitial.set(floatData(part), o);
        o += B * H;
      }
      // The last range: the chunks it completed get their products now, in one run.
      await this.flush();
    }
    this.counters.rangeBackwardSteps += n;
    return dPrev;
  }

  /** Bytes held by the deferred weight-gradient buffers (working memory, not checkpoints). */
  deferredBytes(): number {
    return this.chunks.bytes();
  }
}
