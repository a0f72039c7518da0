import * as tf from '@tensorflow/tfjs-core';

/**
 * Kernels that only relabel a tensor's shape: no computation and no device program on the wasm, cpu or
 * WebGPU backend. They are counted apart from dispatches.
 */
const VIEW_KERNELS: ReadonlySet<string> = new Set(['Reshape']);

/** What tfjs ran while a {@link KernelCounter} was counting. */
export interface KernelCounts {
  /** Kernels dispatched through tfjs' engine, without the view-only ones (`Reshape`). */
  readonly dispatches: number;
  /** View-only kernels (`Reshape`: a new shape on the same data). */
  readonly views: number;
  /** Reads of tensor data back to JavaScript (`data()`, `dataSync()`, `array()`, ...). */
  readonly readbacks: number;
  /** WebGPU programs run (compute passes dispatched to the device); 0 on other backends. */
  readonly gpuPrograms: number;
  /** Dispatches per kernel name. */
  readonly byKernel: Readonly<Record<string, number>>;
}

interface EngineLike {
  runKernel(name: string, inputs: unknown, attrs?: unknown): unknown;
  read(dataId: unknown): Promise<unknown>;
  readSync(dataId: unknown): unknown;
  backend: unknown;
}

interface WebGpuBackendLike {
  runWebGPUProgram(...args: unknown[]): unknown;
}

class Tally {
  dispatches = 0;
  views = 0;
  readbacks = 0;
  gpuPrograms = 0;
  readonly byKernel = new Map<string, number>();
}

const active = new Set<Tally>();
let restore: (() => void) | undefined;

function install(): void {
  if (restore !== undefined) return;
  const engine = tf.engine() as unknown as EngineLike;
  const runKernel = engine.runKernel;
  const read = engine.read;
  const readSync = engine.readSync;
  engine.runKernel = function (this: EngineLike, name, inputs, attrs) {
    const view = VIEW_KERNELS.has(name);
    for (const t of active) {
      if (view) {
        t.views++;
      } else {
        t.dispatches++;
        t.byKernel.set(name, (t.byKernel.get(name) ?? 0) + 1);
      }
    }
    return runKernel.call(this, name, inputs, attrs);
  };
  engine.read = function (this: EngineLike, dataId) {
    for (const t of active) t.readbacks++;
    return read.call(this, dataId);
  };
  engine.readSync = function (this: EngineLike, dataId) {
    for (const t of active) t.readbacks++;
    return readSync.call(this, dataId);
  };
  // WebGPU programs: counted on the backend object itself (kernels may run several programs).
  const wrapped: { backend: WebGpuBackendLike; original: WebGpuBackendLike['runWebGPUProgram'] }[] = [];
  const wrapGpu = (): void => {
    let backend: unknown;
    try {
      backend = tf.findBackend('webgpu');
    } catch {
      backend = null;
    }
    if (backend === null || backend === undefined) return;
    const b = backend as WebGpuBackendLike;
    if (typeof b.runWebGPUProgram !== 'function' || wrapped.some((w) => w.backend === b)) return;
    const original = b.runWebGPUProgram;
    b.runWebGPUProgram = function (this: WebGpuBackendLike, ...args: unknown[]) {
      for (const t of active) t.gpuPrograms++;
      return original.apply(this, args);
    };
    wrapped.push({ backend: b, original });
  };
  wrapGpu();
  restore = () => {
    engine.runKernel = runKernel;
    engine.read = read;
    engine.readSync = readSync;
    for (const w of wrapped) w.backend.runWebGPUProgram = w.original;
  };
}

function uninstall(): void {
  if (active.size > 0 || restore === undefined) return;
  restore();
  restore = undefined;
}

/** Count one device program run outside tfjs' `runWebGPUProgram` (this package's fused WebGPU kernels). */
export function noteGpuProgram(): void {
  for (const t of active) t.gpuPrograms++;
}

/**
 * Counts the kernel dispatches and read-backs tfjs makes on any backend (wasm, cpu, WebGPU), by wrapping
 * tfjs' engine while at least one counter is running. Counts are deterministic: they depend on the
 * operations issued, never on timing.
 */
export class KernelCounter {
  private tally = new Tally();
  private running = false;

  /** Start counting (from the current totals). */
  start(): this {
    if (!this.running) {
      this.running = true;
      active.add(this.tally);
      install();
    }
    return this;
  }

  /** Stop counting; the totals stay readable. */
  stop(): this {
    if (this.running) {
      this.running = false;
      active.delete(this.tally);
      uninstall();
    }
    return this;
  }

  /** Set the totals to zero (counting continues when running). */
  reset(): this {
    const running = this.running;
    this.stop();
    this.tally = new Tally();
    if (running) this.start();
    return this;
  }

  /** The totals so far. */
  counts(): KernelCounts {
    const t = this.tally;
    return {
      dispatches: t.dispatches,
      views: t.views,
      readbacks: t.readbacks,
      gpuPrograms: t.gpuPrograms,
      byKernel: Object.fromEntries([...t.byKernel.entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
    };
  }
}

/** Run `fn` and count what tfjs dispatched and read back meanwhile (synchronous work only). */
export function countKernels<R>(fn: () => R): { readonly result: R; readonly counts: KernelCounts } {
  const counter = new KernelCounter().start();
  try {
    const result = fn();
    return { result, counts: counter.counts() };
  } finally {
    counter.stop();
  }
}
