import * as tf from '@tensorflow/tfjs-core';
import { noteGpuProgram } from './counts.js';

// The fused kernels of `fused.ts` on tfjs' WebGPU backend: each is ONE compute program (WGSL) writing all
// its outputs, recorded into the backend's own command encoder and compute pass, so that it is ordered
// with tfjs' programs, and its buffers are tfjs tensors (tfjs' memory accounting sees them; a tensor
// disposed while the queue still uses it is released after submission, as for tfjs' own programs).
// Nothing is read back.

interface GpuBufferLike {
  readonly size: number;
}

interface TensorBinding {
  readonly buffer: GpuBufferLike;
  readonly offset?: number;
  readonly size?: number;
}

interface ComputePass {
  setPipeline(pipeline: unknown): void;
  setBindGroup(index: number, group: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
}

interface Pipeline {
  getBindGroupLayout(index: number): unknown;
}

interface WebGpuBackendLike {
  readonly device: {
    createShaderModule(descriptor: { code: string }): unknown;
    createComputePipeline(descriptor: object): Pipeline;
    createBindGroup(descriptor: object): unknown;
  };
  commandEncoder: { beginComputePass(descriptor: object): ComputePass } | null;
  computePassEncoder: ComputePass | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  tensorToBinding(info: tf.TensorInfo): TensorBinding;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

const WORKGROUP = 64;
const pipelines = new WeakMap<object, Map<string, Pipeline>>();

/** Run one WGSL program over `threads` invocations; bindings: outputs first, then inputs, in order. */
function dispatch(
  backend: WebGpuBackendLike,
  key: string,
  code: string,
  outputs: readonly tf.TensorInfo[],
  inputs: readonly tf.TensorInfo[],
  threads: number,
): void {
  let cache = pipelines.get(backend);
  if (cache === undefined) {
    cache = new Map();
    pipelines.set(backend, cache);
  }
  let pipeline = cache.get(key);
  if (pipeline === undefined) {
    pipeline = backend.device.createComputePipeline({
      layout: 'auto',
      compute: { module: backend.device.createShaderModule({ code }), entryPoint: 'main' },
    });
    cache.set(key, pipeline);
  }
  const all = [...outputs, ...inputs];
  for (const t of all) backend.uploadToGPU(t.dataId);
  const group = backend.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: all.map((t, binding) => ({ binding, resource: backend.tensorToBinding(t) })),
  });
  for (const t of all) backend.commandQueueOwnedIds.add(t.dataId);
  backend.ensureCommandEncoderReady();
  if (backend.computePassEncoder === null || backend.computePassEncoder === undefined) {
    backend.computePassEncoder = (
      backend.commandEncoder as NonNullable<WebGpuBackendLike['commandEncoder']>
    ).beginComputePass({});
  }
  const pass = backend.computePassEncoder;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(Math.ceil(threads / WORKGROUP));
  backend.dispatchCountInPass++;
  noteGpuProgram();
  if ((tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number) <= backend.dispatchCountInPass) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
}

const bind = (k: number, name: string, type: 'f32' | 'i32', write = false): string =>
  `@group(0) @binding(${k}) var<storage, ${write ? 'read_write' : 'read'}> ${name}: array<${type}>;`;

const header = (B: number, H: number, total: string): string => `
const B = ${B}u;
const H = ${H}u;
fn sig(a: f32) -> f32 { return 1.0 / (1.0 + exp(-a)); }
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x;
  if (idx >= ${total}) { return; }`;

function lstmForwardCode(B: number, H: number): string {
  return `
${bind(0, 'hOut', 'f32', true)}
${bind(1, 'cOut', 'f32', true)}
${bind(2, 'saved', 'f32', true)}
${bind(3, 'xs', 'f32')}
${bind(4, 'rows', 'i32')}
${bind(5, 'hu', 'f32')}
${bind(6, 'cPrev', 'f32')}
${header(B, H, 'B * H')}
  let r = idx / H;
  let j = idx % H;
  let xo = u32(rows[r]) * 4u * H;
  let uo = r * 4u * H;
  let so = r * 5u * H;
  let i = sig(xs[xo + j] + hu[uo + j]);
  let f = sig(xs[xo + H + j] + hu[uo + H + j]);
  let g = 2.0 * sig(2.0 * (xs[xo + 2u * H + j] + hu[uo + 2u * H + j])) - 1.0;
  let o = sig(xs[xo + 3u * H + j] + hu[uo + 3u * H + j]);
  let c = f * cPrev[idx] + i * g;
  let tc = 2.0 * sig(2.0 * c) - 1.0;
  cOut[idx] = c;
  hOut[idx] = o * tc;
  saved[so + j] = i;
  saved[so + H + j] = f;
  saved[so + 2u * H + j] = g;
  saved[so + 3u * H + j] = o;
  saved[so + 4u * H + j] = tc;
}`;
}

