/** Small helpers between typed arrays and ONNX Runtime tensors. */
import { Tensor } from 'onnxruntime-node';
import type { FloatType } from '../onnx/model.js';

/** The typed arrays of the float element types. */
export type FloatArray = Float32Array | Float64Array;

/** A zeroed array of `n` elements of `dtype`. */
export function allocFloat(dtype: FloatType, n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

/** A copy of `values` as `dtype`. */
export function toFloat(dtype: FloatType, values: ArrayLike<number>): FloatArray {
  return dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
}

/** A tensor over `data` (not copied). */
export function floatTensor(data: FloatArray, dims: readonly number[]): Tensor {
  return data instanceof Float32Array ? new Tensor('float32', data, dims) : new Tensor('float64', data, dims);
}

/** A scalar tensor. */
export function scalarTensor(dtype: FloatType, value: number): Tensor {
  return floatTensor(dtype === 'float32' ? Float32Array.of(value) : Float64Array.of(value), []);
}

/** The float data of a tensor (throws for other element types). */
export function floatData(t: Tensor): FloatArray {
  const d = t.data;
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  throw new TypeError(`expected a float32 or float64 tensor, got ${t.type}`);
}

/** The first element of a tensor, as a number. */
export function scalarOf(t: Tensor): number {
  const d = t.data;
  if (typeof d === 'string' || !('length' in d) || d.length < 1)
    throw new TypeError('expected a non-empty numeric tensor');
  return Number(d[0]);
}

/** A copy of rows `[from, to)` of a tensor whose first dimension is stacked (e.g. `[N, B, H]` -> `[B, H]`). */
export function sliceStacked(t: Tensor, index: number): Tensor {
  const data = floatData(t);
  const rest = t.dims.slice(1);
  const size = rest.reduce((a, b) => a * b, 1);
  return floatTensor(data.slice(index * size, (index + 1) * size), rest);
}

/** Bytes held by tensors. */
export function tensorBytes(tensors: readonly Tensor[]): number {
  let n = 0;
  for (const t of tensors) {
    const d = t.data as { byteLength?: number };
    n += d.byteLength ?? 0;
  }
  return n;
}

/** `acc[offset + i] += add[i]` over all of `add`. */
export function accumulate(acc: Float64Array, add: ArrayLike<number>, offset = 0): void {
  for (let i = 0; i < add.length; i++) acc[offset + i]! += add[i]!;
}
