import { runPolicy } from '@rewind/executor';
import { createReferenceModel, randomBatch } from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createCellBackend } from './backend.js';
import { createTfjsEngine } from './engine.js';
import { isTfjsBackendError } from './errors.js';
import { GRADIENT_KERNELS, registerGradients } from './gradients.js';
import { createCustomModel } from './model.js';

const engine = await createTfjsEngine({ backend: 'cpu' });
afterAll(async () => {
  await engine.dispose();
});

/** Central differences of `f` at `x` (float32 arithmetic, so a coarse step). */
async function numericGradient(
  f: (x: tf.Tensor) => tf.Scalar,
  x: tf.Tensor,
  eps = 1e-2,
): Promise<Float32Array> {
  const base = await x.data();
  const out = new Float32Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const at = async (delta: number): Promise<number> => {
      const v = Float32Array.from(base);
      v[i] = (v[i] as number) + delta;
      const y = tf.tidy(() => f(tf.tensor(v, x.shape)));
      const value = (await y.data())[0] as number;
      y.dispose();
      return value;
    };
    out[i] = ((await at(eps)) - (await at(-eps))) / (2 * eps);
  }
  return out;
}

async function check(name: string, f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor): Promise<void> {
  const g = tf.grad(f)(x);
  const analytic = await g.data();
  g.dispose();
  const numeric = await numericGradient(f, x);
  let scale = 1;
  for (const v of numeric) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < numeric.length; i++) {
    expect(Math.abs((analytic[i] as number) - (numeric[i] as number)) / scale, `${name}[${i}]`).toBeLessThan(
      5e-3,
    );
  }
}

describe('registered gradients', () => {
  it('register once, for the kernels without a gradient, and are idempotent', () => {
    const first = registerGradients();
    expect(new Set(GRADIENT_KERNELS).size).toBe(GRADIENT_KERNELS.length);
    for (const name of first) expect(GRADIENT_KERNELS).toContain(name);
    expect(registerGradients()).toEqual([]);
    for (const name of GRADIENT_KERNELS) expect(tf.getGradient(name)).toBeDefined();
  });

  const x = (): tf.Tensor2D => tf.tensor2d([0.3, -0.7, 1.1, 0.45, -0.2, 0.8], [2, 3]);
  const pos = (): tf.Tensor2D => tf.tensor2d([0.3, 0.7, 1.1, 0.45, 1.2, 0.8], [2, 3]);
  const w = (): tf.Tensor2D => tf.tensor2d([0.5, -1.5, 2, 1, 0.25, -0.75], [2, 3]);
  const weighted = (y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(y, w()));
  const cases: Array<readonly [string, (v: tf.Tensor) => tf.Scalar, () => tf.Tensor]> = [
    [
      'unary ops',
      (v) =>
        weighted(
          tf.addN([tf.tanh(v), tf.sigmoid(v), tf.relu(v), tf.exp(v), tf.neg(v), tf.square(v), tf.abs(v)]),
        ),
      x,
    ],
    [
      'more unary ops',
      (v) =>
        weighted(
          tf.addN([tf.sin(v), tf.cos(v), tf.softplus(v), tf.elu(v), tf.leakyRelu(v, 0.1), tf.relu6(v)]),
        ),
      x,
    ],
    [
      'positive-domain ops',
      (v) => weighted(tf.addN([tf.log(v), tf.sqrt(v), tf.reciprocal(v), tf.rsqrt(v), tf.log1p(v)])),
      pos,
    ],
    [
      'binary ops with broadcasting',
      (v) => {
        const b = tf.tensor1d([0.4, -1.2, 0.9]);
        return weighted(
          tf.addN([
            tf.add(v, b),
            tf.sub(b, v),
            tf.mul(v, b),
            tf.div(v, tf.add(tf.abs(b), 1)),
            tf.maximum(v, b),
            tf.minimum(v, 0.1),
            tf.squaredDifference(v, b),
          ]),
        );
      },
      x,
    ],
    ['pow', (v) => weighted(tf.pow(v, tf.scalar(1.7))), pos],
    [
      'matMul with and without transposes',
      (v) => {
        const m = tf.tensor2d([0.2, -0.4, 0.6, 0.8, -1, 0.1], [3, 2]);
        const a = tf.matMul(v, m);
        const b = tf.matMul(m, v, true, true);
        const c = tf.matMul(v, v, true, false);
        const d = tf.matMul(m, v, false, false);
        return tf.addN([tf.sum(tf.square(a)), tf.sum(tf.sin(b)), tf.sum(tf.cos(c)), tf.sum(tf.tanh(d))]);
      },
      x,
    ],
    [
      'shape ops',
      (v) => {
        const c = tf.concat([v, tf.square(v)], 1);
        const s = tf.slice(c, [0, 1], [2, 4]);
        const [p, q] = tf.split(s, 2, 1) as [tf.Tensor, tf.Tensor];
        const t = tf.transpose(tf.reshape(tf.mul(p, q), [2, 2]));
        const st = tf.stack([t, tf.sin(t)]);
        const [u0, u1] = tf.unstack(st) as [tf.Tensor, tf.Tensor];
        return tf.sum(tf.mul(tf.expandDims(tf.add(u0, tf.square(u1)), 0), 1.5));
      },
      x,
    ],
    [
      'reductions and softmax',
      (v) =>
        tf.addN([
          tf.sum(tf.mul(tf.mean(v, 1), tf.tensor1d([1, -2]))),
          tf.sum(tf.mul(tf.max(v, 0), tf.tensor1d([0.5, 1, -1]))),
          weighted(tf.softmax(v)),
          tf.sum(tf.mul(tf.sum(v, 0, true), tf.tensor2d([[1, 2, 3]]))),
        ]),
      x,
    ],
    [
      'gather and select',
      (v) => {
        const g = tf.gather(v, tf.tensor1d([1, 0, 1], 'int32'));
        const sel = tf.where(
          tf.tensor2d([true, false, true, false, true, true], [2, 3], 'bool'),
          v,
          tf.square(v),
        );
        return tf.add(tf.sum(tf.square(g)), weighted(sel));
      },
      x,
    ],
    ['clip and identity', (v) => weighted(tf.add(tf.clipByValue(v, -0.5, 0.5), tf.clone(v))), x],
  ];

  it.each(cases)('%s match central differences', async (name, f, input) => {
    registerGradients();
    const before = engine.numTensors();
    const value = input();
    await check(name, f, value);
    value.dispose();
    expect(engine.numTensors()).toBe(before);
  });
});

