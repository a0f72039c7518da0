// The binary encoding of docs/policy-format.md section 4.

import { crc32 } from './crc32.js';
import { issue, PolicyError, type PolicyErrorCode } from './errors.js';
import { canonicalJson, extraInstructionKeys, isNewerMinor, policyHeader } from './json.js';
import { parseJsonText } from './jsontext.js';
import { FORMAT_MAJOR, type Instruction, type Policy } from './types.js';
import { utf8Decode, utf8Encode } from './utf8.js';
import { parsePolicy, type ReadOptions, resolveLimits } from './validate.js';

/** The four magic bytes that open every binary policy: ASCII "RWPL". */
export const BINARY_MAGIC: readonly number[] = [0x52, 0x57, 0x50, 0x4c];

/** Opcodes of the binary body. */
const OP_FORWARD = 0x00;
const OP_FORWARD_HIDDEN = 0x01;
const OP_FORWARD_INTERNAL = 0x02;
const OP_FORWARD_HIDDEN_STRIDE = 0x03;
const OP_FORWARD_INTERNAL_STRIDE = 0x04;
const OP_BACKWARD = 0x05;
const OP_FREE_HIDDEN = 0x06;
const OP_FREE_INTERNAL = 0x07;

/** A varint takes at most 8 bytes (56 bits), and its value is at most 2^53 - 1. */
const MAX_VARINT_BYTES = 8;
const MAX_VARINT = Number.MAX_SAFE_INTEGER;
/** The shortest instruction: an opcode and a one-byte varint. */
const MIN_INSTRUCTION_BYTES = 2;
/** magic, major, minor, headerLen (>= 1 byte), header (>= 0), count (>= 1 byte), crc. */
const MIN_FRAME_BYTES = 4 + 1 + 1 + 1 + 1 + 4;

function fail(
  code: PolicyErrorCode,
  path: string,
  message: string,
  extra: { found?: unknown; expected?: string } = {},
): never {
  throw new PolicyError([issue(code, 'decode', path, message, extra)]);
}

function failEncode(
  code: PolicyErrorCode,
  path: string,
  message: string,
  extra: { found?: unknown; expected?: string } = {},
): never {
  throw new PolicyError([issue(code, 'encode', path, message, extra)]);
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** A byte buffer that grows geometrically. */
class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity));
  }

  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Unsigned LEB128 of a value already known to be an integer in 0 .. 2^53 - 1. */
  varint(value: number): void {
    this.ensure(MAX_VARINT_BYTES);
    const buf = this.buf;
    let p = this.pos;
    let v = value;
    while (v >= 0x80000000) {
      buf[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v >= 0x80) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p++] = v;
    this.pos = p;
  }
}

function checkInteger(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    failEncode('E_INTEGER', path, 'expected a safe integer', { found: value });
  }
  return value;
}

function unsignedField(value: number, path: string, what: string): number {
  if (value < 0 || value > MAX_VARINT)
    failEncode('E_RANGE', path, `${what} = ${value} cannot be encoded`, { found: value });
  return value;
}

/** Zigzag mapping of a signed delta: n >= 0 -> 2n, n < 0 -> -2n - 1. */
function zigzag(n: number, path: string): number {
  const z = n >= 0 ? 2 * n : -2 * n - 1;
  if (!Number.isSafeInteger(n) || z > MAX_VARINT) {
    failEncode('E_RANGE', path, `the position delta ${n} cannot be encoded`, { found: n });
  }
  return z;
}

function parseMinor(version: unknown): number {
  const match = typeof version === 'string' ? /^(\d+)\.(\d+)$/.exec(version) : null;
  if (match === null) failEncode('E_VERSION', '/version', 'expected "MAJOR.MINOR"', { found: version });
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major !== FORMAT_MAJOR) {
    failEncode('E_VERSION', '/version', `the binary encoding writes major version ${FORMAT_MAJOR} only`, {
      found: version,
    });
  }
  if (minor > 255)
    failEncode('E_VERSION', '/version', 'a minor version above 255 has no binary encoding', {
      found: version,
    });
  return minor;
}

