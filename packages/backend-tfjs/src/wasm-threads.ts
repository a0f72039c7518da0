import * as tf from '@tensorflow/tfjs-core';
import { TfjsBackendError } from './errors.js';

/**
 * Multi-threaded wasm under Node.
 *
 * tfjs-backend-wasm ships a threaded SIMD build (Emscripten pthreads over `worker_threads`) but never
 * starts it under Node: its own loader turns threads off there and hands Emscripten the worker script and
 * the main script as `blob:` URLs, which Node's `worker_threads` refuses. This loader starts the same build
 * from the installed files instead: the factory is `require`d from the package's `wasm-out` folder, the
 * worker script (which tfjs ships as a string) is written once to a file in the temporary directory, and
 * the workers load the factory from its path.
 *
 * The build sizes its thread pool at half the logical cores that Emscripten reports (it assumes two
 * hyper-threads per core) and caps every requested count by that; the loader reports twice the requested
 * count through Emscripten's `instantiateWasm` hook so that the pool has exactly the threads asked for.
 */

/** The most threads the threaded build can run: Emscripten pre-creates 8 workers. */
export const MAX_WASM_THREADS = 8;

interface EmscriptenModule {
  readonly PThread?: {
    readonly runningWorkers: readonly { unref?(): void }[];
    readonly unusedWorkers: readonly { unref?(): void }[];
  };
  cwrap(name: string, returns: string | null, args: readonly string[]): (...args: number[]) => number;
  tfjs?: unknown;
}

/** The parts of `@tensorflow/tfjs-backend-wasm` the engine and this loader use. */
export interface WasmPackage {
  BackendWasm: new (module: EmscriptenModule) => tf.KernelBackend;
  setThreadsCount(threads: number): void;
  getThreadsCount(): number;
}

type Factory = (config: object) => Promise<EmscriptenModule>;

/** The part of the `WebAssembly` global this loader uses (the package compiles without DOM types). */
interface WebAssemblyLike {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: unknown; module: unknown }>;
}

interface NodeProcess {
  readonly pid: number;
  readonly versions: { readonly node?: string };
}

function nodeProcess(): NodeProcess | undefined {
  const p = (globalThis as { process?: NodeProcess }).process;
  return typeof p?.versions?.node === 'string' ? p : undefined;
}

const isNode = (): boolean => nodeProcess() !== undefined;

// The Node built-ins this loader uses. The package compiles without Node's types (it also runs in
// browsers, where none of this is reached), so they are described here and imported by name at run time.
interface NodeOs {
  availableParallelism?(): number;
  cpus(): readonly unknown[];
  tmpdir(): string;
}
interface NodeFs {
  existsSync(path: string): boolean;
  readFileSync(path: string): Uint8Array;
  writeFileSync(path: string, text: string): void;
  renameSync(from: string, to: string): void;
}
interface NodeRequire {
  (id: string): unknown;
  resolve(id: string): string;
}
interface NodeModule {
  createRequire(from: string): NodeRequire;
}
interface NodePath {
  join(...parts: string[]): string;
}
interface NodeCrypto {
  createHash(algorithm: string): { update(text: string): { digest(encoding: 'hex'): string } };
}

const builtin = <T>(name: string): Promise<T> => import(/* @vite-ignore */ `node:${name}`) as Promise<T>;

/** The thread count `threads: 'auto'` asks for: the machine's cores, at most {@link MAX_WASM_THREADS}. */
export async function defaultWasmThreads(): Promise<number> {
  if (!isNode()) return 1;
  const os = await builtin<NodeOs>('os');
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(MAX_WASM_THREADS, cores));
}

