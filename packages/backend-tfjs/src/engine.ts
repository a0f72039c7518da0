import * as tf from '@tensorflow/tfjs-core';
import { TfjsBackendError } from './errors.js';
import { setNativeKernels } from './fused.js';
import { isWasmMemory, loadNativeKernels } from './native.js';
import {
  defaultWasmThreads,
  MAX_WASM_THREADS,
  registerThreadedWasm,
  type WasmPackage,
} from './wasm-threads.js';

/** The tfjs backends an engine can run on. */
export type TfjsBackendName = 'wasm' | 'cpu' | 'webgpu';

/** How to reach a WebGPU adapter through Dawn's Node bindings (the optional peer dependency `webgpu`). */
export interface WebGpuOptions {
  /**
   * Dawn toggles passed to the `webgpu` package's `create()`, e.g. `['backend=opengles']` for Mesa's
   * llvmpipe through OpenGL ES (which also needs `featureLevel: 'compatibility'` and, without a display,
   * the environment variable `EGL_PLATFORM=surfaceless`). Default: none (Dawn picks, e.g. Vulkan).
   */
  readonly dawnOptions?: readonly string[];
  /** The adapter's feature level: `'core'` (default) or `'compatibility'` (OpenGL ES adapters). */
  readonly featureLevel?: 'core' | 'compatibility';
  /** Passed to `requestAdapter`. */
  readonly powerPreference?: 'low-power' | 'high-performance';
}

/** Options of `createTfjsEngine`. */
export interface TfjsEngineOptions {
  /** The tfjs backend: `'wasm'` (default: the fast CPU backend), `'cpu'` (pure JS, a reference) or `'webgpu'`. */
  readonly backend?: TfjsBackendName;
  /** WebGPU settings, read when `backend` is `'webgpu'`. */
  readonly webgpu?: WebGpuOptions;
  /**
   * Threads of the `wasm` backend under Node: an integer from 1 to 8, or `'auto'` (default: the machine's
   * cores, at most 8). More than one thread starts tfjs-backend-wasm's threaded SIMD build, whose matrix
   * products split their output across the threads (the sums are the same: results are bitwise equal to
   * one thread's). tfjs holds one wasm backend per process, so the first `wasm` engine decides; a later
   * engine that asks for another count is refused with `E_BACKEND_INIT` (`'auto'` accepts what runs).
   * In a browser tfjs chooses, and this option is ignored.
   */
  readonly threads?: number | 'auto';
}

/** What is known of the WebGPU adapter an engine runs on. */
export interface WebGpuAdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly featureLevel: 'core' | 'compatibility';
  readonly dawnOptions: readonly string[];
}

/**
 * tfjs-core initialised with one backend. tfjs keeps one global engine per process, so an engine is a
 * handle on that global state with a chosen backend; models and cell backends are built on an engine
 * and check that it is still the active one.
 */
export interface TfjsEngine {
  /** The backend this engine runs on. */
  readonly backend: TfjsBackendName;
  /** The tfjs-core module (the same instance this package computes with). */
  readonly tf: typeof tf;
  /** A line describing the backend, e.g. `'wasm (SIMD, 2 threads)'` or the WebGPU adapter. */
  readonly description: string;
  /** Threads the backend computes with (the `wasm` backend's pool; 1 on `cpu` and `webgpu`). */
  readonly threads: number;
  /** The WebGPU adapter, for a `webgpu` engine. */
  readonly adapter?: WebGpuAdapterDescription;
  /** Whether tfjs currently runs on this engine's backend (another engine may have switched it). */
  isActive(): boolean;
  /** Make this engine's backend the active tfjs backend again. */
  activate(): Promise<void>;
  /**
   * Throw `E_ENGINE_INACTIVE` unless this engine's backend is the active one (`E_ENGINE_DISPOSED` after
   * `dispose`).
   */
  assertActive(): void;
  /** Tensors tfjs holds right now, on every backend (`tf.memory().numTensors`). */
  numTensors(): number;
  /**
   * Release this engine; other engines, on any backend, keep working. The last `webgpu` engine to be
   * disposed releases the shared WebGPU device and its registration (Dawn may still keep the process
   * alive; end it with `process.exit`), and `webgpu` tensors become unusable then.
   */
  dispose(): Promise<void>;
}

interface WebGpuModule {
  create(options: string[]): GpuLike;
  globals: object;
}

interface GpuAdapterLike {
  readonly info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  readonly limits: Record<string, number>;
  readonly features: { has(name: string): boolean };
  requestDevice(descriptor?: object): Promise<GpuDeviceLike>;
}

interface GpuDeviceLike {
  destroy(): void;
}

interface GpuLike {
  requestAdapter(options?: object): Promise<GpuAdapterLike | null>;
}

