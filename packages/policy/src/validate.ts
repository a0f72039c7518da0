import {
  describeValue,
  issue,
  PolicyError,
  type PolicyErrorCode,
  type PolicyIssue,
  pointer,
} from './errors.js';
import { canonicalJson } from './json.js';
import { WrittenNumber } from './jsontext.js';
import { instructionNode, type ObjectNode, type PropertySpec, policyNode, type SpecNode } from './spec.js';
import { FORMAT_MAJOR, FORMAT_MINOR, FORMAT_NAME, type Instruction, type Policy } from './types.js';
import { utf8Length } from './utf8.js';

/** Bounds on untrusted input. Every field is optional; absent fields take `DEFAULT_LIMITS`. */
export interface ReadLimits {
  /** Largest accepted input, in bytes (JSON text or binary). */
  readonly maxBytes: number;
  /** Largest accepted `steps`. */
  readonly maxSteps: number;
  /** Largest accepted number of instructions. */
  readonly maxInstructions: number;
  /** Largest accepted `meta`: UTF-8 bytes of its canonical JSON. */
  readonly maxMetaBytes: number;
  /** Deepest accepted nesting of `meta` (the `meta` object itself is level 1; scalars add none). */
  readonly maxMetaDepth: number;
  /** Deepest accepted nesting of JSON text (the outermost object is level 1). */
  readonly maxDepth: number;
}

/** Default limits for untrusted input (docs/policy-format.md section 6). */
export const DEFAULT_LIMITS: ReadLimits = {
  maxBytes: 256 * 1024 * 1024,
  maxSteps: 10_000_000,
  maxInstructions: 10_000_000,
  maxMetaBytes: 64 * 1024,
  maxMetaDepth: 16,
  maxDepth: 256,
};

/** Options of the reading entry points. */
export interface ReadOptions {
  readonly limits?: Partial<ReadLimits>;
}

/** The outcome of `validate`. */
export type ValidationResult =
  | {
      readonly ok: true;
      readonly policy: Policy;
      /** JSON paths of keys ignored because the policy's minor version is newer than this reader's. */
      readonly ignoredKeys: readonly string[];
    }
  | { readonly ok: false; readonly issues: readonly [PolicyIssue, ...PolicyIssue[]] };

/** Resolve partial limits against the defaults. */
export function resolveLimits(options: ReadOptions | undefined): ReadLimits {
  return { ...DEFAULT_LIMITS, ...options?.limits };
}

/** Issues collected before validation gives up: enough to be useful, bounded for hostile input. */
const MAX_ISSUES = 50;

class Stop extends Error {}

const entryCache = new WeakMap<ObjectNode, readonly (readonly [string, PropertySpec])[]>();
/** The properties of an object node, computed once per node (the walk visits millions of instructions). */
function entriesOf(node: ObjectNode): readonly (readonly [string, PropertySpec])[] {
  let entries = entryCache.get(node);
  if (entries === undefined) {
    entries = Object.entries(node.properties);
    entryCache.set(node, entries);
  }
  return entries;
}

type Plain = Record<string, unknown>;

function isPlainObject(value: unknown): value is Plain {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof WrittenNumber)
  );
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof WrittenNumber) return 'number';
  return typeof value;
}

/** Set an own data property, whatever its name (a key named "__proto__" stays a key). */
function define(out: Plain, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  } else out[key] = value;
}

/** Unicode code points of a string (a lone surrogate counts as one). */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

class Walker {
  readonly issues: PolicyIssue[] = [];
  readonly ignoredKeys: string[] = [];
  /** The stage issues are filed under: the structural walk, then the rules across fields. */
  stage: 'schema' | 'semantic' = 'schema';

  constructor(
    private readonly limits: ReadLimits,
    /** Whether unknown keys are tolerated (a newer minor version). */
    private readonly tolerateUnknown: boolean,
  ) {}

  add(
    code: PolicyErrorCode,
    path: string,
    message: string,
    extra: { found?: unknown; expected?: string } = {},
  ): void {
    this.issues.push(issue(code, this.stage, path, message, extra));
    if (this.issues.length >= MAX_ISSUES) throw new Stop();
  }

