/** Finding arrays that already lie one after another in one buffer, so that stacking them needs no copy. */
import type { FloatArray } from './tensors.js';

function view(like: FloatArray, buffer: ArrayBufferLike, byteOffset: number, length: number): FloatArray {
  return like instanceof Float32Array
    ? new Float32Array(buffer, byteOffset, length)
    : new Float64Array(buffer, byteOffset, length);
}

function sameBits(a: FloatArray, buffer: ArrayBufferLike, byteOffset: number): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
  const y = new Uint32Array(buffer, byteOffset, a.byteLength / 4);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * `parts` as one array without a copy, or undefined when they are not laid out for it (or are not all of
 * one element type): a view when they lie one after another in one buffer, or when all but the first do
 * and that buffer holds the first's bits just before them (a row that a range computed again next to its
 * neighbours: the view reads the same numbers).
 */
export function sideBySide(parts: readonly FloatArray[]): FloatArray | undefined {
  const first = parts[0];
  if (first === undefined) return undefined;
  let total = first.length;
  for (let i = 1; i < parts.length; i++) {
    const d = parts[i] as FloatArray;
    if (d.constructor !== first.constructor) return undefined;
    total += d.length;
    if (i === 1) continue;
    const prev = parts[i - 1] as FloatArray;
    if (d.buffer !== prev.buffer || d.byteOffset !== prev.byteOffset + prev.byteLength) return undefined;
  }
  const second = parts[1];
  if (second === undefined) return first;
  if (second.buffer === first.buffer && second.byteOffset === first.byteOffset + first.byteLength)
    return view(first, first.buffer, first.byteOffset, total);
  // The first part elsewhere: the same bits just before the rest in the rest's buffer serve as well.
  const at = second.byteOffset - first.byteLength;
  if (at < 0) return undefined;
  return sameBits(first, second.buffer, at) ? view(first, second.buffer, at, total) : undefined;
}