interface WebGpuBackendModule {
  WebGPUBackend: new (device: GpuDeviceLike, adapterInfo?: unknown) => tf.KernelBackend;
}

async function importOptional<T>(specifier: string, what: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (cause) {
    throw new TfjsBackendError(
      'E_WEBGPU_UNAVAILABLE',
      `${what} could not be loaded (install the optional peer dependencies 'webgpu' and '@tensorflow/tfjs-backend-webgpu'): ${String(cause)}`,
      { cause },
    );
  }
}

function installNavigatorGpu(gpu: GpuLike): void {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  }
}

/** The limits tfjs' WebGPU backend asks for, copied from the adapter. */
const WEBGPU_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
] as const;

interface WebGpuDevice {
  readonly adapter: WebGpuAdapterDescription;
  readonly device: GpuDeviceLike;
  readonly gpu: GpuLike;
  readonly info: NonNullable<GpuAdapterLike['info']>;
}

/**
 * What to install or set when Dawn finds no adapter: appended to every `E_WEBGPU_NO_ADAPTER` message.
 */
export const NO_ADAPTER_HINT =
  'On a Linux host with an NVIDIA GPU, Dawn reaches the driver through Vulkan and needs the Vulkan loader ' +
  'and the glvnd libraries: install libvulkan1, libglvnd0, libegl1, libgl1, libglx0, libopengl0 and libgles2 ' +
  "(Debian/Ubuntu package names), and point VK_DRIVER_FILES at the driver's Vulkan ICD file (e.g. " +
  '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json in NVIDIA containers, or /usr/share/vulkan/icd.d/' +
  'nvidia_icd.json). With the loader alone Dawn logs "Found no drivers". Without a GPU, Mesa\'s llvmpipe ' +
  "works through OpenGL ES: dawnOptions ['backend=opengles'], featureLevel 'compatibility' and the " +
  'environment variable EGL_PLATFORM=surfaceless.';

async function requestWebGpuDevice(options: WebGpuOptions): Promise<WebGpuDevice> {
  const dawnOptions = [...(options.dawnOptions ?? [])];
  const featureLevel = options.featureLevel ?? 'core';
  const webgpu = await importOptional<WebGpuModule>('webgpu', "The package 'webgpu' (Dawn's Node bindings)");
  let gpu: GpuLike;
  try {
    Object.assign(globalThis, webgpu.globals);
    gpu = webgpu.create(dawnOptions);
  } catch (cause) {
    throw new TfjsBackendError('E_WEBGPU_UNAVAILABLE', `Dawn failed to start: ${String(cause)}`, { cause });
  }
  const request: { featureLevel: string; powerPreference?: string } = { featureLevel };
  if (options.powerPreference !== undefined) request.powerPreference = options.powerPreference;
  const where = `Dawn options ${JSON.stringify(dawnOptions)}, featureLevel '${featureLevel}'`;
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter(request);
  } catch (cause) {
    throw new TfjsBackendError(
      'E_WEBGPU_NO_ADAPTER',
      `no WebGPU adapter is available (${where}): ${String(cause)}. ${NO_ADAPTER_HINT}`,
      {
        cause,
      },
    );
  }
  if (adapter === null || adapter === undefined) {
    throw new TfjsBackendError(
      'E_WEBGPU_NO_ADAPTER',
      `no WebGPU adapter is available (${where}). ${NO_ADAPTER_HINT}`,
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of WEBGPU_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const requiredFeatures = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  let device: GpuDeviceLike;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (cause) {
    throw new TfjsBackendError('E_BACKEND_INIT', `the WebGPU adapter refused a device: ${String(cause)}`, {
      cause,
    });
  }
  const info = adapter.info ?? {};
  return {
    device,
    gpu,
    info,
    adapter: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      featureLevel,
      dawnOptions,
    },
  };
}

async function registerWebGpu(init: WebGpuDevice): Promise<void> {
  // tfjs' WebGPU backend registers itself only when navigator.gpu exists at import time; it then asks for
  // an adapter of its own without a feature level. Its kernels are registered either way; the backend
  // registered below runs them on the device chosen here.
  installNavigatorGpu(init.gpu);
  const module = await importOptional<WebGpuBackendModule>(
    '@tensorflow/tfjs-backend-webgpu',
    "The package '@tensorflow/tfjs-backend-webgpu'",
  );
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new module.WebGPUBackend(init.device, init.info), 3);
}

/**
 * tfjs holds one backend per name, so every live `webgpu` engine shares one device: the first engine
 * requests it, later ones with the same options reuse it, and the last one to be disposed releases it.
 */
interface SharedWebGpu {
  readonly key: string;
  readonly init: WebGpuDevice;
  engines: number;
}

