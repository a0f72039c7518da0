/**
 * The runtime adapter: ONNX Runtime sessions (created once per graph and configuration, cached), the
 * execution provider, and the diagnosis of a CUDA provider that cannot load.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { InferenceSession, type Tensor } from 'onnxruntime-node';
import { OnnxBackendError } from '../errors.js';

/** Where sessions run. */
export type ExecutionProvider = 'cpu' | 'cuda';

/** Session settings shared by every graph of one backend. */
export interface SessionSettings {
  readonly executionProvider: ExecutionProvider;
  /** CUDA device ordinal. */
  readonly deviceId: number;
  /** ONNX Runtime's intra-op thread count; absent: its default (one per physical core). */
  readonly intraOpNumThreads?: number;
  /** CUDA: allow TF32 matrix products (default false: full float32). */
  readonly tf32?: boolean;
  /** Let ONNX Runtime's intra-op threads spin while waiting for work (default false). */
  readonly spinning?: boolean;
}

/**
 * Make the TF32 setting of a CUDA session take effect. onnxruntime-node's binding passes only `deviceId` to
 * the CUDA provider, so its `use_tf32` option cannot be set from Node; full float32 is asked of cuBLAS and
 * cuDNN with `NVIDIA_TF32_OVERRIDE=0`, which they read when they initialise: a process-wide setting, made
 * before the first CUDA session. A process cannot mix the two settings.
 */
export function applyTf32(tf32: boolean, env: NodeJS.ProcessEnv = process.env): void {
  const current = env['NVIDIA_TF32_OVERRIDE'];
  if (!tf32) {
    if (current === undefined) env['NVIDIA_TF32_OVERRIDE'] = '0';
    else if (current !== '0') {
      throw new OnnxBackendError(
        'E_OPTIONS',
        `tf32 is off (full float32) but the environment sets NVIDIA_TF32_OVERRIDE=${current}, which lets CUDA use TF32; unset it, or pass tf32: true`,
      );
    }
  } else if (current === '0') {
    throw new OnnxBackendError(
      'E_OPTIONS',
      'tf32: true, but NVIDIA_TF32_OVERRIDE=0 is set in this process (by the environment, or by an earlier CUDA backend with tf32 off: the setting is process-wide); use one setting per process',
    );
  }
}

/** The provider libraries the CUDA execution provider of onnxruntime-node 1.29.0 loads. */
export const CUDA_PROVIDER_LIBRARIES = [
  'libonnxruntime_providers_shared.so',
  'libonnxruntime_providers_cuda.so',
];

/** The CUDA 13 runtime libraries the provider library needs. */
export const CUDA_RUNTIME_LIBRARIES = ['libcudart.so.13', 'libcublas.so.13', 'libcurand.so.10'];

/** How to get the CUDA libraries, for error messages and the README. */
export const CUDA_INSTALL_HINT =
  'install the provider libraries for onnxruntime-node 1.29.0 built against CUDA 13: libonnxruntime_providers_cuda.so and ' +
  'libonnxruntime_providers_shared.so from the npm package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 ' +
  '(directory Plugins/Linux/x64/), copied into the onnxruntime-node binding directory (ONNX Runtime loads them from there ' +
  'only, not from LD_LIBRARY_PATH), plus the CUDA 13 runtime libraries libcublas.so.13, libcudart.so.13 and ' +
  'libcurand.so.10 on LD_LIBRARY_PATH (e.g. from the pip packages nvidia-cublas, nvidia-cuda-runtime, nvidia-curand)';

