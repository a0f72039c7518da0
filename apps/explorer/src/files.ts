/**
 * Reading and writing policy files. A file is binary when it starts with the magic `RWPL`, JSON otherwise;
 * either way it is decoded (structure checked) and then verified (replayed on the abstract machine).
 */
import {
  BINARY_MAGIC,
  decodeBinary,
  decodeJson,
  encodeBinary,
  encodeJsonBytes,
  type Policy,
  PolicyError,
} from '@rewind/policy';
import { type Planned, verifyPolicy } from './compute';

export interface FileIssue {
  readonly code: string;
  readonly path: string;
  readonly message: string;
}

export type LoadResult =
  | { readonly ok: true; readonly format: 'json' | 'binary'; readonly planned: Planned }
  | {
      readonly ok: false;
      readonly format: 'json' | 'binary';
      readonly stage: 'decode' | 'verify';
      readonly issues: readonly FileIssue[];
    };

/** Whether the bytes start with the binary encoding's magic. */
export function isBinaryPolicy(bytes: Uint8Array): boolean {
  if (bytes.length < BINARY_MAGIC.length) return false;
  for (let i = 0; i < BINARY_MAGIC.length; i++) if (bytes[i] !== BINARY_MAGIC[i]) return false;
  return true;
}

/** Decode and verify a policy file. Never throws for bad input: the issues say what is wrong and where. */
export function loadPolicyFile(bytes: Uint8Array): LoadResult {
  const format = isBinaryPolicy(bytes) ? 'binary' : 'json';
  let policy: Policy;
  try {
    policy = format === 'binary' ? decodeBinary(bytes) : decodeJson(bytes);
  } catch (e) {
    if (e instanceof PolicyError) {
      return {
        ok: false,
        format,
        stage: 'decode',
        issues: e.issues.map((i) => ({ code: i.code, path: i.path, message: i.message })),
      };
    }
    const message = e instanceof Error ? e.message : String(e);
    return { ok: false, format, stage: 'decode', issues: [{ code: 'E_INTERNAL', path: '', message }] };
  }
  const planned = verifyPolicy(policy);
  if (!planned.ok) {
    return {
      ok: false,
      format,
      stage: 'verify',
      issues: [{ code: planned.code, path: planned.path ?? '', message: planned.message }],
    };
  }
  return { ok: true, format, planned };
}

/** A file name for a policy: `rewind-msm-T100-M16.json`. */
export function policyFileName(policy: Policy, ext: 'json' | 'rwpl'): string {
  const budget = String(Number(policy.budget.slots.toFixed(3))).replace('.', '_');
  const strategy = policy.strategy.replace(/[^A-Za-z0-9._+-]/g, '_');
  return `rewind-${strategy}-T${policy.steps}-M${budget}.${ext}`;
}

/** The policy's bytes in the chosen encoding (JSON: the canonical form), with a MIME type. */
export function encodePolicyFile(
  policy: Policy,
  format: 'json' | 'binary',
): { bytes: Uint8Array; type: string } {
  if (format === 'binary') return { bytes: encodeBinary(policy), type: 'application/octet-stream' };
  return { bytes: encodeJsonBytes(policy), type: 'application/json' };
}
