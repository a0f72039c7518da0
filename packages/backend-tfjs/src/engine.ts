import * as tf from '@tensorflow/tfjs-core';
import { TfjsBackendError } from './errors.js';

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
  /** A line describing the backend, e.g. `'wasm (SIMD, 1 thread)'` or the WebGPU adapter. */
  readonly description: string;
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
   * Release the backend: for WebGPU, the device and the registration made by this engine (Dawn may still
   * keep the process alive; end it with `process.exit`). Tensors of this engine become unusable.
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

async function initWebGpu(
  options: WebGpuOptions,
): Promise<{ adapter: WebGpuAdapterDescription; device: GpuDeviceLike }> {
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
      `no WebGPU adapter is available (${where}): ${String(cause)}`,
      {
        cause,
      },
    );
  }
  if (adapter === null || adapter === undefined) {
    throw new TfjsBackendError('E_WEBGPU_NO_ADAPTER', `no WebGPU adapter is available (${where})`);
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
  // tfjs' WebGPU backend registers itself only when navigator.gpu exists at import time; it then asks for
  // an adapter of its own without a feature level. Its kernels are registered either way; the backend
  // registered below runs them on the device chosen here.
  installNavigatorGpu(gpu);
  const module = await importOptional<WebGpuBackendModule>(
    '@tensorflow/tfjs-backend-webgpu',
    "The package '@tensorflow/tfjs-backend-webgpu'",
  );
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
  const info = adapter.info ?? {};
  tf.registerBackend('webgpu', () => new module.WebGPUBackend(device, info), 3);
  return {
    device,
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
 * Initialise tfjs-core with one backend and return an engine for it: `wasm` by default (SIMD; one
 * thread under Node), `cpu` (pure JavaScript, a reference), or `webgpu` through Dawn's Node bindings.
 * The WebGPU packages are optional peer dependencies, loaded here (dynamic import) only when asked for.
 * There is never a silent fallback: a backend that cannot start is an error.
 *
 * @throws TfjsBackendError `E_UNKNOWN_BACKEND`, `E_BACKEND_INIT`, `E_WEBGPU_UNAVAILABLE` or
 * `E_WEBGPU_NO_ADAPTER` (no adapter for the requested Dawn options and feature level).
 */
export async function createTfjsEngine(options: TfjsEngineOptions = {}): Promise<TfjsEngine> {
  const backend = options.backend ?? 'wasm';
  let adapter: WebGpuAdapterDescription | undefined;
  let device: GpuDeviceLike | undefined;
  let description: string;
  if (backend === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    await setBackend('wasm');
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
    description = `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'multi-threaded' : '1 thread'})`;
  } else if (backend === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    await setBackend('cpu');
    description = 'cpu (pure JavaScript)';
  } else if (backend === 'webgpu') {
    // The WebGPU backend hands small operations to the cpu backend: make sure it is registered.
    await import('@tensorflow/tfjs-backend-cpu');
    const init = await initWebGpu(options.webgpu ?? {});
    adapter = init.adapter;
    device = init.device;
    await setBackend('webgpu');
    const what = [adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter(
      (s) => s !== '',
    );
    description = `webgpu (${what.length > 0 ? what.join(' ') : 'unnamed adapter'}, ${adapter.featureLevel})`;
  } else {
    throw new TfjsBackendError(
      'E_UNKNOWN_BACKEND',
      `unknown tfjs backend ${JSON.stringify(backend)}; expected 'wasm', 'cpu' or 'webgpu'`,
    );
  }
  let disposed = false;
  const engine: TfjsEngine = {
    backend,
    tf,
    description,
    ...(adapter === undefined ? {} : { adapter }),
    isActive: () => !disposed && tf.getBackend() === backend,
    async activate() {
      if (disposed) throw new TfjsBackendError('E_ENGINE_DISPOSED', `the ${backend} engine was disposed`);
      if (tf.getBackend() !== backend) await setBackend(backend);
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
      if (backend === 'webgpu') {
        if (tf.findBackend('webgpu') !== null || tf.findBackendFactory('webgpu') !== null)
          tf.removeBackend('webgpu');
        device?.destroy();
      }
    },
  };
  return engine;
}
