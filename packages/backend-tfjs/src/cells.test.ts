import { type GradientReadout, isExecutorError, type LossHead, runPolicy } from '@rewind/executor';
import {
  createReferenceModel,
  type ReferenceBatch,
  randomBatch,
  standardBptt,
} from '@rewind/executor/reference';
import type { Policy } from '@rewind/policy';
import { plan } from '@rewind/solver';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createCellBackend, type TfjsCellBackend } from './backend.js';
import { worstGradientError } from './compare.test-util.js';
import { customTanhRnn, modelFor, type TestCell } from './conformance.test-util.js';
import { createTfjsEngine, type TfjsEngine } from './engine.js';
import { isTfjsBackendError } from './errors.js';
import { registerGradients } from './gradients.js';
import { createRecurrentModel, type TfjsModel } from './model.js';
import { unrolledLoss } from './unrolled.test-util.js';

const engines: Record<'cpu' | 'wasm', TfjsEngine> = {
  cpu: await createTfjsEngine({ backend: 'cpu' }),
  wasm: await createTfjsEngine({ backend: 'wasm' }),
};
registerGradients();

afterAll(async () => {
  await engines.cpu.dispose();
  await engines.wasm.dispose();
});

function storeAll(backend: TfjsCellBackend): Policy {
  const sb = backend.stateBytes();
  return plan({
    steps: backend.steps,
    memory: { bytes: sb.hidden + backend.steps * sb.internal, stateBytes: sb },
    strategy: 'store-all',
  });
}

interface Case {
  readonly cell: TestCell;
  readonly head: LossHead;
  readonly lossSteps: 'all' | 'last';
  readonly oneHot: boolean;
}

const CASES: readonly Case[] = [
  { cell: 'rnn', head: { kind: 'softmax', classes: 5 }, lossSteps: 'all', oneHot: true },
  { cell: 'rnn', head: { kind: 'mse', outputs: 3 }, lossSteps: 'last', oneHot: false },
  { cell: 'lstm', head: { kind: 'softmax', classes: 5 }, lossSteps: 'all', oneHot: true },
  { cell: 'lstm', head: { kind: 'mse', outputs: 3 }, lossSteps: 'last', oneHot: false },
  { cell: 'gru', head: { kind: 'softmax', classes: 4 }, lossSteps: 'all', oneHot: false },
  { cell: 'gru', head: { kind: 'mse', outputs: 2 }, lossSteps: 'all', oneHot: false },
  { cell: 'custom', head: { kind: 'softmax', classes: 5 }, lossSteps: 'all', oneHot: true },
];

function referenceCase(
  c: Case,
  seed: number,
): { reference: ReturnType<typeof createReferenceModel>; batch: ReferenceBatch } {
  const inputSize = c.oneHot && c.head.kind === 'softmax' ? c.head.classes : 4;
  const reference = createReferenceModel({
    cell: c.cell === 'custom' ? 'rnn' : c.cell,
    inputSize,
    hiddenSize: 6,
    head: c.head,
    seed,
  });
  const batch = randomBatch(reference, {
    steps: 7,
    batchSize: 3,
    seed: seed + 5,
    lossSteps: c.lossSteps,
    oneHot: c.oneHot,
    randomInitialState: true,
  });
  return { reference, batch };
}

