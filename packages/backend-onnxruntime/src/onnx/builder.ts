/**
 * A small builder for ONNX graphs: values are referred to by name, nodes get unique output names, and
 * `build()` returns a `GraphSpec` ready to encode. Pure: no runtime involved.
 */
import {
  type AttributeSpec,
  DEFAULT_OPSET,
  type Dim,
  type ElemType,
  encodeModel,
  type GraphSpec,
  type NodeSpec,
  type TensorSpec,
  type ValueInfoSpec,
} from './model.js';

/** An attribute value, tagged with its ONNX type. */
export type AttrValue =
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'int'; readonly value: number | bigint }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'tensor'; readonly value: TensorSpec }
  | { readonly type: 'graph'; readonly value: GraphSpec }
  | { readonly type: 'floats'; readonly value: readonly number[] }
  | { readonly type: 'ints'; readonly value: readonly (number | bigint)[] }
  | { readonly type: 'strings'; readonly value: readonly string[] };

/** Attribute constructors. */
export const attr = {
  int: (value: number | bigint): AttrValue => ({ type: 'int', value }),
  float: (value: number): AttrValue => ({ type: 'float', value }),
  string: (value: string): AttrValue => ({ type: 'string', value }),
  ints: (value: readonly (number | bigint)[]): AttrValue => ({ type: 'ints', value }),
  floats: (value: readonly number[]): AttrValue => ({ type: 'floats', value }),
  graph: (value: GraphSpec): AttrValue => ({ type: 'graph', value }),
  tensor: (value: TensorSpec): AttrValue => ({ type: 'tensor', value }),
} as const;

type Attrs = Readonly<Record<string, AttrValue>>;

function toAttributes(attrs: Attrs | undefined): AttributeSpec[] {
  if (attrs === undefined) return [];
  return Object.entries(attrs).map(([name, a]) => ({ name, ...a }) as AttributeSpec);
}

/** Builds one graph. Value names are plain strings; `prefix` keeps names of nested graphs apart. */
export class GraphBuilder {
  readonly name: string;
  private readonly prefix: string;
  private readonly nodes: NodeSpec[] = [];
  private readonly inputs: ValueInfoSpec[] = [];
  private readonly outputs: ValueInfoSpec[] = [];
  private readonly initializers: TensorSpec[] = [];
  private counter = 0;

  constructor(name: string, prefix = '') {
    this.name = name;
    this.prefix = prefix;
  }

  private fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  /** Declare a graph input; returns its name. */
  input(name: string, type: ElemType, shape: readonly Dim[]): string {
    this.inputs.push({ name, type, shape });
    return name;
  }

  /**
   * Declare a graph output named `name` holding `value` (an `Identity` node is added when the names
   * differ). Returns `name`.
   */
  output(value: string, name: string, type: ElemType, shape?: readonly Dim[]): string {
    if (value !== name) this.nodes.push({ opType: 'Identity', inputs: [value], outputs: [name] });
    this.outputs.push(shape === undefined ? { name, type } : { name, type, shape });
    return name;
  }

  /** Add a constant as an initializer of this graph; returns its name. */
  initializer(type: ElemType, dims: readonly number[], values: TensorSpec['values'], name?: string): string {
    const n = name ?? this.fresh('init');
    this.initializers.push({ name: n, type, dims, values });
    return n;
  }

  /** A constant produced by a `Constant` node (usable in nested graphs too). */
  constant(type: ElemType, dims: readonly number[], values: TensorSpec['values']): string {
    return this.op('Constant', [], { value: attr.tensor({ type, dims, values }) });
  }

  /** A scalar constant. */
  scalar(type: ElemType, value: number): string {
    return this.constant(type, [], [value]);
  }

  /** A 1-D int64 constant (axes, shapes, split sizes). */
  int64s(values: readonly number[]): string {
    return this.constant(
      'int64',
      [values.length],
      values.map((v) => BigInt(v)),
    );
  }

  /** Add a node with one output; returns the output's name (fresh unless `output` is given). */
  op(opType: string, inputs: readonly string[], attrs?: Attrs, output?: string): string {
    const out = output ?? this.fresh(opType);
    this.nodes.push({ opType, inputs, outputs: [out], attributes: toAttributes(attrs) });
    return out;
  }

  /** Add a node with `count` outputs (or the given output names); returns their names. */
  opN(opType: string, inputs: readonly string[], count: number | readonly string[], attrs?: Attrs): string[] {
    const outs =
      typeof count === 'number' ? Array.from({ length: count }, () => this.fresh(opType)) : [...count];
    this.nodes.push({ opType, inputs, outputs: outs, attributes: toAttributes(attrs) });
    return outs;
  }

