import { encodeBinary, encodeJson } from '@rewind/policy';
import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { encodePolicyFile, isBinaryPolicy, loadPolicyFile, policyFileName } from './files';

const policy = plan({ steps: 50, memory: { slots: 7.5 }, strategy: 'msm', costModel: { alpha: 1.5 } });

describe('loadPolicyFile', () => {
  it('reads and verifies both encodings', () => {
    for (const [bytes, format] of [
      [new TextEncoder().encode(encodeJson(policy)), 'json'],
      [encodeBinary(policy), 'binary'],
    ] as const) {
      const r = loadPolicyFile(bytes);
      expect(r.ok, format).toBe(true);
      expect(r.format).toBe(format);
      if (r.ok) {
        expect(r.planned.policy).toEqual(policy);
        expect(r.planned.cost.forwards).toBe(policy.totals.forwards);
      }
    }
  });

  it('round-trips what the page downloads', () => {
    for (const format of ['json', 'binary'] as const) {
      const { bytes, type } = encodePolicyFile(policy, format);
      expect(type).toBe(format === 'json' ? 'application/json' : 'application/octet-stream');
      const r = loadPolicyFile(bytes);
      expect(r.ok && r.planned.policy).toEqual(policy);
    }
  });

  it('reports decoding errors with code and path', () => {
    const r = loadPolicyFile(new TextEncoder().encode('{"format":"rewind-policy"'));
    expect(r).toMatchObject({ ok: false, format: 'json', stage: 'decode' });
    expect(!r.ok && r.issues[0]?.code).toBe('E_JSON');

    const missing = JSON.parse(encodeJson(policy)) as Record<string, unknown>;
    delete missing['steps'];
    const r2 = loadPolicyFile(new TextEncoder().encode(JSON.stringify(missing)));
    expect(!r2.ok && r2.issues.some((i) => i.code === 'E_REQUIRED' && i.path === '/steps')).toBe(true);

    const bin = encodeBinary(policy);
    bin[bin.length - 1] = (bin[bin.length - 1] as number) ^ 0xff;
    const r3 = loadPolicyFile(bin);
    expect(r3).toMatchObject({ ok: false, format: 'binary', stage: 'decode' });
    expect(!r3.ok && r3.issues[0]?.code).toBe('E_BINARY_CHECKSUM');
  });

  it('reports verification errors with code and path', () => {
    const tampered = { ...policy, totals: { ...policy.totals, forwards: policy.totals.forwards - 1 } };
    const r = loadPolicyFile(new TextEncoder().encode(encodeJson(tampered)));
    expect(r).toMatchObject({ ok: false, stage: 'verify' });
    expect(!r.ok && r.issues[0]).toMatchObject({ code: 'E_VERIFY_TOTALS', path: '/totals/forwards' });

    const tight = { ...policy, budget: { slots: 3 } };
    const r2 = loadPolicyFile(encodeBinary(tight));
    expect(!r2.ok && r2.issues[0]?.code).toBe('E_VERIFY_BUDGET');
  });
});

describe('file helpers', () => {
  it('detects the binary magic', () => {
    expect(isBinaryPolicy(Uint8Array.from([0x52, 0x57, 0x50, 0x4c, 1]))).toBe(true);
    expect(isBinaryPolicy(new TextEncoder().encode('{"a":1}'))).toBe(false);
    expect(isBinaryPolicy(Uint8Array.from([0x52]))).toBe(false);
  });

  it('names files after strategy, steps and budget', () => {
    expect(policyFileName(policy, 'json')).toBe('rewind-msm-T50-M7_5.json');
    expect(policyFileName({ ...policy, strategy: 'a:b' }, 'rwpl')).toBe('rewind-a_b-T50-M7_5.rwpl');
  });
});