/** The directory holding onnxruntime-node's native binding (where ONNX Runtime loads the provider libraries from). */
export function bindingDirectory(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('onnxruntime-node');
    return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

const SYSTEM_LIBRARY_DIRS = [
  '/usr/local/cuda/lib64',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/x86_64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/usr/local/lib',
];

/** Where `diagnoseCudaLibraries` looks, and how it tests for a file. */
export interface LibrarySearch {
  /** Directories searched for the provider libraries (default: the binding's directory, where ONNX Runtime loads them from). */
  readonly providerDirs: readonly string[];
  /** Directories searched for the CUDA runtime libraries (default: the binding's, LD_LIBRARY_PATH, system dirs). */
  readonly runtimeDirs: readonly string[];
  readonly exists: (path: string) => boolean;
}

/** The default search: onnxruntime-node's binding directory, `LD_LIBRARY_PATH`, and the usual system directories. */
export function defaultLibrarySearch(env: NodeJS.ProcessEnv = process.env): LibrarySearch {
  const ld = (env['LD_LIBRARY_PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  const binding = bindingDirectory();
  // ONNX Runtime opens the provider libraries by absolute path, from the directory of its own library.
  const providerDirs = binding === undefined ? ld : [binding];
  const runtimeDirs = [
    ...new Set([...(binding === undefined ? [] : [binding]), ...ld, ...SYSTEM_LIBRARY_DIRS]),
  ];
  return { providerDirs, runtimeDirs, exists: existsSync };
}

/** The CUDA-related shared libraries that cannot be found (best effort: the dynamic loader has the last word). */
export function diagnoseCudaLibraries(search: LibrarySearch = defaultLibrarySearch()): string[] {
  const missing: string[] = [];
  const find = (lib: string, dirs: readonly string[]): boolean =>
    dirs.some((d) => search.exists(join(d, lib)));
  for (const lib of CUDA_PROVIDER_LIBRARIES) if (!find(lib, search.providerDirs)) missing.push(lib);
  for (const lib of CUDA_RUNTIME_LIBRARIES) if (!find(lib, search.runtimeDirs)) missing.push(lib);
  return missing;
}

/** Turn a failed CUDA session creation into the typed error. */
export function cudaUnavailable(
  cause: unknown,
  search?: LibrarySearch,
  source = 'ONNX Runtime: ',
): OnnxBackendError {
  const missing = diagnoseCudaLibraries(search);
  const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  const binding = bindingDirectory();
  const what =
    missing.length > 0
      ? `missing ${missing.join(', ')} (provider libraries looked for in the onnxruntime-node binding directory${
          binding === undefined ? '' : ` ${binding}`
        }, CUDA runtime libraries there, on LD_LIBRARY_PATH and in system library directories)`
      : 'the libraries were found, so the GPU, its driver or a library version is at fault';
  return new OnnxBackendError(
    'E_CUDA_UNAVAILABLE',
    `the CUDA execution provider could not be loaded (${source}${reason}); ${what}. To use CUDA, ${CUDA_INSTALL_HINT}.`,
    { cause, missingLibraries: missing },
  );
}

function sessionOptions(settings: SessionSettings): InferenceSession.SessionOptions {
  const executionProviders: InferenceSession.ExecutionProviderConfig[] =
    settings.executionProvider === 'cuda' ? [{ name: 'cuda', deviceId: settings.deviceId }] : ['cpu'];
  const options: InferenceSession.SessionOptions = {
    executionProviders,
    graphOptimizationLevel: 'all',
    // Outputs are copied on every run in Node; the arena only helps reuse ORT's own scratch buffers.
    enableCpuMemArena: true,
    // Spinning intra-op threads keep a core busy between runs, which the JavaScript work between runs (the
    // executor, stacking, accumulating) then lacks: measured 1.6x slower msm on 2 cores with it on.
    extra: { session: { intra_op: { allow_spinning: settings.spinning === true ? '1' : '0' } } },
  };
  return settings.intraOpNumThreads === undefined
    ? options
    : { ...options, intraOpNumThreads: settings.intraOpNumThreads };
}

/**
 * A pool of ONNX Runtime sessions: each graph and configuration is created once and shared by every backend
 * that uses the pool. Who owns a pool releases it; releasing one pool never touches another's sessions, so
 * trainings with pools of their own run side by side in one process.
 */
export interface SessionPool {
  /** Sessions created (or being created) and not released. */
  readonly size: number;
  /** Release every session of the pool (they are re-created on demand if the pool is used again). */
  release(): Promise<void>;
}

class Pool implements SessionPool {
  readonly sessions = new Map<string, Promise<InferenceSession>>();
  get size(): number {
    return this.sessions.size;
  }
  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(all.map(async (p) => (await p).release()));
  }
}

/** A new, empty session pool, owned by the caller. */
export function createSessionPool(): SessionPool {
  return new Pool();
}

/** The process-wide pool of backends created without a pool of their own. */
const defaultPool = new Pool();

function settingsKey(s: SessionSettings): string {
  return `${s.executionProvider}:${s.deviceId}:${s.intraOpNumThreads ?? 'default'}${s.tf32 === true ? ':tf32' : ''}${s.spinning === true ? ':spin' : ''}`;
}

/** Create a session, mapping a CUDA provider failure to `E_CUDA_UNAVAILABLE` and any other to `errorCode`. */
export async function createSession(
  model: Uint8Array | string,
  settings: SessionSettings,
  what: string,
  errorCode: 'E_SESSION' | 'E_USER_CELL_LOAD' = 'E_SESSION',
): Promise<InferenceSession> {
  if (settings.executionProvider === 'cuda') {
    applyTf32(settings.tf32 === true);
    // Missing provider libraries are certain to fail: say so without asking ONNX Runtime (which would
    // print its own error line first). Missing runtime libraries are only a guess: ONNX Runtime decides.
    const search = defaultLibrarySearch();
    const absent = diagnoseCudaLibraries(search).filter((lib) => CUDA_PROVIDER_LIBRARIES.includes(lib));
    if (absent.length > 0 && bindingDirectory() !== undefined) {
      throw cudaUnavailable(
        new Error(`${absent.join(' and ')} not found next to the onnxruntime-node binding`),
        search,
        '',
      );
    }
  }
  try {
    return await (typeof model === 'string'
      ? InferenceSession.create(model, sessionOptions(settings))
      : InferenceSession.create(model, sessionOptions(settings)));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (settings.executionProvider === 'cuda' && /cuda|shared library|provider/i.test(message)) {
      throw cudaUnavailable(error);
    }
    throw new OnnxBackendError(errorCode, `ONNX Runtime could not create a session for ${what}: ${message}`, {
      cause: error,
    });
  }
}

/**
 * The session of one of the backend's own graphs, created once per graph and settings in `pool` (default:
 * the process-wide pool). `key` names the graph and its configuration; `build` makes its bytes.
 */
export function cachedSession(
  key: string,
  settings: SessionSettings,
  build: () => Uint8Array,
  pool: SessionPool = defaultPool,
): Promise<InferenceSession> {
  const cache = (pool as Pool).sessions;
  const full = `${settingsKey(settings)}|${key}`;
  let s = cache.get(full);
  if (s === undefined) {
    s = createSession(build(), settings, key);
    cache.set(full, s);
    // A failed creation is not cached: the next backend tries again (e.g. after installing CUDA).
    s.catch(() => {
      if (cache.get(full) === s) cache.delete(full);
    });
  }
  return s;
}

/**
 * Release every session of the process-wide pool (used by backends created without a `sessions` pool of
 * their own); they are re-created on demand. Pools made with `createSessionPool` are untouched.
 */
export async function releaseCachedSessions(): Promise<void> {
  await defaultPool.release();
}

/** Run a session with exactly the inputs it declares, picked from `available`. */
export async function runSession(
  session: InferenceSession,
  available: Readonly<Record<string, Tensor | undefined>>,
  what: string,
): Promise<InferenceSession.ReturnType> {
  const feeds: Record<string, Tensor> = {};
  for (const name of session.inputNames) {
    const t = available[name];
    if (t === undefined) throw new Error(`${what}: no value for input ${name}`);
    feeds[name] = t;
  }
  return session.run(feeds);
}
