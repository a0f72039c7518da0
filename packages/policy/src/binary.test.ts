import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BINARY_MAGIC, decodeBinary, decodeBinaryRaw, encodeBinary } from './binary.js';
import { crc32 } from './crc32.js';
import { PolicyError, type PolicyErrorCode } from './errors.js';
import { canonicalJson, encodeJson } from './json.js';
import { bisectionPolicy, createRng, randomPolicy, simulatePolicy, storeAllPolicy } from './testing.js';
import type { Instruction, Policy } from './types.js';

/** Every code that decoding may report: framing, limits and structure, never a replay code. */
const DECODE_CODES: ReadonlySet<PolicyErrorCode> = new Set<PolicyErrorCode>([
  'E_BINARY_MAGIC',
  'E_BINARY_TRUNCATED',
  'E_BINARY_OPCODE',
  'E_BINARY_VARINT',
  'E_BINARY_CHECKSUM',
  'E_BINARY_TRAILING',
  'E_VERSION',
  'E_LIMIT',
  'E_JSON',
  'E_TYPE',
  'E_REQUIRED',
  'E_UNKNOWN_KEY',
  'E_ENUM',
  'E_INTEGER',
  'E_RANGE',
  'E_FORMAT',
]);

function codeOf(f: () => unknown): PolicyErrorCode {
  try {
    f();
  } catch (e) {
    if (e instanceof PolicyError) return e.code;
    throw e;
  }
  throw new Error('expected a PolicyError');
}

function errorOf(f: () => unknown): PolicyError {
  try {
    f();
  } catch (e) {
    if (e instanceof PolicyError) return e;
    throw e;
  }
  throw new Error('expected a PolicyError');
}

/** Decode, accepting only a policy or a PolicyError with a decoding code. */
function decodeSafely(bytes: Uint8Array): Policy | PolicyErrorCode {
  try {
    return decodeBinary(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    const code = (e as PolicyError).code;
    expect(DECODE_CODES.has(code), code).toBe(true);
    return code;
  }
}

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function crcBytes(bytes: Uint8Array): number[] {
  const c = crc32(bytes);
  return [c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24];
}

/** Append a correct checksum. */
function sealed(content: Uint8Array): Uint8Array {
  return concat(content, crcBytes(content));
}

/** Recompute the checksum of an encoding in place. */
function fixCrc(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  copy.set(crcBytes(copy.subarray(0, copy.length - 4)), copy.length - 4);
  return copy;
}

const headerOf = (p: Policy): string => {
  const { instructions, ...rest } = p;
  void instructions;
  return canonicalJson(rest);
};

/** A binary policy from parts, with a correct checksum. */
function frame(
  header: string | Uint8Array,
  count: number[],
  body: number[],
  options: { minor?: number } = {},
): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  return sealed(concat(BINARY_MAGIC as number[], [1, options.minor ?? 0], varint(h.length), h, count, body));
}

// A policy that uses every opcode; totals from the reference replay.
const every: Instruction[] = [
  { op: 'forward', from: 0, to: 1, store: 'internal' },
  { op: 'free', kind: 'internal', at: 1 },
  { op: 'forward', from: 0, to: 2, store: 'hidden', stride: 1 },
  { op: 'forward', from: 2, to: 4, store: 'internal' },
  { op: 'free', kind: 'hidden', at: 1 },
  { op: 'backward', from: 4, to: 3 },
  { op: 'forward', from: 0, to: 1 },
  { op: 'forward', from: 0, to: 1, store: 'internal', stride: 1 },
  { op: 'backward', from: 2, to: 1 },
];
const everyBody = [
  ...[0x02, 0x00, 0x01],
  ...[0x07, 0x00],
  ...[0x03, 0x01, 0x02, 0x01],
  ...[0x02, 0x00, 0x02],
  ...[0x06, 0x05],
  ...[0x05, 0x00, 0x01],
  ...[0x00, 0x05, 0x01],
  ...[0x04, 0x01, 0x01, 0x01],
  ...[0x05, 0x02, 0x01],
];
const draft: Policy = {
  format: 'rewind-policy',
  version: '1.0',
  steps: 4,
  strategy: 'every-opcode',
  costModel: { alpha: 2, forwardCost: 1, backwardCost: 2 },
  budget: { slots: 5 },
  totals: { forwards: 0, backwards: 0, peakSlots: 0 },
  meta: { note: 'ünïcödé' },
  instructions: every,
};
const counted = simulatePolicy(draft, { checkTotals: false });
const example: Policy = {
  ...draft,
  totals: { forwards: counted.forwards, backwards: counted.backwards, peakSlots: counted.peakSlots },
};

