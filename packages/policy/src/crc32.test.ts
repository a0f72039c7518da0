import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from './crc32.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
// node:zlib.crc32 exists from Node 20.15 / 22.2.
const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
  });

  it('matches known vectors', () => {
    expect(crc32(new Uint8Array())).toBe(0);
    expect(crc32(ascii('a'))).toBe(0xe8b7be43);
    expect(crc32(ascii('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    expect(crc32(new Uint8Array(32))).toBe(0x190a55ad);
    expect(crc32(new Uint8Array(32).fill(0xff))).toBe(0xff6cab0b);
  });

  it('continues a checksum over chunks', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        const all = new Uint8Array(a.length + b.length);
        all.set(a);
        all.set(b, a.length);
        expect(crc32(b, crc32(a))).toBe(crc32(all));
      }),
      { numRuns: 200 },
    );
  });

  it.skipIf(zlibCrc32 === undefined)('agrees with node:zlib.crc32 on random inputs', () => {
    const reference = zlibCrc32!;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1000 }), fc.nat(9), (bytes, skip) => {
        expect(crc32(bytes)).toBe(reference(bytes));
        const view = bytes.subarray(Math.min(skip, bytes.length));
        expect(crc32(view)).toBe(reference(view));
      }),
      { numRuns: 300 },
    );
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) >>> 3;
    expect(crc32(big)).toBe(reference(big));
  });
});
