import { describe, expect, it } from 'vitest';
import type { CellBackendV2 } from '../backend-v2.js';
import { randomPolicy, recomputeAll, storeAll } from '../policies.test-util.js';
import {
  createReferenceBackendV2,
  type ReferenceBackend,
  type ReferenceGradient,
  type ReferenceHidden,
  type ReferenceInternal,
} from '../reference/backend.js';
import { referenceFactory } from '../reference/factory.test-util.js';
import { runPolicy } from '../run-policy.js';
import { type ConformancePlanner, defineConformance, rangePolicies } from './suite.js';

/** A stand-in planner made of hand-written and random policies: exercises the suite's machinery. */
const stubPlanner: ConformancePlanner = {
  strategies: ['store-all', 'recompute-all', 'hsm', 'msm'],
  plan: ({ steps, stateBytes, strategy, bytes }) => {
    if (strategy === 'store-all') return storeAll(steps, { stateBytes });
    if (strategy === 'recompute-all') return recomputeAll(steps, { stateBytes });
    return randomPolicy(steps, bytes + steps, { stateBytes });
  },
  retryBudget: () => undefined,
};

defineConformance(
  'reference/gru with a stand-in planner',
  referenceFactory('gru', { kind: 'mse', outputs: 2 }),
  {},
  stubPlanner,
);

describe('the range policies of the suite', () => {
  it('cover every store kind and stride, working states and every source of a backward step', async () => {
    const steps = 7;
    const make = referenceFactory('lstm', { kind: 'mse', outputs: 2 });
    const v1 = make({ steps, seed: 3, float64: false }) as ReferenceBackend;
    const v2 = createReferenceBackendV2(v1.model, v1.batch);
    const seen = new Set<string>();
    const kept = new Set<object>();
    const views = new Set<object>();
    const backend: CellBackendV2<ReferenceHidden, ReferenceInternal, ReferenceGradient> = {
      ...v2,
      forwardRange(request) {
        const out = v2.forwardRange(request);
        if (request.store !== undefined) seen.add(`store ${request.store.kind}/${request.store.stride}`);
        if (out.working !== undefined) seen.add(`working${request.store === undefined ? '' : ' with store'}`);
        for (const h of out.kept) kept.add(h);
        return out;
      },
      hiddenOf(internal) {
        const view = v2.hiddenOf(internal);
        views.add(view);
        return view;
      },
      backwardRange(request) {
        if (request.from === request.to) seen.add('one-step range');
        for (const source of request.sources) {
          if ('internal' in source)
            seen.add(kept.has(source.internal) ? 'internal checkpoint' : 'working state');
          else if (views.has(source.recomputeFrom)) seen.add('recompute from view');
          else if (kept.has(source.recomputeFrom)) seen.add('recompute from hidden');
          else seen.add('recompute from the initial state');
        }
        return v2.backwardRange(request);
      },
    };
    const policies = rangePolicies(steps, v2.stateBytes());
    for (const { policy } of policies) {
      const result = await runPolicy(backend, policy);
      expect(result.forwards).toBe(policy.totals.forwards);
    }
    expect(v2.liveHandles()).toBe(0);
    for (const what of [
      'internal checkpoint',
      'working state',
      'recompute from hidden',
      'recompute from view',
      'recompute from the initial state',
      'one-step range',
      'working with store',
    ]) {
      expect(seen, what).toContain(what);
    }
    for (let stride = 1; stride <= steps; stride++) expect(seen).toContain(`store internal/${stride}`);
    for (let stride = 1; stride < steps; stride++) expect(seen).toContain(`store hidden/${stride}`);
  });
});