describe('encodeBinary layout', () => {
  it('keeps the keys of a newer minor in the header, and refuses instruction keys it cannot hold', () => {
    const newer = { ...example, version: '1.2', future: { x: 1 } } as unknown as Policy;
    const back = decodeBinary(encodeBinary(newer));
    expect(back).toHaveProperty('future', { x: 1 });
    expect(encodeJson(back)).toBe(encodeJson(newer));
    const withHint = {
      ...newer,
      instructions: [{ ...example.instructions[0], hint: 1 }, ...example.instructions.slice(1)],
    } as unknown as Policy;
    expect(errorOf(() => encodeBinary(withHint))).toMatchObject({
      code: 'E_FORMAT',
      stage: 'encode',
      path: '/instructions/0/hint',
    });
    // Under the writer's own minor, keys outside the format are not written at all.
    expect(encodeBinary({ ...withHint, version: '1.0' } as Policy)).toEqual(encodeBinary(example));
  });

  it('the example replays', () => {
    expect(simulatePolicy(example)).toMatchObject({ ok: true, forwards: 9, backwards: 4, peakSlots: 5 });
  });

  it('writes magic, version, header, count, delta-coded body and a CRC-32 trailer', () => {
    const bytes = encodeBinary(example);
    const header = new TextEncoder().encode(headerOf(example));
    const expected = concat([0x52, 0x57, 0x50, 0x4c, 1, 0], varint(header.length), header, [9], everyBody);
    expect(bytes.subarray(0, bytes.length - 4)).toEqual(expected);
    expect(bytes.length).toBe(expected.length + 4);
    const crc = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 4, true);
    expect(crc).toBe(crc32(expected));
    const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
    if (zlibCrc32) expect(crc).toBe(zlibCrc32(expected));
    expect(frame(headerOf(example), [9], everyBody)).toEqual(bytes);
  });

  it('header is the canonical JSON without instructions, and the minor version byte follows the policy', () => {
    const p = { ...example, version: '1.7' };
    const bytes = encodeBinary(p);
    expect(bytes[5]).toBe(7);
    const raw = decodeBinaryRaw(bytes);
    expect(raw['version']).toBe('1.7');
    expect(raw['instructions']).toEqual(every);
  });

  it('rejects what the encoding cannot hold', () => {
    expect(codeOf(() => encodeBinary({ ...example, version: '2.0' }))).toBe('E_VERSION');
    expect(codeOf(() => encodeBinary({ ...example, version: '1.256' }))).toBe('E_VERSION');
    const withIns = (ins: unknown): Policy => ({ ...example, instructions: [ins as Instruction] });
    expect(codeOf(() => encodeBinary(withIns({ op: 'forward', from: 0.5, to: 1 })))).toBe('E_INTEGER');
    expect(codeOf(() => encodeBinary(withIns({ op: 'forward', from: 2, to: 1 })))).toBe('E_RANGE');
    expect(codeOf(() => encodeBinary(withIns({ op: 'backward', from: 1, to: 2 })))).toBe('E_RANGE');
    expect(codeOf(() => encodeBinary(withIns({ op: 'forward', from: 0, to: 1, stride: 1 })))).toBe(
      'E_REQUIRED',
    );
    expect(codeOf(() => encodeBinary(withIns({ op: 'forward', from: 0, to: 1, store: 'x' })))).toBe('E_ENUM');
    expect(codeOf(() => encodeBinary(withIns({ op: 'free', kind: 'x', at: 1 })))).toBe('E_ENUM');
    expect(codeOf(() => encodeBinary(withIns({ op: 'jump' })))).toBe('E_ENUM');
    expect(
      codeOf(() => encodeBinary(withIns({ op: 'free', kind: 'hidden', at: Number.MAX_SAFE_INTEGER }))),
    ).toBe('E_RANGE');
    expect(codeOf(() => encodeBinary({ ...example, budget: { slots: Number.NaN } }))).toBe('E_RANGE');
  });
});

