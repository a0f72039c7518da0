import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  backwardStepGraph,
  type CellKind,
  forwardRangeGraph,
  forwardStepGraph,
  headGradientGraph,
  headStepGraph,
  weightGradientGraph,
} from '../graphs/cells.js';
import { attr, GraphBuilder } from './builder.js';
import { encodeModel } from './model.js';
import { decodeVarint, encodeVarint, ProtoWriter } from './protobuf.js';

/** A tiny protobuf reader for the tests: field number -> list of raw values (bigint or bytes). */
function readFields(bytes: Uint8Array): Map<number, (bigint | Uint8Array)[]> {
  const out = new Map<number, (bigint | Uint8Array)[]>();
  let i = 0;
  while (i < bytes.length) {
    const key = decodeVarint(bytes, i);
    i = key.next;
    const field = Number(key.value >> 3n);
    const wire = Number(key.value & 7n);
    let value: bigint | Uint8Array;
    if (wire === 0) {
      const v = decodeVarint(bytes, i);
      value = v.value;
      i = v.next;
    } else if (wire === 2) {
      const len = decodeVarint(bytes, i);
      value = bytes.subarray(len.next, len.next + Number(len.value));
      i = len.next + Number(len.value);
    } else if (wire === 5) {
      value = bytes.subarray(i, i + 4);
      i += 4;
    } else if (wire === 1) {
      value = bytes.subarray(i, i + 8);
      i += 8;
    } else throw new Error(`wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}
const text = (v: bigint | Uint8Array | undefined): string => new TextDecoder().decode(v as Uint8Array);
/** The bytes of the first value of a length-delimited (or fixed-size) field. */
function bytesOf(fields: Map<number, (bigint | Uint8Array)[]>, field: number): Uint8Array {
  const v = fields.get(field)?.[0];
  if (!(v instanceof Uint8Array)) throw new Error(`field ${field} holds no bytes`);
  return v.slice();
}

describe('protobuf writer', () => {
  it('encodes varints, including 64-bit negatives, and decodes them back', () => {
    expect([...encodeVarint(0)]).toEqual([0]);
    expect([...encodeVarint(1)]).toEqual([1]);
    expect([...encodeVarint(300)]).toEqual([0xac, 0x02]);
    expect([...encodeVarint(-1)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    for (const v of [0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      expect(decodeVarint(encodeVarint(v), 0).value).toBe(BigInt(v));
    }
    expect(BigInt.asIntN(64, decodeVarint(encodeVarint(-3n), 0).value)).toBe(-3n);
    expect(() => new ProtoWriter().int(1, 0.5)).toThrow(RangeError);
  });

  it('writes fields with their tags and wire types', () => {
    const w = new ProtoWriter(1)
      .int(1, 150)
      .string(2, 'hé')
      .float(3, 1.5)
      .double(4, -2)
      .packedInts(5, [1, -1]);
    const f = readFields(w.finish());
    expect(f.get(1)).toEqual([150n]);
    expect(text(f.get(2)?.[0])).toBe('hé');
    expect(new DataView(bytesOf(f, 3).buffer).getFloat32(0, true)).toBe(1.5);
    expect(new DataView(bytesOf(f, 4).buffer).getFloat64(0, true)).toBe(-2);
    const packed = f.get(5)?.[0] as Uint8Array;
    expect(decodeVarint(packed, 0).value).toBe(1n);
    expect(BigInt.asIntN(64, decodeVarint(packed, 1).value)).toBe(-1n);
  });
});

describe('ONNX models written here round-trip through ONNX Runtime', () => {
  function demoModel(): Uint8Array {
    const g = new GraphBuilder('demo');
    const x = g.input('x', 'float32', ['batch', 3]);
    const flag = g.input('flag', 'bool', []);
    const w = g.initializer('float32', [3, 2], [1, 2, 3, 4, 5, 6], 'w');
    const y = g.matmul(x, w); // [batch, 2]
    const leaky = g.op('LeakyRelu', [g.sub(y, g.scalar('float32', 10))], { alpha: attr.float(0.5) });
    const t = g.op('Transpose', [leaky], { perm: attr.ints([1, 0]) }); // [2, batch]
    const padded = g.op('Pad', [t, g.int64s([0, 1, 0, 1])], { mode: attr.string('constant') }); // [2, batch+2]
    const thenG = new GraphBuilder('then', 'then_');
    thenG.output(thenG.mul(y, thenG.scalar('float32', 2)), 'then_out', 'float32');
    const elseG = new GraphBuilder('else', 'else_');
    elseG.output(elseG.identity(y), 'else_out', 'float32');
    const chosen = g.op('If', [flag], {
      then_branch: attr.graph(thenG.build()),
      else_branch: attr.graph(elseG.build()),
    });
    g.output(y, 'y', 'float32', ['batch', 2]);
    g.output(padded, 'padded', 'float32', [2, 'batch_plus_2']);
    g.output(chosen, 'chosen', 'float32', ['batch', 2]);
    g.output(g.cast(g.reduceSumAll(y), 'float64'), 'total', 'float64', []);
    return g.toModel();
  }

  it('keeps IR version, opset, names, initializers and attributes (decoded back)', () => {
    const model = readFields(demoModel());
    expect(model.get(1)).toEqual([8n]);
    const opset = readFields(model.get(8)?.[0] as Uint8Array);
    expect(opset.get(2)).toEqual([17n]);
    expect(opset.has(1)).toBe(false);
    const graph = readFields(model.get(7)?.[0] as Uint8Array);
    expect(text(graph.get(2)?.[0])).toBe('demo');
    const ops = (graph.get(1) ?? []).map((n) => text(readFields(n as Uint8Array).get(4)?.[0]));
    expect(ops).toContain('LeakyRelu');
    expect(ops).toContain('If');
    const init = readFields(graph.get(5)?.[0] as Uint8Array);
    expect(init.get(1)).toEqual([3n, 2n]);
    expect(init.get(2)).toEqual([1n]);
    expect(text(init.get(8)?.[0])).toBe('w');
    expect(new Float32Array(bytesOf(init, 9).buffer)).toEqual(Float32Array.of(1, 2, 3, 4, 5, 6));
    expect((graph.get(11) ?? []).map((v) => text(readFields(v as Uint8Array).get(1)?.[0]))).toEqual([
      'x',
      'flag',
    ]);
  });

  it('loads in ONNX Runtime with the declared inputs, outputs, types and symbolic shapes, and computes', async () => {
    const session = await InferenceSession.create(demoModel());
    expect(session.inputNames).toEqual(['x', 'flag']);
    expect(session.outputNames).toEqual(['y', 'padded', 'chosen', 'total']);
    expect(session.inputMetadata[0]).toMatchObject({
      name: 'x',
      isTensor: true,
      type: 'float32',
      shape: ['batch', 3],
    });
    expect(session.outputMetadata[3]).toMatchObject({ name: 'total', type: 'float64', shape: [] });
    const x = new Tensor('float32', Float32Array.of(1, 0, 0, 0, 1, 1), [2, 3]);
    for (const flag of [true, false]) {
      const r = await session.run({ x, flag: new Tensor('bool', Uint8Array.of(flag ? 1 : 0), []) });
      expect(Array.from(r['y']!.data as Float32Array)).toEqual([1, 2, 8, 10]);
      // LeakyRelu(y - 10) with alpha 0.5, transposed, padded with a zero column on each side.
      expect(Array.from(r['padded']!.data as Float32Array)).toEqual([0, -4.5, -1, 0, 0, -4, 0, 0]);
      expect(Array.from(r['chosen']!.data as Float32Array)).toEqual(flag ? [2, 4, 16, 20] : [1, 2, 8, 10]);
      expect(r['total']!.data).toEqual(Float64Array.of(21));
    }
  });

  it('writes every element type and metadata ONNX Runtime reads back', async () => {
    const g = new GraphBuilder('types');
    g.output(g.constant('int64', [2], [-1n, 2n ** 40n]), 'i64', 'int64', [2]);
    g.output(g.constant('int32', [2], [-7, 7]), 'i32', 'int32', [2]);
    g.output(g.constant('float64', [1], [Math.PI]), 'f64', 'float64', [1]);
    g.output(g.constant('uint8', [1], [255]), 'u8', 'uint8', [1]);
    g.output(g.constant('bool', [2], [1, 0]), 'b', 'bool', [2]);
    const bytes = encodeModel({
      graph: g.build(),
      docString: 'doc',
      metadata: { key: 'value' },
      producerVersion: '1',
    });
    const r = await (await InferenceSession.create(bytes)).run({});
    expect(r['i64']!.data).toEqual(BigInt64Array.of(-1n, 2n ** 40n));
    expect(r['i32']!.data).toEqual(Int32Array.of(-7, 7));
    expect(r['f64']!.data).toEqual(Float64Array.of(Math.PI));
    expect(r['u8']!.data).toEqual(Uint8Array.of(255));
    expect(Array.from(r['b']!.data as Uint8Array)).toEqual([1, 0]);
    expect(() =>
      encodeModel({ graph: { ...g.build(), initializers: [{ type: 'float32', dims: [2], values: [1] }] } }),
    ).toThrow(RangeError);
  });

  it('every graph of the built-in cells loads', async () => {
    const heads = [{ kind: 'softmax', classes: 3 } as const, { kind: 'mse', outputs: 2 } as const];
    const models: Uint8Array[] = [];
    for (const cell of ['rnn', 'lstm', 'gru'] as CellKind[]) {
      for (const dtype of ['float32', 'float64'] as const) {
        const c = { cell, inputSize: 3, hiddenSize: 4, dtype };
        models.push(forwardStepGraph(c, { acts: false }), forwardStepGraph(c, { acts: true }));
        for (const stackedActs of [false, true])
          models.push(forwardRangeGraph(c, { stackedActs, finalActs: !stackedActs }));
        models.push(weightGradientGraph(c));
        for (const mode of ['saved', 'recomputed'] as const) {
          for (const sparsify of ['none', 'fixed', 'dynamic'] as const) {
            models.push(backwardStepGraph(c, { mode, sparsify }));
            for (const head of heads) models.push(backwardStepGraph(c, { mode, sparsify, head }));
          }
        }
        for (const head of heads)
          models.push(headGradientGraph(dtype, 4, head), headStepGraph(dtype, 4, head));
      }
    }
    for (const m of models) {
      const s = await InferenceSession.create(m);
      expect(s.outputNames.length).toBeGreaterThan(0);
      await s.release();
    }
    expect(models.length).toBe(3 * 2 * (2 + 2 + 1 + 2 * 3 * 3 + 4));
  });
});