describe.each(['cpu', 'wasm'] as const)('hand-written backward steps on %s', (backendName) => {
  const engine = engines[backendName];

  it.each(CASES)(
    '$cell / $head.kind / loss at $lossSteps steps: equals the float64 reference (standard BPTT)',
    async (c) => {
      await engine.activate();
      const { reference, batch } = referenceCase(c, 11);
      const expected = standardBptt(reference, batch);
      const model = modelFor(engine, c.cell, reference);
      const backend = createCellBackend(model, batch, { inputGradients: true });
      try {
        const sb = backend.stateBytes();
        // An MSM schedule with room for two internal states: recomputation included.
        const policy = plan({
          steps: 7,
          memory: { bytes: sb.hidden + 2 * sb.internal, stateBytes: sb },
          strategy: 'msm',
        });
        const result = await runPolicy(backend, policy);
        expect(Math.abs(result.loss - expected.loss)).toBeLessThan(
          1e-5 * Math.max(1, Math.abs(expected.loss)),
        );
        expect(worstGradientError(await backend.readGradients(), expected)).toBeLessThan(1e-4);
      } finally {
        backend.release();
        model.dispose();
      }
    },
  );

  it.each(CASES.filter((c) => c.cell !== 'custom'))(
    '$cell / $head.kind: equals tfjs autodiff of the unrolled sequence',
    async (c) => {
      await engine.activate();
      const { reference, batch } = referenceCase(c, 23);
      const model = modelFor(engine, c.cell, reference);
      const backend = createCellBackend(model, batch);
      try {
        const result = await runPolicy(backend, storeAll(backend));
        const mine = await backend.readGradients();
        const before = engine.numTensors();
        const { inputSize: I, hiddenSize: H } = reference.config;
        const B = batch.batchSize;
        const T = batch.steps;
        const names = Object.keys(model.parameters);
        const [loss, grads] = tf.tidy(() => {
          const xs = Array.from({ length: T }, (_, k) =>
            tf.tensor2d(
              Float32Array.from(batch.inputs.subarray(k * B * I, (k + 1) * B * I)),
              [B, I],
              'float32',
            ),
          );
          const O = c.head.kind === 'softmax' ? c.head.classes : c.head.outputs;
          const targets = Array.from({ length: T }, (_, k) => {
            if (c.lossSteps === 'last' && k !== T - 1) return undefined;
            return c.head.kind === 'softmax'
              ? tf.tensor1d(Int32Array.from(batch.targets.subarray(k * B, (k + 1) * B)), 'int32')
              : tf.tensor2d(
                  Float32Array.from(batch.targets.subarray(k * B * O, (k + 1) * B * O)),
                  [B, O],
                  'float32',
                );
          });
          const init = batch.initialState as Float64Array;
          const parts = c.cell === 'lstm' ? 2 : 1;
          const initial = Array.from({ length: parts }, (_, k) =>
            tf.tensor2d(Float32Array.from(init.subarray(k * B * H, (k + 1) * B * H)), [B, H], 'float32'),
          );
          const problem = {
            cell: c.cell as 'rnn' | 'lstm' | 'gru',
            head: c.head,
            xs,
            targets,
            initial,
            weight: 1 / (B * (c.lossSteps === 'last' ? 1 : T)),
          };
          const f = (...ps: tf.Tensor[]): tf.Scalar => {
            const record: Record<string, tf.Tensor> = {};
            names.forEach((n, i) => {
              record[n] = ps[i] as tf.Tensor;
            });
            return unrolledLoss(problem, record);
          };
          const { value, grads: gs } = tf.valueAndGrads(f)(
            names.map((n) => model.parameters[n] as tf.Tensor),
          );
          return [value, gs] as const;
        });
        const autodiff: Record<string, Float32Array> = {};
        for (const [i, n] of names.entries())
          autodiff[n] = (await (grads[i] as tf.Tensor).data()) as Float32Array;
        const lossValue = (await loss.data())[0] as number;
        tf.dispose([loss, ...grads]);
        expect(engine.numTensors()).toBe(before);
        expect(Math.abs(result.loss - lossValue)).toBeLessThan(1e-5 * Math.max(1, lossValue));
        expect(worstGradientError(mine, { parameters: autodiff })).toBeLessThan(1e-4);
      } finally {
        backend.release();
        model.dispose();
      }
    },
  );
});

