import { runPolicy } from '@rewind/executor';
import { createReferenceModel, randomBatch } from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { createCellBackend } from './backend.js';
import { modelFor } from './conformance.test-util.js';
import type { TfjsEngine } from './engine.js';

/** One checkpointed training step of a small LSTM on `engine` (made active first): its loss. */
export async function trainingLoss(engine: TfjsEngine): Promise<number> {
  await engine.activate();
  const reference = createReferenceModel({
    cell: 'lstm',
    inputSize: 3,
    hiddenSize: 4,
    head: { kind: 'softmax', classes: 3 },
    seed: 3,
  });
  const batch = randomBatch(reference, { steps: 6, batchSize: 2, seed: 4, oneHot: true });
  const model = modelFor(engine, 'lstm', reference);
  const backend = createCellBackend(model, batch);
  try {
    const sb = backend.stateBytes();
    const policy = plan({ steps: 6, memory: { bytes: 3 * sb.hidden, stateBytes: sb }, strategy: 'hsm' });
    return (await runPolicy(backend, policy)).loss;
  } finally {
    backend.release();
    model.dispose();
  }
}
