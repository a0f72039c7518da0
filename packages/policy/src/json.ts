import { issue, PolicyError, type PolicyErrorCode, pointer } from './errors.js';
import { parseJsonText } from './jsontext.js';
import { sha256Hex } from './sha256.js';
import { FORMAT_MAJOR, FORMAT_MINOR, type Instruction, type Policy } from './types.js';
import { utf8Decode, utf8Encode, utf8Length } from './utf8.js';
import { parsePolicy, type ReadOptions, resolveLimits } from './validate.js';

/** Nesting deeper than this is refused by `canonicalJson` rather than overflowing the call stack. */
const MAX_CANONICAL_DEPTH = 1000;

function fail(code: PolicyErrorCode, path: string, message: string, found?: unknown): never {
  throw new PolicyError([issue(code, 'encode', path, message, found === undefined ? {} : { found })]);
}

function failDecode(code: PolicyErrorCode, path: string, message: string, found?: unknown): never {
  throw new PolicyError([issue(code, 'decode', path, message, found === undefined ? {} : { found })]);
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

/**
 * Whether the policy's version is `1.MINOR` with a minor above this reader's: its unknown keys are part of the
 * policy (docs/policy-format.md section 5) and are written and hashed like known ones.
 */
export function isNewerMinor(policy: { readonly version?: unknown }): boolean {
  const match =
    typeof policy.version === 'string'
      ? /^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$/.exec(policy.version)
      : null;
  return match !== null && Number(match[1]) === FORMAT_MAJOR && Number(match[2]) > FORMAT_MINOR;
}

/** Copy the fields of an object: the known ones, or every one when `all`; absent ones left out. */
function pick(
  source: object | undefined,
  keys: readonly string[],
  all: boolean,
): Record<string, unknown> | undefined {
  if (source === undefined) return undefined;
  const record = source as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of all ? Object.keys(record) : keys) {
    const v = record[key];
    if (v === undefined) continue;
    if (key === '__proto__') {
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    } else out[key] = v;
  }
  return out;
}

const ROOT_KEYS = [
  'format',
  'version',
  'steps',
  'strategy',
  'costModel',
  'budget',
  'stateBytes',
  'totals',
  'meta',
] as const;

/**
 * The policy's fields other than `instructions`, as a fresh object holding only the keys of the format (and,
 * for a newer minor version, every other key). This object's canonical JSON is the header of the binary
 * encoding.
 */
export function policyHeader(policy: Policy): Record<string, unknown> {
  const all = isNewerMinor(policy);
  const header = pick(policy, all ? [] : ROOT_KEYS, all) ?? {};
  delete header['instructions'];
  const sub = (key: string, keys: readonly string[]): void => {
    const v = header[key];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) header[key] = pick(v, keys, all);
  };
  sub('costModel', ['alpha', 'forwardCost', 'backwardCost']);
  sub('budget', ['slots', 'bytes']);
  sub('totals', ['forwards', 'backwards', 'peakSlots', 'peakBytes']);
  sub('stateBytes', ['hidden', 'internal']);
  return header;
}

/** Keys an instruction of version 1.0 may hold. */
const INSTRUCTION_KEYS: Readonly<Record<string, readonly string[]>> = {
  forward: ['op', 'from', 'to', 'store', 'stride'],
  backward: ['op', 'from', 'to'],
  free: ['op', 'kind', 'at'],
};

/** Keys of an instruction beyond version 1.0's (only a newer minor version has any). */
export function extraInstructionKeys(ins: Instruction): string[] {
  const known = INSTRUCTION_KEYS[ins.op] ?? [];
  return Object.keys(ins).filter(
    (k) => !known.includes(k) && (ins as unknown as Record<string, unknown>)[k] !== undefined,
  );
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

/**
 * Canonical JSON of one instruction (keys written in sorted order directly: no per-object sort). A stride equal
 * to `to - from` is the default and is left out, so that both spellings have one canonical form.
 */
function instructionJson(ins: Instruction, i: number, all: boolean): string {
  const path = `/instructions/${i}`;
  if (all && extraInstructionKeys(ins).length > 0) {
    const copy = pick(ins, [], true) ?? {};
    if (
      copy['op'] === 'forward' &&
      copy['store'] !== undefined &&
      copy['stride'] === Number(copy['to']) - Number(copy['from'])
    ) {
      delete copy['stride'];
    }
    const out: string[] = [];
    writeValue(copy, out, path, 1, new Set());
    return out.join('');
  }
  switch (ins.op) {
    case 'forward': {
      // from < op < store < stride < to
      let s = `{"from":${num(ins.from, `${path}/from`)},"op":"forward"`;
      if (ins.store !== undefined) s += `,"store":${kindJson(ins.store, `${path}/store`)}`;
      const defaultStride = ins.store !== undefined && ins.stride === ins.to - ins.from;
      if (ins.stride !== undefined && !defaultStride) s += `,"stride":${num(ins.stride, `${path}/stride`)}`;
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
 * The canonical JSON text of a policy (docs/policy-format.md section 3.3): RFC 8785 canonical form of the
 * policy's fields, absent optional fields omitted, a stride equal to its default left out. Policies that mean
 * the same give equal text. Only the fields of the format are written (for a policy of a newer minor version,
 * every field); the policy is not validated.
 *
 * @throws PolicyError when a value has no JSON representation (e.g. a non-finite number: `E_RANGE`).
 */
export function encodeJson(policy: Policy): string {
  const header = policyHeader(policy);
  const instructions = policy.instructions;
  if (!Array.isArray(instructions)) fail('E_TYPE', '/instructions', 'expected an array', instructions);
  const body = new Array<string>(instructions.length);
  const all = isNewerMinor(policy);
  for (let i = 0; i < instructions.length; i++) body[i] = instructionJson(instructions[i]!, i, all);
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
  const { maxBytes, maxDepth } = resolveLimits(options);
  let text: string;
  if (typeof input === 'string') {
    // UTF-8 takes at least one byte per UTF-16 code unit and at most three.
    const tooBig = input.length > maxBytes || (input.length * 3 > maxBytes && utf8Length(input) > maxBytes);
    if (tooBig) failDecode('E_LIMIT', '', `the JSON text is larger than the limit of ${maxBytes} bytes`);
    text = input;
  } else if (input instanceof Uint8Array) {
    if (input.length > maxBytes) {
      failDecode(
        'E_LIMIT',
        '',
        `the JSON text is ${input.length} bytes, over the limit of ${maxBytes} bytes`,
      );
    }
    try {
      text = utf8Decode(input);
    } catch (error) {
      return failDecode(
        'E_JSON',
        '',
        error instanceof Error ? error.message : 'the input is not well-formed UTF-8',
      );
    }
  } else {
    return failDecode('E_TYPE', '', 'expected a string or a Uint8Array', input);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return parsePolicy(parseJsonText(text, maxDepth), options);
}
