// What fresh memory costs the range-level backend: part 4 of `bench.ts` (v2 store-all and MSM at 5%,
// LSTM B=32 H=256 T=1000) in fresh processes, alternately as it is and with glibc's allocator told never
// to map large blocks on their own and never to give freed memory back to the system
// (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_ very large), so that the output buffers onnxruntime-node
// allocates for every run reuse memory already touched instead of faulting in new pages. Each process
// runs `--rounds 3` (its own interleaved rounds, medians taken); the processes alternate the two modes.
// The environment variables only act on glibc; elsewhere both modes are the same.
//
//   pnpm exec tsx bench/faults.ts [--rounds 5] [--inner 3]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatSummary, median, summarize } from '@rewind/bench-kit';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, inner: { type: 'string', default: '3' } },
});
const rounds = Number(args.rounds);
const inner = Number(args.inner);
const bench = fileURLToPath(new URL('./bench.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rewind-faults-'));
const MODES = {
  default: {},
  'memory kept': { MALLOC_MMAP_MAX_: '0', MALLOC_TRIM_THRESHOLD_: String(2 ** 40) },
} as const;
type Mode = keyof typeof MODES;

interface Result {
  readonly backend: string;
  readonly msPerIteration: { readonly median: number };
  readonly minorPageFaults: readonly number[];
  readonly gcMs: readonly number[];
  readonly foreignCpuMs: readonly number[];
}
interface Round {
  readonly storeAll: number;
  readonly msm: number;
  readonly faultsStoreAll: number;
  readonly faultsMsm: number;
  readonly foreignMs: number;
}

const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
const glibc = report?.header?.glibcVersionRuntime;
console.log(
  `# fresh memory: ${rounds} rounds, each a process per mode (alternating), ${inner} rounds inside`,
);
console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} logical cores, ${(totalmem() / 2 ** 20).toFixed(1)} MiB; Node ${process.version}; glibc ${glibc ?? 'absent (the modes do not differ)'}; load average at start ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
const runs = new Map<Mode, Round[]>(Object.keys(MODES).map((m) => [m as Mode, []]));
for (let round = 1; round <= rounds; round++) {
  const order = Object.keys(MODES) as Mode[];
  for (const mode of round % 2 === 1 ? order : [...order].reverse()) {
    const out = join(dir, `r${round}-${mode.replace(' ', '-')}.json`);
    execFileSync(
      process.execPath,
      ['--import', 'tsx', bench, '--only', 'ranges', '--rounds', String(inner), '--json', out],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...MODES[mode] } },
    );
    const results = (JSON.parse(readFileSync(out, 'utf8')) as { results: Result[] }).results;
    const pick = (name: string): Result => {
      const r = results.find((x) => x.backend === name);
      if (r === undefined) throw new Error(`no row ${name} in ${out}`);
      return r;
    };
    const sa = pick('v2 store-all');
    const msm = pick('v2 msm 5%');
    const run: Round = {
      storeAll: sa.msPerIteration.median,
      msm: msm.msPerIteration.median,
      faultsStoreAll: median(sa.minorPageFaults),
      faultsMsm: median(msm.minorPageFaults),
      foreignMs: [...sa.foreignCpuMs, ...msm.foreignCpuMs].reduce((a, b) => a + b, 0),
    };
    runs.get(mode)?.push(run);
    console.log(
      `  round ${round}: ${mode.padEnd(11)}: store-all ${run.storeAll.toFixed(1)} ms (${run.faultsStoreAll} faults), msm ${run.msm.toFixed(1)} ms (${run.faultsMsm} faults), ${run.foreignMs.toFixed(0)} ms foreign CPU`,
    );
  }
}
rmSync(dir, { recursive: true, force: true });
const ms = (x: number): string => `${x.toFixed(1)} ms`;
console.log(
  'mode         store-all, median (min-max)   msm 5%, median (min-max)   msm / store-all (per process)',
);
for (const [mode, list] of runs) {
  console.log(
    `${mode.padEnd(11)}  ${formatSummary(summarize(list.map((r) => r.storeAll)), ms).padEnd(29)}  ${formatSummary(
      summarize(list.map((r) => r.msm)),
      ms,
    ).padEnd(25)}  ${formatSummary(
      summarize(list.map((r) => r.msm / r.storeAll)),
      (x) => `${x.toFixed(3)}x`,
    )}`,
  );
}
const base = runs.get('default') ?? [];
const kept = runs.get('memory kept') ?? [];
const saved = (key: 'storeAll' | 'msm'): string =>
  formatSummary(summarize(kept.map((r, i) => (base[i]?.[key] ?? Number.NaN) - r[key])), ms);
console.log(`time saved by keeping memory (per round): store-all ${saved('storeAll')}, msm ${saved('msm')}`);
console.log(
  'faults: minor page faults per iteration (median); foreign CPU: CPU time other processes took during the timed iterations (both processes of a round).',
);
