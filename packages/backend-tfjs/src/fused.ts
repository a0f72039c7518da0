import * as tf from '@tensorflow/tfjs-core';
import { registerWebGpuKernels, webGpuKernelsSupported } from './fused-webgpu.js';
import type { NativeKernels } from './native.js';

// Fused step kernels of the built-in LSTM and GRU cells and of the loss heads, registered as tfjs kernels
// (so that tfjs' engine sees them: memory accounting, tidy scopes, disposal) on the wasm and cpu
// backends. Each replaces a dozen elementwise kernels of a step by one pass over the data, computed in
// float64 and stored as float32. The recurrent and weight-gradient matrix products stay tfjs matMuls.
// On wasm, the LSTM and GRU step kernels and the row scatter run in WebAssembly SIMD instead where the native
// kernels are loaded (see `setNativeKernels`; float32 arithmetic, one pass over a step's data).
//
// Layouts (row-major): gate blocks of `H` columns in the order LSTM `i, f, g, o`, GRU `z, r, n`;
// `G = gates * H`. The input projections arrive as a table `xs` of rows of `G` values and `rows` (int32,
// one per batch row) saying which row of `xs` batch row `r` uses: for token ids, `xs = W^T + b` and `rows`
// the ids (a gather, no one-hot product); for dense inputs, `xs` a block of projected steps `x W^T + b`.

/** The names of the fused kernels. */
export const FUSED_KERNELS = {
  lstmForward: 'RewindLstmStep',
  lstmBackward: 'RewindLstmStepGrad',
  gruForward: 'RewindGruStep',
  gruBackward: 'RewindGruStepGrad',
  softmaxLoss: 'RewindSoftmaxXent',
  mseLoss: 'RewindMseLoss',
  scatterRows: 'RewindScatterRows',
  rows: 'RewindRows',
} as const;

type F32 = Float32Array;

interface OutputSpec {
  readonly shape: number[];
}

/**
 * What a kernel's arithmetic sees: fresh views of its inputs, outputs and scratch buffers (fetch them again
 * after `sigmoid`, which may move the wasm heap), and an elementwise sigmoid from one scratch buffer into
 * another (the backend's vectorised kernel on wasm).
 */
interface Context {
  /** The native kernels and byte offsets of inputs and outputs, on wasm where they are loaded. */
  readonly native?: {
    readonly kernels: NativeKernels;
    in(name: string): number;
    out(k: number): number;
  };
  in(name: string): F32;
  ids(name: string): Int32Array;
  has(name: string): boolean;
  out(k: number): F32;
  scratch(k: number): F32;
  sigmoid(from: number, to: number): void;
}

/** How a kernel reads its inputs and writes its outputs on one backend. */
interface Access {
  run(
    inputs: Readonly<Record<string, tf.TensorInfo | undefined>>,
    outputs: readonly OutputSpec[],
    scratch: readonly number[],
    compute: (ctx: Context) => void,
  ): tf.TensorInfo[];
}

