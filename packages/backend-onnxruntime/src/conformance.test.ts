import { describeBackendConformance } from '@rewind/executor/conformance';
import { solverPlanner } from '@rewind/solver';
import { onnxFactory } from './testing.test-util.js';

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