describe('binary round trip', () => {
  it('round-trips the example, keeping explicit strides explicit and absent ones absent', () => {
    const back = decodeBinary(encodeBinary(example));
    expect(back).toEqual(example);
    expect(back.instructions[2]).toEqual({ op: 'forward', from: 0, to: 2, store: 'hidden', stride: 1 });
    expect('stride' in back.instructions[3]!).toBe(false);
    expect('store' in back.instructions[6]!).toBe(false);
  });

  it('round-trips random policies (and agrees with the JSON encoding)', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const rng = createRng(seed);
        const p = randomPolicy(rng, { steps: rng.int(1, 120) });
        const bytes = encodeBinary(p);
        const back = decodeBinary(bytes);
        expect(back).toEqual(p);
        expect(encodeJson(back)).toBe(encodeJson(p));
        expect(encodeBinary(back)).toEqual(bytes);
      }),
      { numRuns: 100 },
    );
  });

  it('round-trips big schedules compactly', () => {
    const p = bisectionPolicy(300_000, { stateBytes: { hidden: 4096, internal: 10_000 } });
    const bytes = encodeBinary(p);
    expect(bytes.length).toBeLessThan(4 * p.instructions.length);
    expect(decodeBinaryRaw(bytes)).toEqual(JSON.parse(encodeJson(p)));
    const all = storeAllPolicy(50_000, { granular: true });
    expect(decodeBinary(encodeBinary(all))).toEqual(all);
  });

  it('decodes positions far from the register (multi-byte and negative deltas)', () => {
    const T = 5_000_000;
    const p: Policy = {
      ...example,
      steps: T,
      budget: { slots: 3 },
      instructions: [
        { op: 'forward', from: 0, to: T - 1, store: 'hidden' },
        { op: 'backward', from: T, to: T },
        { op: 'forward', from: 0, to: T - 2, store: 'hidden', stride: T - 2 },
        { op: 'free', kind: 'hidden', at: 0 },
        { op: 'backward', from: T - 1, to: T - 1 },
      ],
    };
    expect(decodeBinaryRaw(encodeBinary(p))['instructions']).toEqual(p.instructions);
  });
});

