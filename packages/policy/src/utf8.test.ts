import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Utf8Error,
  utf8Decode,
  utf8DecodePortable,
  utf8Encode,
  utf8EncodePortable,
  utf8Length,
} from './utf8.js';

const strings = fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string());

describe('utf8', () => {
  it('the portable encoder and the length agree with TextEncoder (lone surrogates included)', () => {
    fc.assert(
      fc.property(strings, (s) => {
        const expected = new TextEncoder().encode(s);
        expect(utf8EncodePortable(s)).toEqual(expected);
        expect(utf8Encode(s)).toEqual(expected);
        expect(utf8Length(s)).toBe(expected.length);
      }),
      { numRuns: 300 },
    );
    expect(utf8EncodePortable('\ud800x\udc00')).toEqual(new TextEncoder().encode('\ud800x\udc00'));
  });

  it('the portable decoder agrees with a fatal TextDecoder, valid or not', () => {
    const reference = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    const check = (bytes: Uint8Array): void => {
      let expected: string | undefined;
      try {
        expected = reference.decode(bytes);
      } catch {
        expected = undefined;
      }
      if (expected === undefined) {
        expect(() => utf8DecodePortable(bytes)).toThrow(Utf8Error);
        expect(() => utf8Decode(bytes)).toThrow(Utf8Error);
      } else {
        expect(utf8DecodePortable(bytes)).toBe(expected);
        expect(utf8Decode(bytes)).toBe(expected);
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), check), { numRuns: 500 });
    fc.assert(
      fc.property(strings, (s) => check(new TextEncoder().encode(s))),
      { numRuns: 300 },
    );
    for (const bad of [
      [0xc0, 0x80],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xff],
      [0xe2, 0x82],
    ]) {
      check(Uint8Array.from(bad));
    }
    check(new Uint8Array(10_000).fill(0x41));
  });
});