describe('custom cells', () => {
  it('differentiate any step function with autodiff (a GRU-like cell, checked by central differences)', async () => {
    const reference = createReferenceModel({
      cell: 'rnn',
      inputSize: 2,
      hiddenSize: 3,
      head: { kind: 'mse', outputs: 1 },
    });
    const batch = randomBatch(reference, { steps: 4, batchSize: 2, randomInitialState: true });
    const build = (delta: number) => {
      const model = createCustomModel(engine, {
        name: 'minimal-gated',
        inputSize: 2,
        hiddenSize: 3,
        head: { kind: 'mse', outputs: 1 },
        seed: 5,
        parameters: {
          Wz: { shape: [2, 3] },
          Uz: { shape: [3, 3] },
          Wh: { shape: [2, 3] },
          Uh: { shape: [3, 3] },
          bh: { shape: [3], init: 'zeros' },
        },
        step: (x, h, p) => {
          const z = tf.sigmoid(
            tf.add(tf.matMul(x, p['Wz'] as tf.Tensor2D), tf.matMul(h, p['Uz'] as tf.Tensor2D)),
          );
          const cand = tf.tanh(
            tf.add(
              tf.add(tf.matMul(x, p['Wh'] as tf.Tensor2D), tf.matMul(h, p['Uh'] as tf.Tensor2D)),
              p['bh'] as tf.Tensor1D,
            ),
          );
          return tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), cand)) as tf.Tensor2D;
        },
      });
      if (delta !== 0) {
        const values = Float32Array.from(model.parameters['Uh']?.dataSync() ?? []);
        values[4] = (values[4] as number) + delta;
        model.setParameters({ Uh: values });
      }
      return model;
    };
    const lossAt = async (delta: number, read: boolean) => {
      const model = build(delta);
      const backend = createCellBackend(model, batch);
      const sb = backend.stateBytes();
      const result = await runPolicy(
        backend,
        plan({ steps: 4, memory: { bytes: 2 * sb.hidden, stateBytes: sb }, strategy: 'hsm' }),
      );
      const grads = read ? await backend.readGradients() : undefined;
      backend.release();
      model.dispose();
      return { loss: result.loss, grads };
    };
    const exact = (await lossAt(0, true)).grads?.parameters['Uh']?.[4] as number;
    const eps = 1e-2;
    const numeric = ((await lossAt(eps, false)).loss - (await lossAt(-eps, false)).loss) / (2 * eps);
    expect(Math.abs(exact - numeric)).toBeLessThan(2e-3 * Math.max(1, Math.abs(exact)));
  });

  it('report a kernel without a gradient with E_NO_GRADIENT', async () => {
    const model = createCustomModel(engine, {
      inputSize: 1,
      hiddenSize: 2,
      head: { kind: 'mse', outputs: 1 },
      parameters: { w: { shape: [1, 2] } },
      step: (x, h, p) => tf.atan(tf.add(tf.matMul(x, p['w'] as tf.Tensor2D), h)) as tf.Tensor2D,
    });
    const backend = createCellBackend(model, { steps: 2, batchSize: 1, inputs: [1, 2], targets: [0, 1] });
    const sb = backend.stateBytes();
    const error = await runPolicy(
      backend,
      plan({
        steps: 2,
        memory: { bytes: sb.hidden + 2 * sb.internal, stateBytes: sb },
        strategy: 'store-all',
      }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTfjsBackendError(error, 'E_NO_GRADIENT')).toBe(true);
    expect(backend.liveHandles()).toBe(0);
    backend.release();
    model.dispose();
  });

  it('refuse the reserved parameter names and bad shapes', () => {
    const base = {
      inputSize: 1,
      hiddenSize: 1,
      head: { kind: 'mse', outputs: 1 } as const,
      step: (_x: tf.Tensor2D, h: tf.Tensor2D) => h,
    };
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (error) {
        return isTfjsBackendError(error) ? error.code : 'other';
      }
      return undefined;
    };
    expect(code(() => createCustomModel(engine, { ...base, parameters: { Wy: { shape: [1] } } }))).toBe(
      'E_CONFIG',
    );
    expect(code(() => createCustomModel(engine, { ...base, parameters: { a: { shape: [0] } } }))).toBe(
      'E_CONFIG',
    );
    expect(
      code(() => createCustomModel(engine, { ...base, parameters: { a: { shape: [2], init: [1] } } })),
    ).toBe('E_CONFIG');
  });
});
