/**
 * The subset of onnx.proto this package writes, as plain objects, and their protobuf encoding.
 * Field numbers follow onnx.proto (IR version 8).
 */
import { ProtoWriter } from './protobuf.js';

/** Element types of tensors, by their ONNX `TensorProto.DataType` value. */
export const DATA_TYPES = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
} as const;

/** An element type this package can write. */
export type ElemType = keyof typeof DATA_TYPES;

/** The numeric types a cell computes in. */
export type FloatType = 'float32' | 'float64';

/** A dimension: a fixed size or a symbolic name (`dim_param`). */
export type Dim = number | string;

/** A constant tensor (an initializer, or the value of a `Constant` node). */
export interface TensorSpec {
  readonly name?: string;
  readonly type: ElemType;
  readonly dims: readonly number[];
  /** Values in row-major order; stored as `raw_data` (little-endian). */
  readonly values: ArrayLike<number> | readonly bigint[];
}

/** A typed graph input, output or intermediate value. */
export interface ValueInfoSpec {
  readonly name: string;
  readonly type: ElemType;
  /** Absent: rank unknown. */
  readonly shape?: readonly Dim[];
}

/** A node attribute. */
export type AttributeSpec =
  | { readonly name: string; readonly type: 'float'; readonly value: number }
  | { readonly name: string; readonly type: 'int'; readonly value: number | bigint }
  | { readonly name: string; readonly type: 'string'; readonly value: string }
  | { readonly name: string; readonly type: 'tensor'; readonly value: TensorSpec }
  | { readonly name: string; readonly type: 'graph'; readonly value: GraphSpec }
  | { readonly name: string; readonly type: 'floats'; readonly value: readonly number[] }
  | { readonly name: string; readonly type: 'ints'; readonly value: readonly (number | bigint)[] }
  | { readonly name: string; readonly type: 'strings'; readonly value: readonly string[] };

/** One operator application. An empty input name stands for an omitted optional input. */
export interface NodeSpec {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly domain?: string;
  readonly attributes?: readonly AttributeSpec[];
}

/** A graph (the main graph of a model, or the body of a control-flow node). */
export interface GraphSpec {
  readonly name: string;
  readonly nodes: readonly NodeSpec[];
  readonly inputs: readonly ValueInfoSpec[];
  readonly outputs: readonly ValueInfoSpec[];
  readonly initializers?: readonly TensorSpec[];
  readonly valueInfo?: readonly ValueInfoSpec[];
  readonly docString?: string;
}

/** A whole model. */
export interface ModelSpec {
  readonly graph: GraphSpec;
  /** Default 8. */
  readonly irVersion?: number;
  /** Default `[{ domain: '', version: 17 }]`. */
  readonly opsets?: readonly { readonly domain: string; readonly version: number }[];
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The IR version and opset written by default. */
export const DEFAULT_IR_VERSION = 8;
export const DEFAULT_OPSET = 17;

const ATTRIBUTE_TYPES = {
  float: 1,
  int: 2,
  string: 3,
  tensor: 4,
  graph: 5,
  floats: 6,
  ints: 7,
  strings: 8,
} as const;

const ELEMENT_BYTES: Readonly<Record<ElemType, number>> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
  float64: 8,
};

function rawData(t: TensorSpec): Uint8Array {
  const n = t.values.length;
  const expected = t.dims.reduce((a, b) => a * b, 1);
  if (n !== expected) {
    throw new RangeError(
      `tensor ${t.name ?? ''} has ${n} values for dims [${t.dims.join(', ')}] (${expected})`,
    );
  }
  const size = ELEMENT_BYTES[t.type];
  const out = new Uint8Array(n * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = t.values[i] as number | bigint;
    switch (t.type) {
      case 'float32':
        view.setFloat32(i * 4, Number(v), true);
        break;
      case 'float64':
        view.setFloat64(i * 8, Number(v), true);
        break;
      case 'int64':
        view.setBigInt64(i * 8, BigInt(v), true);
        break;
      case 'int32':
        view.setInt32(i * 4, Number(v), true);
        break;
      case 'int8':
        view.setInt8(i, Number(v));
        break;
      case 'uint8':
        view.setUint8(i, Number(v));
        break;
      case 'bool':
        view.setUint8(i, Number(v) === 0 ? 0 : 1);
        break;
    }
  }
  return out;
}

/** Where the raw data of tensors goes when a model is written with external data. */
interface ExternalSink {
  readonly location: string;
  readonly chunks: Uint8Array[];
  length: number;
}

/** Encode a `TensorProto` (with `external`: its raw data appended there, referred to by location, offset, length). */
export function encodeTensor(t: TensorSpec, external?: ExternalSink): Uint8Array {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, DATA_TYPES[t.type]);
  if (t.name !== undefined) w.string(8, t.name);
  const raw = rawData(t);
  if (external === undefined) {
    w.bytes(9, raw);
    return w.finish();
  }
  // Offsets aligned to 64 bytes, as ONNX's own writer does for memory mapping.
  const pad = (64 - (external.length % 64)) % 64;
  if (pad > 0) external.chunks.push(new Uint8Array(pad));
  const offset = external.length + pad;
  external.chunks.push(raw);
  external.length = offset + raw.length;
  const entry = (key: string, value: string): Uint8Array =>
    new ProtoWriter().string(1, key).string(2, value).finish();
  w.bytes(13, entry('location', external.location));
  w.bytes(13, entry('offset', String(offset)));
  w.bytes(13, entry('length', String(raw.length)));
  w.int(14, 1); // data_location: EXTERNAL
  return w.finish();
}

