import { createReferenceModel, randomBatch } from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { createOnnxBackendV2 } from './src/backend-v2.js';
import { runPolicyV2 } from './src/testing.test-util.js';

const T = 1000,
  B = 32,
  H = 256,
  V = 89;
const model = createReferenceModel({
  cell: 'lstm',
  inputSize: V,
  hiddenSize: H,
  head: { kind: 'softmax', classes: V },
  seed: 1,
});
const batch = randomBatch(model, { steps: T, batchSize: B, seed: 2 });
const K = Number(process.argv[2] ?? 32);
const v2 = await createOnnxBackendV2(model, batch, { weightGradientSteps: K });
const sb = v2.stateBytes();
const strategy = (process.argv[3] ?? 'store-all') as 'store-all' | 'msm';
const bytes =
  strategy === 'store-all' ? sb.hidden + T * sb.internal : Math.floor(0.05 * (sb.hidden + T * sb.internal));
const policy = plan({
  steps: T,
  memory: { bytes, stateBytes: sb },
  strategy,
  costModel: { backwardCost: 2 },
});
const rows: number[][] = [];
for (let i = 0; i < 5; i++) {
  v2.resetStats();
  const t0 = performance.now();
  await runPolicyV2(v2, policy);
  await v2.readGradients();
  const s = v2.stats();
  rows.push([performance.now() - t0, s.forwardMs, s.backwardMs, s.weightGradientMs]);
}
console.log(K, strategy, rows.map((r) => r.map((x) => x.toFixed(0)).join(' ')).join(' | '));
