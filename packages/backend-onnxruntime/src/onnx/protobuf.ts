/**
 * A minimal protocol-buffers writer: just the wire types ONNX needs (varint, 64-bit, length-delimited,
 * 32-bit). Messages are built bottom-up: a nested message is encoded first, then written as bytes.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const textEncoder = new TextEncoder();

/** A growable byte buffer with protobuf field writers. */
export class ProtoWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** An unsigned varint of a non-negative safe integer. */
  private rawVarint(value: number): void {
    this.reserve(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }

  /** A varint of a 64-bit integer: negative values as their 64-bit two's complement (10 bytes). */
  private rawVarint64(value: number | bigint): void {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
      if (value >= 0) {
        this.rawVarint(value);
        return;
      }
    }
    let v = BigInt.asUintN(64, BigInt(value));
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(field * 8 + wire);
  }

  /** An `int64`/`int32`/enum field (negative values as 64-bit two's complement, as protobuf does). */
  int(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.rawVarint64(value);
    return this;
  }

  /** A `float` field. */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    this.view.setFloat32(this.len, value, true);
    this.len += 4;
    return this;
  }

  /** A `double` field. */
  double(field: number, value: number): this {
    this.tag(field, WIRE_FIXED64);
    this.reserve(8);
    this.view.setFloat64(this.len, value, true);
    this.len += 8;
    return this;
  }

  /** A `bytes` field, or an embedded message already encoded. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_BYTES);
    this.rawVarint(value.length);
    this.reserve(value.length);
    this.buf.set(value, this.len);
    this.len += value.length;
    return this;
  }

  /** A `string` field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** A packed `repeated int64` field. */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter(values.length * 2 + 8);
    for (const v of values) inner.rawVarint64(v);
    return this.bytes(field, inner.finish());
  }

  /** A packed `repeated float` field. */
  packedFloats(field: number, values: readonly number[]): this {
    const inner = new ProtoWriter(values.length * 4 + 8);
    inner.reserve(values.length * 4);
    for (const v of values) {
      inner.view.setFloat32(inner.len, v, true);
      inner.len += 4;
    }
    return this.bytes(field, inner.finish());
  }
}

/** Encode a non-negative safe integer as an unsigned varint (exported for tests). */
export function encodeVarint(value: number | bigint): Uint8Array {
  const w = new ProtoWriter(10);
  w.int(0, value);
  const out = w.finish();
  return out.subarray(1);
}

/** Decode one varint at `offset`; returns the value (as a bigint) and the next offset. For tests and validation. */
export function decodeVarint(
  bytes: Uint8Array,
  offset: number,
): { readonly value: bigint; readonly next: number } {
  let value = 0n;
  let shift = 0n;
  let i = offset;
  for (;;) {
    const b = bytes[i];
    if (b === undefined) throw new RangeError('truncated varint');
    value |= BigInt(b & 0x7f) << shift;
    i++;
    if ((b & 0x80) === 0) break;
    shift += 7n;
    if (shift > 63n) throw new RangeError('varint longer than 10 bytes');
  }
  return { value, next: i };
}
