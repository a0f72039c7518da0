import { solverPlanner } from '@rewind/solver';
import { adaptV1 } from '../adapt-v1.js';
import type { CellBackendV2 } from '../backend-v2.js';
import { describeBackendConformance } from '../conformance/index.js';
import type { ConformanceCase } from '../conformance/suite.js';
import { type createReferenceBackend, createReferenceBackendV2 } from './backend.js';
import { referenceFactory } from './factory.test-util.js';

/** The reference backends as version 2 backends: natively, and version 1 through the adapter. */
const options = {
  tolerance: 1e-12,
  steps: [1, 2, 3, 5, 8, 13],
  budgets: 3,
  planner: solverPlanner,
} as const;

function native(...args: Parameters<typeof referenceFactory>) {
  const v1 = referenceFactory(...args);
  return (c: ConformanceCase): CellBackendV2 => {
    const built = v1(c) as ReturnType<typeof createReferenceBackend>;
    return createReferenceBackendV2(built.model, built.batch);
  };
}

function adapted(...args: Parameters<typeof referenceFactory>) {
  const v1 = referenceFactory(...args);
  return (c: ConformanceCase): CellBackendV2 => adaptV1(v1(c) as ReturnType<typeof createReferenceBackend>);
}

describeBackendConformance(
  'reference v2 (native)/lstm (softmax)',
  native('lstm', { kind: 'softmax', classes: 4 }),
  options,
);
describeBackendConformance(
  'reference v2 (native)/gru (mse, loss at the last step only)',
  native('gru', { kind: 'mse', outputs: 2 }, { lossSteps: 'last' }),
  options,
);
describeBackendConformance(
  'reference v2 (native)/rnn (softmax, one-hot inputs)',
  native('rnn', { kind: 'softmax', classes: 3 }, { oneHot: true }),
  options,
);
describeBackendConformance(
  'reference v1 through adaptV1/lstm (mse)',
  adapted('lstm', { kind: 'mse', outputs: 3 }),
  options,
);