  /** Elementwise `a + b` (broadcasting). */
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  /** Elementwise `a - b`. */
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  /** Elementwise `a * b`. */
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  /** Elementwise `a / b`. */
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  /** Matrix product `a b`. */
  matmul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }
  /** `alpha * op(A) op(B) + beta * C`, `C` optional. */
  gemm(
    a: string,
    b: string,
    c: string | undefined,
    opts: { transA?: boolean; transB?: boolean } = {},
  ): string {
    const attrs: Record<string, AttrValue> = {};
    if (opts.transA === true) attrs['transA'] = attr.int(1);
    if (opts.transB === true) attrs['transB'] = attr.int(1);
    return this.op('Gemm', c === undefined ? [a, b] : [a, b, c], attrs);
  }
  /** Logistic sigmoid. */
  sigmoid(x: string): string {
    return this.op('Sigmoid', [x]);
  }
  /** Hyperbolic tangent. */
  tanh(x: string): string {
    return this.op('Tanh', [x]);
  }
  /** Exponential. */
  exp(x: string): string {
    return this.op('Exp', [x]);
  }
  /** Natural logarithm. */
  log(x: string): string {
    return this.op('Log', [x]);
  }
  /** Absolute value. */
  abs(x: string): string {
    return this.op('Abs', [x]);
  }
  /** A copy of `x`, optionally under a given name. */
  identity(x: string, output?: string): string {
    return this.op('Identity', [x], undefined, output);
  }
  /** Concatenation along `axis`. */
  concat(xs: readonly string[], axis: number): string {
    return this.op('Concat', xs, { axis: attr.int(axis) });
  }
  /** Equal parts along `axis` (opset 13-17: no `split` input means equal parts). */
  split(x: string, parts: number, axis: number): string[] {
    return this.opN('Split', [x], parts, { axis: attr.int(axis) });
  }
  /** Sum over `axes` (opset 13+: axes as an input). */
  reduceSum(x: string, axes: readonly number[], keepdims: boolean): string {
    return this.op('ReduceSum', [x, this.int64s(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
  }
  /** Sum of every element, as a scalar. */
  reduceSumAll(x: string): string {
    return this.op('ReduceSum', [x], { keepdims: attr.int(0) });
  }
  /** Max over `axes` (opset <= 17: axes as an attribute). */
  reduceMax(x: string, axes: readonly number[], keepdims: boolean): string {
    return this.op('ReduceMax', [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }
  /** Min over every element, as a scalar. */
  reduceMinAll(x: string): string {
    return this.op('ReduceMin', [x], { keepdims: attr.int(0) });
  }
  /** Conversion to another element type. */
  cast(x: string, to: ElemType): string {
    const codes: Readonly<Record<ElemType, number>> = {
      float32: 1,
      uint8: 2,
      int8: 3,
      int32: 6,
      int64: 7,
      bool: 9,
      float64: 11,
    };
    return this.op('Cast', [x], { to: attr.int(codes[to]) });
  }
  /** Elementwise `a == b` (bool). */
  equal(a: string, b: string): string {
    return this.op('Equal', [a, b]);
  }
  /** Logical not. */
  not(x: string): string {
    return this.op('Not', [x]);
  }
  /** Elementwise `a >= b` (bool). */
  greaterOrEqual(a: string, b: string): string {
    return this.op('GreaterOrEqual', [a, b]);
  }
  /** `cond ? a : b`, elementwise. */
  where(cond: string, a: string, b: string): string {
    return this.op('Where', [cond, a, b]);
  }
  /** Reshape (`-1` infers one dimension, `0` keeps it). */
  reshape(x: string, shape: readonly number[]): string {
    return this.op('Reshape', [x, this.int64s(shape)]);
  }
  /** Insert dimensions of size 1 at `axes`. */
  unsqueeze(x: string, axes: readonly number[]): string {
    return this.op('Unsqueeze', [x, this.int64s(axes)]);
  }

  /** The finished graph. */
  build(): GraphSpec {
    return {
      name: this.name,
      nodes: [...this.nodes],
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      initializers: [...this.initializers],
    };
  }

  /** The finished graph as a model (IR 8, opset 17 unless given), encoded. */
  toModel(opset: number = DEFAULT_OPSET, docString?: string): Uint8Array {
    return encodeModel({
      graph: this.build(),
      opsets: [{ domain: '', version: opset }],
      producerName: '@rewind/backend-onnxruntime',
      ...(docString === undefined ? {} : { docString }),
    });
  }
}