function lstmBackwardCode(B: number, H: number, dh2: boolean, dc: boolean): string {
  // Bindings: da, dcPrev (outputs), saved, cPrev, dh, then dh2 and dc when present (in that order).
  const extra = [dh2 ? bind(5, 'dh2', 'f32') : '', dc ? bind(dh2 ? 6 : 5, 'dc', 'f32') : ''].join('\n');
  return `
${bind(0, 'da', 'f32', true)}
${bind(1, 'dcPrev', 'f32', true)}
${bind(2, 'saved', 'f32')}
${bind(3, 'cPrev', 'f32')}
${bind(4, 'dh', 'f32')}
${extra}
${header(B, H, 'B * H')}
  let r = idx / H;
  let j = idx % H;
  let so = r * 5u * H;
  let ao = r * 4u * H;
  let d = dh[idx]${dh2 ? ' + dh2[idx]' : ''};
  let i = saved[so + j];
  let f = saved[so + H + j];
  let g = saved[so + 2u * H + j];
  let o = saved[so + 3u * H + j];
  let tc = saved[so + 4u * H + j];
  let dct = d * o * (1.0 - tc * tc)${dc ? ' + dc[idx]' : ''};
  da[ao + j] = dct * g * i * (1.0 - i);
  da[ao + H + j] = dct * cPrev[idx] * f * (1.0 - f);
  da[ao + 2u * H + j] = dct * i * (1.0 - g * g);
  da[ao + 3u * H + j] = d * tc * o * (1.0 - o);
  dcPrev[idx] = dct * f;
}`;
}

function gruForwardCode(B: number, H: number): string {
  return `
${bind(0, 'hOut', 'f32', true)}
${bind(1, 'saved', 'f32', true)}
${bind(2, 'xs', 'f32')}
${bind(3, 'rows', 'i32')}
${bind(4, 'hu', 'f32')}
${bind(5, 'bu', 'f32')}
${bind(6, 'hPrev', 'f32')}
${header(B, H, 'B * H')}
  let r = idx / H;
  let j = idx % H;
  let xo = u32(rows[r]) * 3u * H;
  let uo = r * 3u * H;
  let so = r * 4u * H;
  let z = sig(xs[xo + j] + hu[uo + j] + bu[j]);
  let rr = sig(xs[xo + H + j] + hu[uo + H + j] + bu[H + j]);
  let hn = hu[uo + 2u * H + j] + bu[2u * H + j];
  let n = 2.0 * sig(2.0 * (xs[xo + 2u * H + j] + rr * hn)) - 1.0;
  hOut[idx] = n + z * (hPrev[idx] - n);
  saved[so + j] = z;
  saved[so + H + j] = rr;
  saved[so + 2u * H + j] = n;
  saved[so + 3u * H + j] = hn;
}`;
}

function gruBackwardCode(B: number, H: number, dh2: boolean): string {
  return `
${bind(0, 'dax', 'f32', true)}
${bind(1, 'dah', 'f32', true)}
${bind(2, 'dhz', 'f32', true)}
${bind(3, 'saved', 'f32')}
${bind(4, 'hPrev', 'f32')}
${bind(5, 'dh', 'f32')}
${dh2 ? bind(6, 'dh2', 'f32') : ''}
${header(B, H, 'B * H')}
  let r = idx / H;
  let j = idx % H;
  let so = r * 4u * H;
  let ao = r * 3u * H;
  let d = dh[idx]${dh2 ? ' + dh2[idx]' : ''};
  let z = saved[so + j];
  let rr = saved[so + H + j];
  let n = saved[so + 2u * H + j];
  let hn = saved[so + 3u * H + j];
  let dan = d * (1.0 - z) * (1.0 - n * n);
  let daz = d * (hPrev[idx] - n) * z * (1.0 - z);
  let dar = dan * hn * rr * (1.0 - rr);
  dax[ao + j] = daz;
  dax[ao + H + j] = dar;
  dax[ao + 2u * H + j] = dan;
  dah[ao + j] = daz;
  dah[ao + H + j] = dar;
  dah[ao + 2u * H + j] = dan * rr;
  dhz[idx] = d * z;
}`;
}

