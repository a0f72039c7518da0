import { describeBackendConformance } from '@rewind/executor/conformance';
import { solverPlanner } from '@rewind/solver';
import { onnxFactory, onnxFactoryV2 } from './testing.test-util.js';

// The executor's conformance suite on the CPU execution provider, one cell per block. Float32 runs are
// compared with store-all at 1e-4 (float32 rounding, amplified by at most 12 steps); the finite-difference
// check builds its backends in float64.
describeBackendConformance('onnxruntime-cpu/rnn', onnxFactory('rnn', { kind: 'softmax', classes: 4 }), {
  tolerance: 1e-4,
  planner: solverPlanner,
});
describeBackendConformance('onnxruntime-cpu/lstm', onnxFactory('lstm', { kind: 'softmax', classes: 4 }), {
  tolerance: 1e-4,
  planner: solverPlanner,
});
describeBackendConformance('onnxruntime-cpu/gru', onnxFactory('gru', { kind: 'mse', outputs: 2 }), {
  tolerance: 1e-4,
  planner: solverPlanner,
});

// The range-level backend (version 2) through the same suite. Its strategies run the same Scan bodies on
// the same rows and sum the same weight-gradient chunks in the same order: every strategy's float32 loss
// and gradients equal store-all's exactly (tolerance 0).
describeBackendConformance(
  'onnxruntime-cpu v2/lstm',
  onnxFactoryV2('lstm', { kind: 'softmax', classes: 4 }),
  {
    tolerance: 0,
    planner: solverPlanner,
  },
);
describeBackendConformance('onnxruntime-cpu v2/gru', onnxFactoryV2('gru', { kind: 'mse', outputs: 2 }), {
  tolerance: 0,
  planner: solverPlanner,
});
describeBackendConformance('onnxruntime-cpu v2/rnn', onnxFactoryV2('rnn', { kind: 'softmax', classes: 3 }), {
  tolerance: 0,
  planner: solverPlanner,
});
