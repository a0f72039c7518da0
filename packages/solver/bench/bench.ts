import { cpus } from 'node:os';
import { frontier, plan, predict } from '../src/index.js';

const cpu = cpus();
console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.version}`);

function time<R>(label: string, f: () => R, reps = 1): R {
  let r: R | undefined;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) r = f();
  const ms = (performance.now() - t0) / reps;
  console.log(`${label.padEnd(58)} ${ms.toFixed(1).padStart(9)} ms`);
  return r as R;
}

const T = 1000;
for (const alpha of [1, 2]) {
  const full = 1 + T * alpha;
  console.log(`\nMSM, T = ${T}, alpha = ${alpha} (store-all memory ${full} slots): plan() at single budgets`);
  for (const frac of [0.01, 0.05, 0.1, 0.25, 0.5, 1]) {
    const slots = Math.max(1, Math.floor(frac * full));
    const p = time(`  ${(frac * 100).toFixed(0)}% = ${slots} slots`, () =>
      plan({ steps: T, memory: { slots }, strategy: 'msm', costModel: { alpha } }),
    );
    console.log(
      `      forwards ${p.totals.forwards}, peak ${p.totals.peakSlots} slots, ${p.instructions.length} instructions`,
    );
  }
  const pts = time(`  whole frontier, msm+ism+hsm, every integer budget 1..${Math.ceil(full)}`, () =>
    frontier({ steps: T, costModel: { alpha }, strategies: ['msm', 'ism', 'hsm'] }),
  );
  console.log(`      ${pts.length} points`);
  time(`  whole frontier, all strategies`, () => frontier({ steps: T, costModel: { alpha } }));
}

console.log('\nHeadline, T = 1000, alpha = 1, 5% of store-all memory');
const h = predict({ steps: 1000, memory: { slots: 0.05 * 1001 }, strategy: 'msm' });
console.log(
  `  forwards ${h.forwards}, memoryRatio ${h.memoryRatio.toFixed(4)}, timeRatio ${h.timeRatio.toFixed(4)}`,
);

for (const alpha of [1, 2]) {
  const T2 = 10_000;
  const slots = 0.05 * (1 + T2 * alpha);
  const p = time(`\nMSM plan(), T = 10,000, alpha = ${alpha}, 5% budget (${slots} slots)`, () =>
    plan({ steps: T2, memory: { slots }, strategy: 'msm', costModel: { alpha } }),
  );
  console.log(
    `      forwards ${p.totals.forwards}, peak ${p.totals.peakSlots}, ${p.instructions.length} instructions`,
  );
}

for (const [steps, slots] of [
  [1_000_000, 100],
  [1_000_000, 50_000],
  [1_000_000, 10],
] as const) {
  const before = process.memoryUsage().heapUsed;
  const p = time(`\nHSM plan(), T = ${steps.toLocaleString('en')}, ${slots} slots`, () =>
    plan({ steps, memory: { slots }, strategy: 'hsm' }),
  );
  const after = process.memoryUsage().heapUsed;
  console.log(
    `      forwards ${p.totals.forwards}, ${p.instructions.length} instructions, heap +${((after - before) / 2 ** 20).toFixed(0)} MiB`,
  );
  time(`  predict() (no instructions)`, () => predict({ steps, memory: { slots }, strategy: 'hsm' }));
}
