import { createOnnxBackend, releaseCachedSessions } from '@rewind/backend-onnxruntime';
import { createCellBackend, createRecurrentModel, createTfjsEngine } from '@rewind/backend-tfjs';
import { runPolicy } from '@rewind/executor';
import { createReferenceModel, randomBatch, standardBptt } from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The two execution backends against each other in float32, on identical weights and data, under the same
 * memory-constrained schedule (and both against the float64 reference's standard BPTT).
 */
describe('tfjs and ONNX Runtime agree', () => {
  afterAll(() => releaseCachedSessions());

  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: loss and every parameter gradient`, async () => {
      const model = createReferenceModel({
        cell,
        inputSize: 7,
        hiddenSize: 6,
        head: { kind: 'softmax', classes: 7 },
        seed: 3,
      });
      const batch = randomBatch(model, { steps: 24, batchSize: 3, seed: 5, oneHot: true });
      const ort = await createOnnxBackend(model, batch);
      const sb = ort.stateBytes();
      const policy = plan({
        steps: 24,
        strategy: 'msm',
        memory: { bytes: Math.floor(0.3 * (sb.hidden + 24 * sb.internal)), stateBytes: sb },
        costModel: { alpha: sb.internal / sb.hidden },
      });
      const engine = await createTfjsEngine({ backend: 'wasm' });
      const tfModel = createRecurrentModel(engine, { ...model.config, parameters: model.params });
      const tf = createCellBackend(tfModel, batch);
      try {
        const oracle = standardBptt(model, batch);
        const a = await runPolicy(ort, policy);
        // The tfjs backend measures its own state sizes: plan the same schedule for them.
        const tsb = tf.stateBytes();
        const tfPolicy = plan({
          steps: 24,
          strategy: 'msm',
          memory: { bytes: Math.floor(0.3 * (tsb.hidden + 24 * tsb.internal)), stateBytes: tsb },
          costModel: { alpha: tsb.internal / tsb.hidden },
        });
        const b = await runPolicy(tf, tfPolicy);
        expect(a.loss).toBeCloseTo(b.loss, 4);
        expect(a.loss).toBeCloseTo(oracle.loss, 4);
        const ga = (await ort.readGradients()).parameters;
        const gb = (await tf.readGradients()).parameters;
        expect(Object.keys(gb).sort()).toEqual(Object.keys(ga).sort());
        for (const name of Object.keys(ga)) {
          const x = ga[name]!;
          const y = gb[name]!;
          const scale = Math.max(1e-3, ...Array.from(x, Math.abs));
          let worst = 0;
          for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / scale);
          expect(worst, `${cell} ${name}`).toBeLessThan(1e-4);
        }
      } finally {
        tf.release?.();
        tfModel.dispose();
        await engine.dispose();
      }
    });
  }
});
