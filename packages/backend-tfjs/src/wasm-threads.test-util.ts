// Run as a child process by wasm-threads.test.ts: one checkpointed training pass of an LSTM and a GRU
// on a wasm engine with the threads given as the first argument; prints the engine's thread count, the
// losses and a digest of every gradient's bytes as JSON. It does not call process.exit: the process must
// end on its own (the thread pool must not keep it alive).
import { createHash } from 'node:crypto';
import { runPolicy } from '@rewind/executor';
import { createReferenceModel, randomBatch } from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { createCellBackend } from './backend.js';
import { modelFor } from './conformance.test-util.js';
import { createTfjsEngine } from './engine.js';

const threads = Number(process.argv[2]);
if (process.argv[3] === 'start') {
  // Only start the engine: print its thread count or the error's code.
  const started = await createTfjsEngine({ backend: 'wasm', threads }).then(
    (e) => ({ threads: e.threads }),
    (e: { code?: string; message?: string }) => ({ code: e.code, message: e.message }),
  );
  console.log(JSON.stringify(started));
  process.exit(0);
}
const engine = await createTfjsEngine({ backend: 'wasm', threads });
const out: Record<string, unknown> = { threads: engine.threads, description: engine.description };
for (const cell of ['lstm', 'gru'] as const) {
  // Large enough that XNNPACK splits the matrix products across the threads.
  const reference = createReferenceModel({
    cell,
    inputSize: 40,
    hiddenSize: 128,
    head: { kind: 'softmax', classes: 40 },
    seed: 5,
  });
  const batch = randomBatch(reference, { steps: 24, batchSize: 16, seed: 6, oneHot: true });
  const model = modelFor(engine, cell, reference);
  const backend = createCellBackend(model, batch);
  const sb = backend.stateBytes();
  const policy = plan({ steps: 24, memory: { bytes: 6 * sb.hidden, stateBytes: sb }, strategy: 'msm' });
  const result = await runPolicy(backend, policy);
  const gradients = await backend.readGradients();
  const hash = createHash('sha256');
  const parts: [string, ArrayLike<number> | undefined][] = [
    ...Object.entries(gradients.parameters).sort(([a], [b]) => (a < b ? -1 : 1)),
    ['inputs', gradients.inputs],
    ['initialState', gradients.initialState],
  ];
  for (const [name, g] of parts) {
    if (g === undefined) continue;
    hash.update(name);
    hash.update(new Uint8Array(Float64Array.from(g).buffer));
  }
  out[cell] = { loss: result.loss, gradients: hash.digest('hex') };
  backend.release();
  model.dispose();
}
console.log(JSON.stringify(out));
