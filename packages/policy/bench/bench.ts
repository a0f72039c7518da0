// Encoding, decoding, hashing and verification throughput of @rewind/policy.
// Run with `pnpm bench` in packages/policy (tsx bench/bench.ts).

import * as os from 'node:os';
import { formatSummary, interleave, type Summary } from '@rewind/bench-kit';
import {
  contentHash,
  decodeBinary,
  decodeJson,
  encodeBinary,
  encodeJson,
  type Policy,
  verify,
} from '../src/index.js';
import { bisectionPolicy, createRng, randomPolicy, storeAllPolicy } from '../src/testing.js';

/** The timed operations of one policy, interleaved over 5 rounds (`@rewind/bench-kit`); ms per operation. */
async function times(cases: readonly { name: string; run: () => unknown }[]): Promise<Map<string, Summary>> {
  const results = await interleave(cases, { rounds: 5, warmup: 1 });
  return new Map(results.map((r) => [r.name, r.ms]));
}

function fmt1(ms: number): string {
  if (ms < 1) return ms.toFixed(3);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}

/** `median (min-max)` in ms. */
function fmtMs(s: Summary | undefined): string {
  return s === undefined ? 'n/a' : formatSummary(s, fmt1);
}

function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

interface Row {
  readonly name: string;
  readonly steps: number;
  readonly cells: readonly string[];
}

async function measure(name: string, policy: Policy): Promise<Row> {
  const json = encodeJson(policy);
  const jsonBytes = new TextEncoder().encode(json);
  const binary = encodeBinary(policy);
  let verifies = true;
  try {
    const report = verify(policy, { profile: false });
    if (!report.ok) throw new Error(`verify rejected ${name}: ${report.issue.code} ${report.issue.message}`);
  } catch (error) {
    if (!(error instanceof Error && /not implemented/.test(error.message))) throw error;
    verifies = false;
  }
  const t = await times([
    { name: 'jsonEncode', run: () => encodeJson(policy) },
    { name: 'jsonDecode', run: () => decodeJson(json) },
    { name: 'binEncode', run: () => encodeBinary(policy) },
    { name: 'binDecode', run: () => decodeBinary(binary) },
    { name: 'hash', run: () => contentHash(policy) },
    ...(verifies ? [{ name: 'verify', run: () => verify(policy, { profile: false }) }] : []),
  ]);
  const jsonEncode = t.get('jsonEncode');
  const jsonDecode = t.get('jsonDecode');
  const binEncode = t.get('binEncode');
  const binDecode = t.get('binDecode');
  const hash = t.get('hash');
  const verifyMs = t.get('verify');
  return {
    name,
    steps: policy.steps,
    cells: [
      fmtInt(policy.instructions.length),
      fmtInt(jsonBytes.length),
      fmtInt(binary.length),
      fmtMs(jsonEncode),
      fmtMs(jsonDecode),
      fmtMs(binEncode),
      fmtMs(binDecode),
      fmtMs(verifyMs),
      fmtMs(hash),
    ],
  };
}

function printTable(rows: readonly Row[]): void {
  const head = [
    'policy',
    'T',
    'instructions',
    'JSON bytes',
    'binary bytes',
    'JSON enc ms',
    'JSON dec ms',
    'bin enc ms',
    'bin dec ms',
    'verify ms',
    'hash ms',
  ];
  const body = rows.map((r) => [r.name, fmtInt(r.steps), ...r.cells]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((line) => line[i]!.length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(head));
  console.log(
    `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
  );
  for (const cells of body) console.log(line(cells));
}

const cpus = os.cpus();
console.log(
  `machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${os.platform()} ${os.arch()}`,
);
console.log(`node ${process.version}`);
console.log(
  'times: wall-clock milliseconds, median (min-max) of 5 interleaved rounds; decode includes validation (parsePolicy)',
);
console.log('');

const started = performance.now();
const rows: Row[] = [];
for (const T of [1_000, 10_000, 100_000, 1_000_000]) {
  rows.push(await measure('bisection', bisectionPolicy(T)));
  if (T <= 10_000) {
    rows.push(await measure('store-all', storeAllPolicy(T, { granular: true })));
    rows.push(await measure('random', randomPolicy(createRng(T), { steps: T, stateBytes: true })));
  }
}
printTable(rows);
console.log('');
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