interface CpuBackendLike {
  data: { get(dataId: unknown): { values: Float32Array | Int32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
  disposeData(dataId: unknown): boolean;
  dataIdMap: { get(dataId: unknown): { id: number; memoryOffset: number } };
  wasm: { cwrap(name: string, ret: null, args: string[]): (...args: number[]) => void };
}

const size = (shape: readonly number[]): number => shape.reduce((n, k) => n * k, 1);

function sigmoidLoop(from: F32, to: F32): void {
  for (let i = 0; i < from.length; i++) to[i] = 1 / (1 + Math.exp(-(from[i] as number)));
}

function cpuAccess(backend: CpuBackendLike): Access {
  return {
    run(inputs, outputs, scratchSizes, compute) {
      const out = outputs.map((o) => new Float32Array(size(o.shape)));
      const scratch: (F32 | undefined)[] = [];
      const scratchAt = (k: number): F32 => {
        let a = scratch[k];
        if (a === undefined) {
          a = new Float32Array(scratchSizes[k] ?? 0);
          scratch[k] = a;
        }
        return a;
      };
      const view = (name: string): Float32Array | Int32Array => {
        const info = inputs[name];
        if (info === undefined) throw new Error(`internal: missing input ${name}`);
        return backend.data.get(info.dataId).values;
      };
      compute({
        in: (name) => view(name) as F32,
        ids: (name) => view(name) as Int32Array,
        has: (name) => inputs[name] !== undefined,
        out: (k) => out[k] as F32,
        scratch: scratchAt,
        sigmoid: (from, to) => sigmoidLoop(scratchAt(from), scratchAt(to)),
      });
      return outputs.map((o, k) => backend.makeTensorInfo(o.shape, 'float32', out[k] as F32));
    },
  };
}

const wasmSigmoid = new WeakMap<object, (x: number, out: number) => void>();
const nativeOf = new WeakMap<object, NativeKernels>();

/**
 * Make the fused kernels on the wasm backend `backend` (the backend object) run the native kernels
 * (`undefined`: the JavaScript ones).
 */
export function setNativeKernels(backend: object, kernels: NativeKernels | undefined): void {
  if (kernels === undefined) nativeOf.delete(backend);
  else nativeOf.set(backend, kernels);
}

function wasmAccess(backend: WasmBackendLike): Access {
  let sigmoid = wasmSigmoid.get(backend);
  if (sigmoid === undefined) {
    sigmoid = backend.wasm.cwrap('Sigmoid', null, ['number', 'number']);
    wasmSigmoid.set(backend, sigmoid);
  }
  const run = sigmoid;
  const kernels = nativeOf.get(backend);
  const offset = (info: tf.TensorInfo): number => backend.dataIdMap.get(info.dataId).memoryOffset;
  return {
    run(inputs, outputs, scratchSizes, compute) {
      // Allocate the outputs first; views are fetched afresh each time (a growing heap detaches them).
      const infos = outputs.map((o) => backend.makeOutput(o.shape, 'float32'));
      const scratch: (tf.TensorInfo | undefined)[] = [];
      const scratchAt = (k: number): tf.TensorInfo => {
        let info = scratch[k];
        if (info === undefined) {
          info = backend.makeOutput([scratchSizes[k] ?? 0], 'float32');
          scratch[k] = info;
        }
        return info;
      };
      const input = (name: string): tf.TensorInfo => {
        const info = inputs[name];
        if (info === undefined) throw new Error(`internal: missing input ${name}`);
        return info;
      };
      try {
        const view = (name: string): Float32Array | Int32Array => backend.typedArrayFromHeap(input(name));
        compute({
          ...(kernels === undefined
            ? {}
            : {
                native: {
                  kernels,
                  in: (name: string) => offset(input(name)),
                  out: (k: number) => offset(infos[k] as tf.TensorInfo),
                },
              }),
          in: (name) => view(name) as F32,
          ids: (name) => view(name) as Int32Array,
          has: (name) => inputs[name] !== undefined,
          out: (k) => backend.typedArrayFromHeap(infos[k] as tf.TensorInfo) as F32,
          scratch: (k) => backend.typedArrayFromHeap(scratchAt(k)) as F32,
          sigmoid: (from, to) =>
            run(
              backend.dataIdMap.get(scratchAt(from).dataId).id,
              backend.dataIdMap.get(scratchAt(to).dataId).id,
            ),
        });
      } finally {
        for (const info of scratch) if (info !== undefined) backend.disposeData(info.dataId);
      }
      return infos;
    },
  };
}

const ACCESS: Record<string, (backend: unknown) => Access> = {
  cpu: (b) => cpuAccess(b as CpuBackendLike),
  wasm: (b) => wasmAccess(b as WasmBackendLike),
};

/** The native kernels for rows of `width` values (a multiple of 4: four SIMD lanes), where loaded. */
function nativeFor(ctx: Context, width: number): Context['native'] {
  return width % 4 === 0 ? ctx.native : undefined;
}

// ---------------------------------------------------------------------------------------------------
// The arithmetic. tanh is computed as `2 sigmoid(2a) - 1`, as the composite steps do.

/**
 * LSTM forward step: outputs `h`, `c` (`[B, H]`) and the saved gates `i, f, g, o, tanh(c)` (`[B, 5H]`,
 * left unwritten when `keep` is false: a step whose internal state is not kept). Scratch: pre-activations
 * and gates (`B 4H` each), `2 c` and its sigmoid (`B H` each).
 */
function lstmForward(ctx: Context, B: number, H: number, keep: boolean): void {
  const native = nativeFor(ctx, H);
  if (native !== undefined) {
    native.kernels.lstmForward(
      native.in('xs'),
      native.in('rows'),
      native.in('hu'),
      native.in('cPrev'),
      native.out(0),
      native.out(1),
      native.out(2),
      B,
      H,
      keep ? 1 : 0,
    );
    return;
  }
  const G = 4 * H;
  {
    const xs = ctx.in('xs');
    const rows = ctx.ids('rows');
    const hu = ctx.in('hu');
    const pre = ctx.scratch(0);
    for (let r = 0; r < B; r++) {
      const xo = (rows[r] as number) * G;
      const uo = r * G;
      // The g block is doubled (tanh through sigmoid); doubling commutes with rounding to float32.
      for (let k = 0; k < 2 * H; k++) pre[uo + k] = (xs[xo + k] as number) + (hu[uo + k] as number);
      for (let k = 2 * H; k < 3 * H; k++) pre[uo + k] = 2 * ((xs[xo + k] as number) + (hu[uo + k] as number));
      for (let k = 3 * H; k < G; k++) pre[uo + k] = (xs[xo + k] as number) + (hu[uo + k] as number);
    }
  }
  ctx.sigmoid(0, 1);
  {
    const s = ctx.scratch(1);
    const cPrev = ctx.in('cPrev');
    const c = ctx.out(1);
    const c2 = ctx.scratch(2);
    const saved = ctx.out(2);
    for (let r = 0; r < B; r++) {
      const go = r * G;
      const so = r * 5 * H;
      const ho = r * H;
      for (let j = 0; j < H; j++) {
        const i = s[go + j] as number;
        const f = s[go + H + j] as number;
        const g = 2 * (s[go + 2 * H + j] as number) - 1;
        const cn = f * (cPrev[ho + j] as number) + i * g;
        c[ho + j] = cn;
        c2[ho + j] = 2 * cn;
        if (keep) {
          saved[so + j] = i;
          saved[so + H + j] = f;
          saved[so + 2 * H + j] = g;
          saved[so + 3 * H + j] = s[go + 3 * H + j] as number;
        }
      }
    }
  }
  ctx.sigmoid(2, 3);
  {
    const st = ctx.scratch(3);
    const s = ctx.scratch(1);
    const h = ctx.out(0);
    const saved = ctx.out(2);
    for (let r = 0; r < B; r++) {
      const go = r * G;
      const so = r * 5 * H;
      const ho = r * H;
      for (let j = 0; j < H; j++) {
        const tc = 2 * (st[ho + j] as number) - 1;
        if (keep) saved[so + 4 * H + j] = tc;
        h[ho + j] = (s[go + 3 * H + j] as number) * tc;
      }
    }
  }
}

/** LSTM backward step: `da` (`[B, 4H]`) and `dc_prev` (`[B, H]`) from `dh` (+ `dh2`), `dc`, saved, `c_prev`. */
function lstmBackward(ctx: Context, B: number, H: number): void {
  const native = nativeFor(ctx, H);
  if (native !== undefined) {
    native.kernels.lstmBackward(
      native.in('dh'),
      ctx.has('dh2') ? native.in('dh2') : 0,
      ctx.has('dc') ? native.in('dc') : 0,
      native.in('saved'),
      native.in('cPrev'),
      native.out(0),
      native.out(1),
      B,
      H,
    );
    return;
  }
  const dh = ctx.in('dh');
  const dh2 = ctx.has('dh2') ? ctx.in('dh2') : undefined;
  const dc = ctx.has('dc') ? ctx.in('dc') : undefined;
  const saved = ctx.in('saved');
  const cPrev = ctx.in('cPrev');
  const da = ctx.out(0);
  const dcPrev = ctx.out(1);
  for (let r = 0; r < B; r++) {
    const so = r * 5 * H;
    const ao = r * 4 * H;
    const ho = r * H;
    for (let j = 0; j < H; j++) {
      const d = (dh[ho + j] as number) + (dh2 === undefined ? 0 : (dh2[ho + j] as number));
      const i = saved[so + j] as number;
      const f = saved[so + H + j] as number;
      const g = saved[so + 2 * H + j] as number;
      const o = saved[so + 3 * H + j] as number;
      const tc = saved[so + 4 * H + j] as number;
      let dct = d * o * (1 - tc * tc);
      if (dc !== undefined) dct += dc[ho + j] as number;
      da[ao + j] = dct * g * i * (1 - i);
      da[ao + H + j] = dct * (cPrev[ho + j] as number) * f * (1 - f);
      da[ao + 2 * H + j] = dct * i * (1 - g * g);
      da[ao + 3 * H + j] = d * tc * o * (1 - o);
      dcPrev[ho + j] = dct * f;
    }
  }
}

/**
 * GRU forward step: `h` (`[B, H]`) and the saved `z, r, n, U_n h + bu_n` (`[B, 4H]`). Scratch: the `z, r`
 * pre-activations and gates (`B 2H` each), `2 a_n` and its sigmoid (`B H` each).
 */
function gruForward(ctx: Context, B: number, H: number): void {
  const native = nativeFor(ctx, H);
  if (native !== undefined) {
    native.kernels.gruForward(
      native.in('xs'),
      native.in('rows'),
      native.in('hu'),
      native.in('bu'),
      native.in('hPrev'),
      native.out(0),
      native.out(1),
      B,
      H,
    );
    return;
  }
  const G = 3 * H;
  {
    const xs = ctx.in('xs');
    const rows = ctx.ids('rows');
    const hu = ctx.in('hu');
    const bu = ctx.in('bu');
    const pre = ctx.scratch(0);
    for (let r = 0; r < B; r++) {
      const xo = (rows[r] as number) * G;
      const uo = r * G;
      const po = r * 2 * H;
      for (let k = 0; k < 2 * H; k++) {
        pre[po + k] = (xs[xo + k] as number) + (hu[uo + k] as number) + (bu[k] as number);
      }
    }
  }
  ctx.sigmoid(0, 1);
  {
    const s = ctx.scratch(1);
    const xs = ctx.in('xs');
    const rows = ctx.ids('rows');
    const hu = ctx.in('hu');
    const bu = ctx.in('bu');
    const saved = ctx.out(1);
    const an2 = ctx.scratch(2);
    for (let r = 0; r < B; r++) {
      const xo = (rows[r] as number) * G;
      const uo = r * G;
      const po = r * 2 * H;
      const so = r * 4 * H;
      const ho = r * H;
      for (let j = 0; j < H; j++) {
        const z = s[po + j] as number;
        const rr = s[po + H + j] as number;
        const hn = (hu[uo + 2 * H + j] as number) + (bu[2 * H + j] as number);
        an2[ho + j] = 2 * ((xs[xo + 2 * H + j] as number) + rr * hn);
        saved[so + j] = z;
        saved[so + H + j] = rr;
        saved[so + 3 * H + j] = hn;
      }
    }
  }
  ctx.sigmoid(2, 3);
  {
    const sn = ctx.scratch(3);
    const hPrev = ctx.in('hPrev');
    const h = ctx.out(0);
    const saved = ctx.out(1);
    for (let r = 0; r < B; r++) {
      const so = r * 4 * H;
      const ho = r * H;
      for (let j = 0; j < H; j++) {
        const n = 2 * (sn[ho + j] as number) - 1;
        const z = saved[so + j] as number;
        saved[so + 2 * H + j] = n;
        h[ho + j] = n + z * ((hPrev[ho + j] as number) - n);
      }
    }
  }
}

/** GRU backward step: `dax`, `dah` (`[B, 3H]`) and `dh z` (`[B, H]`, the direct part of `dh_prev`). */
function gruBackward(ctx: Context, B: number, H: number): void {
  const native = nativeFor(ctx, H);
  if (native !== undefined) {
    native.kernels.gruBackward(
      native.in('dh'),
      ctx.has('dh2') ? native.in('dh2') : 0,
      native.in('saved'),
      native.in('hPrev'),
      native.out(0),
      native.out(1),
      native.out(2),
      B,
      H,
    );
    return;
  }
  const dh = ctx.in('dh');
  const dh2 = ctx.has('dh2') ? ctx.in('dh2') : undefined;
  const saved = ctx.in('saved');
  const hPrev = ctx.in('hPrev');
  const dax = ctx.out(0);
  const dah = ctx.out(1);
  const dhz = ctx.out(2);
  for (let r = 0; r < B; r++) {
    const so = r * 4 * H;
    const ao = r * 3 * H;
    const ho = r * H;
    for (let j = 0; j < H; j++) {
      const d = (dh[ho + j] as number) + (dh2 === undefined ? 0 : (dh2[ho + j] as number));
      const z = saved[so + j] as number;
      const rr = saved[so + H + j] as number;
      const n = saved[so + 2 * H + j] as number;
      const hn = saved[so + 3 * H + j] as number;
      const dan = d * (1 - z) * (1 - n * n);
      const daz = d * ((hPrev[ho + j] as number) - n) * z * (1 - z);
      const dar = dan * hn * rr * (1 - rr);
      dax[ao + j] = daz;
      dax[ao + H + j] = dar;
      dax[ao + 2 * H + j] = dan;
      dah[ao + j] = daz;
      dah[ao + H + j] = dar;
      dah[ao + 2 * H + j] = dan * rr;
      dhz[ho + j] = d * z;
    }
  }
}

/**
 * Softmax cross-entropy of logits `y` (`[B, V]`) at class ids: `dy` (`[B, V]`) and the loss of each of
 * `groups` consecutive equal groups of rows (each summed in float64, then weighted: a group is one step's
 * batch, so a block of steps gives each step's loss exactly as a step alone would).
 */
function softmaxLoss(ctx: Context, B: number, V: number, weight: number, groups: number): void {
  const y = ctx.in('y');
  const targets = ctx.ids('targets');
  const dy = ctx.out(0);
  const losses = ctx.out(1);
  const per = B / groups;
  let total = 0;
  for (let r = 0; r < B; r++) {
    const o = r * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < V; k++) max = Math.max(max, y[o + k] as number);
    let sum = 0;
    for (let k = 0; k < V; k++) {
      const e = Math.exp((y[o + k] as number) - max);
      dy[o + k] = e;
      sum += e;
    }
    const target = targets[r] as number;
    total += Math.log(sum) - ((y[o + target] as number) - max);
    const scale = weight / sum;
    for (let k = 0; k < V; k++) dy[o + k] = (dy[o + k] as number) * scale;
    dy[o + target] = (dy[o + target] as number) - weight;
    if ((r + 1) % per === 0) {
      losses[(r + 1) / per - 1] = weight * total;
      total = 0;
    }
  }
}

/**
 * Squared error of `y` against `targets` (`n` values) scaled by `scale`: `dy` and the loss of each of
 * `groups` consecutive equal groups of values.
 */
function mseLoss(ctx: Context, n: number, scale: number, groups: number): void {
  const y = ctx.in('y');
  const targets = ctx.in('targets');
  const dy = ctx.out(0);
  const losses = ctx.out(1);
  const per = n / groups;
  let total = 0;
  for (let k = 0; k < n; k++) {
    const err = (y[k] as number) - (targets[k] as number);
    total += err * err;
    dy[k] = 2 * scale * err;
    if ((k + 1) % per === 0) {
      losses[(k + 1) / per - 1] = scale * total;
      total = 0;
    }
  }
}

/**
 * `out[ids[r]] += d[r]` for the rows of `d` (`[N, G]`): `x^T d` for one-hot rows `x` without the product
 * (the weight gradient of token-id inputs, transposed).
 */
function scatterRows(ctx: Context, N: number, G: number): void {
  const native = nativeFor(ctx, G);
  if (native !== undefined) {
    native.kernels.scatterRows(native.in('d'), native.in('ids'), native.out(0), N, G);
    return;
  }
  const d = ctx.in('d');
  const ids = ctx.ids('ids');
  const out = ctx.out(0);
  for (let r = 0; r < N; r++) {
    const o = (ids[r] as number) * G;
    const i = r * G;
    for (let k = 0; k < G; k++) out[o + k] = (out[o + k] as number) + (d[i + k] as number);
  }
}

/** Rows `start .. start + count - 1` of `x` (`[N, C]`), copied (tfjs' wasm `Slice` copies element-wise). */
function rows(ctx: Context, start: number, count: number, C: number): void {
  ctx.out(0).set(ctx.in('x').subarray(start * C, (start + count) * C));
}

// ---------------------------------------------------------------------------------------------------
// Registration

type Inputs = Readonly<Record<string, tf.TensorInfo | undefined>>;

interface KernelDef {
  readonly name: string;
  run(access: Access, inputs: Inputs, attrs: Readonly<Record<string, unknown>>): tf.TensorInfo[];
}

const dims = (info: tf.TensorInfo | undefined): number[] => (info === undefined ? [] : info.shape);

/**
 * The loss kernels' `groups` attribute: absent, one scalar loss; `k`, a loss per group of `rows / k`
 * consecutive rows (`[k]`).
 */
function lossGroups(
  attrs: Readonly<Record<string, unknown>>,
  rows: number,
): { count: number; shape: number[] } {
  const k = attrs['groups'];
  if (k === undefined) return { count: 1, shape: [] };
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || rows % k !== 0)
    throw new Error(`internal: ${String(k)} loss groups for ${rows} rows`);
  return { count: k, shape: [k] };
}