describe('decodeBinary errors', () => {
  const good = encodeBinary(example);
  const header = headerOf(example);

  it('checks magic, version and size first', () => {
    expect(codeOf(() => decodeBinary(new Uint8Array()))).toBe('E_BINARY_TRUNCATED');
    expect(codeOf(() => decodeBinary(Uint8Array.from([0x52, 0x57])))).toBe('E_BINARY_TRUNCATED');
    expect(codeOf(() => decodeBinary(Uint8Array.from([0x52, 0x58])))).toBe('E_BINARY_MAGIC');
    expect(codeOf(() => decodeBinary(new TextEncoder().encode(encodeJson(example))))).toBe('E_BINARY_MAGIC');
    const major2 = good.slice();
    major2[4] = 2;
    expect(errorOf(() => decodeBinary(fixCrc(major2)))).toMatchObject({
      code: 'E_VERSION',
      path: '/version',
    });
    expect(codeOf(() => decodeBinary(major2))).toBe('E_VERSION');
    expect(codeOf(() => decodeBinary(good, { limits: { maxBytes: good.length - 1 } }))).toBe('E_LIMIT');
    expect(decodeBinary(good, { limits: { maxBytes: good.length } })).toEqual(example);
    expect(codeOf(() => decodeBinary([1, 2] as unknown as Uint8Array))).toBe('E_TYPE');
  });

  it('checks the checksum (the last four bytes) before decoding: a cut or extended input fails it', () => {
    for (let n = 0; n < good.length; n++) {
      // Shorter than the shortest frame (12 bytes): truncated; otherwise the last four bytes are no checksum.
      expect(
        codeOf(() => decodeBinary(good.subarray(0, n))),
        `prefix of ${n} bytes`,
      ).toBe(n < 12 ? 'E_BINARY_TRUNCATED' : 'E_BINARY_CHECKSUM');
    }
    expect(codeOf(() => decodeBinary(concat(good, [0])))).toBe('E_BINARY_CHECKSUM');
    expect(codeOf(() => decodeBinary(concat(good, good)))).toBe('E_BINARY_CHECKSUM');
  });

  it('under a matching checksum, reports a layout that runs into it or stops short of it', () => {
    for (let n = 12; n < good.length - 4; n++) {
      // The content cut short and sealed again: the layout runs into the checksum.
      expect(
        codeOf(() => decodeBinary(sealed(good.subarray(0, n)))),
        `prefix of ${n} bytes`,
      ).toBe('E_BINARY_TRUNCATED');
    }
    // Extra bytes before a checksum that covers them.
    expect(errorOf(() => decodeBinary(frame(header, [9], [...everyBody, 0x00])))).toMatchObject({
      code: 'E_BINARY_TRAILING',
      path: '',
    });
    // A count one too low leaves the last instruction between the body and the checksum.
    expect(errorOf(() => decodeBinary(frame(header, [8], everyBody)))).toMatchObject({
      code: 'E_BINARY_TRAILING',
      path: '',
    });
  });

  it('reports a checksum mismatch', () => {
    const flipped = good.slice();
    flipped[flipped.length - 1]! ^= 0x01;
    expect(codeOf(() => decodeBinary(flipped))).toBe('E_BINARY_CHECKSUM');
    // Any change to the header text leaves the structure intact: only the checksum can tell.
    const start = 6 + varint(new TextEncoder().encode(header).length).length;
    for (let i = start; i < start + 40; i++) {
      const bytes = good.slice();
      bytes[i]! ^= 0x20;
      expect(codeOf(() => decodeBinary(bytes))).toBe('E_BINARY_CHECKSUM');
    }
  });

  it('reports bad opcodes with the instruction path', () => {
    const body = everyBody.slice();
    body[everyBody.length - 3] = 0x08;
    expect(errorOf(() => decodeBinary(frame(header, [9], body)))).toMatchObject({
      code: 'E_BINARY_OPCODE',
      path: '/instructions/8',
    });
    expect(codeOf(() => decodeBinary(frame(header, [1], [0xff, 0x00])))).toBe('E_BINARY_OPCODE');
  });

  it('bounds varints', () => {
    const nine = [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    expect(errorOf(() => decodeBinary(frame(header, [1], [0x06, ...nine])))).toMatchObject({
      code: 'E_BINARY_VARINT',
      path: '/instructions/0',
    });
    // 8 bytes holding 2^56 - 1 > 2^53 - 1.
    const big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    expect(codeOf(() => decodeBinary(frame(header, [1], [0x06, ...big])))).toBe('E_BINARY_VARINT');
    expect(codeOf(() => decodeBinary(frame(header, [1], [0x06, 0x80, 0x00])))).toBe('E_BINARY_VARINT');
    expect(codeOf(() => decodeBinary(frame(header, nine, [])))).toBe('E_BINARY_VARINT');
    // 2^53 - 1 itself is a valid varint (as a count it exceeds the limit).
    expect(codeOf(() => decodeBinary(frame(header, varint(Number.MAX_SAFE_INTEGER), [])))).toBe('E_LIMIT');
    // The largest delta decodes to an out-of-range position, which validation reports.
    const max = varint(Number.MAX_SAFE_INTEGER);
    expect(max.length).toBe(8);
    expect(codeOf(() => decodeBinary(frame(header, [1], [0x06, ...max])))).toBe('E_RANGE');
  });

  it('checks the instruction count against the limit before allocating', () => {
    const huge = frame(header, varint(2 ** 40), [0x06, 0x00]);
    expect(errorOf(() => decodeBinary(huge))).toMatchObject({ code: 'E_LIMIT', path: '/instructions' });
    expect(codeOf(() => decodeBinary(good, { limits: { maxInstructions: 8 } }))).toBe('E_LIMIT');
    expect(decodeBinary(good, { limits: { maxInstructions: 9 } })).toEqual(example);
    // Under the limit but more than the bytes could hold.
    expect(codeOf(() => decodeBinary(frame(header, varint(1_000_000), [0x06, 0x00])))).toBe(
      'E_BINARY_TRUNCATED',
    );
    expect(codeOf(() => decodeBinary(frame(header, [10], everyBody)))).toBe('E_BINARY_TRUNCATED');
  });

  it('checks the header', () => {
    expect(errorOf(() => decodeBinary(frame('{"format":', [0], [])))).toMatchObject({
      code: 'E_JSON',
      path: '/header',
    });
    expect(codeOf(() => decodeBinary(frame(Uint8Array.from([0x7b, 0xc0, 0x7d]), [0], [])))).toBe('E_JSON');
    expect(errorOf(() => decodeBinary(frame('[]', [0], [])))).toMatchObject({
      code: 'E_TYPE',
      path: '/header',
    });
    const withInstructions = header.replace('"format"', '"instructions":[],"format"');
    expect(codeOf(() => decodeBinary(frame(withInstructions, [0], [])))).toBe('E_FORMAT');
    expect(codeOf(() => decodeBinary(frame(header, [9], everyBody, { minor: 1 })))).toBe('E_VERSION');
    expect(codeOf(() => decodeBinary(frame(header.replace('"1.0"', '"2.0"'), [9], everyBody)))).toBe(
      'E_VERSION',
    );
    const headerLengthTooBig = sealed(concat(BINARY_MAGIC as number[], [1, 0], varint(10_000), [0x7b, 0x7d]));
    expect(codeOf(() => decodeBinary(headerLengthTooBig))).toBe('E_BINARY_TRUNCATED');
  });

  it('validates the decoded policy', () => {
    expect(codeOf(() => decodeBinary(frame('{}', [0], [])))).toBe('E_FORMAT');
    // A forward that goes beyond steps.
    expect(codeOf(() => decodeBinary(frame(header, [1], [0x00, 0x00, 0x09])))).toBe('E_RANGE');
  });
});

describe('decodeBinary fuzzing', () => {
  const rng = createRng('fuzz');
  const samples = Array.from({ length: 12 }, (_, i) =>
    encodeBinary(i === 0 ? example : randomPolicy(rng, { steps: rng.int(1, 40) })),
  );
  const sample = fc.integer({ min: 0, max: samples.length - 1 }).map((i) => samples[i]!);
  // Bounded work is pinned by the runs finishing under the test timeout, not by a clock.

  it('random bytes only ever give a policy or a PolicyError', () => {
    const preamble = [0x52, 0x57, 0x50, 0x4c, 0x01, 0x00];
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.constantFrom('raw', 'preamble', 'sealed'),
        (bytes, mode) => {
          const input =
            mode === 'raw'
              ? bytes
              : mode === 'preamble'
                ? concat(preamble, bytes)
                : sealed(concat(preamble, bytes));
          decodeSafely(input);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('random truncations and extensions give the right code', () => {
    fc.assert(
      fc.property(sample, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }), (bytes, cut, extra) => {
        const n = cut % (bytes.length - 4);
        expect(decodeSafely(bytes.subarray(0, n))).toBe(n < 12 ? 'E_BINARY_TRUNCATED' : 'E_BINARY_CHECKSUM');
        if (n >= 12) expect(decodeSafely(sealed(bytes.subarray(0, n)))).toBe('E_BINARY_TRUNCATED');
        const content = bytes.subarray(0, bytes.length - 4);
        expect(decodeSafely(sealed(concat(content, extra)))).toBe('E_BINARY_TRAILING');
      }),
      { numRuns: 500 },
    );
  });

  it('random byte changes, with and without a fixed checksum, are caught or decode to a valid policy', () => {
    fc.assert(
      fc.property(
        sample,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (bytes, flips, fix) => {
          const changed = bytes.slice();
          for (const [at, mask] of flips) changed[at % changed.length]! ^= mask;
          const input = fix ? fixCrc(changed) : changed;
          const result = decodeSafely(input);
          if (!fix && typeof result === 'string') {
            // Without a fixed checksum, a change after the version bytes is always detected.
            const firstChange = Math.min(...flips.map(([at]) => at % changed.length));
            if (firstChange >= 6) {
              expect(['E_BINARY_CHECKSUM', 'E_BINARY_TRUNCATED', 'E_BINARY_TRAILING']).toContain(result);
            }
          }
          if (!fix && typeof result !== 'string') {
            // Only a change that cancels out can decode.
            expect(changed).toEqual(bytes);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('hostile lengths are refused without allocating what they claim', () => {
    const before = process.memoryUsage().arrayBuffers;
    const results: (Policy | PolicyErrorCode)[] = [];
    const header = new TextEncoder().encode(headerOf(example));
    for (const count of [2 ** 53 - 1, 2 ** 40, 10_000_000, 9_999_999]) {
      for (const sealedOrNot of [true, false]) {
        const content = concat(
          BINARY_MAGIC as number[],
          [1, 0],
          varint(header.length),
          header,
          varint(count),
          [0x05],
        );
        results.push(decodeSafely(sealedOrNot ? sealed(content) : content));
      }
    }
    const long = new Uint8Array(4_000_000);
    long.set([0x52, 0x57, 0x50, 0x4c, 1, 0, 0, 0x80, 0x80, 0x80, 0x04]);
    results.push(decodeSafely(long));
    results.push(decodeSafely(fixCrc(long)));
    for (const r of results) expect(typeof r).toBe('string');
    // Two 4 MB inputs, and nothing near the 10^7-2^53 instructions the headers claim.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
  });
});