/** One invocation per row: `dy` of the row and the row's loss (summed later). */
function softmaxCode(B: number, V: number, weight: number): string {
  return `
${bind(0, 'dy', 'f32', true)}
${bind(1, 'loss', 'f32', true)}
${bind(2, 'y', 'f32')}
${bind(3, 'targets', 'i32')}
const V = ${V}u;
const W = ${weight.toExponential(9)};
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= ${B}u) { return; }
  let o = r * V;
  var m = y[o];
  for (var k = 1u; k < V; k++) { m = max(m, y[o + k]); }
  var s = 0.0;
  for (var k = 0u; k < V; k++) { let e = exp(y[o + k] - m); dy[o + k] = e; s += e; }
  let t = u32(targets[r]);
  loss[r] = W * (log(s) - (y[o + t] - m));
  let scale = W / s;
  for (var k = 0u; k < V; k++) { dy[o + k] = dy[o + k] * scale; }
  dy[o + t] = dy[o + t] - W;
}`;
}

/** One invocation per entry: `dy = 2 scale err` and `scale err^2` (summed later). */
function mseCode(n: number, scale: number): string {
  return `
${bind(0, 'dy', 'f32', true)}
${bind(1, 'loss', 'f32', true)}
${bind(2, 'y', 'f32')}
${bind(3, 'targets', 'f32')}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  if (k >= ${n}u) { return; }
  let err = y[k] - targets[k];
  dy[k] = ${(2 * scale).toExponential(9)} * err;
  loss[k] = ${scale.toExponential(9)} * err * err;
}`;
}

/** One invocation per output entry `(i, k)`: the sum of `d[r, k]` over the rows `r` with `ids[r] = i`. */
function scatterCode(N: number, G: number, rows: number): string {
  return `
${bind(0, 'out', 'f32', true)}
${bind(1, 'd', 'f32')}
${bind(2, 'ids', 'i32')}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x;
  if (idx >= ${rows * G}u) { return; }
  let i = i32(idx / ${G}u);
  let k = idx % ${G}u;
  var s = 0.0;
  for (var r = 0u; r < ${N}u; r++) {
    if (ids[r] == i) { s += d[r * ${G}u + k]; }
  }
  out[idx] = s;
}`;
}

type Inputs = Readonly<Record<string, tf.TensorInfo | undefined>>;

const need = (inputs: Inputs, name: string): tf.TensorInfo => {
  const t = inputs[name];
  if (t === undefined) throw new Error(`internal: missing input ${name}`);
  return t;
};

/** Kernel functions by name: each makes its outputs and records one program. */
export const WEBGPU_KERNELS: Record<
  string,
  (backend: WebGpuBackendLike, inputs: Inputs, attrs: Readonly<Record<string, unknown>>) => tf.TensorInfo[]