/**
 * The binary encoding of a policy (docs/policy-format.md section 4): magic `RWPL`, version, the canonical JSON
 * header, the instructions as opcodes with delta-coded positions, and a CRC-32. Lossless:
 * `decodeBinary(encodeBinary(p))` deep-equals `p` for a valid `p`. The policy is not validated, but a value the
 * encoding cannot hold throws.
 *
 * @throws PolicyError `E_VERSION` for a version other than `1.x` (x <= 255), `E_INTEGER`/`E_RANGE` for a
 * position that is not a safe integer or cannot be delta-coded, `E_ENUM` for an unknown op or kind,
 * `E_REQUIRED` for a stride without a store, and the errors of `canonicalJson` for the header.
 */
export function encodeBinary(policy: Policy): Uint8Array {
  const minor = parseMinor(policy.version);
  const header = utf8Encode(canonicalJson(policyHeader(policy)));
  const list = policy.instructions;
  if (!Array.isArray(list)) failEncode('E_TYPE', '/instructions', 'expected an array');
  const count = list.length;

  const w = new ByteWriter(6 + 2 * MAX_VARINT_BYTES + header.length + 4 * count + 4);
  w.bytes(Uint8Array.from(BINARY_MAGIC));
  w.byte(FORMAT_MAJOR);
  w.byte(minor);
  w.varint(header.length);
  w.bytes(header);
  w.varint(count);

  const newer = isNewerMinor(policy);
  let r = 0;
  for (let i = 0; i < count; i++) {
    const ins = list[i] as Instruction;
    const path = `/instructions/${i}`;
    if (newer) {
      const [extra] = extraInstructionKeys(ins);
      if (extra !== undefined) {
        failEncode(
          'E_FORMAT',
          `${path}/${extra}`,
          `the binary encoding of version 1 cannot hold the key ${JSON.stringify(extra)}`,
        );
      }
    }
    switch (ins.op) {
      case 'forward': {
        const from = checkInteger(ins.from, `${path}/from`);
        const to = checkInteger(ins.to, `${path}/to`);
        let op: number;
        const stride = ins.stride;
        if (ins.store === undefined) {
          if (ins.stride !== undefined) failEncode('E_REQUIRED', `${path}/store`, 'a stride needs a store');
          op = OP_FORWARD;
        } else if (ins.store === 'hidden') {
          op = stride === undefined ? OP_FORWARD_HIDDEN : OP_FORWARD_HIDDEN_STRIDE;
        } else if (ins.store === 'internal') {
          op = stride === undefined ? OP_FORWARD_INTERNAL : OP_FORWARD_INTERNAL_STRIDE;
        } else {
          return failEncode('E_ENUM', `${path}/store`, 'expected "hidden" or "internal"', {
            found: ins.store,
          });
        }
        const delta = zigzag(from - r, `${path}/from`);
        const length = unsignedField(to - from, `${path}/to`, 'to - from');
        w.byte(op);
        w.varint(delta);
        w.varint(length);
        if (stride !== undefined && op !== OP_FORWARD) {
          w.varint(unsignedField(checkInteger(stride, `${path}/stride`), `${path}/stride`, 'stride'));
        }
        r = to;
        break;
      }
      case 'backward': {
        const from = checkInteger(ins.from, `${path}/from`);
        const to = checkInteger(ins.to, `${path}/to`);
        const delta = zigzag(from - r, `${path}/from`);
        const length = unsignedField(from - to, `${path}/to`, 'from - to');
        w.byte(OP_BACKWARD);
        w.varint(delta);
        w.varint(length);
        r = to;
        break;
      }
      case 'free': {
        const at = checkInteger(ins.at, `${path}/at`);
        let op: number;
        if (ins.kind === 'hidden') op = OP_FREE_HIDDEN;
        else if (ins.kind === 'internal') op = OP_FREE_INTERNAL;
        else
          return failEncode('E_ENUM', `${path}/kind`, 'expected "hidden" or "internal"', { found: ins.kind });
        w.byte(op);
        w.varint(zigzag(at - r, `${path}/at`));
        break;
      }
      default:
        return failEncode('E_ENUM', `${path}/op`, 'expected "forward", "backward" or "free"', {
          found: (ins as { op?: unknown }).op,
        });
    }
  }

  const crc = crc32(w.buf.subarray(0, w.pos));
  w.ensure(4);
  w.buf[w.pos++] = crc & 0xff;
  w.buf[w.pos++] = (crc >>> 8) & 0xff;
  w.buf[w.pos++] = (crc >>> 16) & 0xff;
  w.buf[w.pos++] = crc >>> 24;
  return w.buf.slice(0, w.pos);
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

/** Reads varints from `bytes[pos .. end)`. Every failure is a `PolicyError`. */
class ByteReader {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  truncated(path: string): never {
    return fail('E_BINARY_TRUNCATED', path, 'the input ends early');
  }

  byte(path: string): number {
    if (this.pos >= this.end) this.truncated(path);
    return this.bytes[this.pos++]!;
  }

  /** An unsigned LEB128 varint: at most 8 bytes, minimal (no redundant final zero byte), <= 2^53 - 1. */
  varint(path: string): number {
    const bytes = this.bytes;
    const end = this.end;
    let p = this.pos;
    if (p >= end) this.truncated(path);
    let b = bytes[p++]!;
    if (b < 0x80) {
      this.pos = p;
      return b;
    }
    let value = b & 0x7f;
    let scale = 0x80;
    for (let n = 1; ; n++) {
      if (n >= MAX_VARINT_BYTES)
        fail('E_BINARY_VARINT', path, `a varint is longer than ${MAX_VARINT_BYTES} bytes`);
      if (p >= end) this.truncated(path);
      b = bytes[p++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (b === 0) fail('E_BINARY_VARINT', path, 'a varint is not in its shortest form');
        break;
      }
      scale *= 0x80;
    }
    if (value > MAX_VARINT) fail('E_BINARY_VARINT', path, 'a varint is larger than 2^53 - 1');
    this.pos = p;
    return value;
  }

  /** A zigzag-coded signed varint. */
  signed(path: string): number {
    const z = this.varint(path);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
}

/** The fixed part of a binary policy up to the body. */
interface Frame {
  readonly minor: number;
  readonly headerStart: number;
  readonly headerEnd: number;
  readonly count: number;
}

/** Read magic and version; the input is known to hold at least `bytes.length` bytes. */
function readPreamble(bytes: Uint8Array): number {
  for (let i = 0; i < BINARY_MAGIC.length; i++) {
    if (i >= bytes.length) fail('E_BINARY_TRUNCATED', '', 'the input ends inside the magic number');
    if (bytes[i] !== BINARY_MAGIC[i]) {
      fail('E_BINARY_MAGIC', '', 'the input does not start with the magic number "RWPL"', {
        expected: '52 57 50 4C',
      });
    }
  }
  if (bytes.length < 5) fail('E_BINARY_TRUNCATED', '/version', 'the input ends before the major version');
  const major = bytes[4]!;
  if (major !== FORMAT_MAJOR) {
    fail(
      'E_VERSION',
      '/version',
      `this reader reads major version ${FORMAT_MAJOR}; found major version ${major}`,
      {
        found: major,
        expected: String(FORMAT_MAJOR),
      },
    );
  }
  if (bytes.length < 6) fail('E_BINARY_TRUNCATED', '/version', 'the input ends before the minor version');
  return bytes[5]!;
}

/** Read header length, header extent and instruction count, leaving `reader` at the body. */
function readFrame(reader: ByteReader, minor: number, maxInstructions: number): Frame {
  const headerLength = reader.varint('/header');
  const headerStart = reader.pos;
  if (headerLength > reader.end - headerStart) reader.truncated('/header');
  reader.pos = headerStart + headerLength;
  const count = reader.varint('/instructions');
  if (count > maxInstructions) {
    fail('E_LIMIT', '/instructions', `${count} instructions exceed the limit of ${maxInstructions}`, {
      found: count,
      expected: `at most ${maxInstructions}`,
    });
  }
  if (count > (reader.end - reader.pos) / MIN_INSTRUCTION_BYTES) {
    fail('E_BINARY_TRUNCATED', '/instructions', `${count} instructions cannot fit before the checksum`, {
      found: count,
      expected: `at most ${Math.floor((reader.end - reader.pos) / MIN_INSTRUCTION_BYTES)}`,
    });
  }
  return { minor, headerStart, headerEnd: headerStart + headerLength, count };
}

/** A decoded position must be a safe integer (negative ones are left to validation). */
function position(value: number, path: string): number {
  if (!Number.isSafeInteger(value)) {
    fail('E_BINARY_VARINT', path, 'a decoded position is beyond the safe integers (|p| <= 2^53 - 1)', {
      found: value,
    });
  }
  return value;
}

/** Decode the body into instructions. */
function readBody(reader: ByteReader, count: number, out: Instruction[]): void {
  let r = 0;
  for (let i = 0; i < count; i++) {
    const path = `/instructions/${i}`;
    const op = reader.byte(path);
    switch (op) {
      case OP_FORWARD:
      case OP_FORWARD_HIDDEN:
      case OP_FORWARD_INTERNAL:
      case OP_FORWARD_HIDDEN_STRIDE:
      case OP_FORWARD_INTERNAL_STRIDE: {
        const from = position(r + reader.signed(path), path);
        const to = position(from + reader.varint(path), path);
        const stride = op >= OP_FORWARD_HIDDEN_STRIDE ? reader.varint(path) : undefined;
        r = to;
        if (op === OP_FORWARD) out.push({ op: 'forward', from, to });
        else {
          const store = op === OP_FORWARD_HIDDEN || op === OP_FORWARD_HIDDEN_STRIDE ? 'hidden' : 'internal';
          out.push(
            stride === undefined
              ? { op: 'forward', from, to, store }
              : { op: 'forward', from, to, store, stride },
          );
        }
        break;
      }
      case OP_BACKWARD: {
        const from = position(r + reader.signed(path), path);
        const to = position(from - reader.varint(path), path);
        r = to;
        out.push({ op: 'backward', from, to });
        break;
      }
      case OP_FREE_HIDDEN:
      case OP_FREE_INTERNAL: {
        const at = position(r + reader.signed(path), path);
        out.push({ op: 'free', kind: op === OP_FREE_HIDDEN ? 'hidden' : 'internal', at });
        break;
      }
      default:
        fail('E_BINARY_OPCODE', path, `unknown opcode 0x${op.toString(16).padStart(2, '0')}`, {
          found: op,
          expected: 'an opcode 0x00 .. 0x07',
        });
    }
  }
}

function readCrc(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The version grammar of docs/policy-format.md section 3. */
const VERSION = /^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$/;

/**
 * Decode binary policy bytes to a plain object, checking the framing (magic, version, checksum, lengths,
 * varints, opcodes, limits on size and instruction count) in the order of docs/policy-format.md section 4.3,
 * but not the policy itself: the result is what reading the JSON encoding would give, ready for `validate`.
 * Most callers want `decodeBinary`.
 *
 * @throws PolicyError with one of `E_LIMIT`, `E_BINARY_MAGIC`, `E_VERSION`, `E_BINARY_TRUNCATED`,
 * `E_BINARY_CHECKSUM`, `E_BINARY_VARINT`, `E_BINARY_OPCODE`, `E_BINARY_TRAILING`, `E_JSON` (a header that is
 * not UTF-8 JSON), `E_RANGE` (a header number beyond a double), `E_TYPE` (a header that is not an object) or
 * `E_FORMAT` (a header holding `instructions`).
 */
export function decodeBinaryRaw(bytes: Uint8Array, options?: ReadOptions): Record<string, unknown> {
  if (!(bytes instanceof Uint8Array)) fail('E_TYPE', '', 'expected a Uint8Array');
  const limits = resolveLimits(options);
  if (bytes.length > limits.maxBytes) {
    fail('E_LIMIT', '', `the input is ${bytes.length} bytes, over the limit of ${limits.maxBytes} bytes`, {
      found: bytes.length,
      expected: `at most ${limits.maxBytes} bytes`,
    });
  }
  const minor = readPreamble(bytes);
  if (bytes.length < MIN_FRAME_BYTES) {
    fail(
      'E_BINARY_TRUNCATED',
      '',
      `the input is ${bytes.length} bytes; the shortest policy has ${MIN_FRAME_BYTES}`,
      {
        found: bytes.length,
        expected: `at least ${MIN_FRAME_BYTES} bytes`,
      },
    );
  }
  // The checksum (the last four bytes) first: nothing is decoded from corrupt bytes.
  const bodyEnd = bytes.length - 4;
  const stored = readCrc(bytes, bodyEnd);
  const actual = crc32(bytes.subarray(0, bodyEnd));
  if (stored !== actual) {
    fail(
      'E_BINARY_CHECKSUM',
      '',
      'the CRC-32 in the last four bytes does not match the content: the input is corrupt, cut short or extended',
      { found: stored, expected: String(actual) },
    );
  }

  const reader = new ByteReader(bytes, 6, bodyEnd);
  const frame = readFrame(reader, minor, limits.maxInstructions);

  let header: unknown;
  let text: string;
  try {
    text = utf8Decode(bytes.subarray(frame.headerStart, frame.headerEnd));
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return fail('E_JSON', '/header', `the header is not UTF-8: ${detail}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    header = parseJsonText(text, limits.maxDepth);
  } catch (error) {
    if (error instanceof PolicyError && error.path === '') {
      fail(error.code, '/header', `the header: ${error.message}`);
    }
    throw error;
  }
  if (!isPlainRecord(header)) fail('E_TYPE', '/header', 'the header must be a JSON object');
  if (Object.hasOwn(header, 'instructions')) {
    fail('E_FORMAT', '/header/instructions', 'the header must not hold the instructions');
  }
  const version = header['version'];
  const match = typeof version === 'string' ? VERSION.exec(version) : null;
  if (match !== null && (Number(match[1]) !== FORMAT_MAJOR || Number(match[2]) !== frame.minor)) {
    fail(
      'E_VERSION',
      '/version',
      `the header's version ${version} differs from the binary version ${FORMAT_MAJOR}.${frame.minor}`,
      { found: version, expected: `"${FORMAT_MAJOR}.${frame.minor}"` },
    );
  }

  const instructions: Instruction[] = [];
  readBody(reader, frame.count, instructions);
  if (reader.pos !== bodyEnd) {
    fail(
      'E_BINARY_TRAILING',
      '',
      `${bodyEnd - reader.pos} bytes lie between the last instruction and the checksum`,
      {
        found: bodyEnd - reader.pos,
        expected: 'the checksum right after the last instruction',
      },
    );
  }
  Object.defineProperty(header, 'instructions', {
    value: instructions,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return header;
}

/**
 * Decode untrusted binary policy bytes (docs/policy-format.md section 4) into a validated policy.
 *
 * The work is bounded by the limits of `options`: the input size and the instruction count are checked before
 * anything is allocated, and the checksum before anything is decoded.
 *
 * @throws PolicyError with a binary code (`E_BINARY_MAGIC`, `E_BINARY_TRUNCATED`, `E_BINARY_VARINT`,
 * `E_BINARY_OPCODE`, `E_BINARY_CHECKSUM`, `E_BINARY_TRAILING`), `E_VERSION`, `E_LIMIT`, or any code of
 * `parsePolicy`.
 */
export function decodeBinary(bytes: Uint8Array, options?: ReadOptions): Policy {
  return parsePolicy(decodeBinaryRaw(bytes, options), options);
}
