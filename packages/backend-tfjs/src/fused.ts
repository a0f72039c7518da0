import * as tf from '@tensorflow/tfjs-core';

// Fused step kernels of the built-in LSTM and GRU cells and of the loss heads, registered as tfjs kernels
// (so that tfjs' engine sees them: memory accounting, tidy scopes, disposal) on the wasm and cpu
// backends. Each replaces a dozen elementwise kernels of a step by one pass over the data, computed in
// float64 and stored as float32. The recurrent and weight-gradient matrix products stay tfjs matMuls.
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
} as const;

type F32 = Float32Array;
type Views = Record<string, Float32Array | Int32Array>;

interface OutputSpec {
  readonly shape: number[];
}

/** How a kernel reads its inputs and writes its outputs on one backend. */
interface Access {
  run(
    inputs: Readonly<Record<string, tf.TensorInfo | undefined>>,
    outputs: readonly OutputSpec[],
    compute: (inputs: Views, outputs: F32[]) => void,
  ): tf.TensorInfo[];
}

interface CpuBackendLike {
  data: { get(dataId: unknown): { values: Float32Array | Int32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}

const size = (shape: readonly number[]): number => shape.reduce((n, k) => n * k, 1);

function cpuAccess(backend: CpuBackendLike): Access {
  return {
    run(inputs, outputs, compute) {
      const views: Views = {};
      for (const [name, info] of Object.entries(inputs)) {
        if (info !== undefined) views[name] = backend.data.get(info.dataId).values;
      }
      const out = outputs.map((o) => new Float32Array(size(o.shape)));
      compute(views, out);
      return outputs.map((o, k) => backend.makeTensorInfo(o.shape, 'float32', out[k] as F32));
    },
  };
}

function wasmAccess(backend: WasmBackendLike): Access {
  return {
    run(inputs, outputs, compute) {
      // Allocate first: a growing heap detaches views taken before.
      const infos = outputs.map((o) => backend.makeOutput(o.shape, 'float32'));
      const views: Views = {};
      for (const [name, info] of Object.entries(inputs)) {
        if (info !== undefined) views[name] = backend.typedArrayFromHeap(info);
      }
      const out = infos.map((info) => backend.typedArrayFromHeap(info) as F32);
      compute(views, out);
      return infos;
    },
  };
}

const ACCESS: Record<string, (backend: unknown) => Access> = {
  cpu: (b) => cpuAccess(b as CpuBackendLike),
  wasm: (b) => wasmAccess(b as WasmBackendLike),
};

const sigmoid = (a: number): number => 1 / (1 + Math.exp(-a));

function get<T extends Float32Array | Int32Array>(views: Views, name: string): T {
  return views[name] as T;
}

// ---------------------------------------------------------------------------------------------------
// The arithmetic (exported for tests).

/** LSTM forward step: outputs `h`, `c` (`[B, H]`) and the saved gates `i, f, g, o, tanh(c)` (`[B, 5H]`). */
function lstmForward(v: Views, [h, c, saved]: F32[], B: number, H: number): void {
  const xs = get<F32>(v, 'xs');
  const rows = get<Int32Array>(v, 'rows');
  const hu = get<F32>(v, 'hu');
  const cPrev = get<F32>(v, 'cPrev');
  const G = 4 * H;
  for (let r = 0; r < B; r++) {
    const xo = (rows[r] as number) * G;
    const uo = r * G;
    const so = r * 5 * H;
    const ho = r * H;
    for (let j = 0; j < H; j++) {
      const i = sigmoid((xs[xo + j] as number) + (hu[uo + j] as number));
      const f = sigmoid((xs[xo + H + j] as number) + (hu[uo + H + j] as number));
      const g = Math.tanh((xs[xo + 2 * H + j] as number) + (hu[uo + 2 * H + j] as number));
      const o = sigmoid((xs[xo + 3 * H + j] as number) + (hu[uo + 3 * H + j] as number));
      const cn = f * (cPrev[ho + j] as number) + i * g;
      const tc = Math.tanh(cn);
      (h as F32)[ho + j] = o * tc;
      (c as F32)[ho + j] = cn;
      (saved as F32)[so + j] = i;
      (saved as F32)[so + H + j] = f;
      (saved as F32)[so + 2 * H + j] = g;
      (saved as F32)[so + 3 * H + j] = o;
      (saved as F32)[so + 4 * H + j] = tc;
    }
  }
}

/** LSTM backward step: `da` (`[B, 4H]`) and `dc_prev` (`[B, H]`) from `dh` (+ `dh2`), `dc`, saved, `c_prev`. */
function lstmBackward(v: Views, [da, dcPrev]: F32[], B: number, H: number): void {
  const dh = get<F32>(v, 'dh');
  const dh2 = v['dh2'] as F32 | undefined;
  const dc = v['dc'] as F32 | undefined;
  const saved = get<F32>(v, 'saved');
  const cPrev = get<F32>(v, 'cPrev');
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
      (da as F32)[ao + j] = dct * g * i * (1 - i);
      (da as F32)[ao + H + j] = dct * (cPrev[ho + j] as number) * f * (1 - f);
      (da as F32)[ao + 2 * H + j] = dct * i * (1 - g * g);
      (da as F32)[ao + 3 * H + j] = d * tc * o * (1 - o);
      (dcPrev as F32)[ho + j] = dct * f;
    }
  }
}