  walk(node: SpecNode, value: unknown, path: string): unknown {
    switch (node.kind) {
      case 'const':
        if (value !== node.value) {
          this.add('E_ENUM', path, `expected ${JSON.stringify(node.value)}, found ${describeValue(value)}`, {
            found: value,
            expected: JSON.stringify(node.value),
          });
        }
        return node.value;
      case 'string':
        return this.walkString(node, value, path);
      case 'integer':
        return this.walkInteger(value, path, node.minimum);
      case 'number':
        return this.walkNumber(node, value, path);
      case 'object':
        return this.walkObject(node, value, path);
      case 'array':
        return this.walkArray(node.items, value, path);
      case 'union': {
        if (!isPlainObject(value)) {
          this.add('E_TYPE', path, `expected an object, found ${typeName(value)}`, { expected: 'object' });
          return undefined;
        }
        if (!Object.hasOwn(value, node.discriminator)) {
          this.add(
            'E_REQUIRED',
            pointer(path, node.discriminator),
            `missing required key ${JSON.stringify(node.discriminator)}`,
          );
          return undefined;
        }
        const tag = value[node.discriminator];
        const variant =
          typeof tag === 'string' && Object.hasOwn(node.variants, tag) ? node.variants[tag] : undefined;
        if (variant === undefined) {
          const allowed = Object.keys(node.variants);
          this.add(
            'E_ENUM',
            pointer(path, node.discriminator),
            `unknown ${node.discriminator} ${describeValue(tag)}; expected one of ${allowed.join(', ')}`,
            { found: tag, expected: allowed.join(' | ') },
          );
          return undefined;
        }
        return this.walkObject(variant, value, path);
      }
      case 'json':
        return this.walkMeta(value, path);
    }
  }

  private walkString(node: SpecNode & { kind: 'string' }, value: unknown, path: string): unknown {
    if (typeof value !== 'string') {
      this.add('E_TYPE', path, `expected a string, found ${typeName(value)}`, {
        found: value,
        expected: 'string',
      });
      return undefined;
    }
    if (node.enum !== undefined && !node.enum.includes(value)) {
      this.add('E_ENUM', path, `expected one of ${node.enum.join(', ')}, found ${describeValue(value)}`, {
        found: value,
        expected: node.enum.join(' | '),
      });
    } else if (codePoints(value) < node.minLength || codePoints(value) > node.maxLength) {
      this.add(
        'E_RANGE',
        path,
        `expected ${node.minLength} to ${node.maxLength} characters, found ${codePoints(value)}`,
        {
          found: value,
          expected: `${node.minLength}..${node.maxLength} characters`,
        },
      );
    } else if (node.pattern !== undefined && !new RegExp(node.pattern).test(value)) {
      this.add('E_FORMAT', path, `${describeValue(value)} does not match ${node.pattern}`, {
        found: value,
        expected: `a string matching ${node.pattern}`,
      });
    }
    return value;
  }

  walkInteger(value: unknown, path: string, minimum: number): unknown {
    if (value instanceof WrittenNumber) {
      this.add('E_INTEGER', path, `expected an integer, found a number written with a fraction or exponent`, {
        found: value.value,
        expected: 'an integer written without fraction or exponent',
      });
      return undefined;
    }
    if (typeof value !== 'number') {
      this.add('E_TYPE', path, `expected an integer, found ${typeName(value)}`, {
        found: value,
        expected: 'integer',
      });
      return undefined;
    }
    if (!Number.isSafeInteger(value)) {
      this.add('E_INTEGER', path, `expected a safe integer, found ${describeValue(value)}`, {
        found: value,
        expected: `an integer between ${minimum} and ${Number.MAX_SAFE_INTEGER}`,
      });
      return undefined;
    }
    if (value < minimum) {
      this.add('E_RANGE', path, `expected an integer >= ${minimum}, found ${value}`, {
        found: value,
        expected: `>= ${minimum}`,
      });
    }
    return value;
  }