const KERNELS: readonly KernelDef[] = [
  {
    name: FUSED_KERNELS.lstmForward,
    run(access, inputs, attrs) {
      const [B = 0, H = 0] = dims(inputs['cPrev']);
      const keep = attrs['keep'] !== 0;
      return access.run(
        inputs,
        [{ shape: [B, H] }, { shape: [B, H] }, { shape: [B, 5 * H] }],
        [4 * B * H, 4 * B * H, B * H, B * H],
        (ctx) => lstmForward(ctx, B, H, keep),
      );
    },
  },
  {
    name: FUSED_KERNELS.lstmBackward,
    run(access, inputs) {
      const [B = 0, H = 0] = dims(inputs['cPrev']);
      return access.run(inputs, [{ shape: [B, 4 * H] }, { shape: [B, H] }], [], (ctx) =>
        lstmBackward(ctx, B, H),
      );
    },
  },
  {
    name: FUSED_KERNELS.gruForward,
    run(access, inputs) {
      const [B = 0, H = 0] = dims(inputs['hPrev']);
      return access.run(
        inputs,
        [{ shape: [B, H] }, { shape: [B, 4 * H] }],
        [2 * B * H, 2 * B * H, B * H, B * H],
        (ctx) => gruForward(ctx, B, H),
      );
    },
  },
  {
    name: FUSED_KERNELS.gruBackward,
    run(access, inputs) {
      const [B = 0, H = 0] = dims(inputs['hPrev']);
      return access.run(
        inputs,
        [{ shape: [B, 3 * H] }, { shape: [B, 3 * H] }, { shape: [B, H] }],
        [],
        (ctx) => gruBackward(ctx, B, H),
      );
    },
  },
  {
    name: FUSED_KERNELS.softmaxLoss,
    run(access, inputs, attrs) {
      const [B = 0, V = 0] = dims(inputs['y']);
      const weight = attrs['weight'] as number;
      const groups = lossGroups(attrs, B);
      return access.run(inputs, [{ shape: [B, V] }, { shape: groups.shape }], [], (ctx) =>
        softmaxLoss(ctx, B, V, weight, groups.count),
      );
    },
  },
  {
    name: FUSED_KERNELS.mseLoss,
    run(access, inputs, attrs) {
      const shape = dims(inputs['y']);
      const scale = attrs['scale'] as number;
      const groups = lossGroups(attrs, shape[0] ?? 0);
      return access.run(inputs, [{ shape }, { shape: groups.shape }], [], (ctx) =>
        mseLoss(ctx, size(shape), scale, groups.count),
      );
    },
  },
  {
    name: FUSED_KERNELS.scatterRows,
    run(access, inputs, attrs) {
      const [N = 0, G = 0] = dims(inputs['d']);
      const rows = attrs['rows'] as number;
      return access.run(inputs, [{ shape: [rows, G] }], [], (ctx) => {
        ctx.out(0).fill(0);
        scatterRows(ctx, N, G);
      });
    },
  },
  {
    name: FUSED_KERNELS.rows,
    run(access, inputs, attrs) {
      const [N = 0, C = 0] = dims(inputs['x']);
      const start = attrs['start'] as number;
      const count = attrs['count'] as number;
      if (
        !(
          Number.isInteger(start) &&
          Number.isInteger(count) &&
          start >= 0 &&
          count >= 0 &&
          start + count <= N
        )
      )
        throw new Error(`internal: rows ${start} + ${count} of ${N}`);
      return access.run(inputs, [{ shape: [count, C] }], [], (ctx) => rows(ctx, start, count, C));
    },
  },
];

