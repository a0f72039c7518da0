import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { decodeBinary } from './binary.js';
import { PolicyError } from './errors.js';
import { contentHash, decodeJson } from './json.js';
import { policySchema } from './schema.js';
import { validate } from './validate.js';
import { verify } from './verify.js';

/**
 * The conformance suite (fixtures/README.md): every case read by this reader gives the verdict, stage, code
 * and path, or the totals and hash, of the manifest. The golden files pin version 1.0 of the format.
 */
const dir = fileURLToPath(new URL('../fixtures/', import.meta.url));
type Expected =
  | {
      verdict: 'valid';
      about: string;
      totals: Record<string, number>;
      hash: string;
      sameAs?: string;
    }
  | { verdict: 'invalid'; about: string; stage: string; code: string; path: string };
const manifest = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as {
  suite: string;
  cases: Record<string, Expected>;
};
const names = Object.keys(manifest.cases);
const ajv = new Ajv2020({ strict: true, allErrors: true });
const schemaCheck = ajv.compile(policySchema());

type Outcome =
  | { verdict: 'valid'; totals: Record<string, number>; hash: string }
  | { verdict: 'invalid'; stage: string; code: string; path: string };

/** Read one case as any reader would: decode by the file's encoding, validate, verify. */
function run(name: string): Outcome {
  const bytes = readFileSync(`${dir}${name}`);
  let policy: ReturnType<typeof decodeJson>;
  try {
    policy = name.endsWith('.rwpl') ? decodeBinary(new Uint8Array(bytes)) : decodeJson(new Uint8Array(bytes));
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    return { verdict: 'invalid', stage: e.stage, code: e.code, path: e.path };
  }
  const report = verify(policy);
  if (!report.ok) {
    const { stage, code, path } = report.issue;
    return { verdict: 'invalid', stage, code, path };
  }
  const { forwards, backwards, peakSlots, peakBytes } = report.counted;
  const totals =
    peakBytes === undefined
      ? { forwards, backwards, peakSlots }
      : { forwards, backwards, peakSlots, peakBytes };
  return { verdict: 'valid', totals, hash: contentHash(policy) };
}

describe('conformance suite', () => {
  it('is the manifest of the format', () => {
    expect(manifest.suite).toBe('rewind-policy-conformance');
    expect(names.length).toBeGreaterThan(100);
    for (const stage of ['decode', 'schema', 'semantic', 'verify']) {
      expect(
        names.some(
          (n) =>
            manifest.cases[n]!.verdict === 'invalid' &&
            (manifest.cases[n] as { stage: string }).stage === stage,
        ),
      ).toBe(true);
    }
  });

  for (const name of names) {
    const want = manifest.cases[name]!;
    const title =
      want.verdict === 'valid' ? 'valid' : `${want.stage} ${want.code} at ${want.path || '(root)'}`;
    it(`${name}: ${title}`, () => {
      const got = run(name);
      if (want.verdict === 'valid') {
        expect(got).toEqual({ verdict: 'valid', totals: want.totals, hash: want.hash });
        if (want.sameAs !== undefined) expect(manifest.cases[want.sameAs]).toMatchObject({ hash: want.hash });
      } else {
        expect(got).toEqual({ verdict: 'invalid', stage: want.stage, code: want.code, path: want.path });
      }
    });
  }

  // The generated JSON Schema agrees with the reader wherever a schema can say anything: on the values (not
  // the spelling of numbers), without limits, keys of newer minors or rules across fields.
  it('the JSON Schema accepts the valid 1.0 JSON cases and rejects the schema-stage invalid ones it can express', () => {
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const want = manifest.cases[name]!;
      let value: unknown;
      try {
        value = JSON.parse(readFileSync(`${dir}${name}`, 'utf8').replace(/^\uFEFF/, ''));
      } catch {
        continue;
      }
      const checked = validate(value);
      if (want.verdict === 'valid') {
        if (checked.ok && checked.ignoredKeys.length === 0) expect(schemaCheck(value), name).toBe(true);
      } else if (want.stage === 'schema' && !checked.ok && want.code !== 'E_LIMIT') {
        expect(checked.issues[0]).toMatchObject({ code: want.code, path: want.path });
        expect(schemaCheck(value), name).toBe(false);
      }
    }
  });
});