/** Encode a `TypeProto` for a tensor. */
function encodeTensorType(type: ElemType, shape: readonly Dim[] | undefined): Uint8Array {
  const tensor = new ProtoWriter();
  tensor.int(1, DATA_TYPES[type]);
  if (shape !== undefined) {
    const s = new ProtoWriter();
    for (const d of shape) {
      const dim = new ProtoWriter();
      if (typeof d === 'number') dim.int(1, d);
      else dim.string(2, d);
      s.bytes(1, dim.finish());
    }
    tensor.bytes(2, s.finish());
  }
  return new ProtoWriter().bytes(1, tensor.finish()).finish();
}

/** Encode a `ValueInfoProto`. */
export function encodeValueInfo(v: ValueInfoSpec): Uint8Array {
  return new ProtoWriter().string(1, v.name).bytes(2, encodeTensorType(v.type, v.shape)).finish();
}

/** Encode an `AttributeProto`. */
export function encodeAttribute(a: AttributeSpec): Uint8Array {
  const w = new ProtoWriter();
  w.string(1, a.name);
  w.int(20, ATTRIBUTE_TYPES[a.type]);
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, a.value);
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'tensor':
      w.bytes(5, encodeTensor(a.value));
      break;
    case 'graph':
      w.bytes(6, encodeGraph(a.value));
      break;
    case 'floats':
      w.packedFloats(7, a.value);
      break;
    case 'ints':
      w.packedInts(8, a.value);
      break;
    case 'strings':
      for (const s of a.value) w.string(9, s);
      break;
  }
  return w.finish();
}

/** Encode a `NodeProto`. */
export function encodeNode(n: NodeSpec): Uint8Array {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name !== undefined) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.bytes(5, encodeAttribute(a));
  if (n.domain !== undefined && n.domain !== '') w.string(7, n.domain);
  return w.finish();
}

/** Encode a `GraphProto` (with `external`: the raw data of its initializers goes there). */
export function encodeGraph(g: GraphSpec, external?: ExternalSink): Uint8Array {
  const w = new ProtoWriter(1024);
  for (const n of g.nodes) w.bytes(1, encodeNode(n));
  w.string(2, g.name);
  // Integer initializers stay inline: they are shapes, axes and sizes, which ONNX Runtime's shape
  // inference reads before external data is loaded.
  for (const t of g.initializers ?? [])
    w.bytes(5, encodeTensor(t, t.type === 'float32' || t.type === 'float64' ? external : undefined));
  if (g.docString !== undefined) w.string(10, g.docString);
  for (const v of g.inputs) w.bytes(11, encodeValueInfo(v));
  for (const v of g.outputs) w.bytes(12, encodeValueInfo(v));
  for (const v of g.valueInfo ?? []) w.bytes(13, encodeValueInfo(v));
  return w.finish();
}

/** Encode a `ModelProto`: the bytes ONNX Runtime loads. */
export function encodeModel(m: ModelSpec): Uint8Array {
  return encodeModelParts(m, undefined);
}

/**
 * Encode a model whose main graph's float initializers keep their raw data in a separate file (ONNX
 * external data), as exporters do for weights: `model` refers to `location` (a file name relative to
 * the model file), which must hold `data`. Integer initializers (shapes, axes) stay inline.
 */
export function encodeModelWithExternalData(
  m: ModelSpec,
  location: string,
): { readonly model: Uint8Array; readonly data: Uint8Array } {
  const sink: ExternalSink = { location, chunks: [], length: 0 };
  const model = encodeModelParts(m, sink);
  const data = new Uint8Array(sink.length);
  let offset = 0;
  for (const c of sink.chunks) {
    data.set(c, offset);
    offset += c.length;
  }
  return { model, data };
}

function encodeModelParts(m: ModelSpec, external: ExternalSink | undefined): Uint8Array {
  const w = new ProtoWriter(4096);
  w.int(1, m.irVersion ?? DEFAULT_IR_VERSION);
  if (m.producerName !== undefined) w.string(2, m.producerName);
  if (m.producerVersion !== undefined) w.string(3, m.producerVersion);
  if (m.docString !== undefined) w.string(6, m.docString);
  w.bytes(7, encodeGraph(m.graph, external));
  for (const o of m.opsets ?? [{ domain: '', version: DEFAULT_OPSET }]) {
    const op = new ProtoWriter();
    if (o.domain !== '') op.string(1, o.domain);
    op.int(2, o.version);
    w.bytes(8, op.finish());
  }
  for (const [key, value] of Object.entries(m.metadata ?? {})) {
    w.bytes(14, new ProtoWriter().string(1, key).string(2, value).finish());
  }
  return w.finish();
}
