// UTF-8 conversion without `node:` imports. Uses the platform's TextEncoder/TextDecoder (browsers, Node, Deno,
// Bun, workers) and falls back to a small hand-written codec where they are missing.

interface Encoder {
  encode(input: string): Uint8Array;
}
interface Decoder {
  decode(input: Uint8Array): string;
}
interface TextCodecGlobals {
  readonly TextEncoder?: new () => Encoder;
  readonly TextDecoder?: new (label: string, options: { fatal: boolean; ignoreBOM: boolean }) => Decoder;
}

const globals = globalThis as unknown as TextCodecGlobals;
const encoder: Encoder | undefined = globals.TextEncoder ? new globals.TextEncoder() : undefined;
// ignoreBOM: true keeps a leading U+FEFF in the text, so that it is rejected (RFC 8259 forbids adding one).
const decoder: Decoder | undefined = globals.TextDecoder
  ? new globals.TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  : undefined;

/** Thrown by `utf8Decode` on malformed input. */
export class Utf8Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Utf8Error';
  }
}

/** Number of UTF-8 bytes of `s` (lone surrogates count as the 3 bytes of U+FFFD, as TextEncoder writes them). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // 2 code units, 4 bytes
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}

/** UTF-8 bytes of `s`. */
export function utf8Encode(s: string): Uint8Array {
  return encoder ? encoder.encode(s) : utf8EncodePortable(s);
}

/** The fallback encoder, used where TextEncoder is missing (exported for tests). */
export function utf8EncodePortable(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  let p = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[p++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else c = 0xfffd;
    }
    if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
    } else if (c < 0x10000) {
      out[p++] = 0xe0 | (c >> 12);
      out[p++] = 0x80 | ((c >> 6) & 63);
    } else {
      out[p++] = 0xf0 | (c >> 18);
      out[p++] = 0x80 | ((c >> 12) & 63);
      out[p++] = 0x80 | ((c >> 6) & 63);
    }
    out[p++] = 0x80 | (c & 63);
  }
  return out;
}

/** Decode strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF); throws `Utf8Error`. */
export function utf8Decode(bytes: Uint8Array): string {
  if (!decoder) return utf8DecodePortable(bytes);
  try {
    return decoder.decode(bytes);
  } catch {
    throw new Utf8Error('the input is not well-formed UTF-8');
  }
}

/** The fallback decoder, used where TextDecoder is missing (exported for tests). */
export function utf8DecodePortable(bytes: Uint8Array): string {
  const parts: string[] = [];
  let units: number[] = [];
  const n = bytes.length;
  let i = 0;
  const bad = (): never => {
    throw new Utf8Error(`the input is not well-formed UTF-8 (byte ${i})`);
  };
  const cont = (k: number): number => {
    const b = k < n ? bytes[k]! : 0;
    if ((b & 0xc0) !== 0x80) bad();
    return b & 63;
  };
  while (i < n) {
    const b = bytes[i]!;
    let c: number;
    if (b < 0x80) {
      c = b;
      i += 1;
    } else if (b >= 0xc2 && b <= 0xdf) {
      c = ((b & 31) << 6) | cont(i + 1);
      i += 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      c = ((b & 15) << 12) | (cont(i + 1) << 6) | cont(i + 2);
      if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)) bad();
      i += 3;
    } else if (b >= 0xf0 && b <= 0xf4) {
      c = ((b & 7) << 18) | (cont(i + 1) << 12) | (cont(i + 2) << 6) | cont(i + 3);
      if (c < 0x10000 || c > 0x10ffff) bad();
      i += 4;
    } else {
      return bad();
    }
    if (c >= 0x10000) {
      c -= 0x10000;
      units.push(0xd800 + (c >> 10), 0xdc00 + (c & 1023));
    } else units.push(c);
    if (units.length >= 4096) {
      parts.push(String.fromCharCode(...units));
      units = [];
    }
  }
  parts.push(String.fromCharCode(...units));
  return parts.join('');
}
