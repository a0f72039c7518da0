import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixtureFiles } from '../examples/pytorch-peephole/generate-fixtures.js';
import { runExample } from '../examples/pytorch-peephole/train.js';

const fixtures = fileURLToPath(new URL('../examples/pytorch-peephole/fixtures/', import.meta.url));

describe('the PyTorch peephole example', () => {
  it('ships the fixtures its generator writes, byte for byte (external data included)', async () => {
    const expected = fixtureFiles();
    expect((await readdir(fixtures)).sort()).toEqual([...expected.keys()].sort());
    for (const [name, bytes] of expected) {
      expect(new Uint8Array(await readFile(`${fixtures}${name}`)), name).toEqual(bytes);
    }
  });

  it('checks the float64 export and trains the float32 one under msm at 5%, as store-all does', async () => {
    const lines: string[] = [];
    const r = await runExample({ dir: fixtures, iterations: 3, steps: 100, log: (l) => lines.push(l) });
    expect(r.check.passed).toBe(true);
    expect(r.check.runs.map((run) => run.steps)).toEqual([1, 4]);
    expect(r.storeAll.losses).toHaveLength(3);
    expect(r.storeAll.losses[2]!).toBeLessThan(r.storeAll.losses[0]!);
    // Same computation, another schedule: the same losses and weights.
    expect(r.lossDifference).toBeLessThanOrEqual(1e-6);
    expect(r.parameterDifference).toBeLessThanOrEqual(1e-6);
    expect(r.budgetBytes).toBe(Math.floor(0.05 * r.storeAllBytes));
    expect(r.msm.peakBytes).toBeLessThanOrEqual(r.budgetBytes);
    expect(r.storeAll.forwards).toBe(100);
    expect(r.msm.forwards).toBeGreaterThan(100);
    expect(lines[0]).toContain('gradient check passed');
  });
});
