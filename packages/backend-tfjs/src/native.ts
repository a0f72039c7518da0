import { NATIVE_PLAIN, NATIVE_SHARED } from './native-module.js';

/**
 * The fused step kernels in WebAssembly SIMD (native/kernels.wat), instantiated on the wasm backend's own
 * memory: arguments are byte offsets of tensors there. Single-threaded, synchronous.
 */
export interface NativeKernels {
  lstmForward(
    xs: number,
    rows: number,
    hu: number,
    cPrev: number,
    h: number,
    c: number,
    saved: number,
    batch: number,
    hidden: number,
    keep: number,
  ): void;
  /** `dh2` and `dc` are 0 when absent. */
  lstmBackward(
    dh: number,
    dh2: number,
    dc: number,
    saved: number,
    cPrev: number,
    da: number,
    dcPrev: number,
    batch: number,
    hidden: number,
  ): void;
  gruForward(
    xs: number,
    rows: number,
    hu: number,
    bu: number,
    hPrev: number,
    h: number,
    saved: number,
    batch: number,
    hidden: number,
  ): void;
  /** `dh2` is 0 when absent. */
  gruBackward(
    dh: number,
    dh2: number,
    saved: number,
    hPrev: number,
    dax: number,
    dah: number,
    dhz: number,
    batch: number,
    hidden: number,
  ): void;
  /** `out` zeroed by the caller; `width` a multiple of 4. */
  scatterRows(d: number, ids: number, out: number, rows: number, width: number): void;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Decode base64 (no `atob` or `Buffer`: this runs in browsers and Node alike). */
function decode(text: string): Uint8Array {
  const clean = text.replace(/=+$/, '');
  const bytes = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const ch of clean) {
    value = (value << 6) | BASE64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[n++] = (value >> bits) & 0xff;
    }
  }
  return bytes;
}

/** The part of the `WebAssembly` global used here (the package compiles without DOM types). */
interface WasmApi {
  readonly Memory: abstract new (...args: never[]) => WasmMemory;
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
}

/** A `WebAssembly.Memory`, as far as this module looks at it. */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}

const cache = new WeakMap<object, NativeKernels | null>();

/** Whether `value` is a `WebAssembly.Memory` of this runtime. */
export function isWasmMemory(value: unknown): value is WasmMemory {
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  return api !== undefined && value instanceof api.Memory;
}

/**
 * The native kernels on `memory` (a `WebAssembly.Memory`), or undefined where they cannot run (no
 * WebAssembly SIMD in this runtime). One instance per memory.
 */
export async function loadNativeKernels(memory: WasmMemory): Promise<NativeKernels | undefined> {
  const known = cache.get(memory);
  if (known !== undefined) return known ?? undefined;
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  let kernels: NativeKernels | null = null;
  try {
    if (api === undefined) throw new Error('no WebAssembly');
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const { instance } = await api.instantiate(decode(shared ? NATIVE_SHARED : NATIVE_PLAIN), {
      env: { memory },
    });
    const e = instance.exports as Record<string, ((...args: number[]) => void) | undefined>;
    const forward = e['lstm_forward'];
    const backward = e['lstm_backward'];
    const gruForward = e['gru_forward'];
    const gruBackward = e['gru_backward'];
    const scatter = e['scatter_rows'];
    if (
      forward !== undefined &&
      backward !== undefined &&
      gruForward !== undefined &&
      gruBackward !== undefined &&
      scatter !== undefined
    )
      kernels = {
        lstmForward: forward,
        lstmBackward: backward,
        gruForward,
        gruBackward,
        scatterRows: scatter,
      };
  } catch {
    // No SIMD (or an incompatible memory): the JavaScript kernels run instead.
    kernels = null;
  }
  cache.set(memory, kernels);
  return kernels ?? undefined;
}