  private walkNumber(node: SpecNode & { kind: 'number' }, raw: unknown, path: string): unknown {
    const value = raw instanceof WrittenNumber ? raw.value : raw;
    if (typeof value !== 'number') {
      this.add('E_TYPE', path, `expected a number, found ${typeName(value)}`, {
        found: value,
        expected: 'number',
      });
      return undefined;
    }
    const bounds: string[] = [];
    if (node.minimum !== undefined) bounds.push(`>= ${node.minimum}`);
    if (node.exclusiveMinimum !== undefined) bounds.push(`> ${node.exclusiveMinimum}`);
    if (node.maximum !== undefined) bounds.push(`<= ${node.maximum}`);
    const expected = ['a finite number', ...bounds].join(' ');
    const bad =
      !Number.isFinite(value) ||
      (node.minimum !== undefined && value < node.minimum) ||
      (node.exclusiveMinimum !== undefined && value <= node.exclusiveMinimum) ||
      (node.maximum !== undefined && value > node.maximum);
    if (bad)
      this.add('E_RANGE', path, `expected ${expected}, found ${describeValue(value)}`, {
        found: value,
        expected,
      });
    return value;
  }

  private walkObject(node: ObjectNode, value: unknown, path: string): unknown {
    if (!isPlainObject(value)) {
      this.add('E_TYPE', path, `expected an object, found ${typeName(value)}`, {
        found: value,
        expected: 'object',
      });
      return undefined;
    }
    const out: Plain = {};
    let unknown: string[] | undefined;
    for (const key of Object.keys(value)) {
      if (Object.hasOwn(node.properties, key)) continue;
      if (unknown === undefined) unknown = [];
      unknown.push(key);
    }
    // Unknown keys in the order of their UTF-16 code units, whatever the order of the text.
    for (const key of unknown?.sort() ?? []) {
      const where = pointer(path, key);
      if (this.tolerateUnknown) {
        // Kept, so that the canonical form and the hash do not depend on the reader's minor version.
        this.ignoredKeys.push(where);
        define(out, key, this.copyJson(value[key], where, 0, this.limits.maxDepth, where));
      } else {
        const known = Object.keys(node.properties).join(', ');
        this.add('E_UNKNOWN_KEY', where, `unknown key ${JSON.stringify(key)}; allowed keys are ${known}`, {
          found: key,
          expected: known,
        });
      }
    }
    for (const [key, spec] of entriesOf(node)) {
      if (!Object.hasOwn(value, key)) {
        if (spec.required)
          this.add('E_REQUIRED', pointer(path, key), `missing required key ${JSON.stringify(key)}`);
        continue;
      }
      const walked = this.walk(spec.node, value[key], pointer(path, key));
      if (walked !== undefined) out[key] = walked;
    }
    for (const [key, needs] of Object.entries(node.dependentRequired ?? {})) {
      if (!Object.hasOwn(value, key)) continue;
      for (const need of needs) {
        if (!Object.hasOwn(value, need)) {
          this.add(
            'E_REQUIRED',
            pointer(path, need),
            `key ${JSON.stringify(key)} requires key ${JSON.stringify(need)}`,
          );
        }
      }
    }
    return out;
  }

