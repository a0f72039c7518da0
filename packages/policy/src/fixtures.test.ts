import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { decodeJson } from './json.js';
import { policySchema } from './schema.js';
import { validate } from './validate.js';
import { verify } from './verify.js';

/**
 * Golden files pin version 1.0 of the format: every later release must read them with these results.
 */
const dir = fileURLToPath(new URL('../fixtures/', import.meta.url));
type Expected =
  | { ok: true; counted: Record<string, number> }
  | { ok: false; stage: 'parse' | 'validate' | 'verify'; code: string; path: string };
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as Record<string, Expected>;
const files = ['valid', 'invalid'].flatMap((kind) =>
  readdirSync(`${dir}${kind}`)
    .filter((f) => f.endsWith('.json'))
    .map((f) => `${kind}/${f.slice(0, -5)}`),
);
const ajv = new Ajv2020({ strict: true, allErrors: true });
const schemaCheck = ajv.compile(policySchema());

describe('golden fixtures', () => {
  it('every fixture has an expected result and vice versa', () => {
    expect(files.sort()).toEqual(Object.keys(expected).sort());
  });

  for (const name of files) {
    const want = expected[name]!;
    it(`${name}: ${want.ok ? 'valid' : `${want.code} at ${want.path}`}`, () => {
      const text = readFileSync(`${dir}${name}.json`, 'utf8');
      if (!want.ok && want.stage === 'parse') {
        expect(() => decodeJson(text)).toThrow(expect.objectContaining({ code: want.code, path: want.path }));
        return;
      }
      const input: unknown = JSON.parse(text);
      const validated = validate(input);
      if (!want.ok && want.stage === 'validate') {
        expect(validated.ok).toBe(false);
        if (!validated.ok) expect(validated.issues[0]).toMatchObject({ code: want.code, path: want.path });
        return;
      }
      if (!validated.ok) throw new Error(`unexpected: ${JSON.stringify(validated.issues)}`);
      // The generated schema agrees with the validator on structurally valid 1.0 documents.
      if (validated.ignoredKeys.length === 0) expect(schemaCheck(input)).toBe(true);
      expect(decodeJson(text)).toEqual(validated.policy);
      const report = verify(validated.policy);
      if (want.ok) {
        expect(report.ok).toBe(true);
        expect(report.counted).toEqual(want.counted);
      } else {
        expect(report.ok).toBe(false);
        if (!report.ok) expect(report.issue).toMatchObject({ code: want.code, path: want.path });
      }
    });
  }

  // Rules across fields (positions against steps, paired optional fields) are beyond JSON Schema.
  const crossField = [
    'invalid/proto-key',
    'invalid/forward-past-end',
    'invalid/peak-bytes-without-state-bytes',
  ];
  it('the schema rejects the structurally invalid fixtures it can express', () => {
    for (const name of files.filter((n) => {
      const want = expected[n]!;
      return !want.ok && want.stage === 'validate' && !crossField.includes(n);
    })) {
      const input: unknown = JSON.parse(readFileSync(`${dir}${name}.json`, 'utf8'));
      expect(schemaCheck(input), name).toBe(false);
    }
  });
});