/** GRU forward step: `h` (`[B, H]`) and the saved `z, r, n, U_n h + bu_n` (`[B, 4H]`). */
function gruForward(v: Views, [h, saved]: F32[], B: number, H: number): void {
  const xs = get<F32>(v, 'xs');
  const rows = get<Int32Array>(v, 'rows');
  const hu = get<F32>(v, 'hu');
  const bu = get<F32>(v, 'bu');
  const hPrev = get<F32>(v, 'hPrev');
  const G = 3 * H;
  for (let r = 0; r < B; r++) {
    const xo = (rows[r] as number) * G;
    const uo = r * G;
    const so = r * 4 * H;
    const ho = r * H;
    for (let j = 0; j < H; j++) {
      const z = sigmoid((xs[xo + j] as number) + (hu[uo + j] as number) + (bu[j] as number));
      const rr = sigmoid((xs[xo + H + j] as number) + (hu[uo + H + j] as number) + (bu[H + j] as number));
      const hn = (hu[uo + 2 * H + j] as number) + (bu[2 * H + j] as number);
      const n = Math.tanh((xs[xo + 2 * H + j] as number) + rr * hn);
      const hp = hPrev[ho + j] as number;
      (h as F32)[ho + j] = n + z * (hp - n);
      (saved as F32)[so + j] = z;
      (saved as F32)[so + H + j] = rr;
      (saved as F32)[so + 2 * H + j] = n;
      (saved as F32)[so + 3 * H + j] = hn;
    }
  }
}

/** GRU backward step: `dax`, `dah` (`[B, 3H]`) and `dh z` (`[B, H]`, the direct part of `dh_prev`). */
function gruBackward(v: Views, [dax, dah, dhz]: F32[], B: number, H: number): void {
  const dh = get<F32>(v, 'dh');
  const dh2 = v['dh2'] as F32 | undefined;
  const saved = get<F32>(v, 'saved');
  const hPrev = get<F32>(v, 'hPrev');
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
      (dax as F32)[ao + j] = daz;
      (dax as F32)[ao + H + j] = dar;
      (dax as F32)[ao + 2 * H + j] = dan;
      (dah as F32)[ao + j] = daz;
      (dah as F32)[ao + H + j] = dar;
      (dah as F32)[ao + 2 * H + j] = dan * rr;
      (dhz as F32)[ho + j] = d * z;
    }
  }
}

