import { solverPlanner } from '@rewind/solver';
import { describeBackendConformance } from '../conformance/index.js';
import { referenceFactory } from './factory.test-util.js';

/** The reference backend is float64 and deterministic: every strategy must match store-all to 1e-12. */
const options = {
  tolerance: 1e-12,
  steps: [1, 2, 3, 4, 5, 7, 9, 12, 16, 20],
  budgets: 4,
  planner: solverPlanner,
} as const;

describeBackendConformance(
  'reference/rnn (softmax, one-hot inputs)',
  referenceFactory('rnn', { kind: 'softmax', classes: 3 }, { oneHot: true }),
  options,
);
describeBackendConformance(
  'reference/lstm (softmax, loss at the last step only)',
  referenceFactory('lstm', { kind: 'softmax', classes: 4 }, { lossSteps: 'last' }),
  options,
);
describeBackendConformance(
  'reference/gru (mse)',
  referenceFactory('gru', { kind: 'mse', outputs: 2 }),
  options,
);
describeBackendConformance(
  'reference/lstm (mse, seed 9)',
  referenceFactory('lstm', { kind: 'mse', outputs: 3 }),
  { ...options, seed: 9, steps: [6, 11], budgets: 3 },
);