describe('cell backends', () => {
  const engine = engines.wasm;

  it('report state sizes measured on the tensors their handles hold', async () => {
    await engine.activate();
    for (const [cell, vectors] of [
      ['rnn', { hidden: 1, internal: 2 }],
      ['lstm', { hidden: 2, internal: 9 }],
      ['gru', { hidden: 1, internal: 6 }],
    ] as const) {
      const model = createRecurrentModel(engine, {
        cell,
        inputSize: 5,
        hiddenSize: 7,
        head: { kind: 'mse', outputs: 2 },
      });
      const B = 3;
      expect(model.stateBytes(B)).toEqual({
        hidden: vectors.hidden * B * 7 * 4,
        internal: vectors.internal * B * 7 * 4,
      });
      const batch = {
        steps: 2,
        batchSize: B,
        inputs: new Float32Array(2 * B * 5).fill(0.5),
        targets: new Float32Array(2 * B * 2),
      };
      const backend = createCellBackend(model, batch);
      const h0 = backend.initialState();
      const { h, internal } = backend.forward(h0, 1, true);
      expect(internal).toBeDefined();
      const bytes = (ts: readonly tf.Tensor[]): number => ts.reduce((n, t) => n + t.size * 4, 0);
      expect(bytes(h.tensors)).toBe(backend.stateBytes().hidden);
      // The internal state holds the previous state, the saved activations and the next state.
      expect(bytes(backend.hiddenOf(internal as NonNullable<typeof internal>).tensors)).toBe(
        backend.stateBytes().hidden,
      );
      backend.dispose(h0);
      backend.dispose(h);
      backend.dispose(internal as NonNullable<typeof internal>);
      expect(backend.liveHandles()).toBe(0);
      backend.release();
      model.dispose();
    }
  });

  it('give the same gradients whatever the weight-gradient chunk', async () => {
    await engine.activate();
    const reference = createReferenceModel({
      cell: 'lstm',
      inputSize: 4,
      hiddenSize: 5,
      head: { kind: 'softmax', classes: 3 },
      seed: 3,
    });
    const batch = randomBatch(reference, { steps: 9, batchSize: 2, seed: 4 });
    const read = async (chunk: number): Promise<GradientReadout> => {
      const model = modelFor(engine, 'lstm', reference);
      const backend = createCellBackend(model, batch, { weightGradientChunk: chunk });
      await runPolicy(backend, storeAll(backend));
      const g = await backend.readGradients();
      backend.release();
      model.dispose();
      return g;
    };
    const one = await read(1);
    for (const chunk of [2, 4, Number.POSITIVE_INFINITY]) {
      expect(worstGradientError(await read(chunk), one)).toBeLessThan(1e-6);
    }
  });

  it('refuse misuse of handles and out-of-order backward steps with typed errors', async () => {
    await engine.activate();
    const reference = createReferenceModel({
      cell: 'gru',
      inputSize: 2,
      hiddenSize: 3,
      head: { kind: 'mse', outputs: 1 },
    });
    const batch = randomBatch(reference, { steps: 3, batchSize: 2 });
    const model = modelFor(engine, 'gru', reference);
    const backend = createCellBackend(model, batch);
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (error) {
        return isTfjsBackendError(error) ? error.code : 'other';
      }
      return undefined;
    };
    const h0 = backend.initialState();
    const { h, internal } = backend.forward(h0, 1, true);
    const s = internal as NonNullable<typeof internal>;
    expect(code(() => backend.dispose(backend.hiddenOf(s)))).toBe('E_HANDLE');
    expect(code(() => backend.backward(s, null, 1))).toBe('E_STEP');
    expect(code(() => backend.forward(h0, 4, false))).toBe('E_STEP');
    backend.dispose(h0);
    expect(code(() => backend.dispose(h0))).toBe('E_HANDLE');
    expect(code(() => backend.forward(h0, 1, false))).toBe('E_HANDLE');
    backend.dispose(h);
    backend.dispose(s);
    expect(backend.liveHandles()).toBe(0);
    backend.release();
    model.dispose();
    expect(code(() => backend.initialState())).toBe('E_DISPOSED');
  });

  it("refuse malformed batches with the executor's E_BATCH, and options with E_CONFIG", async () => {
    await engine.activate();
    const model = createRecurrentModel(engine, {
      cell: 'rnn',
      inputSize: 2,
      hiddenSize: 3,
      head: { kind: 'softmax', classes: 4 },
    });
    const good = { steps: 2, batchSize: 1, inputs: [0, 1, 1, 0], targets: [1, 2] };
    const code = (f: () => unknown): string | undefined => {
      try {
        (f() as TfjsCellBackend).release();
      } catch (error) {
        return isTfjsBackendError(error) || isExecutorError(error) ? error.code : 'other';
      }
      return undefined;
    };
    expect(code(() => createCellBackend(model, good))).toBeUndefined();
    expect(code(() => createCellBackend(model, { ...good, inputs: [0, 1] }))).toBe('E_BATCH');
    expect(code(() => createCellBackend(model, { ...good, targets: [1, 4] }))).toBe('E_BATCH');
    expect(code(() => createCellBackend(model, { ...good, inputs: [0, 2], inputKind: 'ids' }))).toBe(
      'E_BATCH',
    );
    expect(code(() => createCellBackend(model, good, { weightGradientChunk: 0 }))).toBe('E_CONFIG');
    expect(code(() => createCellBackend(model, good, { sparsity: {} }))).toBe('E_CONFIG');
    model.dispose();
  });

  it('leak no tensor across many runs, and release everything', async () => {
    await engine.activate();
    const baseline = engine.numTensors();
    const reference = createReferenceModel({
      cell: 'lstm',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'softmax', classes: 3 },
    });
    const batch = randomBatch(reference, { steps: 12, batchSize: 2, oneHot: true });
    const rnn = createReferenceModel({
      cell: 'rnn',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'softmax', classes: 3 },
    });
    const models: TfjsModel[] = [modelFor(engine, 'lstm', reference), customTanhRnn(engine, rnn)];
    for (const model of models) {
      const backend = createCellBackend(model, batch, { inputGradients: true, weightGradientChunk: 4 });
      const sb = backend.stateBytes();
      let after: number | undefined;
      for (let i = 0; i < 30; i++) {
        const strategy = (['store-all', 'recompute-all', 'msm', 'hsm', 'chen-sqrt'] as const)[i % 5] ?? 'msm';
        const budget = strategy === 'store-all' ? sb.hidden + 12 * sb.internal : sb.hidden * 6 + sb.internal;
        await runPolicy(backend, plan({ steps: 12, memory: { bytes: budget, stateBytes: sb }, strategy }));
        await backend.readGradients();
        if (i === 4) after = engine.numTensors();
        if (i > 4 && i % 5 === 4) expect(engine.numTensors()).toBe(after);
      }
      expect(backend.liveHandles()).toBe(0);
      backend.release();
      model.dispose();
    }
    expect(engine.numTensors()).toBe(baseline);
  });
});
