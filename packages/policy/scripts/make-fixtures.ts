// Writes the conformance cases of fixtures/ that are built rather than written by hand (lexical variants of
// JSON text, every binary case) and the manifest fixtures/expected.json. Run: pnpm --filter @rewind/policy
// fixtures. Invalid cases declare their verdict here, by hand, from the spec; valid cases get their totals and
// hash from this reader, and the second reader (examples/python-reader) checks them independently.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeBinary, encodeBinary } from '../src/binary.js';
import { crc32 } from '../src/crc32.js';
import { PolicyError } from '../src/errors.js';
import { contentHash, decodeJson, encodeJson } from '../src/json.js';
import type { Policy } from '../src/types.js';
import { verify } from '../src/verify.js';

const dir = fileURLToPath(new URL('../fixtures/', import.meta.url));

type Stage = 'decode' | 'schema' | 'semantic' | 'verify';
type Expect =
  | { verdict: 'valid'; about: string; sameAs?: string }
  | { verdict: 'invalid'; about: string; stage: Stage; code: string; path: string };

const cases = new Map<string, { bytes: Uint8Array | undefined; expect: Expect }>();

function valid(about: string, sameAs?: string): Expect {
  return sameAs === undefined ? { verdict: 'valid', about } : { verdict: 'valid', about, sameAs };
}
function invalid(stage: Stage, code: string, path: string, about: string): Expect {
  return { verdict: 'invalid', about, stage, code, path };
}
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
function add(file: string, content: string | Uint8Array | undefined, expect: Expect): void {
  if (cases.has(file)) throw new Error(`duplicate case ${file}`);
  cases.set(file, { bytes: typeof content === 'string' ? utf8(content) : content, expect });
}
const pretty = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;
/** Replace exactly one occurrence. */
function swap(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`not exactly one ${from}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

// ---------------------------------------------------------------------------------------------------------
// Base policies

const storeAll: Policy = {
  format: 'rewind-policy',
  version: '1.0',
  steps: 4,
  strategy: 'handmade',
  costModel: { alpha: 2, forwardCost: 1, backwardCost: 2 },
  budget: { slots: 9 },
  totals: { forwards: 4, backwards: 4, peakSlots: 9 },
  instructions: [
    { op: 'forward', from: 0, to: 4, store: 'internal', stride: 1 },
    { op: 'backward', from: 4, to: 1 },
  ],
};
const hiddenSplit: Policy = {
  ...storeAll,
  budget: { slots: 2 },
  totals: { forwards: 8, backwards: 4, peakSlots: 2 },
  instructions: [
    { op: 'forward', from: 0, to: 2, store: 'hidden' },
    { op: 'forward', from: 2, to: 4 },
    { op: 'backward', from: 4, to: 3 },
    { op: 'forward', from: 0, to: 2 },
    { op: 'backward', from: 2, to: 1 },
  ],
};
const withBytes: Policy = {
  ...hiddenSplit,
  budget: { slots: 2, bytes: 20 },
  stateBytes: { hidden: 10, internal: 25 },
  totals: { forwards: 8, backwards: 4, peakSlots: 2, peakBytes: 20 },
};
const T = (p: Policy, patch: Record<string, unknown>): Record<string, unknown> => ({ ...p, ...patch });

// ---------------------------------------------------------------------------------------------------------
// JSON: decode stage

add('valid/byte-order-mark.json', `\ufeff${pretty(storeAll)}`, valid('one leading UTF-8 BOM is ignored'));
add(
  'invalid/two-byte-order-marks.json',
  `\ufeff\ufeff${pretty(storeAll)}`,
  invalid('decode', 'E_JSON', '', 'only one leading BOM is ignored; a second is not JSON'),
);
add(
  'invalid/bad-utf8.json',
  Uint8Array.from([...utf8('{"format": "rewind-policy", "strategy": "'), 0xc0, 0xaf, ...utf8('"}')]),
  invalid('decode', 'E_JSON', '', 'an overlong UTF-8 sequence'),
);
add(
  'invalid/utf8-surrogate.json',
  Uint8Array.from([...utf8('{"meta": "'), 0xed, 0xa0, 0x80, ...utf8('"}')]),
  invalid('decode', 'E_JSON', '', 'a UTF-16 surrogate encoded in UTF-8 is not UTF-8'),
);
add(
  'invalid/trailing-comma.json',
  swap(pretty(storeAll), '"to": 1\n    }\n  ]', '"to": 1\n    },\n  ]'),
  invalid('decode', 'E_JSON', '', 'RFC 8259 allows no trailing comma'),
);
add(
  'invalid/text-after-value.json',
  `${pretty(storeAll)}{}`,
  invalid('decode', 'E_JSON', '', 'one JSON value only'),
);
add(
  'invalid/single-quotes.json',
  swap(pretty(storeAll), '"handmade"', "'handmade'"),
  invalid('decode', 'E_JSON', '', 'strings use double quotes'),
);
add(
  'invalid/leading-zero.json',
  swap(pretty(storeAll), '"steps": 4', '"steps": 04'),
  invalid('decode', 'E_JSON', '', 'RFC 8259 numbers have no leading zero'),
);
add(
  'invalid/nesting-too-deep.json',
  swap(
    pretty(storeAll),
    '"steps": 4,',
    `"meta": {"deep": ${'['.repeat(300)}${']'.repeat(300)}},\n  "steps": 4,`,
  ),
  invalid('decode', 'E_LIMIT', '', 'JSON text nested deeper than 256 levels, refused while reading'),
);
add(
  'invalid/number-overflow.json',
  swap(pretty(storeAll), '"alpha": 2', '"alpha": 1e400'),
  invalid('decode', 'E_RANGE', '/costModel/alpha', 'a number beyond the range of a double'),
);
add(
  'invalid/number-overflow-first.json',
  swap(swap(pretty(storeAll), '"alpha": 2', '"alpha": 1e400'), '"to": 1\n', '"to": 1\n,'),
  invalid('decode', 'E_RANGE', '/costModel/alpha', 'the first problem in text order is reported'),
);
add(
  'valid/duplicate-key.json',
  swap(pretty(storeAll), '"steps": 4,', '"steps": 3,\n  "steps": 4,'),
  valid('a repeated key keeps its last value', 'valid/store-all.json'),
);

// ---------------------------------------------------------------------------------------------------------
// JSON: schema stage

add('invalid/root-array.json', '[]\n', invalid('schema', 'E_TYPE', '', 'a policy is an object'));
add(
  'invalid/missing-format.json',
  pretty(T(storeAll, { format: undefined })),
  invalid('schema', 'E_FORMAT', '/format', 'the format is identified first, before any other check'),
);
add(
  'invalid/format-before-keys.json',
  pretty(T(storeAll, { format: 'other', extra: 1, steps: 'x' })),
  invalid('schema', 'E_FORMAT', '/format', 'identification comes before unknown keys and types'),
);
add(
  'invalid/version-leading-zero.json',
  pretty(T(storeAll, { version: '1.01' })),
  invalid('schema', 'E_VERSION', '/version', 'MINOR has no leading zero'),
);
add(
  'invalid/version-number.json',
  pretty(T(storeAll, { version: 1 })),
  invalid('schema', 'E_VERSION', '/version', 'the version is a string'),
);
add(
  'invalid/steps-over-limit.json',
  pretty(T(storeAll, { steps: 10_000_001, extra: true })),
  invalid('schema', 'E_LIMIT', '/steps', 'steps above the limit, checked right after the version'),
);
add(
  'invalid/steps-fraction-zero.json',
  swap(pretty(storeAll), '"steps": 4', '"steps": 4.0'),
  invalid('schema', 'E_INTEGER', '/steps', 'an integer has no fraction, even .0'),
);
add(
  'invalid/steps-exponent.json',
  swap(pretty(storeAll), '"steps": 4', '"steps": 4e0'),
  invalid('schema', 'E_INTEGER', '/steps', 'an integer has no exponent'),
);
add(
  'invalid/to-exponent.json',
  swap(pretty(storeAll), '"to": 4,', '"to": 4E0,'),
  invalid('schema', 'E_INTEGER', '/instructions/0/to', 'an integer has no exponent, in instructions too'),
);
add(
  'invalid/forwards-exponent.json',
  swap(pretty(T(storeAll, { totals: { forwards: 1000, backwards: 4, peakSlots: 9 } })), '1000', '1e3'),
  invalid('schema', 'E_INTEGER', '/totals/forwards', '1e3 is not an integer in the sense of the format'),
);
add(
  'invalid/unsafe-integer.json',
  pretty(T(storeAll, { totals: { forwards: 2 ** 53, backwards: 4, peakSlots: 9 } })),
  invalid('schema', 'E_INTEGER', '/totals/forwards', 'integers are at most 2^53 - 1'),
);
add(
  'valid/numbers-with-fraction.json',
  swap(
    swap(swap(pretty(storeAll), '"alpha": 2', '"alpha": 2.0'), '"slots": 9', '"slots": 0.9e1'),
    '"backwardCost": 2',
    '"backwardCost": 200e-2',
  ),
  valid('real numbers may be written any way; they mean their value', 'valid/store-all.json'),
);
add(
  'invalid/boolean-steps.json',
  pretty(T(storeAll, { steps: true })),
  invalid('schema', 'E_TYPE', '/steps', 'a boolean is not a number'),
);
add(
  'invalid/null-budget.json',
  pretty(T(storeAll, { budget: null })),
  invalid('schema', 'E_TYPE', '/budget', 'null is not an object'),
);
add(
  'invalid/unknown-keys-sorted.json',
  swap(pretty(storeAll), '"steps": 4,', '"steps": 4,\n  "9": 0,\n  "10": 0,'),
  invalid('schema', 'E_UNKNOWN_KEY', '/10', 'unknown keys in UTF-16 code unit order: "10" before "9"'),
);
add(
  'invalid/unknown-before-properties.json',
  pretty(T(storeAll, { zzz: 1, steps: 'four' })),
  invalid('schema', 'E_UNKNOWN_KEY', '/zzz', "an object's unknown keys come before its properties"),
);
add(
  'invalid/properties-in-order.json',
  pretty(T(storeAll, { instructions: 5, costModel: { alpha: 0, forwardCost: 1, backwardCost: 2 } })),
  invalid(
    'schema',
    'E_RANGE',
    '/costModel/alpha',
    'properties in the order of the table: costModel before instructions',
  ),
);
add(
  'invalid/depth-first.json',
  pretty(T(storeAll, { costModel: { alpha: 2, forwardCost: 0, backwardCost: 2 }, budget: {} })),
  invalid('schema', 'E_RANGE', '/costModel/forwardCost', 'depth first: all of costModel before budget'),
);
add(
  'invalid/unknown-key-in-costmodel.json',
  pretty(T(storeAll, { costModel: { alpha: 2, forwardCost: 1, backwardCost: 2, beta: 1 } })),
  invalid('schema', 'E_UNKNOWN_KEY', '/costModel/beta', 'unknown keys at every level'),
);
add(
  'invalid/unknown-key-in-instruction.json',
  pretty(T(storeAll, { instructions: [{ ...storeAll.instructions[0], note: 1 }, storeAll.instructions[1]] })),
  invalid('schema', 'E_UNKNOWN_KEY', '/instructions/0/note', 'unknown keys in instructions'),
);
add(
  'invalid/constructor-key.json',
  pretty(T(storeAll, { constructor: 1 })),
  invalid('schema', 'E_UNKNOWN_KEY', '/constructor', '"constructor" is an ordinary unknown key'),
);
const newer = (v: Record<string, unknown>): Record<string, unknown> => ({ ...v, version: '1.3' });
add(
  'valid/proto-key-newer-minor.json',
  swap(
    pretty(newer(storeAll as unknown as Record<string, unknown>)),
    '"steps": 4,',
    '"__proto__": {"x": 1},\n  "steps": 4,',
  ),
  valid('"__proto__" is an ordinary unknown key: ignored under a newer minor, and hashed'),
);
add(
  'valid/future-minor-everywhere.json',
  pretty(
    newer({
      ...storeAll,
      costModel: { ...storeAll.costModel, memoryCost: 3 },
      instructions: [{ ...storeAll.instructions[0], hint: 'fast' }, storeAll.instructions[1]],
      zeta: [1.0, { b: null }],
    }),
  ),
  valid('a newer minor may add keys at any level; all of them are part of the canonical form'),
);
add(
  'invalid/future-key-own-minor.json',
  pretty({ ...storeAll, version: '1.0', zeta: 1 }),
  invalid('schema', 'E_UNKNOWN_KEY', '/zeta', 'under its own minor a reader refuses unknown keys'),
);
add(
  'invalid/missing-op.json',
  pretty(T(storeAll, { instructions: [{ from: 0, to: 4 }, storeAll.instructions[1]] })),
  invalid('schema', 'E_REQUIRED', '/instructions/0/op', 'an instruction without op'),
);
add(
  'invalid/op-not-string.json',
  pretty(T(storeAll, { instructions: [{ op: 1, from: 0, to: 4 }] })),
  invalid('schema', 'E_ENUM', '/instructions/0/op', 'op must be one of the three names'),
);
add(
  'invalid/instruction-not-object.json',
  pretty(T(storeAll, { instructions: [[0, 4]] })),
  invalid('schema', 'E_TYPE', '/instructions/0', 'an instruction is an object'),
);
add(
  'invalid/instructions-not-array.json',
  pretty(T(storeAll, { instructions: {} })),
  invalid('schema', 'E_TYPE', '/instructions', 'the body is an array'),
);
add(
  'invalid/bad-store.json',
  pretty(T(storeAll, { instructions: [{ op: 'forward', from: 0, to: 4, store: 'both' }] })),
  invalid('schema', 'E_ENUM', '/instructions/0/store', 'store is "hidden" or "internal"'),
);
add(
  'invalid/bad-free-kind.json',
  pretty(T(storeAll, { instructions: [{ op: 'free', kind: 'Hidden', at: 0 }] })),
  invalid('schema', 'E_ENUM', '/instructions/0/kind', 'kind is "hidden" or "internal", case-sensitive'),
);
add(
  'invalid/stride-zero-without-store.json',
  pretty(T(storeAll, { instructions: [{ op: 'forward', from: 0, to: 4, stride: 0 }] })),
  invalid(
    'schema',
    'E_RANGE',
    '/instructions/0/stride',
    "an object's properties before the stride-needs-store rule",
  ),
);
add(
  'invalid/strategy-empty.json',
  pretty(T(storeAll, { strategy: '' })),
  invalid('schema', 'E_RANGE', '/strategy', 'strategy has 1..128 characters'),
);
add(
  'invalid/strategy-too-long.json',
  pretty(T(storeAll, { strategy: 'x'.repeat(129) })),
  invalid('schema', 'E_RANGE', '/strategy', 'strategy has 1..128 characters'),
);
add(
  'invalid/strategy-emoji.json',
  pretty(T(storeAll, { strategy: '\u{1F600}'.repeat(100) })),
  invalid(
    'schema',
    'E_FORMAT',
    '/strategy',
    'length counts code points (100, in range), then the pattern fails',
  ),
);
add(
  'invalid/forward-cost-zero.json',
  pretty(T(storeAll, { costModel: { alpha: 2, forwardCost: 0, backwardCost: 2 } })),
  invalid('schema', 'E_RANGE', '/costModel/forwardCost', 'forwardCost > 0'),
);
add(
  'invalid/budget-zero.json',
  pretty(T(storeAll, { budget: { slots: 0 } })),
  invalid('schema', 'E_RANGE', '/budget/slots', 'slots > 0'),
);
add(
  'invalid/negative-byte-budget.json',
  pretty(T(withBytes, { budget: { slots: 2, bytes: -1 } })),
  invalid('schema', 'E_RANGE', '/budget/bytes', 'bytes >= 0'),
);
add(
  'invalid/state-bytes-zero.json',
  pretty(T(withBytes, { stateBytes: { hidden: 0, internal: 25 } })),
  invalid('schema', 'E_RANGE', '/stateBytes/hidden', 'state sizes >= 1'),
);
add(
  'invalid/state-bytes-missing-internal.json',
  pretty(T(withBytes, { stateBytes: { hidden: 10 } })),
  invalid('schema', 'E_REQUIRED', '/stateBytes/internal', 'both state sizes'),
);
add(
  'invalid/meta-not-object.json',
  pretty(T(storeAll, { meta: [1] })),
  invalid('schema', 'E_TYPE', '/meta', 'meta is an object'),
);
const nested = (levels: number): Record<string, unknown> => {
  let v: unknown = 'leaf';
  for (let i = 1; i < levels; i++) v = i % 2 === 0 ? { k: v } : [v];
  return { v };
};
add(
  'valid/meta-depth-16.json',
  pretty(T(storeAll, { meta: nested(16) })),
  valid('meta nested 16 levels, meta itself being 1'),
);
add(
  'invalid/meta-depth-17.json',
  pretty(T(storeAll, { meta: nested(17) })),
  invalid('schema', 'E_LIMIT', '/meta', 'meta nested 17 levels'),
);
// {"s":"..."} is 8 bytes of canonical JSON plus the string's UTF-8 bytes.
add(
  'valid/meta-64k.json',
  pretty(T(storeAll, { meta: { s: 'é'.repeat((65536 - 8) / 2) } })).replace(
    '"s": ',
    '"s":                                                 ',
  ),
  valid('meta of exactly 65536 canonical bytes (the text, with whitespace, is longer)'),
);
add(
  'invalid/meta-64k-plus-one.json',
  pretty(T(storeAll, { meta: { s: `${'é'.repeat((65536 - 8) / 2 - 1)}abc` } })),
  invalid('schema', 'E_LIMIT', '/meta', 'meta of 65537 canonical bytes'),
);
add(
  'valid/meta-escapes-counted.json',
  pretty(T(storeAll, { meta: { s: '\u0001'.repeat(10_000) } })),
  valid('a control character takes 6 canonical bytes (\\u0001): 60008 bytes'),
);
add(
  'invalid/meta-escapes-counted.json',
  pretty(T(storeAll, { meta: { s: '\u0001'.repeat(10_922) } })),
  invalid('schema', 'E_LIMIT', '/meta', 'escapes count as written: 65540 canonical bytes'),
);
add(
  'valid/meta-proto.json',
  swap(
    pretty(T(storeAll, { meta: { constructor: { prototype: 1 } } })),
    '"meta": {',
    '"meta": {\n    "__proto__": {"polluted": true},',
  ),
  valid('meta is free-form: "__proto__", "constructor" and "prototype" are ordinary keys'),
);

// ---------------------------------------------------------------------------------------------------------
// JSON: semantic stage

add(
  'invalid/forward-empty.json',
  pretty(T(storeAll, { instructions: [{ op: 'forward', from: 2, to: 2 }] })),
  invalid('semantic', 'E_RANGE', '/instructions/0/from', 'a forward needs from < to'),
);
add(
  'invalid/stride-too-long.json',
  pretty(T(storeAll, { instructions: [{ op: 'forward', from: 0, to: 2, store: 'hidden', stride: 3 }] })),
  invalid('semantic', 'E_RANGE', '/instructions/0/stride', 'stride <= to - from'),
);
add(
  'invalid/backward-reversed.json',
  pretty(
    T(storeAll, {
      instructions: [
        { op: 'forward', from: 0, to: 4 },
        { op: 'backward', from: 1, to: 4 },
      ],
    }),
  ),
  invalid('semantic', 'E_RANGE', '/instructions/1/from', 'a backward needs to <= from'),
);
add(
  'invalid/backward-past-end.json',
  pretty(T(storeAll, { instructions: [{ op: 'backward', from: 5, to: 1 }] })),
  invalid('semantic', 'E_RANGE', '/instructions/0/from', 'a backward needs from <= steps'),
);
add(
  'invalid/free-internal-at-zero.json',
  pretty(T(storeAll, { instructions: [{ op: 'free', kind: 'internal', at: 0 }] })),
  invalid('semantic', 'E_RANGE', '/instructions/0/at', 'internal checkpoints are at 1..steps'),
);
add(
  'invalid/free-past-end.json',
  pretty(T(storeAll, { instructions: [{ op: 'free', kind: 'hidden', at: 5 }] })),
  invalid('semantic', 'E_RANGE', '/instructions/0/at', 'checkpoints are at most at steps'),
);
add(
  'invalid/semantic-in-order.json',
  pretty(
    T(storeAll, {
      instructions: [
        { op: 'forward', from: 0, to: 4 },
        { op: 'backward', from: 9, to: 1 },
        { op: 'free', kind: 'internal', at: 0 },
      ],
    }),
  ),
  invalid('semantic', 'E_RANGE', '/instructions/1/from', 'semantic rules in instruction order'),
);
add(
  'invalid/schema-before-semantic.json',
  pretty(T(storeAll, { instructions: [{ op: 'backward', from: 9, to: 1 }], strategy: '' })),
  invalid('schema', 'E_RANGE', '/strategy', 'every schema rule before any semantic rule'),
);

// ---------------------------------------------------------------------------------------------------------
// JSON: verify stage

add(
  'valid/budget-bytes-without-state-bytes.json',
  pretty(T(hiddenSplit, { budget: { slots: 2, bytes: 0 } })),
  valid('budget.bytes without stateBytes is allowed and not checked'),
);
add(
  'invalid/state-bytes-without-peak-bytes.json',
  pretty(T(withBytes, { totals: { forwards: 8, backwards: 4, peakSlots: 2 } })),
  invalid('verify', 'E_VERIFY_TOTALS', '/totals/peakBytes', 'stateBytes needs totals.peakBytes'),
);
add(
  'invalid/wrong-peak-bytes.json',
  pretty(T(withBytes, { totals: { forwards: 8, backwards: 4, peakSlots: 2, peakBytes: 21 } })),
  invalid('verify', 'E_VERIFY_TOTALS', '/totals/peakBytes', 'peakBytes is exact'),
);
add('valid/with-bytes.json', pretty(withBytes), valid('byte budget and byte totals'));
add(
  'valid/state-bytes-without-byte-budget.json',
  pretty(T(withBytes, { budget: { slots: 2 } })),
  valid('stateBytes without budget.bytes: bytes are counted, not bounded'),
);
add(
  'invalid/wrong-backwards.json',
  pretty(T(storeAll, { totals: { forwards: 4, backwards: 3, peakSlots: 9 } })),
  invalid('verify', 'E_VERIFY_TOTALS', '/totals/backwards', 'totals.backwards is T'),
);
add(
  'invalid/budget-below-initial-slot.json',
  pretty(T(hiddenSplit, { budget: { slots: 0.5 } })),
  invalid('verify', 'E_VERIFY_BUDGET', '/budget/slots', 'the initial state takes one slot of every budget'),
);
add(
  'invalid/byte-budget-below-initial.json',
  pretty(T(withBytes, { budget: { slots: 2, bytes: 9 } })),
  invalid(
    'verify',
    'E_VERIFY_BUDGET',
    '/budget/bytes',
    'the initial state takes stateBytes.hidden of the byte budget',
  ),
);
add(
  'invalid/over-byte-budget-on-store.json',
  pretty(T(withBytes, { budget: { slots: 2, bytes: 19 } })),
  invalid(
    'verify',
    'E_VERIFY_BUDGET',
    '/instructions/0',
    'the second hidden checkpoint takes 20 bytes of 19',
  ),
);
const third: Policy = {
  ...storeAll,
  steps: 3,
  costModel: { alpha: 0.1 + 0.2 + 1, forwardCost: 1, backwardCost: 2 },
  budget: { slots: 1 + 3 * (0.1 + 0.2 + 1) },
  totals: { forwards: 3, backwards: 3, peakSlots: 1 + 3 * (0.1 + 0.2 + 1) },
  instructions: [
    { op: 'forward', from: 0, to: 3, store: 'internal', stride: 1 },
    { op: 'backward', from: 3, to: 1 },
  ],
};
add('valid/real-alpha.json', pretty(third), valid('slots are real: 1 + 3 * 1.3000000000000003'));
add(
  'valid/peak-slots-within-tolerance.json',
  pretty(T(third, { totals: { ...third.totals, peakSlots: 4.9 * (1 + 5e-10) + 0 } })),
  valid('claimed peakSlots within 1e-9 relative of the counted one'),
);
add(
  'invalid/peak-slots-beyond-tolerance.json',
  pretty(T(third, { totals: { ...third.totals, peakSlots: 4.9 * (1 + 2e-9) } })),
  invalid('verify', 'E_VERIFY_TOTALS', '/totals/peakSlots', 'claimed peakSlots 2e-9 relative away'),
);
add(
  'valid/budget-within-tolerance.json',
  pretty(T(third, { budget: { slots: 4.9 * (1 - 5e-10) } })),
  valid('a budget 5e-10 relative below the peak still holds it'),
);
add(
  'invalid/budget-beyond-tolerance.json',
  pretty(T(third, { budget: { slots: 4.9 * (1 - 2e-9) } })),
  invalid('verify', 'E_VERIFY_BUDGET', '/instructions/0', 'a budget 2e-9 relative below the peak'),
);
add(
  'invalid/dead-internal.json',
  pretty(
    T(storeAll, {
      instructions: [
        { op: 'forward', from: 0, to: 4 },
        { op: 'backward', from: 4, to: 4 },
        { op: 'forward', from: 0, to: 4, store: 'internal' },
      ],
    }),
  ),
  invalid('verify', 'E_VERIFY_DEAD', '/instructions/2', 'an internal checkpoint beyond next is dead'),
);
add(
  'invalid/backward-after-complete.json',
  pretty(
    T(storeAll, {
      instructions: [...storeAll.instructions, { op: 'backward', from: 1, to: 1 }],
    }),
  ),
  invalid('verify', 'E_VERIFY_ORDER', '/instructions/2/from', 'every backward step runs once'),
);
add(
  'invalid/working-state-gone.json',
  pretty(
    T(storeAll, {
      totals: { forwards: 4, backwards: 4, peakSlots: 1 },
      instructions: [
        { op: 'forward', from: 0, to: 4 },
        { op: 'free', kind: 'hidden', at: 0 },
        { op: 'backward', from: 4, to: 4 },
      ],
    }),
  ),
  invalid('verify', 'E_VERIFY_NO_STATE', '/instructions/2', 'a free clears the working state'),
);
add(
  'invalid/verify-first-failure.json',
  pretty(
    T(storeAll, {
      totals: { forwards: 0, backwards: 0, peakSlots: 0 },
      instructions: [{ op: 'backward', from: 3, to: 1 }],
    }),
  ),
  invalid(
    'verify',
    'E_VERIFY_ORDER',
    '/instructions/0/from',
    'the replay stops at the first failure; totals come last',
  ),
);

// ---------------------------------------------------------------------------------------------------------
// Canonical form and hash

add(
  'valid/explicit-default-stride.json',
  pretty(
    T(hiddenSplit, {
      instructions: [{ ...hiddenSplit.instructions[0], stride: 2 }, ...hiddenSplit.instructions.slice(1)],
    }),
  ),
  valid('stride equal to to - from is the default: same canonical form and hash', 'valid/hidden-split.json'),
);
add(
  'valid/canonical-numbers-and-strings.json',
  pretty(
    T(storeAll, {
      meta: {
        numbers: [
          0,
          'MINUS_ZERO',
          1e21,
          1e-7,
          123456789012345680000,
          0.1,
          1.5e-10,
          -2.5e300,
          5e-324,
          100,
          0.000001,
        ],
        written: 'see the text',
        strings: ['\u0000\u001f"\\/\b\f\n\r\t', '\u007f\u2028\u2029 é 😀', '\ud800', '\udc00x'],
        '\u{1F600}': 'astral key',
        '\uffff': 'BMP key sorts after the astral key (UTF-16 code units)',
        é: 1,
        Z: 1,
        a: 1,
      },
    }),
  )
    .replace('"see the text"', '"\\u0041\\u00e9\\ud83d\\ude00"')
    .replace('"MINUS_ZERO"', '-0'),
  valid('numbers as ECMAScript writes them, strings escaped as JSON.stringify, keys by UTF-16 code units'),
);
add(
  'valid/number-spellings.json',
  pretty(T(storeAll, { meta: { a: 1, b: 1e21, c: 0.5 } }))
    .replace('"a": 1', '"a": 1.000')
    .replace('"b": 1e+21', '"b": 1000000000000000000000')
    .replace('"c": 0.5', '"c": 5E-1'),
  valid('meta numbers mean their value: 1.000, 1000000000000000000000 and 5E-1 are written 1, 1e+21, 0.5'),
);

// ---------------------------------------------------------------------------------------------------------
// Binary

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const zig = (n: number): number[] => varint(n >= 0 ? 2 * n : -2 * n - 1);
function concat(...parts: (ArrayLike<number> | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) out.push(...Array.from(p));
  return Uint8Array.from(out);
}
function sealed(content: Uint8Array): Uint8Array {
  const c = crc32(content);
  return concat(content, [c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24]);
}
const MAGIC = [0x52, 0x57, 0x50, 0x4c];
function headerText(p: Policy): string {
  const { instructions, ...rest } = p;
  void instructions;
  return encodeJson({ ...rest, instructions: [] } as Policy).replace(',"instructions":[]', '');
}
function frame(header: string, body: number[], count: number[], major = 1, minor = 0): Uint8Array {
  const h = utf8(header);
  return sealed(concat(MAGIC, [major, minor], varint(h.length), h, count, body));
}
// store-all's body: forward 0..4 internal stride 1 (0x04), backward 4..1 (0x05).
const storeAllBody = [0x04, ...zig(0), ...varint(4), ...varint(1), 0x05, ...zig(0), ...varint(3)];
const saHeader = headerText(storeAll);
const good = encodeBinary(storeAll);
if (Buffer.compare(good, frame(saHeader, storeAllBody, [2])) !== 0) throw new Error('frame() disagrees');

add('valid/store-all.rwpl', good, valid('the binary encoding', 'valid/store-all.json'));
add(
  'valid/explicit-default-stride.rwpl',
  encodeBinary(
    T(hiddenSplit, {
      instructions: [{ ...hiddenSplit.instructions[0], stride: 2 }, ...hiddenSplit.instructions.slice(1)],
    }) as unknown as Policy,
  ),
  valid('opcode 0x03 with stride = to - from means opcode 0x01', 'valid/hidden-split.json'),
);
add(
  'valid/with-bytes.rwpl',
  encodeBinary(withBytes),
  valid('binary with byte sizes', 'valid/with-bytes.json'),
);
add(
  'valid/future-minor.rwpl',
  encodeBinary(decodeJson(readFileSync(`${dir}valid/future-minor.json`))),
  valid(
    'minor byte 7 with the header version "1.7"; the unknown header key is kept',
    'valid/future-minor.json',
  ),
);
{
  // Positions far apart: multi-byte varints and negative deltas.
  const far: Policy = {
    ...storeAll,
    steps: 300,
    budget: { slots: 1000 },
    totals: { forwards: 0, backwards: 300, peakSlots: 0 },
    instructions: [
      { op: 'forward', from: 0, to: 200, store: 'hidden' },
      { op: 'forward', from: 200, to: 300, store: 'internal', stride: 1 },
      { op: 'backward', from: 300, to: 201 },
      { op: 'forward', from: 0, to: 200, store: 'internal', stride: 1 },
      { op: 'backward', from: 200, to: 1 },
    ],
  };
  const counted = verify(far, { skipTotals: true });
  if (!counted.ok) throw new Error(JSON.stringify(counted.issue));
  const fixed = {
    ...far,
    totals: { ...far.totals, forwards: counted.counted.forwards, peakSlots: counted.counted.peakSlots },
  };
  add('valid/far-positions.json', pretty(fixed), valid('positions far apart'));
  add(
    'valid/far-positions.rwpl',
    encodeBinary(fixed),
    valid('multi-byte varints and negative deltas', 'valid/far-positions.json'),
  );
}
add(
  'invalid/bin-magic.rwpl',
  concat([0x52, 0x57, 0x50, 0x4d], good.subarray(4)),
  invalid('decode', 'E_BINARY_MAGIC', '', 'a wrong magic'),
);
add(
  'invalid/bin-json-text.rwpl',
  utf8(pretty(storeAll)),
  invalid('decode', 'E_BINARY_MAGIC', '', 'JSON text read as binary: no magic'),
);
add(
  'invalid/bin-short-magic.rwpl',
  Uint8Array.from([0x52, 0x57]),
  invalid('decode', 'E_BINARY_TRUNCATED', '', 'input ends inside the magic'),
);
add('invalid/bin-empty.rwpl', new Uint8Array(), invalid('decode', 'E_BINARY_TRUNCATED', '', 'empty input'));
add(
  'invalid/bin-major-2.rwpl',
  frame(saHeader.replace('"1.0"', '"2.0"'), storeAllBody, [2], 2),
  invalid('decode', 'E_VERSION', '/version', 'major byte 2'),
);
add(
  'invalid/bin-no-minor.rwpl',
  concat(MAGIC, [1]),
  invalid('decode', 'E_BINARY_TRUNCATED', '/version', 'input ends before the minor byte'),
);
add(
  'invalid/bin-too-short.rwpl',
  concat(MAGIC, [1, 0, 0, 0, 0]),
  invalid('decode', 'E_BINARY_TRUNCATED', '', 'shorter than the 12 bytes of the smallest frame'),
);
{
  const flipped = good.slice();
  flipped[20]! ^= 0x01;
  add(
    'invalid/bin-checksum.rwpl',
    flipped,
    invalid('decode', 'E_BINARY_CHECKSUM', '', 'one flipped bit in the header'),
  );
}
add(
  'invalid/bin-cut.rwpl',
  good.subarray(0, good.length - 3),
  invalid(
    'decode',
    'E_BINARY_CHECKSUM',
    '',
    'cut short: the last four bytes are no checksum (checksum first)',
  ),
);
add(
  'invalid/bin-extended.rwpl',
  concat(good, [0]),
  invalid(
    'decode',
    'E_BINARY_CHECKSUM',
    '',
    'a byte after the checksum: the last four bytes are no checksum',
  ),
);
add(
  'invalid/bin-count-one-low.rwpl',
  frame(saHeader, storeAllBody, [1]),
  invalid(
    'decode',
    'E_BINARY_TRAILING',
    '',
    'count one too low: the last instruction lies between the body and the checksum',
  ),
);
add(
  'invalid/bin-count-one-high.rwpl',
  frame(saHeader, storeAllBody, [3]),
  invalid(
    'decode',
    'E_BINARY_TRUNCATED',
    '/instructions/2',
    'count one too high: the third instruction runs into the checksum',
  ),
);
add(
  'invalid/bin-count-cannot-fit.rwpl',
  frame(saHeader, storeAllBody, [5]),
  invalid(
    'decode',
    'E_BINARY_TRUNCATED',
    '/instructions',
    'more instructions than bytes / 2 before the checksum',
  ),
);
add(
  'invalid/bin-count-over-limit.rwpl',
  frame(saHeader, storeAllBody, varint(10_000_001)),
  invalid(
    'decode',
    'E_LIMIT',
    '/instructions',
    'more than 10,000,000 instructions, refused before reading them',
  ),
);
add(
  'invalid/bin-header-length.rwpl',
  sealed(concat(MAGIC, [1, 0], varint(10_000), utf8('{}'), [0])),
  invalid('decode', 'E_BINARY_TRUNCATED', '/header', 'a header longer than the input'),
);
add(
  'invalid/bin-opcode.rwpl',
  frame(saHeader, [...storeAllBody.slice(0, 4), 0x08, 0x00, 0x06], [2]),
  invalid('decode', 'E_BINARY_OPCODE', '/instructions/1', 'opcode 0x08'),
);
add(
  'invalid/bin-varint-non-minimal.rwpl',
  frame(saHeader, [0x04, 0x80, 0x00, ...storeAllBody.slice(2)], [2]),
  invalid(
    'decode',
    'E_BINARY_VARINT',
    '/instructions/0',
    'a varint with a redundant zero byte (0x80 0x00 for 0)',
  ),
);
add(
  'invalid/bin-varint-too-long.rwpl',
  frame(saHeader, [0x05, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00], [1]),
  invalid('decode', 'E_BINARY_VARINT', '/instructions/0', 'a varint of more than 8 bytes'),
);
add(
  'invalid/bin-varint-too-big.rwpl',
  frame(saHeader, [0x06, ...varint(2n ** 53n)], [1]),
  invalid('decode', 'E_BINARY_VARINT', '/instructions/0', 'a varint above 2^53 - 1'),
);
add(
  'invalid/bin-position-overflow.rwpl',
  frame(saHeader, [0x00, ...zig(2 ** 52 - 1), ...varint(2 ** 53 - 1)], [1]),
  invalid('decode', 'E_BINARY_VARINT', '/instructions/0', 'a decoded position beyond 2^53 - 1'),
);
add(
  'invalid/bin-negative-position.rwpl',
  frame(saHeader, [0x06, ...zig(-3)], [1]),
  invalid('schema', 'E_RANGE', '/instructions/0/at', 'a negative decoded position is validated like JSON'),
);
add(
  'invalid/bin-minor-mismatch.rwpl',
  frame(saHeader, storeAllBody, [2], 1, 1),
  invalid('decode', 'E_VERSION', '/version', 'minor byte 1 but header version "1.0"'),
);
add(
  'invalid/bin-minor-over-255.rwpl',
  frame(saHeader.replace('"1.0"', '"1.256"'), storeAllBody, [2], 1, 0),
  invalid(
    'decode',
    'E_VERSION',
    '/version',
    'a minor above 255 has no binary encoding: byte 0 differs from 256',
  ),
);
add(
  'invalid/bin-header-not-json.rwpl',
  frame('{"format":', [], [0]),
  invalid('decode', 'E_JSON', '/header', 'the header is not JSON'),
);
add(
  'invalid/bin-header-not-utf8.rwpl',
  sealed(concat(MAGIC, [1, 0], [3], [0x7b, 0xc0, 0x7d], [0])),
  invalid('decode', 'E_JSON', '/header', 'the header is not UTF-8'),
);
add(
  'invalid/bin-header-not-object.rwpl',
  frame('[]', [], [0]),
  invalid('decode', 'E_TYPE', '/header', 'the header is an object'),
);
add(
  'invalid/bin-header-instructions.rwpl',
  frame(saHeader.replace('{', '{"instructions":[],'), storeAllBody, [2]),
  invalid('decode', 'E_FORMAT', '/header/instructions', 'the header holds no instructions'),
);
add(
  'invalid/bin-header-integer-spelling.rwpl',
  frame(saHeader.replace('"steps":4', '"steps":4.0'), storeAllBody, [2]),
  invalid('schema', 'E_INTEGER', '/steps', 'the header is JSON text: integers are spelt as integers'),
);
add(
  'invalid/bin-past-end.rwpl',
  frame(saHeader, [0x00, ...zig(0), ...varint(5)], [1]),
  invalid('semantic', 'E_RANGE', '/instructions/0/to', 'a decoded forward beyond steps'),
);
add(
  'invalid/bin-verify.rwpl',
  frame(saHeader, [0x00, ...zig(0), ...varint(4), 0x05, ...zig(0), ...varint(3)], [2]),
  invalid('verify', 'E_VERIFY_NO_STATE', '/instructions/1', 'a decoded policy is replayed like a JSON one'),
);
add(
  'invalid/bin-header-too-deep.rwpl',
  frame(
    saHeader.replace('"steps":4', `"deep":${'['.repeat(300)}${']'.repeat(300)},"steps":4`),
    storeAllBody,
    [2],
  ),
  invalid('decode', 'E_LIMIT', '/header', 'the header is JSON text: nesting is bounded'),
);
add(
  'invalid/bin-header-overflow.rwpl',
  frame(saHeader.replace('"alpha":2', '"alpha":1e999'), storeAllBody, [2]),
  invalid('decode', 'E_RANGE', '/costModel/alpha', 'an infinite number in the header keeps its own path'),
);
add(
  'valid/bin-header-bom.rwpl',
  frame(`\ufeff${saHeader}`, storeAllBody, [2]),
  valid('a byte-order mark before the header is ignored, as in JSON text', 'valid/store-all.json'),
);
add(
  'invalid/bin-magic-before-size.rwpl',
  concat([0x00], good),
  invalid('decode', 'E_BINARY_MAGIC', '', 'magic first'),
);

// ---------------------------------------------------------------------------------------------------------
// Existing hand-written files: their verdicts, stages renamed.

const stageOf: Record<string, Stage> = { parse: 'decode', validate: 'schema', verify: 'verify' };
const old = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as Record<string, unknown>;
const oldCases = (old['cases'] ?? old) as Record<string, Record<string, unknown>>;
for (const kind of ['valid', 'invalid']) {
  for (const name of readdirSync(`${dir}${kind}`)) {
    const file = `${kind}/${name}`;
    if (cases.has(file)) continue;
    const prior = oldCases[file] ?? oldCases[file.replace(/\.json$/, '')];
    if (prior === undefined) throw new Error(`no verdict for ${file}`);
    if (prior['verdict'] === 'valid' || prior['ok'] === true) {
      add(
        file,
        undefined,
        valid(String(prior['about'] ?? 'hand-written'), prior['sameAs'] as string | undefined),
      );
    } else {
      const stage = (stageOf[String(prior['stage'])] ?? prior['stage']) as Stage;
      const semantic =
        stage === 'schema' &&
        prior['code'] === 'E_RANGE' &&
        String(prior['path']).match(/^\/instructions\/\d+\/(to|at|stride)$/);
      add(
        file,
        undefined,
        invalid(
          semantic ? 'semantic' : stage,
          String(prior['code']),
          String(prior['path']),
          String(prior['about'] ?? 'hand-written'),
        ),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Write the files and the manifest.

const manifest: Record<string, unknown> = {};
for (const [file, { bytes, expect }] of [...cases].sort(([a], [b]) => (a < b ? -1 : 1))) {
  if (bytes !== undefined) writeFileSync(`${dir}${file}`, bytes);
  const content = readFileSync(`${dir}${file}`);
  const entry: Record<string, unknown> = { ...expect };
  if (expect.verdict === 'valid') {
    let policy: Policy;
    try {
      policy = file.endsWith('.rwpl') ? decodeBinary(content) : decodeJson(content);
    } catch (e) {
      throw new Error(`${file}: ${e instanceof PolicyError ? e.message : String(e)}`);
    }
    const report = verify(policy);
    if (!report.ok) throw new Error(`${file}: ${report.issue.message}`);
    const { forwards, backwards, peakSlots, peakBytes } = report.counted;
    entry['totals'] =
      peakBytes === undefined
        ? { forwards, backwards, peakSlots }
        : { forwards, backwards, peakSlots, peakBytes };
    entry['hash'] = contentHash(policy);
  }
  manifest[file] = entry;
}
for (const [file, entry] of Object.entries(manifest) as [string, Record<string, unknown>][]) {
  const same = entry['sameAs'];
  if (typeof same === 'string' && (manifest[same] as Record<string, unknown>)['hash'] !== entry['hash']) {
    throw new Error(`${file} should hash like ${same}`);
  }
}
writeFileSync(
  `${dir}expected.json`,
  `${JSON.stringify({ suite: 'rewind-policy-conformance', formatVersion: '1.0', cases: manifest }, null, 2)}\n`,
);
console.log(`${cases.size} cases`);
