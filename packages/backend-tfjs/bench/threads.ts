// One wasm thread against several, interleaved at the process level: tfjs holds one wasm backend per
// process, so each round runs `bench.ts` once per thread count in a fresh process (store-all and MSM at
// 5%, one warm-up and one timed iteration each) and the rounds alternate the counts.
//
//   pnpm exec tsx bench/threads.ts [--rounds 5] [--threads 1,2] [--steps 1000] [--vocab 89]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSummary, summarize } from '@rewind/bench-kit';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const rounds = Number(arg('rounds', '5'));
const counts = arg('threads', '1,2').split(',').map(Number);
const steps = arg('steps', '1000');
const vocab = arg('vocab', '89');
const bench = fileURLToPath(new URL('./bench.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rewind-threads-'));

interface Run {
  readonly storeAll: number;
  readonly msm: number;
  readonly foreignMs: number;
}
const runs = new Map<number, Run[]>(counts.map((n) => [n, []]));
console.log(`# wasm threads, interleaved by process: ${rounds} rounds of ${counts.join(', ')} thread(s)`);
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; Node ${process.version}`);
console.log(
  `model: LSTM, B=32, H=256, T=${steps}, V=${vocab}; store-all and MSM at 5%, one timed iteration each`,
);
for (let round = 1; round <= rounds; round++) {
  for (const threads of round % 2 === 1 ? counts : [...counts].reverse()) {
    const out = join(dir, `r${round}-t${threads}.json`);
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        bench,
        ...['--threads', String(threads), '--steps', steps, '--vocab', vocab, '--iterations', '1'],
        ...['--no-plain', '--no-sweep', '--no-counts', '--json', out],
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const timing = (JSON.parse(readFileSync(out, 'utf8')) as { timing: { rounds: unknown[] } }).timing;
    const r = timing.rounds[0] as { storeAllS: number; msmS: number; foreignCpuMs: number[] };
    const run = { storeAll: r.storeAllS, msm: r.msmS, foreignMs: r.foreignCpuMs.reduce((a, b) => a + b, 0) };
    runs.get(threads)?.push(run);
    console.log(
      `  round ${round}: ${threads} thread(s): store-all ${run.storeAll.toFixed(3)} s, msm ${run.msm.toFixed(3)} s (${(run.foreignMs / 1000).toFixed(2)} s foreign CPU)`,
    );
  }
}
rmSync(dir, { recursive: true, force: true });
const s = (x: number): string => `${x.toFixed(3)} s`;
console.log('threads  store-all, median (min-max)   msm, median (min-max)   msm / store-all (per round)');
for (const [threads, list] of runs) {
  const storeAll = summarize(list.map((r) => r.storeAll));
  const msm = summarize(list.map((r) => r.msm));
  const ratio = summarize(list.map((r) => r.msm / r.storeAll));
  console.log(
    `${String(threads).padStart(7)}  ${formatSummary(storeAll, s).padEnd(29)}  ${formatSummary(msm, s).padEnd(22)}  ${formatSummary(ratio, (x) => x.toFixed(3))}`,
  );
}
const base = runs.get(counts[0] as number) ?? [];
for (const threads of counts.slice(1)) {
  const list = runs.get(threads) ?? [];
  const speedup = summarize(list.map((r, i) => (base[i]?.storeAll ?? Number.NaN) / r.storeAll));
  console.log(
    `store-all speed-up of ${threads} threads over ${counts[0]} (per round): ${formatSummary(speedup, (x) => `${x.toFixed(2)}x`)}`,
  );
}
