import { contentHash, type Policy, PolicyError, verify } from '@rewind/policy';
import { EXIT, formatBytes, formatNumber, UsageError } from '../args.js';
import { InputTooLargeError, type Io } from '../io.js';
import { LIMITS } from '../limits.js';
import { decodeAny, looksBinary, skipRunnerBanner } from '../policy-io.js';
import type { Command } from './command.js';

function reportInvalid(
  io: Io,
  json: boolean,
  e: { code: string; path: string; message: string; issues?: number },
): number {
  if (json) io.stdout.write(`${JSON.stringify({ ok: false, ...e })}\n`);
  else io.stderr.write(`rewind verify: invalid policy: ${e.message}\n`);
  return EXIT.invalid;
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'verify a policy file (JSON or binary) and print its totals',
  usage: 'rewind verify FILE|- [--json]',
  description:
    "Reads a policy (JSON or binary, told apart by the binary format's magic bytes; '-' reads standard input),\n" +
    'validates and replays it, and prints what was counted, or the first error with its code and path.\n' +
    `Input is read up to the policy format's limit of ${LIMITS.policyBytes} bytes; beyond it reading stops\n` +
    'with E_LIMIT. Exits 1 if the policy is invalid.',
  options: [{ name: 'json', type: 'boolean', help: 'print the result as one JSON object' }],
  positionals: true,
  async run({ io, values, positionals }) {
    const file = positionals[0];
    if (file === undefined || positionals.length > 1) {
      throw new UsageError(
        'E_MISSING',
        `rewind verify takes one FILE (or - for standard input); found ${positionals.length} arguments`,
      );
    }
    const json = values['json'] === true;
    let bytes: Uint8Array;
    try {
      bytes =
        file === '-'
          ? skipRunnerBanner(await io.readStdin(LIMITS.policyBytes))
          : await io.readFile(file, LIMITS.policyBytes);
    } catch (e) {
      if (!(e instanceof InputTooLargeError)) throw e;
      return reportInvalid(io, json, { code: 'E_LIMIT', path: '', message: `E_LIMIT: ${e.message}` });
    }
    let policy: Policy;
    try {
      policy = decodeAny(bytes);
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      return reportInvalid(io, json, {
        code: e.code,
        path: e.path,
        message: e.message,
        issues: e.issues.length,
      });
    }
    const report = verify(policy, { profile: false });
    if (!report.ok) {
      const i = report.issue;
      return reportInvalid(io, json, {
        code: i.code,
        path: i.path,
        message: `${i.code} at ${i.path}: ${i.message}`,
      });
    }
    const c = report.counted;
    const result = {
      ok: true,
      format: looksBinary(bytes) ? 'binary' : 'json',
      strategy: policy.strategy,
      steps: policy.steps,
      instructions: policy.instructions.length,
      forwards: c.forwards,
      backwards: c.backwards,
      peakSlots: c.peakSlots,
      peakBytes: c.peakBytes ?? null,
      budgetSlots: policy.budget.slots,
      hash: contentHash(policy),
    };
    if (json) io.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      const budgetBytes = policy.budget.bytes;
      io.stdout.write(
        `valid ${result.format} policy: ${policy.strategy}, T=${policy.steps}, ${result.instructions} instructions\n` +
          `  forwards ${c.forwards}, backwards ${c.backwards}, peak ${formatNumber(c.peakSlots)} of ${formatNumber(policy.budget.slots)} slots` +
          `${c.peakBytes === undefined ? '' : ` (${formatBytes(c.peakBytes)}${budgetBytes === undefined ? '' : ` of ${formatBytes(budgetBytes)}`})`}\n  ${result.hash}\n`,
      );
    }
    return EXIT.ok;
  },
};