let sharedWebGpu: SharedWebGpu | undefined;

function webGpuKey(options: WebGpuOptions): string {
  return JSON.stringify([
    options.dawnOptions ?? [],
    options.featureLevel ?? 'core',
    options.powerPreference ?? '',
  ]);
}

async function acquireWebGpu(options: WebGpuOptions): Promise<WebGpuDevice> {
  const key = webGpuKey(options);
  const shared = sharedWebGpu;
  if (shared !== undefined && shared.key === key) {
    shared.engines += 1;
    return shared.init;
  }
  const init = await requestWebGpuDevice(options);
  if (shared !== undefined) {
    init.device.destroy();
    throw new TfjsBackendError(
      'E_BACKEND_INIT',
      `a webgpu engine with other options (${describeWebGpu(shared.init.adapter)}) is in use; tfjs holds one ` +
        `WebGPU device per process: create this engine with the same options, or dispose the ${shared.engines} ` +
        `live webgpu engine(s) first`,
    );
  }
  await registerWebGpu(init);
  sharedWebGpu = { key, init, engines: 1 };
  return init;
}

function releaseWebGpu(init: WebGpuDevice): void {
  const shared = sharedWebGpu;
  if (shared === undefined || shared.init !== init) return;
  shared.engines -= 1;
  if (shared.engines > 0) return;
  sharedWebGpu = undefined;
  if (tf.findBackend('webgpu') !== null || tf.findBackendFactory('webgpu') !== null)
    tf.removeBackend('webgpu');
  init.device.destroy();
}

function describeWebGpu(adapter: WebGpuAdapterDescription): string {
  return `Dawn options ${JSON.stringify(adapter.dawnOptions)}, featureLevel '${adapter.featureLevel}'`;
}

/**
 * tfjs initialises a backend asynchronously and abandons an initialisation when another one starts
 * meanwhile (the first `setBackend` then resolves to false). Every step that registers, initialises,
 * switches or releases a backend therefore runs here, one at a time, in call order.
 */
let backendQueue: Promise<unknown> = Promise.resolve();

function serialized<T>(task: () => Promise<T>): Promise<T> {
  const run = backendQueue.then(task);
  backendQueue = run.catch(() => undefined);
  return run;
}

async function setBackend(name: TfjsBackendName): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (cause) {
    throw new TfjsBackendError(
      'E_BACKEND_INIT',
      `tfjs failed to initialise the '${name}' backend: ${String(cause)}`,
      {
        cause,
      },
    );
  }
  if (!ok || tf.getBackend() !== name) {
    throw new TfjsBackendError('E_BACKEND_INIT', `tfjs failed to initialise the '${name}' backend`);
  }
}

/**
 * Initialise tfjs-core with one backend and return an engine for it: `wasm` by default (SIMD; as many
 * threads as cores under Node, see {@link TfjsEngineOptions.threads}), `cpu` (pure JavaScript, a
 * reference), or `webgpu` through Dawn's Node bindings.
 * The WebGPU packages are optional peer dependencies, loaded here (dynamic import) only when asked for.
 * There is never a silent fallback: a backend that cannot start is an error.
 *
 * Engines may be created concurrently: backend initialisation runs one at a time, and each engine has its
 * own lifetime (disposing one never affects another). Engines on the same backend share it and are all
 * active together; the engine created last makes its backend the active one. All `webgpu` engines of a
 * process share one device, so they must be created with the same {@link WebGpuOptions}.
 *
 * @throws TfjsBackendError `E_UNKNOWN_BACKEND`, `E_CONFIG` (a thread count out of range), `E_BACKEND_INIT`
 * (also: a `webgpu` engine with other options is alive, a wasm backend running with another thread count,
 * a threaded build that cannot start), `E_WEBGPU_UNAVAILABLE` or `E_WEBGPU_NO_ADAPTER` (no adapter for the
 * requested Dawn options and feature level).
 */
export async function createTfjsEngine(options: TfjsEngineOptions = {}): Promise<TfjsEngine> {
  const backend = options.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'cpu' && backend !== 'webgpu') {
    throw new TfjsBackendError(
      'E_UNKNOWN_BACKEND',
      `unknown tfjs backend ${JSON.stringify(backend)}; expected 'wasm', 'cpu' or 'webgpu'`,
    );
  }
  const threads = options.threads ?? 'auto';
  if (
    threads !== 'auto' &&
    !(typeof threads === 'number' && Number.isInteger(threads) && threads >= 1 && threads <= MAX_WASM_THREADS)
  ) {
    throw new TfjsBackendError(
      'E_CONFIG',
      `threads: ${JSON.stringify(threads)} is not a thread count; expected an integer from 1 to ${MAX_WASM_THREADS} or 'auto'`,
    );
  }
  return serialized(() => startEngine(backend, options, threads));
}

