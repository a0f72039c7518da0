import type { Policy } from '@rewind/policy';
import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { createCharDataset } from './data/index.js';
import { isExecutorError } from './errors.js';
import { createReferenceModel, createReferenceTrainable } from './reference/index.js';
import { createArrayOptimizer, createTrainer, resolveOptimizer } from './training.js';

const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(20);

async function failure(
  f: () => unknown,
): Promise<{ code: string; path: string | undefined; message: string } | undefined> {
  try {
    await f();
  } catch (e) {
    if (!isExecutorError(e)) throw e;
    return { code: e.code, path: e.path, message: e.message };
  }
  return undefined;
}

function setup(seed = 2) {
  const data = createCharDataset(TEXT, { batchSize: 3, steps: 12, seed: 5 });
  const V = data.vocabulary.size;
  const model = createReferenceModel({
    cell: 'lstm',
    inputSize: V,
    hiddenSize: 8,
    head: { kind: 'softmax', classes: V },
    seed,
  });
  const trainable = createReferenceTrainable(model);
  const sb = trainable.stateBytes(3);
  return { data, model, trainable, sb };
}

function policyFor(strategy: 'store-all' | 'msm', sb: { hidden: number; internal: number }): Policy {
  const bytes = strategy === 'store-all' ? sb.hidden + 12 * sb.internal : sb.hidden + 3 * sb.internal;
  return plan({ steps: 12, memory: { bytes, stateBytes: sb }, strategy });
}

describe('createTrainer over the reference trainable', () => {
  it('learns, and every schedule takes bitwise the same parameter trajectory as store-all', async () => {
    const runs: Float64Array[][] = [];
    for (const strategy of ['store-all', 'msm'] as const) {
      const { data, model, trainable, sb } = setup();
      const policy = policyFor(strategy, sb);
      const trainer = createTrainer(trainable, {
        policy,
        optimizer: { kind: 'adam', learningRate: 0.05 },
        clipNorm: 5,
      });
      const losses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await trainer.step(data.batch(0));
        losses.push(r.loss);
        expect(r.backwards).toBe(12);
        expect(r.tokens).toBe(36);
        expect(r.peakBytes).toBeLessThanOrEqual(policy.totals.peakBytes ?? Number.POSITIVE_INFINITY);
      }
      expect(trainer.steps).toBe(8);
      expect(losses[7]).toBeLessThan(losses[0]! * 0.9);
      runs.push(Object.values(model.params).map((p) => p.slice()));
      trainer.dispose();
    }
    expect(runs[1]).toEqual(runs[0]);
  });

  it('reports the time spent binding the batch apart, as a part of the step', async () => {
    const { data, trainable, sb } = setup();
    let binding = 0;
    const slow = {
      ...trainable,
      bind(batch: Parameters<typeof trainable.bind>[0]) {
        // A bind that takes a measurable time: at least 30 ms of it must show in bindSeconds.
        const until = performance.now() + 30;
        while (performance.now() < until) binding++;
        return trainable.bind(batch);
      },
    };
    const trainer = createTrainer(slow, {
      policy: policyFor('msm', sb),
      optimizer: { kind: 'sgd', learningRate: 0.1 },
    });
    const r = await trainer.step(data.batch(0));
    expect(binding).toBeGreaterThan(0);
    expect(r.bindSeconds).toBeGreaterThanOrEqual(0.03);
    expect(r.bindSeconds).toBeLessThanOrEqual(r.seconds);
    trainer.dispose();
  });

  it('stops a diverged step with E_DIVERGED naming it, and leaves the parameters as they were', async () => {
    const { data, model, trainable, sb } = setup();
    const trainer = createTrainer(trainable, {
      policy: policyFor('msm', sb),
      optimizer: { kind: 'sgd', learningRate: 0.1 },
    });
    await trainer.step(data.batch(0));
    model.params['Wy']![0] = Number.NaN;
    const before = Object.values(model.params).map((p) => p.slice());
    const f = await failure(() => trainer.step(data.batch(1)));
    expect(f?.code).toBe('E_DIVERGED');
    expect(f?.message).toMatch(/training step 2 is NaN/);
    expect(Object.values(model.params).map((p) => p.slice())).toEqual(before);
    expect(trainer.steps).toBe(1);
  });

  it('refuses bad options before any work, with JSON pointers', async () => {
    const { trainable, sb, data } = setup();
    const policy = policyFor('msm', sb);
    const cases: [unknown, string][] = [
      [{ kind: 'adagrad' }, '/optimizer/kind'],
      [{ kind: 'adam', learningRate: 0 }, '/optimizer/learningRate'],
      [{ kind: 'adam', beta1: 1 }, '/optimizer/beta1'],
      [{ kind: 'adam', epsilon: -1 }, '/optimizer/epsilon'],
      [{ kind: 'sgd', learningRate: Number.NaN }, '/optimizer/learningRate'],
      [{ kind: 'sgd', learningRate: 0.1, momentum: 1 }, '/optimizer/momentum'],
    ];
    for (const [optimizer, path] of cases) {
      const f = await failure(() =>
        createTrainer(trainable, { policy, optimizer: optimizer as { kind: 'adam' } }),
      );
      expect(f).toMatchObject({ code: 'E_OPTIONS', path });
    }
    expect(
      await failure(() => createTrainer(trainable, { policy, optimizer: { kind: 'adam' }, clipNorm: 0 })),
    ).toMatchObject({
      code: 'E_OPTIONS',
      path: '/clipNorm',
    });
    const other = plan({ steps: 5, memory: { slots: 10 }, strategy: 'msm' });
    const trainer = createTrainer(trainable, { policy: other, optimizer: { kind: 'adam' } });
    expect(await failure(() => trainer.step(data.batch(0)))).toMatchObject({ code: 'E_STEPS_MISMATCH' });
    trainer.dispose();
    expect(await failure(() => trainer.step(data.batch(0)))).toMatchObject({ code: 'E_DISPOSED' });
  });
});

describe('createArrayOptimizer', () => {
  const backend = {} as never;
  it('applies Adam with bias correction and global-norm clipping', async () => {
    const p = { a: Float64Array.from([1, 2]) };
    const opt = createArrayOptimizer(p, resolveOptimizer({ kind: 'adam', learningRate: 0.1 }), () => ({
      a: [3, 4],
    }));
    expect(await opt.step(backend, 2.5)).toBe(5);
    // Clipped to norm 2.5: g = [1.5, 2]; the first Adam step moves each coordinate by lr * sign(g).
    expect(p.a[0]).toBeCloseTo(1 - 0.1, 6);
    expect(p.a[1]).toBeCloseTo(2 - 0.1, 6);
    expect(await opt.step(backend, undefined)).toBe(5);
  });

  it('applies SGD with momentum, and leaves parameters alone on a non-finite gradient', async () => {
    const p = { a: Float64Array.from([1]) };
    let g = 2;
    const opt = createArrayOptimizer(
      p,
      resolveOptimizer({ kind: 'sgd', learningRate: 0.5, momentum: 0.5 }),
      () => ({
        a: [g],
      }),
    );
    await opt.step(backend, undefined);
    expect(p.a[0]).toBe(0);
    await opt.step(backend, undefined);
    expect(p.a[0]).toBe(-1.5);
    g = Number.POSITIVE_INFINITY;
    expect(await opt.step(backend, undefined)).toBe(Number.POSITIVE_INFINITY);
    expect(p.a[0]).toBe(-1.5);
  });
});
