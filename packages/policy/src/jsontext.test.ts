import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors.js';
import { parseJsonText, WrittenNumber } from './jsontext.js';

function errorOf(text: string, depth = 256): { code: string; stage: string; path: string } | undefined {
  try {
    parseJsonText(text, depth);
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    const { code, stage, path } = e as PolicyError;
    return { code, stage, path };
  }
}

/** Replace WrittenNumber by its value, to compare with JSON.parse. */
function plainValue(v: unknown): unknown {
  if (v instanceof WrittenNumber) return v.value;
  if (Array.isArray(v)) return v.map(plainValue);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainValue(x)]));
  }
  return v;
}

describe('parseJsonText', () => {
  it('reads what JSON.parse reads, on either path (a fraction anywhere takes the careful reader)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.boolean(), (value, careful) => {
        const text = JSON.stringify(careful ? [value, 1.0, 2] : value).replace('1,2]', '1.0,2e0]');
        const read = parseJsonText(text, 256);
        expect(plainValue(read)).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps whether an integral number was written with a fraction or exponent', () => {
    const v = parseJsonText('{"a": 4, "b": 4.0, "c": 4e0, "d": 1E3, "e": 4.5, "f": -0.0, "g": 1e-400}', 256);
    expect(v).toEqual({
      a: 4,
      b: new WrittenNumber(4),
      c: new WrittenNumber(4),
      d: new WrittenNumber(1000),
      e: 4.5,
      f: new WrittenNumber(-0),
      g: new WrittenNumber(0),
    });
  });

  it('refuses what RFC 8259 refuses, at the root path', () => {
    for (const text of [
      '',
      '{',
      '{"a":1,}',
      '[1,]',
      "{'a':1}",
      '01',
      '1.',
      '.5',
      '+1',
      'NaN',
      '"\\x"',
      '"\t"',
      '{"a" 1}',
      '[1 2]',
      'tru',
      '{} {}',
      '\ufeff{}',
      '"\\u12g4"',
    ]) {
      expect(errorOf(text), text).toEqual({ code: 'E_JSON', stage: 'decode', path: '' });
      expect(() => JSON.parse(text), text).toThrow();
    }
  });

  it('bounds nesting, refuses infinite numbers at their path, and reports the first problem in text order', () => {
    expect(parseJsonText(`${'['.repeat(256)}${']'.repeat(256)}`, 256)).toBeDefined();
    expect(errorOf(`${'['.repeat(257)}${']'.repeat(257)}`)).toEqual({
      code: 'E_LIMIT',
      stage: 'decode',
      path: '',
    });
    expect(errorOf('{"a":[{"b~/":1e999}]}')).toEqual({
      code: 'E_RANGE',
      stage: 'decode',
      path: '/a/0/b~0~1',
    });
    expect(errorOf(`{"a":-${'9'.repeat(400)}}`)).toEqual({ code: 'E_RANGE', stage: 'decode', path: '/a' });
    expect(errorOf('{"a":1e999,}')).toMatchObject({ code: 'E_RANGE' });
    expect(errorOf('{"a":1,,"b":1e999}')).toMatchObject({ code: 'E_JSON' });
    expect(errorOf(`[${'['.repeat(300)}1e999`)).toMatchObject({ code: 'E_LIMIT' });
  });

  it('keeps the last of repeated keys and makes every key an own property', () => {
    expect(parseJsonText('{"a":1,"a":2}', 256)).toEqual({ a: 2 });
    const careful = parseJsonText('{"__proto__":{"x":1.0},"a":2,"a":3}', 256) as Record<string, unknown>;
    expect(Object.hasOwn(careful, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(careful)).toBe(Object.prototype);
    expect(careful['a']).toBe(3);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  it('reads escapes, including lone and paired surrogates', () => {
    expect(parseJsonText('["\\ud83d\\ude00", "\\ud800", "\\u00e9\\/\\b", 1.0]', 256)).toEqual([
      '😀',
      '\ud800',
      'é/\b',
      new WrittenNumber(1),
    ]);
  });
});
