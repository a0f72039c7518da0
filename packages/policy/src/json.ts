import { issue, PolicyError, type PolicyErrorCode, pointer } from './errors.js';
import { sha256Hex } from './sha256.js';
import type { Instruction, Policy } from './types.js';
import { utf8Decode, utf8Encode, utf8Length } from './utf8.js';
import { parsePolicy, type ReadOptions, resolveLimits } from './validate.js';

/** Nesting deeper than this is refused by `canonicalJson` rather than overflowing the call stack. */
const MAX_CANONICAL_DEPTH = 1000;

function fail(code: PolicyErrorCode, path: string, message: string, found?: unknown): never {
  throw new PolicyError([issue(code, path, message, found === undefined ? {} : { found })]);
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** ES `Number::toString` of a finite number, which is what RFC 8785 prescribes (`-0` becomes `0`). */
function canonicalNumber(value: number, path: string): string {
  if (!Number.isFinite(value)) fail('E_RANGE', path, 'numbers must be finite', value);
  return String(value);
}

function writeValue(
  value: unknown,
  out: string[],
  path: string,
  depth: number,
  ancestors: Set<object>,
): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      out.push(canonicalNumber(value, path));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'object':
      break;
    default:
      fail('E_TYPE', path, `a value of type ${typeof value} has no JSON representation`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (depth >= MAX_CANONICAL_DEPTH) fail('E_LIMIT', path, `nesting deeper than ${MAX_CANONICAL_DEPTH}`);
  if (ancestors.has(value)) fail('E_TYPE', path, 'a cyclic structure has no JSON representation');
  ancestors.add(value);
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      writeValue(value[i], out, pointer(path, i), depth + 1, ancestors);
    }
    out.push(']');
  } else {
    if (!isPlainObject(value))
      fail('E_TYPE', path, 'only plain objects and arrays have a JSON representation');
    const record = value as Record<string, unknown>;
    // Default sort compares UTF-16 code units, as RFC 8785 (3.2.3) requires.
    const keys = Object.keys(record).sort();
    out.push('{');
    let first = true;
    for (const key of keys) {
      const v = record[key];
      if (v === undefined) continue; // an absent optional field
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(key), ':');
      writeValue(v, out, pointer(path, key), depth + 1, ancestors);
    }
    out.push('}');
  }
  ancestors.delete(value);
}

