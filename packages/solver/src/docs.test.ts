import { readFileSync } from 'node:fs';
import type { Instruction } from '@rewind/policy';
import { describe, expect, it } from 'vitest';
import { memoryBudget, plan, predict } from './plan.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The code block after an HTML comment marker in the README, as lines. */
function block(marker: string): string[] {
  const at = readme.indexOf(`<!-- ${marker} -->`);
  expect(at, `marker ${marker}`).toBeGreaterThanOrEqual(0);
  const open = readme.indexOf('```\n', at);
  const close = readme.indexOf('\n```', open + 4);
  return readme.slice(open + 4, close).split('\n');
}

/** One instruction as the README writes it. */
function show(i: Instruction): string {
  switch (i.op) {
    case 'forward':
      return (
        `forward ${i.from}->${i.to}` +
        (i.store === undefined ? '' : ` store ${i.store}`) +
        (i.stride === undefined ? '' : ` stride ${i.stride}`)
      );
    case 'backward':
      return `backward ${i.from}..${i.to}`;
    case 'free':
      return `free ${i.kind} ${i.at}`;
  }
}

describe('the README', () => {
  it('shows the MSM worked example that plan emits (the comments after the instructions aside)', () => {
    const policy = plan({ steps: 8, memory: { slots: 3 }, strategy: 'msm' });
    expect(policy.totals).toEqual({ forwards: 12, backwards: 8, peakSlots: 3 });
    const lines = block('msm-worked-example').map((l) => l.split(/\s{2,}/)[0]);
    expect(lines).toEqual(policy.instructions.map(show));
  });

  it('shows the HSM worked example that plan emits (two columns, the left one first)', () => {
    const policy = plan({ steps: 8, memory: { slots: 3 }, strategy: 'hsm' });
    expect(policy.totals).toEqual({ forwards: 19, backwards: 8, peakSlots: 3 });
    const rows = block('hsm-worked-example').map((l) => l.split(/\s{2,}/));
    const lines = [...rows.map((r) => r[0]), ...rows.map((r) => r[1])].filter((x) => x !== undefined);
    expect(lines).toEqual(policy.instructions.map(show));
  });

  it("states the example's prediction and share as the solver computes them", () => {
    const p = predict({ steps: 1000, memory: { slots: 50 }, strategy: 'msm', costModel: { alpha: 1 } });
    expect(readme).toContain(
      `{ strategy: 'msm', forwards: ${p.forwards}, backwards: ${p.backwards}, peakSlots: ${p.peakSlots}, time: ${p.time},`,
    );
    expect(readme).toContain(
      `timeRatio: ${p.timeRatio.toFixed(4)}, memoryRatio: ${p.memoryRatio.toFixed(5)}`,
    );
    const b = memoryBudget(1000, { share: 0.05 }, { alpha: 4.5 });
    expect(readme).toContain(
      `{ slots: ${Number(b.slots.toPrecision(12))}, share: ${b.share}, storeAllSlots: ${b.storeAllSlots}, ... }`,
    );
  });
});