> = {
  RewindLstmStep(backend, inputs) {
    const [B = 0, H = 0] = need(inputs, 'cPrev').shape;
    const out = [
      backend.makeTensorInfo([B, H], 'float32'),
      backend.makeTensorInfo([B, H], 'float32'),
      backend.makeTensorInfo([B, 5 * H], 'float32'),
    ];
    const ins = ['xs', 'rows', 'hu', 'cPrev'].map((n) => need(inputs, n));
    dispatch(backend, `lstm-f-${B}-${H}`, lstmForwardCode(B, H), out, ins, B * H);
    return out;
  },
  RewindLstmStepGrad(backend, inputs) {
    const [B = 0, H = 0] = need(inputs, 'cPrev').shape;
    const dh2 = inputs['dh2'] !== undefined;
    const dc = inputs['dc'] !== undefined;
    const out = [backend.makeTensorInfo([B, 4 * H], 'float32'), backend.makeTensorInfo([B, H], 'float32')];
    const ins = [need(inputs, 'saved'), need(inputs, 'cPrev'), need(inputs, 'dh')];
    if (dh2) ins.push(need(inputs, 'dh2'));
    if (dc) ins.push(need(inputs, 'dc'));
    dispatch(backend, `lstm-b-${B}-${H}-${dh2}-${dc}`, lstmBackwardCode(B, H, dh2, dc), out, ins, B * H);
    return out;
  },
  RewindGruStep(backend, inputs) {
    const [B = 0, H = 0] = need(inputs, 'hPrev').shape;
    const out = [backend.makeTensorInfo([B, H], 'float32'), backend.makeTensorInfo([B, 4 * H], 'float32')];
    const ins = ['xs', 'rows', 'hu', 'bu', 'hPrev'].map((n) => need(inputs, n));
    dispatch(backend, `gru-f-${B}-${H}`, gruForwardCode(B, H), out, ins, B * H);
    return out;
  },
  RewindGruStepGrad(backend, inputs) {
    const [B = 0, H = 0] = need(inputs, 'hPrev').shape;
    const dh2 = inputs['dh2'] !== undefined;
    const out = [
      backend.makeTensorInfo([B, 3 * H], 'float32'),
      backend.makeTensorInfo([B, 3 * H], 'float32'),
      backend.makeTensorInfo([B, H], 'float32'),
    ];
    const ins = [need(inputs, 'saved'), need(inputs, 'hPrev'), need(inputs, 'dh')];
    if (dh2) ins.push(need(inputs, 'dh2'));
    dispatch(backend, `gru-b-${B}-${H}-${dh2}`, gruBackwardCode(B, H, dh2), out, ins, B * H);
    return out;
  },
  RewindSoftmaxXent(backend, inputs, attrs) {
    const y = need(inputs, 'y');
    const [B = 0, V = 0] = y.shape;
    const weight = attrs['weight'] as number;
    const out = [backend.makeTensorInfo([B, V], 'float32'), backend.makeTensorInfo([B], 'float32')];
    dispatch(
      backend,
      `xent-${B}-${V}-${weight}`,
      softmaxCode(B, V, weight),
      out,
      [y, need(inputs, 'targets')],
      B,
    );
    return out;
  },
  RewindMseLoss(backend, inputs, attrs) {
    const y = need(inputs, 'y');
    const n = y.shape.reduce((a, b) => a * b, 1);
    const scale = attrs['scale'] as number;
    const out = [backend.makeTensorInfo([...y.shape], 'float32'), backend.makeTensorInfo([n], 'float32')];
    dispatch(backend, `mse-${n}-${scale}`, mseCode(n, scale), out, [y, need(inputs, 'targets')], n);
    return out;
  },
  RewindScatterRows(backend, inputs, attrs) {
    const d = need(inputs, 'd');
    const [N = 0, G = 0] = d.shape;
    const rows = attrs['rows'] as number;
    const out = [backend.makeTensorInfo([rows, G], 'float32')];
    dispatch(
      backend,
      `scatter-${N}-${G}-${rows}`,
      scatterCode(N, G, rows),
      out,
      [d, need(inputs, 'ids')],
      rows * G,
    );
    return out;
  },
};

/**
 * Whether `backend` has the members of tfjs-backend-webgpu 4.22 that `dispatch` records through (the
 * package's pinned peer version); another version falls back to the composite steps.
 */
export function webGpuKernelsSupported(backend: unknown): boolean {
  if (backend === null || typeof backend !== 'object') return false;
  const b = backend as Record<string, unknown>;
  return (
    typeof b['device'] === 'object' &&
    typeof b['makeTensorInfo'] === 'function' &&
    typeof b['uploadToGPU'] === 'function' &&
    typeof b['tensorToBinding'] === 'function' &&
    typeof b['ensureCommandEncoderReady'] === 'function' &&
    typeof b['endComputePassEncoder'] === 'function' &&
    typeof b['submitQueue'] === 'function' &&
    b['commandQueueOwnedIds'] instanceof WeakSet &&
    typeof b['dispatchCountInPass'] === 'number'
  );
}

/** Register the WebGPU versions of the fused kernels (idempotent). */
export function registerWebGpuKernels(): void {
  for (const [name, run] of Object.entries(WEBGPU_KERNELS)) {
    if (tf.getKernel(name, 'webgpu') !== undefined) continue;
    tf.registerKernel({
      kernelName: name,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) =>
        run(
          backend as unknown as WebGpuBackendLike,
          inputs as Inputs,
          (attrs ?? {}) as Record<string, unknown>,
        ),
    });
  }
}
