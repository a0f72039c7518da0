import { describe, expect, it } from 'vitest';
import { sideBySide } from './side-by-side.js';

describe('sideBySide', () => {
  const rows = Float32Array.from({ length: 12 }, (_, i) => i + 0.5);
  const row = (j: number): Float32Array => rows.subarray(3 * j, 3 * (j + 1));

  it('views parts that lie one after another', () => {
    const v = sideBySide([row(1), row(2), row(3)]);
    expect(v?.buffer).toBe(rows.buffer);
    expect(Array.from(v ?? [])).toEqual(Array.from(rows.subarray(3, 12)));
    const one = row(2);
    expect(sideBySide([one])).toBe(one);
  });

  it('refuses gaps, reversed order and other buffers', () => {
    expect(sideBySide([row(0), row(2)])).toBeUndefined();
    expect(sideBySide([row(1), row(0)])).toBeUndefined();
    expect(sideBySide([row(0), row(1), Float32Array.from(row(2))])).toBeUndefined();
    expect(sideBySide([])).toBeUndefined();
  });

  it('takes the row before the rest for a first part elsewhere with the same bits', () => {
    const twin = Float32Array.from(row(1));
    const v = sideBySide([twin, row(2), row(3)]);
    expect(v?.buffer).toBe(rows.buffer);
    expect(v?.byteOffset).toBe(row(1).byteOffset);
    expect(v?.length).toBe(9);
  });

  it('copies (undefined) when the row before differs in any bit, NaN payloads and signed zeros included', () => {
    const data = Float32Array.from([Number.NaN, -0, 1, 2, 3, 4]);
    const rest = data.subarray(2, 6);
    expect(sideBySide([Float32Array.from([Number.NaN, -0]), rest])?.byteOffset).toBe(0);
    expect(sideBySide([Float32Array.from([Number.NaN, 0]), rest])).toBeUndefined();
    const other = new Float32Array(2);
    new Uint32Array(other.buffer)[0] = 0x7fc00001; // another NaN
    other[1] = -0;
    expect(sideBySide([other, rest])).toBeUndefined();
    // Nothing before the rest, or another element type.
    expect(sideBySide([Float32Array.from([1, 2]), data.subarray(0, 2)])).toBeUndefined();
    const doubles = new Float64Array(4);
    expect(sideBySide([Float64Array.of(0), doubles.subarray(1, 3)])?.length).toBe(3);
    expect(sideBySide([new Float32Array(2), doubles.subarray(1, 3)])).toBeUndefined();
    // Mixed element types lying back to back in one buffer are not one array either.
    const bytes = new ArrayBuffer(24);
    expect(sideBySide([new Float32Array(bytes, 0, 2), new Float64Array(bytes, 8, 2)])).toBeUndefined();
  });
});
