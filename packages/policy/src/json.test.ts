import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors.js';
import { canonicalJson, contentHash, decodeJson, encodeJson, encodeJsonBytes } from './json.js';
import { bisectionPolicy, createRng, randomPolicy, storeAllPolicy } from './testing.js';
import type { Instruction, Policy } from './types.js';

/** Rebuild every object with its keys in reverse (or shuffled) order. */
function reorder(value: unknown, rng: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => reorder(v, rng));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [entries[i], entries[j]] = [entries[j]!, entries[i]!];
    }
    // fromEntries defines own properties, so that a key named "__proto__" stays a key.
    return Object.fromEntries(entries.map(([k, v]) => [k, reorder(v, rng)]));
  }
  return value;
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof PolicyError) return e.code;
    throw e;
  }
  throw new Error('expected a PolicyError');
}

const small: Policy = {
  format: 'rewind-policy',
  version: '1.0',
  steps: 2,
  strategy: 'demo',
  costModel: { alpha: 1.5, forwardCost: 1, backwardCost: 2 },
  budget: { slots: 2.5 },
  totals: { forwards: 2, backwards: 2, peakSlots: 2.5 },
  instructions: [
    { op: 'forward', from: 0, to: 1, store: 'internal' },
    { op: 'forward', from: 1, to: 2 },
    { op: 'backward', from: 2, to: 1 },
  ],
};

describe('canonicalJson (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units and writes no whitespace', () => {
    // The sorting example of RFC 8785, section 3.2.3.
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalJson(value)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    expect(canonicalJson({ b: [1, { d: true, c: null }], a: 'x' })).toBe(
      '{"a":"x","b":[1,{"c":null,"d":true}]}',
    );
  });

  it('writes numbers as ECMAScript does', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '0'],
      [1, '1'],
      [-1.5, '-1.5'],
      [1e21, '1e+21'],
      [1e-7, '1e-7'],
      [0.000001, '0.000001'],
      [Number('333333333.33333329'), '333333333.3333333'],
      [9007199254740991, '9007199254740991'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [0.1 + 0.2, '0.30000000000000004'],
    ];
    for (const [n, s] of cases) expect(canonicalJson(n)).toBe(s);
  });

  it('escapes strings as JSON.stringify does', () => {
    const s = '\u0000\b\t\n\f\r"\\/\u001f\u007f\u2028é😀\ud800';
    expect(canonicalJson(s)).toBe(JSON.stringify(s));
  });

  it('rejects values JSON cannot represent', () => {
    expect(codeOf(() => canonicalJson(Number.NaN))).toBe('E_RANGE');
    expect(codeOf(() => canonicalJson({ a: [1, Number.POSITIVE_INFINITY] }))).toBe('E_RANGE');
    expect(codeOf(() => canonicalJson([undefined]))).toBe('E_TYPE');
    expect(codeOf(() => canonicalJson(() => 1))).toBe('E_TYPE');
    expect(codeOf(() => canonicalJson(10n))).toBe('E_TYPE');
    expect(codeOf(() => canonicalJson(new Date(0)))).toBe('E_TYPE');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(codeOf(() => canonicalJson(cyclic))).toBe('E_TYPE');
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    expect(codeOf(() => canonicalJson(deep))).toBe('E_LIMIT');
    try {
      canonicalJson({ a: { b: [0, Number.NaN] } });
    } catch (e) {
      expect((e as PolicyError).path).toBe('/a/b/1');
    }
  });

  it('omits undefined properties and accepts shared (non-cyclic) references', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: undefined, b: shared, c: shared })).toBe('{"b":{"x":1},"c":{"x":1}}');
    expect(canonicalJson(Object.assign(Object.create(null) as object, { z: 1, y: 2 }))).toBe('{"y":2,"z":1}');
    // JSON.parse makes "__proto__" an own key: it is written like any other.
    expect(canonicalJson(JSON.parse('{"b":2,"__proto__":{"a":1}}'))).toBe('{"__proto__":{"a":1},"b":2}');
  });

  it('is independent of key order, parses back to the value and is idempotent', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        const rng = createRng(seed);
        const c = canonicalJson(value);
        expect(canonicalJson(reorder(value, () => rng.next()))).toBe(c);
        expect(JSON.parse(c)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(JSON.parse(c))).toBe(c);
      }),
      { numRuns: 300 },
    );
  });
});

