/**
 * Finding the external data a model refers to: the `location` of every tensor whose data is stored
 * outside the model file (`TensorProto.data_location = EXTERNAL`), in the main graph, in subgraphs and
 * in constant attributes. A minimal protobuf reader: only the fields on the way to tensors are decoded.
 */
import { decodeVarint } from './protobuf.js';

interface Field {
  readonly field: number;
  readonly wire: number;
  /** Varint value (wire 0). */
  readonly value: bigint;
  /** Payload (wire 2). */
  readonly bytes: Uint8Array | undefined;
}

function* fields(bytes: Uint8Array): Generator<Field> {
  let i = 0;
  while (i < bytes.length) {
    const key = decodeVarint(bytes, i);
    i = key.next;
    const field = Number(key.value >> 3n);
    const wire = Number(key.value & 7n);
    if (wire === 0) {
      const v = decodeVarint(bytes, i);
      i = v.next;
      yield { field, wire, value: v.value, bytes: undefined };
    } else if (wire === 2) {
      const len = decodeVarint(bytes, i);
      const end = len.next + Number(len.value);
      if (end > bytes.length) throw new RangeError('truncated length-delimited field');
      yield { field, wire, value: 0n, bytes: bytes.subarray(len.next, end) };
      i = end;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new RangeError(`unsupported wire type ${wire}`);
  }
  if (i > bytes.length) throw new RangeError('truncated field');
}

const decoder = new TextDecoder();

function tensorLocation(tensor: Uint8Array): string | undefined {
  let external = false;
  let location: string | undefined;
  for (const f of fields(tensor)) {
    if (f.field === 14 && f.wire === 0) external = f.value === 1n;
    else if (f.field === 13 && f.bytes !== undefined) {
      let key = '';
      let value = '';
      for (const e of fields(f.bytes)) {
        if (e.bytes === undefined) continue;
        if (e.field === 1) key = decoder.decode(e.bytes);
        else if (e.field === 2) value = decoder.decode(e.bytes);
      }
      if (key === 'location') location = value;
    }
  }
  return external ? (location ?? '') : undefined;
}

function scanGraph(graph: Uint8Array, out: Set<string>): void {
  for (const f of fields(graph)) {
    if (f.bytes === undefined) continue;
    if (f.field === 5)
      add(tensorLocation(f.bytes), out); // initializer
    else if (f.field === 15)
      scanSparse(f.bytes, out); // sparse_initializer
    else if (f.field === 1) scanNode(f.bytes, out);
  }
}

function scanSparse(sparse: Uint8Array, out: Set<string>): void {
  for (const f of fields(sparse)) {
    if (f.bytes !== undefined && (f.field === 1 || f.field === 2)) add(tensorLocation(f.bytes), out);
  }
}

function scanNode(node: Uint8Array, out: Set<string>): void {
  for (const f of fields(node)) {
    if (f.field !== 5 || f.bytes === undefined) continue;
    for (const a of fields(f.bytes)) {
      if (a.bytes === undefined) continue;
      if (a.field === 5 || a.field === 10)
        add(tensorLocation(a.bytes), out); // t, tensors
      else if (a.field === 6 || a.field === 11)
        scanGraph(a.bytes, out); // g, graphs
      else if (a.field === 22 || a.field === 23) scanSparse(a.bytes, out); // sparse_tensor(s)
    }
  }
}

function add(location: string | undefined, out: Set<string>): void {
  if (location !== undefined) out.add(location);
}

/**
 * The external data files a serialized model refers to (their `location` as written, relative to the
 * model file), in order of first reference; empty when every tensor is stored inline.
 *
 * @throws RangeError when the bytes are not a well-formed protobuf message.
 */
export function externalDataLocations(model: Uint8Array): string[] {
  const out = new Set<string>();
  for (const f of fields(model)) {
    if (f.field === 7 && f.bytes !== undefined) scanGraph(f.bytes, out);
  }
  return [...out];
}