/**
 * Rows `start .. start + count - 1` of the matrix `x`: one copy with this package's kernel where it is
 * registered (wasm, cpu), tfjs' `slice` elsewhere.
 */
export function sliceRows(x: tf.Tensor2D, start: number, count: number): tf.Tensor2D {
  if (tf.getKernel(FUSED_KERNELS.rows, tf.getBackend()) === undefined)
    return tf.slice(x, [start, 0], [count, x.shape[1]]);
  return runFused(FUSED_KERNELS.rows, { x }, { start, count })[0] as tf.Tensor2D;
}

/**
 * Register the fused kernels for `backendName` when this package has an implementation for it (wasm, cpu
 * and webgpu); returns whether they are available there. Idempotent.
 */
export function ensureFusedKernels(backendName: string): boolean {
  if (backendName === 'webgpu') {
    if (!webGpuKernelsSupported(tf.findBackend('webgpu'))) return false;
    registerWebGpuKernels();
    return true;
  }
  const access = ACCESS[backendName];
  if (access === undefined) return false;
  for (const def of KERNELS) {
    if (tf.getKernel(def.name, backendName) !== undefined) continue;
    tf.registerKernel({
      kernelName: def.name,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) =>
        def.run(access(backend), inputs as Inputs, (attrs ?? {}) as Record<string, unknown>),
    });
  }
  return true;
}

/** Run a fused kernel on the active backend (inputs borrowed, outputs new). */
export function runFused(
  name: string,
  inputs: Readonly<Record<string, tf.Tensor | undefined>>,
  attrs: Record<string, number> = {},
): tf.Tensor[] {
  const named: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(inputs)) if (t !== undefined) named[k] = t;
  return tf.engine().runKernel(name, named, attrs) as unknown as tf.Tensor[];
}