/** Softmax cross-entropy of logits `y` (`[B, V]`) at class ids: `dy` (`[B, V]`) and the loss (scalar). */
function softmaxLoss(v: Views, [dy, loss]: F32[], B: number, V: number, weight: number): void {
  const y = get<F32>(v, 'y');
  const targets = get<Int32Array>(v, 'targets');
  let total = 0;
  for (let r = 0; r < B; r++) {
    const o = r * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < V; k++) max = Math.max(max, y[o + k] as number);
    let sum = 0;
    for (let k = 0; k < V; k++) sum += Math.exp((y[o + k] as number) - max);
    const target = targets[r] as number;
    total += Math.log(sum) - ((y[o + target] as number) - max);
    for (let k = 0; k < V; k++) {
      const p = Math.exp((y[o + k] as number) - max) / sum;
      (dy as F32)[o + k] = weight * (k === target ? p - 1 : p);
    }
  }
  (loss as F32)[0] = weight * total;
}

/** Squared error of `y` against `targets` (`[B, O]`) scaled by `scale`: `dy` and the loss (scalar). */
function mseLoss(v: Views, [dy, loss]: F32[], n: number, scale: number): void {
  const y = get<F32>(v, 'y');
  const targets = get<F32>(v, 'targets');
  let total = 0;
  for (let k = 0; k < n; k++) {
    const err = (y[k] as number) - (targets[k] as number);
    total += err * err;
    (dy as F32)[k] = 2 * scale * err;
  }
  (loss as F32)[0] = scale * total;
}

// ---------------------------------------------------------------------------------------------------
// Registration

type Inputs = Readonly<Record<string, tf.TensorInfo | undefined>>;

interface KernelDef {
  readonly name: string;
  run(access: Access, inputs: Inputs, attrs: Readonly<Record<string, unknown>>): tf.TensorInfo[];
}

const dims = (info: tf.TensorInfo | undefined): number[] => (info === undefined ? [] : info.shape);

const KERNELS: readonly KernelDef[] = [
  {
    name: FUSED_KERNELS.lstmForward,
    run(access, inputs) {
      const [B = 0, H = 0] = dims(inputs['cPrev']);
      return access.run(inputs, [{ shape: [B, H] }, { shape: [B, H] }, { shape: [B, 5 * H] }], (v, o) =>
        lstmForward(v, o, B, H),
      );
    },
  },
  {
    name: FUSED_KERNELS.lstmBackward,
    run(access, inputs) {
      const [B = 0, H = 0] = dims(inputs['cPrev']);
      return access.run(inputs, [{ shape: [B, 4 * H] }, { shape: [B, H] }], (v, o) =>
        lstmBackward(v, o, B, H),
      );
    },
  },
  {
    name: FUSED_KERNELS.gruForward,
    run(access, inputs) {
      const [B = 0, H = 0] = dims(inputs['hPrev']);
      return access.run(inputs, [{ shape: [B, H] }, { shape: [B, 4 * H] }], (v, o) => gruForward(v, o, B, H));
    },
  },
  {
    name: FUSED_KERNELS.gruBackward,
    run(access, inputs) {
      const [B = 0, H = 0] = dims(inputs['hPrev']);
      return access.run(inputs, [{ shape: [B, 3 * H] }, { shape: [B, 3 * H] }, { shape: [B, H] }], (v, o) =>
        gruBackward(v, o, B, H),
      );
    },
  },
  {
    name: FUSED_KERNELS.softmaxLoss,
    run(access, inputs, attrs) {
      const [B = 0, V = 0] = dims(inputs['y']);
      const weight = attrs['weight'] as number;
      return access.run(inputs, [{ shape: [B, V] }, { shape: [] }], (v, o) =>
        softmaxLoss(v, o, B, V, weight),
      );
    },
  },
  {
    name: FUSED_KERNELS.mseLoss,
    run(access, inputs, attrs) {
      const shape = dims(inputs['y']);
      const scale = attrs['scale'] as number;
      return access.run(inputs, [{ shape }, { shape: [] }], (v, o) => mseLoss(v, o, size(shape), scale));
    },
  },
];

/**
 * Register the fused kernels for `backendName` when this package has an implementation for it (wasm and
 * cpu); returns whether they are available there. Idempotent.
 */
export function ensureFusedKernels(backendName: string): boolean {
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
