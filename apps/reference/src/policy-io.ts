/** Reading policies: either encoding, told apart by the binary format's magic bytes. */
import { BINARY_MAGIC, decodeBinary, decodeJson, type Policy } from '@rewind/policy';

/** Whether the bytes start with the binary encoding's magic number (`RWPL`). */
export function looksBinary(bytes: Uint8Array): boolean {
  return bytes.length >= BINARY_MAGIC.length && BINARY_MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * Skip the lines a package-manager script runner prints before a script's own output (blank lines and
 * lines starting with '>'), so that `pnpm rewind plan ... | pnpm rewind verify -` works as typed.
 */
export function skipRunnerBanner(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x0a || bytes[i] === 0x3e)) {
    if (bytes[i] === 0x3e) {
      while (i < bytes.length && bytes[i] !== 0x0a) i++;
    }
    i++;
  }
  return i === 0 ? bytes : bytes.subarray(Math.min(i, bytes.length));
}

/** Decode a policy in either encoding. */
export function decodeAny(bytes: Uint8Array): Policy {
  return looksBinary(bytes) ? decodeBinary(bytes) : decodeJson(bytes);
}