/**
 * Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) of a JSON value: object keys sorted by UTF-16
 * code units, no whitespace, numbers as ECMAScript writes them, strings escaped as `JSON.stringify` does.
 * Object properties whose value is `undefined` are left out, like absent optional fields.
 *
 * @throws PolicyError `E_RANGE` for a non-finite number, `E_TYPE` for a value JSON cannot represent
 * (`undefined` in an array, a function, a bigint, a class instance, a cycle), `E_LIMIT` beyond 1000 levels.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  writeValue(value, out, '', 0, new Set());
  return out.join('');
}

/** Copy the known fields of an object, in any order, leaving out absent ones. */
function pick(source: object | undefined, keys: readonly string[]): Record<string, unknown> | undefined {
  if (source === undefined) return undefined;
  const record = source as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const v = record[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/**
 * The policy's fields other than `instructions`, as a fresh object holding only the keys of the format.
 * This object's canonical JSON is the header of the binary encoding.
 */
export function policyHeader(policy: Policy): Record<string, unknown> {
  const header: Record<string, unknown> = {
    format: policy.format,
    version: policy.version,
    steps: policy.steps,
    strategy: policy.strategy,
    costModel: pick(policy.costModel, ['alpha', 'forwardCost', 'backwardCost']),
    budget: pick(policy.budget, ['slots', 'bytes']),
    totals: pick(policy.totals, ['forwards', 'backwards', 'peakSlots', 'peakBytes']),
  };
  if (policy.stateBytes !== undefined) header['stateBytes'] = pick(policy.stateBytes, ['hidden', 'internal']);
  if (policy.meta !== undefined) header['meta'] = policy.meta;
  return header;
}

function num(value: unknown, path: string): string {
  if (typeof value !== 'number') fail('E_TYPE', path, 'expected a number', value);
  return canonicalNumber(value, path);
}

function kindJson(value: unknown, path: string): string {
  if (value !== 'hidden' && value !== 'internal') {
    fail('E_ENUM', path, 'expected "hidden" or "internal"', value);
  }
  return value === 'hidden' ? '"hidden"' : '"internal"';
}

/** Canonical JSON of one instruction (keys written in sorted order directly: no per-object sort). */
function instructionJson(ins: Instruction, i: number): string {
  const path = `/instructions/${i}`;
  switch (ins.op) {
    case 'forward': {
      // from < op < store < stride < to
      let s = `{"from":${num(ins.from, `${path}/from`)},"op":"forward"`;
      if (ins.store !== undefined) s += `,"store":${kindJson(ins.store, `${path}/store`)}`;
      if (ins.stride !== undefined) s += `,"stride":${num(ins.stride, `${path}/stride`)}`;
      return `${s},"to":${num(ins.to, `${path}/to`)}}`;
    }
    case 'backward':
      return `{"from":${num(ins.from, `${path}/from`)},"op":"backward","to":${num(ins.to, `${path}/to`)}}`;
    case 'free':
      return `{"at":${num(ins.at, `${path}/at`)},"kind":${kindJson(ins.kind, `${path}/kind`)},"op":"free"}`;
    default:
      return fail(
        'E_ENUM',
        `${path}/op`,
        'expected "forward", "backward" or "free"',
        (ins as { op?: unknown }).op,
      );
  }
}

/**
 * The canonical JSON text of a policy (docs/policy-format.md section 3): RFC 8785 canonical form of the
 * policy's fields, absent optional fields omitted. Equal policies give equal text. Only the fields of the
 * format are written; the policy is not validated.
 *
 * @throws PolicyError when a value has no JSON representation (e.g. a non-finite number: `E_RANGE`).
 */
export function encodeJson(policy: Policy): string {
  const header = policyHeader(policy);
  const instructions = policy.instructions;
  if (!Array.isArray(instructions)) fail('E_TYPE', '/instructions', 'expected an array', instructions);
  const body = new Array<string>(instructions.length);
  for (let i = 0; i < instructions.length; i++) body[i] = instructionJson(instructions[i]!, i);
  const instructionsJson = `[${body.join(',')}]`;

  const keys = [...Object.keys(header), 'instructions'].sort();
  const out: string[] = ['{'];
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    if (k > 0) out.push(',');
    out.push(JSON.stringify(key), ':');
    if (key === 'instructions') out.push(instructionsJson);
    else writeValue(header[key], out, pointer('', key), 1, new Set());
  }
  out.push('}');
  return out.join('');
}

/** The UTF-8 bytes of `encodeJson(policy)`: the canonical JSON bytes that `contentHash` hashes. */
export function encodeJsonBytes(policy: Policy): Uint8Array {
  return utf8Encode(encodeJson(policy));
}

/**
 * The content hash of a policy: `"sha256:"` followed by the lowercase hex SHA-256 of its canonical JSON's
 * UTF-8 bytes. Equal policies have equal hashes, whatever their key order.
 */
export function contentHash(policy: Policy): string {
  return `sha256:${sha256Hex(encodeJsonBytes(policy))}`;
}

/**
 * Parse untrusted JSON text (a string, or UTF-8 bytes) into a validated policy.
 *
 * The size limit (`limits.maxBytes`, in UTF-8 bytes) is checked before parsing; a leading byte-order mark is
 * ignored. Then the value is validated as `parsePolicy` does.
 *
 * @throws PolicyError `E_LIMIT` for oversized input, `E_JSON` for malformed JSON or UTF-8, and any code of
 * `parsePolicy`.
 */
export function decodeJson(input: string | Uint8Array, options?: ReadOptions): Policy {
  const { maxBytes } = resolveLimits(options);
  let text: string;
  if (typeof input === 'string') {
    // UTF-8 takes at least one byte per UTF-16 code unit and at most three.
    const tooBig = input.length > maxBytes || (input.length * 3 > maxBytes && utf8Length(input) > maxBytes);
    if (tooBig) fail('E_LIMIT', '', `the JSON text is larger than the limit of ${maxBytes} bytes`);
    text = input;
  } else if (input instanceof Uint8Array) {
    if (input.length > maxBytes) {
      fail('E_LIMIT', '', `the JSON text is ${input.length} bytes, over the limit of ${maxBytes} bytes`);
    }
    try {
      text = utf8Decode(input);
    } catch (error) {
      return fail(
        'E_JSON',
        '',
        error instanceof Error ? error.message : 'the input is not well-formed UTF-8',
      );
    }
  } else {
    return fail('E_TYPE', '', 'expected a string or a Uint8Array', input);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return fail('E_JSON', '', `the input is not valid JSON: ${detail}`);
  }
  return parsePolicy(value, options);
}
