import { cpus } from 'node:os';
import { formatSummary, interleave } from '@rewind/bench-kit';
import { frontier, memoryBudget, plan, predict } from '../src/index.js';

const cpu = cpus();
console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.version}`);
console.log('times: median (min-max) over 5 rounds (@rewind/bench-kit), milliseconds');

const ROUNDS = 5;
const ms1 = (ms: number): string => ms.toFixed(1);

/** Time `f` over 5 rounds; print the median and range; return its result. */
async function time<R>(label: string, f: () => R): Promise<R> {
  let r: R | undefined;
  const [res] = await interleave(
    [
      {
        name: label,
        run: () => {
          r = f();
        },
      },
    ],
    { rounds: ROUNDS, warmup: 0 },
  );
  console.log(`${label.padEnd(58)} ${formatSummary(res!.ms, ms1).padStart(22)} ms`);
  return r as R;
}

const T = 1000;
const ALPHAS = [1, 2, 3, 4.5];
const FRACS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 1];

console.log(
  `\nTarget 1: MSM predict(), T = ${T}, at single budgets (% of store-all memory 1 + T alpha); < 50 ms`,
);
console.log(
  `  alpha  ${FRACS.map((f) => `${(f * 100).toFixed(0)}%`.padStart(7)).join('')}   max (ms), medians of ${ROUNDS} interleaved rounds`,
);
const extraAlphas = [1.5, 3.25, 6, Math.E];
for (const alpha of [...ALPHAS, ...extraAlphas]) {
  // The budgets of a row interleaved over the rounds; each cell the median.
  const results = await interleave(
    FRACS.map((frac) => ({
      name: String(frac),
      run: () => predict({ steps: T, memory: { share: frac }, strategy: 'msm', costModel: { alpha } }),
    })),
    { rounds: ROUNDS, warmup: 0 },
  );
  const cells = results.map((r) => r.ms.median.toFixed(1).padStart(7));
  const worst = Math.max(...results.map((r) => r.ms.median));
  const spread = Math.max(...results.map((r) => r.ms.max - r.ms.min));
  console.log(
    `  ${String(Number(alpha.toFixed(3))).padEnd(5)}  ${cells.join('')}   ${worst.toFixed(1).padStart(8)}  (widest range ${spread.toFixed(1)})`,
  );
}
{
  // The slowest single budget: scan every integer budget at alpha 4.5 (a few hundred ms in all).
  let worst = 0;
  let at = 0;
  const t0 = performance.now();
  for (let slots = 1; slots <= 1 + T * 4.5; slots += 25) {
    const s0 = performance.now();
    predict({ steps: T, memory: { slots }, strategy: 'msm', costModel: { alpha: 4.5 } });
    const ms = performance.now() - s0;
    if (ms > worst) [worst, at] = [ms, slots];
  }
  console.log(
    `  alpha 4.5, every 25th budget 1..4501: slowest ${worst.toFixed(1)} ms at ${at} slots (scan ${(performance.now() - t0).toFixed(0)} ms, one run each)`,
  );
  await time(`  alpha 4.5, ${at} slots, timed again`, () =>
    predict({ steps: T, memory: { slots: at }, strategy: 'msm', costModel: { alpha: 4.5 } }),
  );
}

console.log(`\nTarget 2: whole frontier, T = ${T}, every integer budget 1..ceil(1 + T alpha); < 2 s`);
for (const alpha of [...ALPHAS, ...extraAlphas]) {
  const full = 1 + T * alpha;
  const pts = await time(`  alpha ${alpha}: msm+ism+hsm, ${Math.ceil(full)} budgets`, () =>
    frontier({ steps: T, costModel: { alpha }, strategies: ['msm', 'ism', 'hsm'] }),
  );
  if (alpha === 1) console.log(`      ${pts.length} points`);
  await time(`  alpha ${alpha}: all strategies`, () => frontier({ steps: T, costModel: { alpha } }));
}

console.log('\nTarget 3: MSM plan(), T = 10,000, 5% budget, default maxTableCells; < 2 s');
for (const alpha of [...ALPHAS, ...extraAlphas]) {
  const T2 = 10_000;
  const memory = { share: 0.05 };
  const slots = memoryBudget(T2, memory, { alpha }).slots;
  const before = process.memoryUsage().heapUsed;
  const p = await time(`  alpha ${alpha} (${slots.toFixed(2)} slots)`, () =>
    plan({ steps: T2, memory, strategy: 'msm', costModel: { alpha } }),
  );
  const pr = predict({ steps: T2, memory, strategy: 'msm', costModel: { alpha } });
  console.log(
    `      forwards ${p.totals.forwards}, timeRatio ${pr.timeRatio.toFixed(4)}, peak ${p.totals.peakSlots}, ${p.instructions.length} instructions, heap +${((process.memoryUsage().heapUsed - before) / 2 ** 20).toFixed(0)} MiB`,
  );
}
for (const [alpha, frac] of [
  [4.5, 0.01],
  [4.5, 0.02],
  [2, 0.01],
] as const) {
  const T2 = 10_000;
  const memory = { share: frac };
  const slots = memoryBudget(T2, memory, { alpha }).slots;
  const p = await time(
    `  (beyond the targets) alpha ${alpha}, ${frac * 100}% (${slots.toFixed(2)} slots)`,
    () => predict({ steps: T2, memory, strategy: 'msm', costModel: { alpha } }),
  );
  console.log(`      forwards ${p.forwards}, timeRatio ${p.timeRatio.toFixed(4)}`);
}

console.log('\nHeadline, T = 1000, alpha = 1, 5% of store-all memory');
const h = predict({ steps: 1000, memory: { share: 0.05 }, strategy: 'msm' });
console.log(
  `  forwards ${h.forwards}, memoryRatio ${h.memoryRatio.toFixed(4)}, timeRatio ${h.timeRatio.toFixed(4)}`,
);

for (const [steps, slots] of [
  [1_000_000, 100],
  [1_000_000, 50_000],
  [1_000_000, 10],
] as const) {
  const before = process.memoryUsage().heapUsed;
  const p = await time(`\nHSM plan(), T = ${steps.toLocaleString('en')}, ${slots} slots`, () =>
    plan({ steps, memory: { slots }, strategy: 'hsm' }),
  );
  const after = process.memoryUsage().heapUsed;
  console.log(
    `      forwards ${p.totals.forwards}, ${p.instructions.length} instructions, heap +${((after - before) / 2 ** 20).toFixed(0)} MiB`,
  );
  await time(`  predict() (no instructions)`, () => predict({ steps, memory: { slots }, strategy: 'hsm' }));
}