/**
 * Make the process' wasm backend run with the requested threads: register the threaded build before the
 * backend first starts, or check the count of the one that runs.
 */
async function startWasm(
  requested: number | 'auto',
): Promise<{ threads: number; simd: boolean; native: boolean }> {
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmPackage;
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  // tfjs' `findBackend` would start initialising a registered backend: look at the started ones instead.
  const started = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  if (started['wasm'] === undefined) {
    let threads = requested === 'auto' ? await defaultWasmThreads() : requested;
    if (threads > 1 && simd !== true) {
      // The threaded build is also the SIMD build.
      if (requested !== 'auto') {
        throw new TfjsBackendError(
          'E_BACKEND_INIT',
          `threads: ${requested} needs WebAssembly SIMD, which this runtime lacks; use threads: 1`,
        );
      }
      threads = 1;
    }
    await registerThreadedWasm(wasm, threads);
  }
  await setBackend('wasm');
  const running = Math.max(1, wasm.getThreadsCount());
  if (requested !== 'auto' && requested !== running) {
    throw new TfjsBackendError(
      'E_BACKEND_INIT',
      `the wasm backend of this process already runs with ${running} thread(s), not ${requested}; tfjs holds ` +
        "one wasm backend per process: create this engine with the same threads (or 'auto')",
    );
  }
  const native = await startNativeKernels(started['wasm']);
  return { threads: running, simd: simd === true, native };
}

/**
 * Load the native step kernels (WebAssembly SIMD) on the wasm backend's memory; false where they cannot
 * run (the fused kernels then run in JavaScript).
 */
async function startNativeKernels(backend: unknown): Promise<boolean> {
  const module = (backend as { wasm?: { wasmMemory?: unknown; asm?: { memory?: unknown } } } | undefined)
    ?.wasm;
  // The threaded build imports a shared memory (`wasmMemory`); the others export theirs (`asm.memory`).
  const memory = module?.wasmMemory ?? module?.asm?.memory;
  if (!isWasmMemory(memory) || backend === undefined) return false;
  const kernels = await loadNativeKernels(memory);
  setNativeKernels(backend as object, kernels);
  return kernels !== undefined;
}

async function startEngine(
  backend: TfjsBackendName,
  options: TfjsEngineOptions,
  requestedThreads: number | 'auto',
): Promise<TfjsEngine> {
  let webgpu: WebGpuDevice | undefined;
  let description: string;
  let threads = 1;
  if (backend === 'wasm') {
    const wasm = await startWasm(requestedThreads);
    threads = wasm.threads;
    const simd = wasm.simd;
    description = `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads === 1 ? '1 thread' : `${threads} threads`}${wasm.native ? ', native step kernels' : ''})`;
  } else if (backend === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    await setBackend('cpu');
    description = 'cpu (pure JavaScript)';
  } else {
    // The WebGPU backend hands small operations to the cpu backend: make sure it is registered.
    await import('@tensorflow/tfjs-backend-cpu');
    const init = await acquireWebGpu(options.webgpu ?? {});
    try {
      await setBackend('webgpu');
    } catch (error) {
      releaseWebGpu(init);
      throw error;
    }
    webgpu = init;
    const adapter = init.adapter;
    const what = [adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter(
      (s) => s !== '',
    );
    description = `webgpu (${what.length > 0 ? what.join(' ') : 'unnamed adapter'}, ${adapter.featureLevel})`;
  }
  let disposed = false;
  const engine: TfjsEngine = {
    backend,
    tf,
    description,
    threads,
    ...(webgpu === undefined ? {} : { adapter: webgpu.adapter }),
    isActive: () => !disposed && tf.getBackend() === backend,
    activate() {
      if (disposed) {
        return Promise.reject(
          new TfjsBackendError('E_ENGINE_DISPOSED', `the ${backend} engine was disposed`),
        );
      }
      return serialized(async () => {
        if (disposed) throw new TfjsBackendError('E_ENGINE_DISPOSED', `the ${backend} engine was disposed`);
        if (tf.getBackend() !== backend) await setBackend(backend);
      });
    },
    assertActive() {
      if (disposed) throw new TfjsBackendError('E_ENGINE_DISPOSED', `the ${backend} engine was disposed`);
      if (tf.getBackend() !== backend) {
        throw new TfjsBackendError(
          'E_ENGINE_INACTIVE',
          `tfjs runs on '${tf.getBackend()}', not on this engine's '${backend}'; call engine.activate()`,
        );
      }
    },
    numTensors: () => tf.memory().numTensors,
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (webgpu !== undefined) {
        const init = webgpu;
        await serialized(async () => releaseWebGpu(init));
      }
    },
  };
  return engine;
}