async function loadThreadedModule(threads: number): Promise<EmscriptenModule> {
  const [{ createRequire }, fs, os, path, crypto] = await Promise.all([
    builtin<NodeModule>('module'),
    builtin<NodeFs>('fs'),
    builtin<NodeOs>('os'),
    builtin<NodePath>('path'),
    builtin<NodeCrypto>('crypto'),
  ]);
  const require = createRequire((import.meta as { url?: string }).url ?? '');
  const base = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd';
  const factoryPath = require.resolve(`${base}.js`);
  const wasmPath = factoryPath.replace(/\.js$/, '.wasm');
  const { wasmWorkerContents } = require(`${base}.worker.js`) as { wasmWorkerContents: string };
  // tfjs ships the worker as the text of a template literal whose `\n` escapes became newlines; turn them
  // back into escapes, as tfjs' own loader does before making a Blob of it.
  const workerSource = wasmWorkerContents.replace(/\n/g, '\\n');
  const digest = crypto.createHash('sha256').update(workerSource).digest('hex').slice(0, 16);
  const workerPath = path.join(os.tmpdir(), `rewind-tfjs-wasm-${digest}.worker.cjs`);
  if (!fs.existsSync(workerPath)) {
    const partial = `${workerPath}.${nodeProcess()?.pid ?? 0}.tmp`;
    try {
      fs.writeFileSync(partial, workerSource);
      fs.renameSync(partial, workerPath);
    } catch (cause) {
      throw new TfjsBackendError(
        'E_BACKEND_INIT',
        `the threaded wasm build needs its worker script as a file, and ${JSON.stringify(workerPath)} could not be ` +
          `written (${String(cause)}); set TMPDIR to a writable directory, or use threads: 1`,
        { cause },
      );
    }
  }
  const bytes = fs.readFileSync(wasmPath);
  const factory = require(factoryPath) as Factory;
  // Emscripten never settles its promise when instantiation fails inside this hook: reject beside it.
  let failed: (cause: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => {
    failed = reject;
  });
  const started = factory({
    locateFile: (file: string) => (file.endsWith('.worker.js') ? workerPath : wasmPath),
    mainScriptUrlOrBlob: factoryPath,
    instantiateWasm(
      imports: { env: Record<string, unknown> },
      receive: (instance: unknown, module: unknown) => void,
    ) {
      imports.env['emscripten_num_logical_cores'] = () => 2 * threads;
      const wasmGlobal = (globalThis as unknown as { WebAssembly: WebAssemblyLike }).WebAssembly;
      wasmGlobal.instantiate(bytes, imports).then(
        (result) => receive(result.instance, result.module),
        (cause: unknown) => failed(cause),
      );
      return {};
    },
  });
  try {
    return await Promise.race([started, failure]);
  } catch (cause) {
    throw new TfjsBackendError(
      'E_BACKEND_INIT',
      `tfjs' threaded wasm build failed to start with ${threads} threads: ${String(cause)}; ` +
        'threads: 1 runs the single-threaded build',
      { cause },
    );
  }
}

/** The bookkeeping functions tfjs' loader wraps on every module it starts (`module.tfjs`). */
function wrapTfjsFunctions(module: EmscriptenModule): void {
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
}

/**
 * Register tfjs' `wasm` backend so that it starts the threaded build with `threads` threads (Node only;
 * `threads` 1 keeps tfjs' own single-threaded loader). The kernels stay the ones tfjs-backend-wasm
 * registered; only the factory of the backend changes. Must run before the backend is initialised.
 */
export async function registerThreadedWasm(wasm: WasmPackage, threads: number): Promise<void> {
  if (threads === 1 || !isNode()) return;
  const module = await loadThreadedModule(threads);
  wrapTfjsFunctions(module);
  const priority = 2;
  if (tf.findBackendFactory('wasm') !== null) tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    () => {
      wasm.setThreadsCount(threads);
      const backend = new wasm.BackendWasm(module);
      // The pool's threads wait for work for the life of the process: they must not keep Node running.
      const pool = module.PThread;
      for (const worker of [...(pool?.runningWorkers ?? []), ...(pool?.unusedWorkers ?? [])])
        worker.unref?.();
      return backend;
    },
    priority,
  );
}
