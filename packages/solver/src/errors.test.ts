import { describe, expect, it } from 'vitest';
import { SolverError } from './errors.js';
import { frontier, minimumMemory, plan, predict } from './plan.js';
import type { PlanRequest } from './types.js';

function err(f: () => unknown): SolverError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SolverError);
    return e as SolverError;
  }
  throw new Error('expected a SolverError');
}

const ok: PlanRequest = { steps: 10, memory: { slots: 4 }, strategy: 'msm' };

describe('errors', () => {
  it.each([
    ['steps', { ...ok, steps: 2.5 }],
    ['steps', { ...ok, steps: 0 }],
    ['steps', { ...ok, steps: Number.NaN }],
    ['steps', { ...ok, steps: '10' }],
    ['steps', { ...ok, steps: 1e12 }],
    ['strategy', { ...ok, strategy: 'fast' }],
    ['memory.slots', { ...ok, memory: { slots: -1 } }],
    ['memory.slots', { ...ok, memory: { slots: Number.NaN } }],
    ['memory.slots', { ...ok, memory: { slots: Number.POSITIVE_INFINITY } }],
    ['memory', { ...ok, memory: {} }],
    ['memory', { ...ok, memory: null }],
    ['memory.bytes', { ...ok, memory: { bytes: 10.5, stateBytes: { hidden: 1, internal: 2 } } }],
    ['memory.stateBytes', { ...ok, memory: { bytes: 10 } }],
    ['memory.stateBytes.internal', { ...ok, memory: { bytes: 100, stateBytes: { hidden: 4, internal: 3 } } }],
    ['memory.stateBytes.hidden', { ...ok, memory: { bytes: 100, stateBytes: { hidden: 0, internal: 3 } } }],
    ['memory.extra', { ...ok, memory: { slots: 3, extra: 1 } }],
    ['costModel.alpha', { ...ok, costModel: { alpha: 0.5 } }],
    ['costModel.alpha', { ...ok, costModel: { alpha: Number.NaN } }],
    ['costModel.forwardCost', { ...ok, costModel: { forwardCost: 0 } }],
    ['costModel.backwardCost', { ...ok, costModel: { backwardCost: -1 } }],
    ['costModel.beta', { ...ok, costModel: { beta: 1 } }],
    [
      'costModel.alpha',
      { ...ok, costModel: { alpha: 2 }, memory: { bytes: 100, stateBytes: { hidden: 4, internal: 12 } } },
    ],
    ['maxTableCells', { ...ok, maxTableCells: -3 }],
    ['request', 42],
  ])('%s is E_INVALID_ARGUMENT', (path, req) => {
    for (const f of [plan, predict]) {
      const e = err(() => f(req as PlanRequest));
      expect(e.code).toBe('E_INVALID_ARGUMENT');
      expect(e.path).toBe(`/${path.replaceAll('.', '/')}`);
      expect(e.expected).toBeTypeOf('string');
    }
  });

  it('validates before computing (an unknown strategy with a huge T fails at once)', () => {
    // Planning T = 10^7 first would run far past the test timeout; failing is what comes back instead.
    const e = err(() => plan({ steps: 10_000_000, memory: { slots: 1e6 }, strategy: 'nope' as 'msm' }));
    expect(e.code).toBe('E_INVALID_ARGUMENT');
    expect(e.found).toBe('nope');
  });

  it('a budget too small is E_BUDGET_TOO_SMALL with the minimum', () => {
    const e1 = err(() =>
      plan({ steps: 10, memory: { slots: 20 }, strategy: 'store-all', costModel: { alpha: 2 } }),
    );
    expect(e1.code).toBe('E_BUDGET_TOO_SMALL');
    expect(e1.minimum).toBe(21);
    expect(e1.path).toBe('/memory/slots');
    const e2 = err(() => plan({ steps: 10, memory: { slots: 0.5 }, strategy: 'msm' }));
    expect(e2.code).toBe('E_BUDGET_TOO_SMALL');
    expect(e2.minimum).toBe(1);
    const e3 = err(() => plan({ steps: 100, memory: { slots: 3 }, strategy: 'chen-sqrt' }));
    expect(e3.minimum).toBe(minimumMemory(100, 'chen-sqrt'));
    const e4 = err(() =>
      predict({
        steps: 10,
        memory: { bytes: 99, stateBytes: { hidden: 100, internal: 300 } },
        strategy: 'hsm',
      }),
    );
    expect(e4.code).toBe('E_BUDGET_TOO_SMALL');
    expect(e4.minimum).toBe(100);
    expect(e4.path).toBe('/memory/bytes');
    for (const s of ['hsm', 'ism', 'msm', 'auto', 'recompute-all'] as const) {
      expect(err(() => predict({ steps: 5, memory: { slots: 0 }, strategy: s })).code).toBe(
        'E_BUDGET_TOO_SMALL',
      );
    }
  });

  it('a table above the limit is E_TOO_LARGE, and auto falls back', () => {
    // Below the closed-form region (about sqrt(2 T) internal checkpoints), so msm needs a table.
    const req: PlanRequest = {
      steps: 2000,
      memory: { slots: 170 },
      strategy: 'msm',
      costModel: { alpha: 3 },
      maxTableCells: 10_000,
    };
    expect(err(() => plan(req)).code).toBe('E_TOO_LARGE');
    const auto = predict({ ...req, strategy: 'auto' });
    expect(auto.strategy).not.toBe('msm');
    expect(auto.requested).toBe('auto');
    expect(auto.forwards).toBeLessThanOrEqual(predict({ ...req, strategy: 'hsm' }).forwards);
    expect(auto.forwards).toBeLessThanOrEqual(predict({ ...req, strategy: 'chen-sqrt' }).forwards);
  });

  it('a query in the closed-form region needs no table', () => {
    const req: PlanRequest = { steps: 2000, memory: { slots: 500 }, strategy: 'msm', maxTableCells: 10_000 };
    // 499 further slots hold 500 internal checkpoints once h_0 is freed: 2T - 1 - 500 forwards.
    expect(predict(req).forwards).toBe(2 * 2000 - 1 - 500);
  });

  it('minimumMemory and frontier validate too', () => {
    expect(minimumMemory(10, 'store-all', { alpha: 3 })).toBe(31);
    expect(minimumMemory(10, 'msm')).toBe(1);
    expect(err(() => minimumMemory(0, 'msm')).path).toBe('/steps');
    expect(err(() => minimumMemory(5, 'x' as 'msm')).path).toBe('/strategy');
    expect(err(() => frontier({ steps: 5, budgets: [1, -2] })).path).toBe('/budgets/1');
    expect(err(() => frontier({ steps: 5, strategies: ['msm', 'y' as 'msm'] })).path).toBe('/strategies/1');
  });
});
