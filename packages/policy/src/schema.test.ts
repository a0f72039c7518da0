import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { policySchema } from './schema.js';

const schemaPath = fileURLToPath(new URL('../schema.json', import.meta.url));
const generated = `${JSON.stringify(policySchema(), null, 2)}\n`;

describe('schema.json', () => {
  it('is the schema generated from spec.ts (run `pnpm schema` after changing the format)', () => {
    if (process.env['UPDATE_SCHEMA'] === '1') writeFileSync(schemaPath, generated);
    expect(readFileSync(schemaPath, 'utf8')).toBe(generated);
  });

  it('is a valid draft 2020-12 schema', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    expect(() => ajv.compile(policySchema())).not.toThrow();
  });
});