  private walkArray(items: SpecNode, value: unknown, path: string): unknown {
    if (!Array.isArray(value)) {
      this.add('E_TYPE', path, `expected an array, found ${typeName(value)}`, {
        found: value,
        expected: 'array',
      });
      return undefined;
    }
    if (value.length > this.limits.maxInstructions) {
      this.add(
        'E_LIMIT',
        path,
        `${value.length} entries exceed the limit of ${this.limits.maxInstructions}`,
        {
          found: value.length,
          expected: `at most ${this.limits.maxInstructions} entries`,
        },
      );
      return undefined;
    }
    const out: unknown[] = new Array(value.length);
    const fast = items === instructionNode && !this.tolerateUnknown;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      out[i] = (fast ? fastInstruction(item) : undefined) ?? this.walk(items, item, pointer(path, i));
    }
    return out;
  }

  /**
   * A copy of a JSON value (numbers unwrapped, keys kept whatever their name). `depth` is the nesting of the
   * enclosing containers; a container deeper than `maxDepth` stops the walk with `E_LIMIT` at `limitPath`.
   */
  private copyJson(v: unknown, at: string, depth: number, maxDepth: number, limitPath: string): unknown {
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
    if (v instanceof WrittenNumber) return v.value;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) this.add('E_RANGE', at, `expected a finite number, found ${v}`, { found: v });
      return v;
    }
    if (Array.isArray(v) || isPlainObject(v)) {
      if (depth + 1 > maxDepth) {
        this.add('E_LIMIT', limitPath, `nesting deeper than ${maxDepth} levels`, {
          expected: `at most ${maxDepth} levels`,
        });
        throw new Stop();
      }
      if (Array.isArray(v))
        return v.map((item, i) => this.copyJson(item, pointer(at, i), depth + 1, maxDepth, limitPath));
      const out: Plain = {};
      for (const key of Object.keys(v)) {
        define(out, key, this.copyJson(v[key], pointer(at, key), depth + 1, maxDepth, limitPath));
      }
      return out;
    }
    this.add('E_TYPE', at, `expected a JSON value, found ${typeName(v)}`, { found: typeName(v) });
    return undefined;
  }

  private walkMeta(value: unknown, path: string): unknown {
    if (!isPlainObject(value)) {
      this.add('E_TYPE', path, `expected an object, found ${typeName(value)}`, {
        found: value,
        expected: 'object',
      });
      return undefined;
    }
    const before = this.issues.length;
    let out: unknown;
    try {
      out = this.copyJson(value, path, 0, this.limits.maxMetaDepth, path);
    } catch (e) {
      if (e instanceof Stop && this.issues.length < MAX_ISSUES) return undefined;
      throw e;
    }
    if (this.issues.length > before) return undefined;
    const size = utf8Length(canonicalJson(out));
    if (size > this.limits.maxMetaBytes) {
      this.add(
        'E_LIMIT',
        path,
        `meta is ${size} bytes of canonical JSON, over the limit of ${this.limits.maxMetaBytes}`,
        {
          found: size,
          expected: `at most ${this.limits.maxMetaBytes} bytes`,
        },
      );
      return undefined;
    }
    return out;
  }
}

const isInt = (v: unknown, min: number): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const isKind = (v: unknown): v is 'hidden' | 'internal' => v === 'hidden' || v === 'internal';

/**
 * The common case of the instruction walk without allocating paths: a copy of a well-formed instruction,
 * or undefined, in which case the generic walk over `instructionNode` runs and reports the issues. It
 * accepts exactly what that walk accepts without issues (a property test pins the two together).
 */
export function fastInstruction(v: unknown): Instruction | undefined {
  if (!isPlainObject(v)) return undefined;
  const keys = Object.keys(v).length;
  const { op, from, to } = v;
  if (op === 'forward') {
    const { store, stride } = v;
    if (!isInt(from, 0) || !isInt(to, 1)) return undefined;
    if (store === undefined) return keys === 3 && !('store' in v) ? { op, from, to } : undefined;
    if (!isKind(store)) return undefined;
    if (stride === undefined) return keys === 4 && !('stride' in v) ? { op, from, to, store } : undefined;
    return keys === 5 && isInt(stride, 1) ? { op, from, to, store, stride } : undefined;
  }
  if (op === 'backward') return keys === 3 && isInt(from, 1) && isInt(to, 1) ? { op, from, to } : undefined;
  if (op === 'free') {
    const { kind, at } = v;
    return keys === 3 && isKind(kind) && isInt(at, 0) ? { op, kind, at } : undefined;
  }
  return undefined;
}

/** The generic walk of one instruction (for tests that pin `fastInstruction` to it). @internal */
export function walkInstruction(v: unknown): { value: unknown; issues: readonly PolicyIssue[] } {
  const walker = new Walker(DEFAULT_LIMITS, false);
  const value = walker.walk(instructionNode, v, '');
  return { value, issues: walker.issues };
}

/** Parse "MAJOR.MINOR"; undefined when malformed. */
function parseVersion(value: unknown): { major: number; minor: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$/.exec(value);
  if (match === null) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]) };
}

