import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256, sha256Hex, toHex } from './sha256.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const nodeSha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('sha256', () => {
  it('matches the FIPS 180-4 / NIST example vectors', () => {
    expect(sha256Hex(ascii(''))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(ascii('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    expect(
      sha256Hex(
        ascii(
          'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
        ),
      ),
    ).toBe('cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1');
  });

  it('hashes one million "a" (a multi-block input)', () => {
    expect(sha256Hex(new Uint8Array(1_000_000).fill(0x61))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    );
  });

  it('returns 32 bytes and agrees with toHex', () => {
    const d = sha256(ascii('abc'));
    expect(d).toBeInstanceOf(Uint8Array);
    expect(d.length).toBe(32);
    expect(toHex(d)).toBe(sha256Hex(ascii('abc')));
  });

  it('agrees with node:crypto on every length around the padding boundaries', () => {
    for (let n = 0; n <= 300; n++) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (i * 131 + n) & 0xff;
      expect(sha256Hex(b), `length ${n}`).toBe(nodeSha(b));
    }
  });

  it('agrees with node:crypto on a 1 MB pseudo-random input', () => {
    const b = new Uint8Array(1 << 20);
    let x = 12345;
    for (let i = 0; i < b.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      b[i] = x >>> 24;
    }
    expect(sha256Hex(b)).toBe(nodeSha(b));
  });

  it('agrees with node:crypto on random inputs and subarray views', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(16), (bytes, skip) => {
        expect(sha256Hex(bytes)).toBe(nodeSha(bytes));
        const view = bytes.subarray(Math.min(skip, bytes.length));
        expect(sha256Hex(view)).toBe(nodeSha(view));
      }),
      { numRuns: 200 },
    );
  });
});
