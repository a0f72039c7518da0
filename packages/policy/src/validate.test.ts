import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors.js';
import type { Policy } from './types.js';
import { fastInstruction, parsePolicy, validate, walkInstruction } from './validate.js';

const base = (): Record<string, unknown> => ({
  format: 'rewind-policy',
  version: '1.0',
  steps: 4,
  strategy: 'store-all',
  costModel: { alpha: 2, forwardCost: 1, backwardCost: 2 },
  budget: { slots: 9 },
  totals: { forwards: 4, backwards: 4, peakSlots: 9 },
  instructions: [
    { op: 'forward', from: 0, to: 4, store: 'internal', stride: 1 },
    { op: 'backward', from: 4, to: 1 },
  ],
});

function issuesOf(input: unknown): { code: string; path: string }[] {
  const r = validate(input);
  return r.ok ? [] : r.issues.map(({ code, path }) => ({ code, path }));
}

describe('validate', () => {
  it('accepts a valid policy and returns a fresh copy', () => {
    const input = base();
    const r = validate(input);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.policy).toEqual(input);
    expect(r.policy).not.toBe(input);
    (input['instructions'] as { from: number }[])[0]!.from = 3;
    expect(r.policy.instructions[0]).toMatchObject({ from: 0 });
  });

  it('rejects non-objects at the root', () => {
    for (const v of [null, 1, 'x', [], true]) expect(issuesOf(v)).toEqual([{ code: 'E_TYPE', path: '' }]);
  });

  it('reports every structural issue with its path, what was found and what is allowed', () => {
    const p = base();
    p['steps'] = -1;
    p['costModel'] = { alpha: Number.NaN, forwardCost: 0, backwardCost: 2, extra: true };
    (p['instructions'] as unknown[]).push({ op: 'free', kind: 'both', at: 1 }, 'forward');
    const r = validate(p);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => `${i.code} ${i.path}`)).toEqual([
      'E_RANGE /steps',
      'E_UNKNOWN_KEY /costModel/extra',
      'E_RANGE /costModel/alpha',
      'E_RANGE /costModel/forwardCost',
      'E_ENUM /instructions/2/kind',
      'E_TYPE /instructions/3',
    ]);
    const alpha = r.issues[2]!;
    expect(alpha.expected).toBe('a finite number >= 1');
    expect(alpha.message).toContain('NaN');
  });

  it('checks positions against steps', () => {
    const p = base();
    p['instructions'] = [
      { op: 'forward', from: 2, to: 2 },
      { op: 'forward', from: 0, to: 3, store: 'hidden', stride: 4 },
      { op: 'backward', from: 2, to: 3 },
      { op: 'backward', from: 5, to: 1 },
      { op: 'free', kind: 'internal', at: 0 },
    ];
    expect(issuesOf(p)).toEqual([
      { code: 'E_RANGE', path: '/instructions/0/from' },
      { code: 'E_RANGE', path: '/instructions/0/to' },
      { code: 'E_RANGE', path: '/instructions/1/stride' },
      { code: 'E_RANGE', path: '/instructions/2/from' },
      { code: 'E_RANGE', path: '/instructions/2/to' },
      { code: 'E_RANGE', path: '/instructions/3/from' },
      { code: 'E_RANGE', path: '/instructions/4/at' },
    ]);
  });

  it('refuses unsafe integers and non-integers', () => {
    for (const steps of [2 ** 53, 1.5, Number.POSITIVE_INFINITY]) {
      const p = base();
      p['steps'] = steps;
      expect(issuesOf(p)[0]).toEqual({ code: 'E_INTEGER', path: '/steps' });
    }
  });

  it('refuses an unknown major version before anything else', () => {
    const p = { ...base(), version: '2.0', steps: 'garbage' };
    expect(issuesOf(p)).toEqual([{ code: 'E_VERSION', path: '/version' }]);
    expect(issuesOf({ ...base(), version: '1' })).toEqual([{ code: 'E_VERSION', path: '/version' }]);
  });

  it('tolerates unknown keys only under a newer minor version, and says which it ignored', () => {
    const newer = { ...base(), version: '1.3', future: { a: 1 }, budget: { slots: 9, reserve: 2 } };
    const r = validate(newer);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.ignoredKeys).toEqual(['/future', '/budget/reserve']);
    // Kept, so that the canonical form and the hash do not depend on the reader's minor version.
    expect(r.policy).toHaveProperty('future', { a: 1 });
    expect(r.policy.budget).toHaveProperty('reserve', 2);
    expect(issuesOf({ ...base(), future: 1 })).toEqual([{ code: 'E_UNKNOWN_KEY', path: '/future' }]);
  });

  it('treats "__proto__", "constructor" and "prototype" as ordinary keys, never touching prototypes', () => {
    // JSON.parse makes "__proto__" an own key, as an attacker's file would.
    const proto = JSON.parse('{"__proto__": {"polluted": true}}') as object;
    expect(issuesOf({ ...base(), ...proto })).toEqual([{ code: 'E_UNKNOWN_KEY', path: '/__proto__' }]);
    const newer = validate({ ...base(), version: '1.9', ...proto });
    expect(newer.ok).toBe(true);
    if (newer.ok) {
      expect(newer.ignoredKeys).toEqual(['/__proto__']);
      expect(Object.hasOwn(newer.policy, '__proto__')).toBe(true);
      expect(Object.getPrototypeOf(newer.policy)).toBe(Object.prototype);
    }
    const meta = JSON.parse(
      '{"a": {"constructor": {"prototype": 1}}, "__proto__": {"polluted": 1}}',
    ) as object;
    const withMeta = validate({ ...base(), meta });
    expect(withMeta.ok).toBe(true);
    if (withMeta.ok) {
      expect(Object.keys(withMeta.policy.meta ?? {}).sort()).toEqual(['__proto__', 'a']);
      expect(Object.getPrototypeOf(withMeta.policy.meta)).toBe(Object.prototype);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('bounds meta in size and depth', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(issuesOf({ ...base(), meta: deep })).toEqual([{ code: 'E_LIMIT', path: '/meta' }]);
    expect(issuesOf({ ...base(), meta: { big: 'x'.repeat(70_000) } })).toEqual([
      { code: 'E_LIMIT', path: '/meta' },
    ]);
    // Depth counts containers, the meta object being level 1: 16 levels pass, 17 do not.
    const nest = (levels: number): unknown => {
      let v: unknown = 1;
      for (let i = 1; i < levels; i++) v = [v];
      return { v };
    };
    expect(issuesOf({ ...base(), meta: nest(16) })).toEqual([]);
    expect(issuesOf({ ...base(), meta: nest(17) })).toEqual([{ code: 'E_LIMIT', path: '/meta' }]);
    // Size is the UTF-8 length of the canonical JSON: {"s":"..."} is 8 bytes plus the string's.
    const sized = (n: number) => ({ ...base(), meta: { s: 'é'.repeat(n) } });
    expect(issuesOf(sized((65536 - 8) / 2))).toEqual([]);
    expect(issuesOf(sized((65536 - 8) / 2 + 1))).toEqual([{ code: 'E_LIMIT', path: '/meta' }]);
    expect(issuesOf({ ...base(), meta: [1] })).toEqual([{ code: 'E_TYPE', path: '/meta' }]);
  });

  it('applies the step and instruction limits before walking the body', () => {
    const many = { ...base(), instructions: new Array(20).fill(null) };
    const r = validate(many, { limits: { maxInstructions: 10 } });
    expect(r.ok ? [] : r.issues).toEqual([
      expect.objectContaining({ code: 'E_LIMIT', path: '/instructions' }),
    ]);
    expect(validate({ ...base(), steps: 11 }, { limits: { maxSteps: 10 } })).toMatchObject({
      ok: false,
      issues: [{ code: 'E_LIMIT', path: '/steps' }],
    });
  });

  it('stops collecting issues at a bound', () => {
    const p = { ...base(), instructions: new Array(10_000).fill({ op: 'nope' }) };
    const r = validate(p);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.length).toBeLessThanOrEqual(50);
  });

  it('leaves the pairing of stateBytes with budget.bytes and totals.peakBytes to verify', () => {
    expect(issuesOf({ ...base(), budget: { slots: 9, bytes: 10 } })).toEqual([]);
    expect(issuesOf({ ...base(), stateBytes: { hidden: 4, internal: 8 } })).toEqual([]);
  });

  it('parsePolicy throws a PolicyError carrying every issue', () => {
    const p = { ...base(), steps: 0, strategy: '' };
    let caught: unknown;
    try {
      parsePolicy(p);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PolicyError);
    const err = caught as PolicyError;
    expect(err.code).toBe('E_RANGE');
    expect(err.path).toBe('/steps');
    expect(err.issues).toHaveLength(2);
    expect(err.message).toMatch(/^E_RANGE: \/steps: .*\(and 1 more\)$/);
    const ok: Policy = parsePolicy(base());
    expect(ok.steps).toBe(4);
  });
});