/** Checks across fields that a JSON Schema cannot express (positions against `steps`, paired fields). */
function crossCheck(w: Walker, p: Plain): void {
  const steps = p['steps'];
  if (typeof steps !== 'number') return;
  const list = p['instructions'];
  if (!Array.isArray(list)) return;
  const range = (i: number, key: string, v: unknown, lo: number, hi: number, why: string): void => {
    if (typeof v === 'number' && (v < lo || v > hi)) {
      w.add('E_RANGE', `/instructions/${i}/${key}`, `${key} = ${v} is out of range: ${why}`, {
        found: v,
        expected: `${lo} <= ${key} <= ${hi}`,
      });
    }
  };
  for (let i = 0; i < list.length; i++) {
    const ins = list[i] as Plain;
    const { op, from, to } = ins;
    if (typeof from === 'number' && typeof to === 'number') {
      if (op === 'forward') {
        range(i, 'from', from, 0, Math.min(steps - 1, to - 1), 'a forward needs 0 <= from < to <= steps');
        range(i, 'to', to, from + 1, steps, 'a forward needs from < to <= steps');
        if (to > from)
          range(i, 'stride', ins['stride'], 1, to - from, 'a stride needs 1 <= stride <= to - from');
      } else if (op === 'backward') {
        range(i, 'from', from, Math.max(1, to), steps, 'a backward needs 1 <= to <= from <= steps');
        range(i, 'to', to, 1, Math.min(from, steps), 'a backward needs 1 <= to <= from');
      }
    } else if (op === 'free') {
      const why = 'checkpoint positions run 0..steps (internal 1..steps)';
      range(i, 'at', ins['at'], ins['kind'] === 'internal' ? 1 : 0, steps, why);
    }
  }
}

/**
 * Structural check of an untrusted value (e.g. the result of `JSON.parse`). Returns a fresh copy holding
 * only known keys, or the issues found, each with its JSON path, what was found and what is allowed.
 */
export function validate(input: unknown, options?: ReadOptions): ValidationResult {
  const limits = resolveLimits(options);
  const fail = (i: PolicyIssue): ValidationResult => ({ ok: false, issues: [i] });
  if (!isPlainObject(input)) {
    return fail(
      issue('E_TYPE', 'schema', '', `expected a policy object, found ${typeName(input)}`, {
        expected: 'object',
      }),
    );
  }
  // Identify the document first: nothing else means anything under another format or major version.
  if (input['format'] !== FORMAT_NAME) {
    return fail(
      issue(
        'E_FORMAT',
        'schema',
        '/format',
        `expected ${JSON.stringify(FORMAT_NAME)}, found ${describeValue(input['format'])}`,
        {
          found: input['format'],
          expected: JSON.stringify(FORMAT_NAME),
        },
      ),
    );
  }
  const version = parseVersion(input['version']);
  if (version === undefined) {
    return fail(
      issue(
        'E_VERSION',
        'schema',
        '/version',
        `expected "MAJOR.MINOR", found ${describeValue(input['version'])}`,
        {
          found: input['version'],
          expected: `"${FORMAT_MAJOR}.<minor>"`,
        },
      ),
    );
  }
  if (version.major !== FORMAT_MAJOR) {
    return fail(
      issue(
        'E_VERSION',
        'schema',
        '/version',
        `this reader reads major version ${FORMAT_MAJOR}; found version ${String(input['version'])}`,
        { found: input['version'], expected: `"${FORMAT_MAJOR}.<minor>"` },
      ),
    );
  }
  const steps = input['steps'];
  if (Number.isSafeInteger(steps) && (steps as number) > limits.maxSteps) {
    return fail(
      issue('E_LIMIT', 'schema', '/steps', `steps = ${steps} exceeds the limit of ${limits.maxSteps}`, {
        found: steps,
        expected: `at most ${limits.maxSteps}`,
      }),
    );
  }
  const walker = new Walker(limits, version.minor > FORMAT_MINOR);
  let out: unknown;
  try {
    out = walker.walk(policyNode, input, '');
    if (walker.issues.length === 0 && isPlainObject(out)) {
      walker.stage = 'semantic';
      crossCheck(walker, out);
    }
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  }
  const [first, ...rest] = walker.issues;
  if (first !== undefined) return { ok: false, issues: [first, ...rest] };
  return { ok: true, policy: out as Policy, ignoredKeys: walker.ignoredKeys };
}

/** Like `validate`, but returns the policy or throws a `PolicyError`. */
export function parsePolicy(input: unknown, options?: ReadOptions): Policy {
  const result = validate(input, options);
  if (!result.ok) throw new PolicyError(result.issues);
  return result.policy;
}
