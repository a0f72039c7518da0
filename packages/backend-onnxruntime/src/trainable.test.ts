import { createTrainer } from '@rewind/executor';
import { createCharDataset } from '@rewind/executor/data';
import { createReferenceModel } from '@rewind/executor/reference';
import { plan } from '@rewind/solver';
import { describe, expect, it } from 'vitest';
import { createOnnxBackend } from './backend.js';
import { createOnnxTrainable } from './trainable.js';

const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(20);

function lstm(seed: number, V: number) {
  return createReferenceModel({
    cell: 'lstm',
    inputSize: V,
    hiddenSize: 6,
    head: { kind: 'softmax', classes: V },
    seed,
  });
}

describe('createOnnxTrainable', () => {
  it('states the checkpoint sizes its backends measure, for every cell, internal state and dtype', async () => {
    const data = createCharDataset(TEXT, { batchSize: 2, steps: 3 });
    const V = data.vocabulary.size;
    for (const cell of ['rnn', 'lstm', 'gru'] as const) {
      for (const internalState of ['saved', 'recomputed'] as const) {
        for (const dtype of ['float32', 'float64'] as const) {
          const model = createReferenceModel({
            cell,
            inputSize: V,
            hiddenSize: 4,
            head: { kind: 'mse', outputs: 1 },
          });
          const trainable = createOnnxTrainable(model, { internalState, dtype });
          const batch = { ...data.batch(0), targets: new Float64Array(6) };
          const backend = await trainable.bind(batch);
          expect(trainable.stateBytes(2), `${cell} ${internalState} ${dtype}`).toEqual(backend.stateBytes());
          await trainable.dispose();
        }
      }
    }
  });

  it('trains like the backend driven by hand with the same Adam, and learns', async () => {
    const data = createCharDataset(TEXT, { batchSize: 3, steps: 10, seed: 4 });
    const V = data.vocabulary.size;
    const model = lstm(3, V);
    const trainable = createOnnxTrainable(model);
    const sb = trainable.stateBytes(3);
    const policy = plan({
      steps: 10,
      memory: { bytes: sb.hidden + 3 * sb.internal, stateBytes: sb },
      strategy: 'msm',
    });
    const trainer = createTrainer(trainable, {
      policy,
      optimizer: { kind: 'adam', learningRate: 0.05 },
      clipNorm: 5,
    });
    const losses: number[] = [];
    for (let i = 0; i < 10; i++) losses.push((await trainer.step(data.batch(i % 2))).loss);
    expect(losses[9]).toBeLessThan(0.8 * losses[0]!);
    // The same first step by hand: a backend over the one-hot batch, store-all, Adam's first update.
    const fresh = lstm(3, V);
    const again = createOnnxTrainable(fresh);
    const one = createTrainer(again, {
      policy,
      optimizer: { kind: 'adam', learningRate: 0.05 },
      clipNorm: 5,
    });
    const r = await one.step(data.batch(0));
    expect(r.loss).toBe(losses[0]);
    const byHand = lstm(3, V);
    const backend = await createOnnxBackend(byHand, {
      ...data.batch(0),
      inputKind: 'dense',
      inputs: Float64Array.from({ length: 10 * 3 * V }, (_, i) =>
        data.batch(0).inputs[Math.floor(i / V)] === i % V ? 1 : 0,
      ),
    });
    await backend.zeroGradients();
    const { runPolicy } = await import('@rewind/executor');
    const run = await runPolicy(backend, policy);
    expect(run.loss).toBe(r.loss);
    await trainable.dispose();
    await again.dispose();
  });

  it('runs trainings side by side: disposing one never disturbs another', async () => {
    const data = createCharDataset(TEXT, { batchSize: 2, steps: 6, seed: 9 });
    const V = data.vocabulary.size;
    const a = createOnnxTrainable(lstm(1, V));
    const b = createOnnxTrainable(lstm(2, V));
    const sb = a.stateBytes(2);
    const policy = plan({
      steps: 6,
      memory: { bytes: sb.hidden + 2 * sb.internal, stateBytes: sb },
      strategy: 'msm',
    });
    const ta = createTrainer(a, { policy, optimizer: { kind: 'adam' } });
    const tb = createTrainer(b, { policy, optimizer: { kind: 'adam' } });
    await Promise.all([ta.step(data.batch(0)), tb.step(data.batch(0))]);
    expect(a.sessions.size).toBeGreaterThan(0);
    const running = tb.step(data.batch(1));
    await a.dispose();
    expect(a.sessions.size).toBe(0);
    await running;
    const r = await tb.step(data.batch(2));
    expect(Number.isFinite(r.loss)).toBe(true);
    await b.dispose();
  });
});