describe('encodeJson and contentHash', () => {
  it('writes the canonical form of a policy', () => {
    expect(encodeJson(small)).toBe(
      '{"budget":{"slots":2.5},"costModel":{"alpha":1.5,"backwardCost":2,"forwardCost":1},"format":"rewind-policy",' +
        '"instructions":[{"from":0,"op":"forward","store":"internal","to":1},{"from":1,"op":"forward","to":2},' +
        '{"from":2,"op":"backward","to":1}],"steps":2,"strategy":"demo",' +
        '"totals":{"backwards":2,"forwards":2,"peakSlots":2.5},"version":"1.0"}',
    );
  });

  it('agrees with canonicalJson of the parsed text (the instruction fast path is canonical)', () => {
    const rng = createRng('fast-path');
    for (let i = 0; i < 40; i++) {
      const p = randomPolicy(rng, { steps: rng.int(1, 80) });
      const text = encodeJson(p);
      expect(canonicalJson(JSON.parse(text))).toBe(text);
      // Idempotent; and equal to the generic canonical JSON once default strides are left out.
      expect(encodeJson(JSON.parse(text) as Policy)).toBe(text);
      const explicitDefault = (ins: Instruction): boolean =>
        ins.op === 'forward' && ins.stride !== undefined && ins.stride === ins.to - ins.from;
      if (!p.instructions.some(explicitDefault)) expect(text).toBe(canonicalJson(p));
    }
  });

  it('gives equal bytes and hashes for equal policies with different key orders', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (seed, orderSeed) => {
        const rng = createRng(seed);
        const p = randomPolicy(rng, { steps: rng.int(1, 40) });
        const order = createRng(orderSeed);
        const q = reorder(p, () => order.next()) as Policy;
        expect(encodeJson(q)).toBe(encodeJson(p));
        expect(contentHash(q)).toBe(contentHash(p));
      }),
      { numRuns: 50 },
    );
  });

  it('omits absent optional fields and default strides, keeps other strides, and ignores keys outside 1.0', () => {
    const withUndefined = { ...small, meta: undefined, stateBytes: undefined } as unknown as Policy;
    expect(encodeJson(withUndefined)).toBe(encodeJson(small));
    const extra = { ...small, extra: 1, costModel: { ...small.costModel, other: 2 } } as unknown as Policy;
    expect(encodeJson(extra)).toBe(encodeJson(small));
    const strided: Policy = {
      ...small,
      instructions: [{ op: 'forward', from: 0, to: 2, store: 'hidden', stride: 2 }, ...small.instructions],
    };
    // stride 2 over 0..2 is the default: it means the same as no stride, so it is written the same.
    expect(encodeJson(strided)).toContain('{"from":0,"op":"forward","store":"hidden","to":2}');
    const defaulted: Policy = {
      ...small,
      instructions: [{ op: 'forward', from: 0, to: 2, store: 'hidden' }, ...small.instructions],
    };
    expect(contentHash(strided)).toBe(contentHash(defaulted));
    const other: Policy = {
      ...small,
      instructions: [{ op: 'forward', from: 0, to: 2, store: 'hidden', stride: 1 }, ...small.instructions],
    };
    expect(encodeJson(other)).toContain('{"from":0,"op":"forward","store":"hidden","stride":1,"to":2}');
    // Under a newer minor version every key is part of the policy, at every level.
    const newer = { ...extra, version: '1.4', instructions: [{ op: 'backward', from: 2, to: 1, hint: 'x' }] };
    const text = encodeJson(newer as unknown as Policy);
    expect(text).toContain('"extra":1');
    expect(text).toContain('"other":2');
    expect(text).toContain('{"from":2,"hint":"x","op":"backward","to":1}');
    expect(encodeJson({ ...small, meta: { b: 1, a: [true] } })).toContain('"meta":{"a":[true],"b":1}');
  });

  it('rejects non-finite numbers with a path', () => {
    const bad = { ...small, costModel: { ...small.costModel, alpha: Number.NaN } };
    expect(() => encodeJson(bad)).toThrow(PolicyError);
    try {
      encodeJson({ ...small, instructions: [{ op: 'backward', from: Number.POSITIVE_INFINITY, to: 1 }] });
    } catch (e) {
      expect((e as PolicyError).code).toBe('E_RANGE');
      expect((e as PolicyError).path).toBe('/instructions/0/from');
    }
  });

  it('hashes the canonical UTF-8 bytes with SHA-256', () => {
    const p = { ...small, meta: { note: 'ünïcödé 😀' } };
    const expected = createHash('sha256')
      .update(Buffer.from(encodeJson(p), 'utf8'))
      .digest('hex');
    expect(contentHash(p)).toBe(`sha256:${expected}`);
    expect(encodeJsonBytes(p)).toEqual(new Uint8Array(Buffer.from(encodeJson(p), 'utf8')));
    expect(contentHash(small)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(contentHash(small)).not.toBe(contentHash({ ...small, strategy: 'other' }));
  });
});

