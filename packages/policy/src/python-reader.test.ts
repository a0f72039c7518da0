import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeBinary, encodeBinary } from './binary.js';
import { crc32 } from './crc32.js';
import { PolicyError } from './errors.js';
import { contentHash, decodeJson, encodeJson } from './json.js';
import { createRng, mutatePolicy, randomPolicy } from './testing.js';
import type { Policy } from './types.js';
import { verify } from './verify.js';

/**
 * Differential test: the Python reader (examples/python-reader), written from the spec alone, agrees with this
 * reader on random valid policies, on mutants the replay rejects, and on random edits of their bytes (JSON
 * text and binary), for verdict, stage, code and path, or totals and hash.
 */
const reader = fileURLToPath(new URL('../examples/python-reader/rewind_policy.py', import.meta.url));
const python = process.env['PYTHON'] ?? 'python3';
const hasPython = spawnSync(python, ['--version']).status === 0;

function outcome(bytes: Uint8Array, binary: boolean): Record<string, unknown> {
  let policy: Policy;
  try {
    policy = binary ? decodeBinary(bytes) : decodeJson(bytes);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    return { verdict: 'invalid', about: '', stage: e.stage, code: e.code, path: e.path };
  }
  const report = verify(policy);
  if (!report.ok) {
    const { stage, code, path } = report.issue;
    return { verdict: 'invalid', about: '', stage, code, path };
  }
  const { forwards, backwards, peakSlots, peakBytes } = report.counted;
  const totals =
    peakBytes === undefined
      ? { forwards, backwards, peakSlots }
      : { forwards, backwards, peakSlots, peakBytes };
  return { verdict: 'valid', about: '', totals, hash: contentHash(policy) };
}

const TEXT_EDITS = [
  '0',
  '1',
  '9',
  '.',
  'e',
  '-',
  '"',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  ' ',
  'x',
  '\\',
  '\u00e9',
];

describe.skipIf(!hasPython)('the Python reader', () => {
  it('agrees with this reader on random policies, mutants and edited bytes', () => {
    const rng = createRng('python-reader');
    const dir = mkdtempSync(join(tmpdir(), 'rewind-conformance-'));
    try {
      mkdirSync(join(dir, 'c'));
      const cases: Record<string, unknown> = {};
      const add = (bytes: Uint8Array, binary: boolean): void => {
        const name = `c/${Object.keys(cases).length}.${binary ? 'rwpl' : 'json'}`;
        writeFileSync(join(dir, name), bytes);
        cases[name] = outcome(bytes, binary);
      };
      for (let i = 0; i < 120; i++) {
        const base = randomPolicy(rng, { steps: rng.int(1, 40) });
        for (const p of [base, mutatePolicy(rng, base)]) {
          const text = encodeJson(p);
          add(new TextEncoder().encode(text), false);
          add(encodeBinary(p), true);
          // An edit of the text: a character replaced by one that matters to JSON.
          const at = rng.int(0, text.length - 1);
          const edited =
            text.slice(0, at) + TEXT_EDITS[rng.int(0, TEXT_EDITS.length - 1)] + text.slice(at + 1);
          add(new TextEncoder().encode(edited), false);
          // An edit of the bytes, with the checksum fixed most of the time.
          const bytes = encodeBinary(p);
          bytes[rng.int(0, bytes.length - 1)]! ^= rng.int(1, 255);
          if (rng.next() < 0.8) {
            const c = crc32(bytes.subarray(0, bytes.length - 4));
            bytes.set([c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24], bytes.length - 4);
          }
          add(bytes, true);
        }
      }
      const verdicts = new Set(Object.values(cases).map((c) => (c as { code?: string }).code ?? 'valid'));
      expect(verdicts.size).toBeGreaterThan(10);
      writeFileSync(join(dir, 'expected.json'), JSON.stringify({ suite: 'differential', cases }));
      const run = spawnSync(python, [reader, 'suite', dir], { encoding: 'utf8' });
      expect(run.stdout.split('\n').filter((l) => l.startsWith('FAIL') || l.startsWith('  '))).toEqual([]);
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
