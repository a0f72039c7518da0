import { describe, expect, it } from 'vitest';
import { peepholeModels } from '../examples/pytorch-peephole/peephole.js';
import { checkUserCell } from './check-cell.js';
import { isOnnxBackendError } from './errors.js';
import { lstmUserCell, rnnUserCell } from './testing.test-util.js';
import { loadUserCell } from './user-cell.js';

const peephole = (dtype: 'float32' | 'float64', dropTerm = false) =>
  loadUserCell(
    {
      ...peepholeModels({ inputSize: 3, hiddenSize: 4, dtype, dropTerm }),
      inputSize: 3,
      hiddenSize: 4,
      state: ['h', 'c'],
    },
    { dtype },
  );

describe('checkUserCell', () => {
  it('passes correct cells, over one step and over a sequence', async () => {
    const cells = [
      await loadUserCell(
        { ...rnnUserCell(2, 3, 'float64'), inputSize: 2, hiddenSize: 3 },
        { dtype: 'float64' },
      ),
      await loadUserCell(
        { ...lstmUserCell(2, 3, 'float64'), inputSize: 2, hiddenSize: 3, state: ['h', 'c'] },
        { dtype: 'float64' },
      ),
      await peephole('float64'),
    ];
    for (const cell of cells) {
      const check = await checkUserCell(cell);
      expect(check.passed, check.message).toBe(true);
      expect(check.runs.map((r) => r.steps)).toEqual([1, 4]);
      expect(check.tolerance).toBe(1e-6);
      expect(check.worst.entry.maxRelError).toBeLessThan(1e-7);
      expect(check.message).toMatch(/^gradient check passed \(central differences in float64/);
      const names = check.runs[1]!.entries.map((e) => e.gradient);
      expect(names).toEqual([
        'grad_x',
        ...cell.state.map((s) => `grad_${s}_prev`),
        ...cell.parameters.map((p) => `grad_param_${p.name}`),
      ]);
      for (const e of check.runs[1]!.entries) {
        expect(e.checked).toBe(Math.min(e.size, 64));
        expect(e.passed).toBe(true);
      }
    }
  });

  it('fails a backward that drops one term, naming the worst offender', async () => {
    const check = await checkUserCell(await peephole('float64', true));
    expect(check.passed).toBe(false);
    // The dropped term (the output gate's peephole in the gradient at c) already shows in one step.
    expect(check.runs[0]!.passed).toBe(false);
    expect(check.runs[1]!.passed).toBe(false);
    const worst = check.worst.entry;
    expect(worst.passed).toBe(false);
    expect(worst.maxRelError).toBeGreaterThan(1e-3);
    expect(Math.abs(worst.analytic - worst.numeric)).toBe(worst.maxAbsError);
    expect(check.message).toContain('gradient check FAILED');
    expect(check.message).toContain(`${worst.gradient} (the gradient of `);
    expect(check.message).toContain(`relative error ${worst.maxRelError.toExponential(2)}`);
    // Every gradient that depends on the gradient at c is wrong; the peephole p_o's own gradient and the
    // products with x and h_prev among them.
    const failed = check.runs[1]!.entries.filter((e) => !e.passed).map((e) => e.gradient);
    expect(failed).toContain('grad_c_prev');
    expect(failed).toContain('grad_param_W');
  });

  it('checks float32 exports with float32 defaults', async () => {
    const good = await checkUserCell(await peephole('float32'));
    expect(good.passed, good.message).toBe(true);
    expect(good.tolerance).toBe(2e-2);
    const bad = await checkUserCell(await peephole('float32', true));
    expect(bad.passed).toBe(false);
  });

  it('samples large tensors and refuses bad options', async () => {
    const cell = await loadUserCell(
      { ...rnnUserCell(2, 3, 'float64'), inputSize: 2, hiddenSize: 3 },
      { dtype: 'float64' },
    );
    const check = await checkUserCell(cell, { steps: 1, maxEntries: 4, batchSize: 3, seed: 5 });
    expect(check.runs).toHaveLength(1);
    expect(check.batchSize).toBe(3);
    for (const e of check.runs[0]!.entries) expect(e.checked).toBe(Math.min(e.size, 4));
    expect(check.passed).toBe(true);
    for (const bad of [
      { steps: 0 },
      { tolerance: -1 },
      { epsilon: Number.NaN },
      { batchSize: 1.5 },
      { maxEntries: 0 },
    ]) {
      const e = await checkUserCell(cell, bad).catch((error: unknown) => error);
      expect(isOnnxBackendError(e, 'E_OPTIONS'), String(e)).toBe(true);
    }
    const e = await checkUserCell(cell, { parameters: { V: { dims: [1], values: [0] } } }).catch(
      (error: unknown) => error,
    );
    expect(isOnnxBackendError(e, 'E_BATCH')).toBe(true);
    const given = await checkUserCell(cell, {
      steps: 2,
      parameters: { W: { dims: [3, 2], values: [0.1, 0.2, -0.3, 0.4, 0.5, -0.6] } },
    });
    expect(given.passed).toBe(true);
  });
});
