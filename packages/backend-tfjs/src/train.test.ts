import { isExecutorError } from '@rewind/executor';
import { createCharDataset } from '@rewind/executor/data';
import { plan } from '@rewind/solver';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createTfjsEngine } from './engine.js';
import { createRecurrentModel } from './model.js';
import { adam, globalNormClip, sgd } from './optimizer.js';
import { createTrainer } from './train.js';

const engine = await createTfjsEngine({ backend: 'wasm' });
afterAll(async () => {
  await engine.dispose();
});

const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(40);

describe('training', () => {
  it('learns a small text with one reused MSM policy, within its memory budget, without leaking', async () => {
    const B = 4;
    const T = 16;
    const data = createCharDataset(TEXT, { batchSize: B, steps: T, seed: 3 });
    const V = data.vocabulary.size;
    const model = createRecurrentModel(engine, {
      cell: 'lstm',
      inputSize: V,
      hiddenSize: 24,
      head: { kind: 'softmax', classes: V },
      seed: 2,
    });
    const sb = model.stateBytes(B);
    const storeAll = sb.hidden + T * sb.internal;
    const policy = plan({
      steps: T,
      memory: { bytes: Math.floor(0.25 * storeAll), stateBytes: sb },
      strategy: 'msm',
      costModel: { backwardCost: 2 },
    });
    const trainer = createTrainer(model, {
      policy,
      optimizer: { kind: 'adam', learningRate: 0.03 },
      clipNorm: 5,
    });
    const losses: number[] = [];
    let tensorsAfterFirst = 0;
    for (let i = 0; i < 30; i++) {
      const r = await trainer.step(data.sample());
      losses.push(r.loss);
      expect(r.peakBytes).toBeLessThanOrEqual(Math.floor(0.25 * storeAll));
      expect(r.forwards).toBe(policy.totals.forwards);
      expect(r.forwards).toBeGreaterThan(T);
      expect(r.backwards).toBe(T);
      expect(r.tokens).toBe(B * T);
      expect(r.tokensPerSecond).toBeGreaterThan(0);
      expect(Number.isFinite(r.gradientNorm)).toBe(true);
      if (i === 0) tensorsAfterFirst = engine.numTensors();
      else expect(engine.numTensors()).toBe(tensorsAfterFirst);
    }
    expect(trainer.policy).toBe(policy);
    expect(trainer.steps).toBe(30);
    const first = (losses[0] as number) + (losses[1] as number);
    const last = (losses[28] as number) + (losses[29] as number);
    expect(first / 2).toBeGreaterThan(0.9 * Math.log(V));
    expect(last).toBeLessThan(0.6 * first);
    trainer.dispose();
    model.dispose();
  });

  it('refuses a batch of another length with E_STEPS_MISMATCH', async () => {
    const data = createCharDataset(TEXT, { batchSize: 2, steps: 5 });
    const V = data.vocabulary.size;
    const model = createRecurrentModel(engine, {
      cell: 'gru',
      inputSize: V,
      hiddenSize: 4,
      head: { kind: 'softmax', classes: V },
    });
    const sb = model.stateBytes(2);
    const policy = plan({
      steps: 6,
      memory: { bytes: sb.hidden + 6 * sb.internal, stateBytes: sb },
      strategy: 'store-all',
    });
    const trainer = createTrainer(model, { policy, optimizer: { kind: 'sgd', learningRate: 0.1 } });
    const error = await trainer.step(data.batch(0)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isExecutorError(error, 'E_STEPS_MISMATCH')).toBe(true);
    trainer.dispose();
    model.dispose();
  });
});

describe('optimisers', () => {
  const run = async (make: () => ReturnType<typeof adam>, steps: readonly number[][], scale?: number) => {
    const p = tf.variable(tf.tensor1d([0.5, -1, 2]));
    const optimizer = make();
    for (const g of steps) {
      const grad = tf.tensor1d(g);
      optimizer.apply({ p }, { p: grad }, scale);
      grad.dispose();
    }
    const out = Array.from(await p.data());
    optimizer.dispose();
    p.dispose();
    return out;
  };
  const grads = [
    [0.1, -0.2, 0.3],
    [0.05, 0.4, -0.1],
    [-0.3, 0.1, 0.2],
  ];

  it('Adam follows its update rule with bias correction', async () => {
    const lr = 0.01;
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-8;
    const p = [0.5, -1, 2];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    grads.forEach((g, k) => {
      for (let i = 0; i < 3; i++) {
        m[i] = b1 * (m[i] as number) + (1 - b1) * (g[i] as number);
        v[i] = b2 * (v[i] as number) + (1 - b2) * (g[i] as number) ** 2;
        const mh = (m[i] as number) / (1 - b1 ** (k + 1));
        const vh = (v[i] as number) / (1 - b2 ** (k + 1));
        p[i] = (p[i] as number) - (lr * mh) / (Math.sqrt(vh) + eps);
      }
    });
    const got = await run(() => adam({ learningRate: lr }), grads);
    got.forEach((x, i) => {
      expect(x).toBeCloseTo(p[i] as number, 5);
    });
  });

  it('SGD with momentum and a clipping scale follows its update rule', async () => {
    const lr = 0.1;
    const mu = 0.5;
    const scale = 0.25;
    const p = [0.5, -1, 2];
    const vel = [0, 0, 0];
    for (const g of grads) {
      for (let i = 0; i < 3; i++) {
        vel[i] = mu * (vel[i] as number) + scale * (g[i] as number);
        p[i] = (p[i] as number) - lr * (vel[i] as number);
      }
    }
    const got = await run(() => sgd({ learningRate: lr, momentum: mu }), grads, scale);
    got.forEach((x, i) => {
      expect(x).toBeCloseTo(p[i] as number, 5);
    });
  });

  it('global-norm clipping scales the whole gradient to the limit', async () => {
    const a = tf.tensor1d([3, 0]);
    const b = tf.tensor2d([[0, 4]]);
    const { norm, scale } = globalNormClip({ a, b }, 2);
    expect((await norm.data())[0]).toBeCloseTo(5, 5);
    expect((await (scale as tf.Scalar).data())[0]).toBeCloseTo(0.4, 6);
    const loose = globalNormClip({ a, b }, 10);
    expect((await (loose.scale as tf.Scalar).data())[0]).toBeCloseTo(1, 6);
    tf.dispose([a, b, norm, scale as tf.Scalar, loose.norm, loose.scale as tf.Scalar]);
  });
});
