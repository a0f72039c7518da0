import { randomPolicy, recomputeAll, storeAll } from '../policies.test-util.js';
import { referenceFactory } from '../reference/factory.test-util.js';
import { type ConformancePlanner, defineConformance } from './suite.js';

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
