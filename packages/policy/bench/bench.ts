// Encoding, decoding, hashing and verification throughput of @rewind/policy.
// Run with `pnpm bench` in packages/policy (tsx bench/bench.ts).

import * as os from 'node:os';
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

/** Median wall time of `f` in milliseconds: one warm-up, then repeats until 5 runs or about 1.5 s. */
function time(f: () => unknown): number {
  f();
  const samples: number[] = [];
  let total = 0;
  while (samples.length < 5 && (samples.length < 2 || total < 1500)) {
    const start = performance.now();
    f();
    const ms = performance.now() - start;
    samples.push(ms);
    total += ms;
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function fmtMs(ms: number | undefined): string {
  if (ms === undefined) return 'n/a';
  if (ms < 1) return ms.toFixed(3);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}

function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

interface Row {
  readonly name: string;
  readonly steps: number;
  readonly cells: readonly string[];
}

function measure(name: string, policy: Policy): Row {
  const json = encodeJson(policy);
  const jsonBytes = new TextEncoder().encode(json);
  const binary = encodeBinary(policy);
  const jsonEncode = time(() => encodeJson(policy));
  const jsonDecode = time(() => decodeJson(json));
  const binEncode = time(() => encodeBinary(policy));
  const binDecode = time(() => decodeBinary(binary));
  const hash = time(() => contentHash(policy));
  let verifyMs: number | undefined;
  try {
    const report = verify(policy, { profile: false });
    if (!report.ok) throw new Error(`verify rejected ${name}: ${report.issue.code} ${report.issue.message}`);
    verifyMs = time(() => verify(policy, { profile: false }));
  } catch (error) {
    if (!(error instanceof Error && /not implemented/.test(error.message))) throw error;
  }
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
console.log('times: median wall-clock milliseconds; decode includes validation (parsePolicy)');
console.log('');

const started = performance.now();
const rows: Row[] = [];
for (const T of [1_000, 10_000, 100_000, 1_000_000]) {
  rows.push(measure('bisection', bisectionPolicy(T)));
  if (T <= 10_000) {
    rows.push(measure('store-all', storeAllPolicy(T, { granular: true })));
    rows.push(measure('random', randomPolicy(createRng(T), { steps: T, stateBytes: true })));
  }
}
printTable(rows);
console.log('');
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