describe('fastInstruction', () => {
  const key = fc.constantFrom('op', 'from', 'to', 'store', 'stride', 'kind', 'at', 'extra');
  const value = fc.oneof(
    fc.constantFrom('forward', 'backward', 'free', 'hidden', 'internal', 'other'),
    fc.integer({ min: -3, max: 10 }),
    fc.constantFrom(1.5, Number.NaN, 2 ** 53, null, true, undefined),
  );
  const instruction = fc.oneof(
    fc.dictionary(key, value),
    fc.record(
      { op: fc.constant('forward'), from: value, to: value, store: value, stride: value },
      { requiredKeys: ['op'] },
    ),
    fc.record({ op: fc.constant('backward'), from: value, to: value }, { requiredKeys: ['op'] }),
    fc.record({ op: fc.constant('free'), kind: value, at: value }, { requiredKeys: ['op'] }),
  );

  it('accepts exactly what the generic walk accepts without issues, with the same result', () => {
    fc.assert(
      fc.property(instruction, (v) => {
        const fast = fastInstruction(v);
        const generic = walkInstruction(v);
        if (fast === undefined) return true;
        expect(generic.issues).toEqual([]);
        expect(fast).toEqual(generic.value);
        expect(Object.keys(fast)).toEqual(Object.keys(generic.value as object));
        return true;
      }),
      { numRuns: 3000 },
    );
    // And it takes the common well-formed shapes.
    for (const ins of [
      { op: 'forward', from: 0, to: 3 },
      { op: 'forward', from: 0, to: 3, store: 'internal' },
      { op: 'forward', from: 0, to: 3, store: 'hidden', stride: 1 },
      { op: 'backward', from: 3, to: 1 },
      { op: 'free', kind: 'hidden', at: 2 },
    ]) {
      expect(fastInstruction(ins)).toEqual(ins);
    }
  });
});