describe('decodeJson', () => {
  it('round-trips random policies from text and from bytes', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const rng = createRng(seed);
        const p = randomPolicy(rng, { steps: rng.int(1, 60) });
        const text = encodeJson(p);
        const plain = JSON.stringify(p);
        expect(decodeJson(plain)).toEqual(p);
        expect(decodeJson(new TextEncoder().encode(plain))).toEqual(p);
        expect(encodeJson(decodeJson(text))).toBe(text);
        expect(encodeJson(decodeJson(new TextEncoder().encode(text)))).toBe(text);
      }),
      { numRuns: 60 },
    );
  });

  it('accepts non-canonical text (whitespace, key order, a byte-order mark)', () => {
    const pretty = JSON.stringify(
      reorder(small, () => 0.3),
      null,
      2,
    );
    expect(decodeJson(pretty)).toEqual(small);
    expect(decodeJson(`\ufeff${pretty}`)).toEqual(small);
    expect(decodeJson(new TextEncoder().encode(`\ufeff${pretty}`))).toEqual(small);
  });

  it('checks the size limit before parsing', () => {
    const text = encodeJson(small);
    const limits = { maxBytes: text.length - 1 };
    expect(codeOf(() => decodeJson(text, { limits }))).toBe('E_LIMIT');
    expect(codeOf(() => decodeJson(new TextEncoder().encode(text), { limits }))).toBe('E_LIMIT');
    expect(decodeJson(text, { limits: { maxBytes: text.length } })).toEqual(small);
    // Not JSON at all, but too big: the limit is reported, so nothing was parsed.
    expect(codeOf(() => decodeJson('x'.repeat(1000), { limits: { maxBytes: 999 } }))).toBe('E_LIMIT');
    // The limit counts UTF-8 bytes, not UTF-16 code units.
    const multi = JSON.stringify({ ...small, meta: { s: 'é'.repeat(100) } });
    const bytes = new TextEncoder().encode(multi).length;
    expect(codeOf(() => decodeJson(multi, { limits: { maxBytes: bytes - 1 } }))).toBe('E_LIMIT');
    expect(decodeJson(multi, { limits: { maxBytes: bytes } }).meta).toEqual({ s: 'é'.repeat(100) });
  });

  it('maps malformed JSON and malformed UTF-8 to E_JSON', () => {
    expect(codeOf(() => decodeJson('{"format":'))).toBe('E_JSON');
    expect(codeOf(() => decodeJson(''))).toBe('E_JSON');
    expect(codeOf(() => decodeJson('{} x'))).toBe('E_JSON');
    expect(codeOf(() => decodeJson(Uint8Array.from([0x7b, 0xff, 0x7d])))).toBe('E_JSON');
    expect(codeOf(() => decodeJson('[]'))).toBe('E_TYPE');
  });

  it('never throws anything but a PolicyError on arbitrary text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ ...small, meta: v })),
        ),
        (text) => {
          try {
            decodeJson(text);
          } catch (e) {
            expect(e).toBeInstanceOf(PolicyError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  // Their speed (linear in the size) is measured by `pnpm bench` (docs/benchmarks.md), not timed here.
  it('round-trips and hashes large policies', () => {
    for (const p of [storeAllPolicy(100_000, { granular: true }), bisectionPolicy(400_000)]) {
      const text = encodeJson(p);
      expect(decodeJson(text)).toEqual(p);
      expect(contentHash(p)).toMatch(/^sha256:/);
    }
  });
});
