import { describe, expect, it } from 'vitest';
import { isExecutorError } from '../errors.js';
import { type CellKind, type LossHead, oneHot, parameterShapes } from '../model.js';
import { createReferenceBackend, type ReferenceHidden, type ReferenceInternal } from './backend.js';
import { standardBptt } from './bptt.js';
import { createReferenceModel, type ReferenceBatch, type ReferenceModel, randomBatch } from './model.js';

const CELLS: readonly CellKind[] = ['rnn', 'lstm', 'gru'];

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isExecutorError(e) ? e.code : `untyped: ${String(e)}`;
  }
  return undefined;
}
const HEADS: readonly LossHead[] = [
  { kind: 'softmax', classes: 3 },
  { kind: 'mse', outputs: 2 },
];

function withParam(model: ReferenceModel, name: string, index: number, delta: number): ReferenceModel {
  const params = { ...model.params, [name]: model.params[name]!.slice() };
  params[name]![index]! += delta;
  return { config: model.config, params };
}

/** Central differences of the loss against every coordinate, compared with standard BPTT's gradients. */
function checkFiniteDifferences(model: ReferenceModel, batch: ReferenceBatch): number {
  const eps = 1e-5;
  const grads = standardBptt(model, batch);
  let worst = 0;
  const compare = (analytic: number, plus: number, minus: number): void => {
    const numeric = (plus - minus) / (2 * eps);
    worst = Math.max(worst, Math.abs(numeric - analytic) / Math.max(1, Math.abs(analytic)));
  };
  for (const [name, g] of Object.entries(grads.parameters)) {
    for (let i = 0; i < g.length; i++) {
      compare(
        g[i]!,
        standardBptt(withParam(model, name, i, eps), batch).loss,
        standardBptt(withParam(model, name, i, -eps), batch).loss,
      );
    }
  }
  const nudged = (key: 'inputs' | 'initialState', i: number, d: number): ReferenceBatch => {
    const base = key === 'inputs' ? batch.inputs : batch.initialState!;
    const copy = base.slice();
    copy[i]! += d;
    return { ...batch, [key]: copy };
  };
  for (let i = 0; i < grads.inputs.length; i++) {
    compare(
      grads.inputs[i]!,
      standardBptt(model, nudged('inputs', i, eps)).loss,
      standardBptt(model, nudged('inputs', i, -eps)).loss,
    );
  }
  for (let i = 0; i < grads.initialState.length; i++) {
    compare(
      grads.initialState[i]!,
      standardBptt(model, nudged('initialState', i, eps)).loss,
      standardBptt(model, nudged('initialState', i, -eps)).loss,
    );
  }
  return worst;
}

describe('reference cells: standard BPTT against central finite differences', () => {
  for (const cell of CELLS) {
    for (const head of HEADS) {
      for (const lossSteps of ['all', 'last'] as const) {
        it(`${cell} with a ${head.kind} head, loss at ${lossSteps} steps`, () => {
          const model = createReferenceModel({ cell, inputSize: 3, hiddenSize: 3, head, seed: 5 });
          const batch = randomBatch(model, {
            steps: 4,
            batchSize: 2,
            seed: 9,
            lossSteps,
            randomInitialState: true,
            oneHot: head.kind === 'softmax',
          });
          expect(checkFiniteDifferences(model, batch)).toBeLessThan(1e-7);
        });
      }
    }
  }
});

describe('reference model and backend', () => {
  it('initialises parameters deterministically from the seed', () => {
    const a = createReferenceModel({
      cell: 'lstm',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'mse', outputs: 2 },
      seed: 3,
    });
    const b = createReferenceModel({
      cell: 'lstm',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'mse', outputs: 2 },
      seed: 3,
    });
    const c = createReferenceModel({
      cell: 'lstm',
      inputSize: 3,
      hiddenSize: 4,
      head: { kind: 'mse', outputs: 2 },
      seed: 4,
    });
    expect(a.params).toEqual(b.params);
    expect(a.params['W']).not.toEqual(c.params['W']);
    expect(a.params['W']!.length).toBe(16 * 3);
    for (const p of Object.values(a.params)) for (const v of p) expect(Math.abs(v)).toBeLessThan(0.5);
    expect(parameterShapes(c.config)).toEqual({ W: [16, 3], U: [16, 4], b: [16], Wy: [2, 4], by: [2] });
  });

  it('measures alpha from the state sizes: rnn 2, lstm 4.5, gru 6', () => {
    const expected = { rnn: [1, 2], lstm: [2, 4.5], gru: [1, 6] } as const;
    for (const cell of CELLS) {
      const model = createReferenceModel({
        cell,
        inputSize: 2,
        hiddenSize: 5,
        head: { kind: 'mse', outputs: 1 },
      });
      const backend = createReferenceBackend(model, randomBatch(model, { steps: 3, batchSize: 4 }));
      const [vectors, alpha] = expected[cell];
      expect(backend.stateBytes().hidden).toBe(vectors * 4 * 5 * 8);
      expect(backend.alpha).toBe(alpha);
      expect(backend.stateBytes().internal).toBe(alpha * backend.stateBytes().hidden);
    }
  });

  it('builds language-model batches from one-hot tokens', () => {
    const model = createReferenceModel({
      cell: 'gru',
      inputSize: 5,
      hiddenSize: 2,
      head: { kind: 'softmax', classes: 5 },
    });
    const batch = randomBatch(model, { steps: 3, batchSize: 2, oneHot: true });
    expect(batch.inputs.length).toBe(3 * 2 * 5);
    for (let i = 0; i < 6; i++)
      expect(batch.inputs.subarray(i * 5, i * 5 + 5).reduce((s, v) => s + v, 0)).toBe(1);
    // The target of step t is the input token of step t + 1.
    for (let i = 0; i < 4; i++) expect(batch.inputs[(i + 2) * 5 + batch.targets[i]!]).toBe(1);
    expect(Array.from(oneHot([2, 0], 3))).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => oneHot([3], 3)).toThrow(/outside 0..2/);
    try {
      oneHot([3], 3);
    } catch (e) {
      expect(isExecutorError(e, 'E_BATCH')).toBe(true);
    }
  });

  it('rejects batches that do not fit the model', () => {
    const model = createReferenceModel({
      cell: 'rnn',
      inputSize: 2,
      hiddenSize: 2,
      head: { kind: 'softmax', classes: 3 },
    });
    const batch = randomBatch(model, { steps: 2, batchSize: 1 });
    expect(codeOf(() => createReferenceBackend(model, { ...batch, inputs: new Float64Array(3) }))).toBe(
      'E_BATCH',
    );
    expect(codeOf(() => createReferenceBackend(model, { ...batch, targets: Int32Array.from([0, 3]) }))).toBe(
      'E_BATCH',
    );
    expect(codeOf(() => createReferenceBackend(model, { ...batch, initialState: new Float64Array(5) }))).toBe(
      'E_BATCH',
    );
    expect(() => createReferenceBackend(model, { ...batch, targets: Int32Array.from([0, 3]) })).toThrow(
      /\/targets\/1 is class id 3, outside 0..2/,
    );
    expect(
      codeOf(() =>
        createReferenceModel({ cell: 'rnn', inputSize: 0, hiddenSize: 2, head: { kind: 'mse', outputs: 1 } }),
      ),
    ).toBe('E_MODEL');
  });

  it('checks its handles: no use or disposal after disposal, no disposal of lent states, backward in order', () => {
    const model = createReferenceModel({
      cell: 'lstm',
      inputSize: 2,
      hiddenSize: 2,
      head: { kind: 'mse', outputs: 1 },
    });
    const backend = createReferenceBackend(model, randomBatch(model, { steps: 3, batchSize: 1 }));
    const h0 = backend.initialState() as ReferenceHidden;
    const out = backend.forward(h0, 1, true) as { h: ReferenceHidden; internal?: ReferenceInternal };
    const s1 = out.internal!;
    expect(() => backend.dispose(backend.hiddenOf(s1))).toThrow(/lent/);
    expect(codeOf(() => backend.dispose(backend.hiddenOf(s1)))).toBe('E_HANDLE');
    expect(codeOf(() => backend.forward(h0, 4, false))).toBe('E_STEP');
    expect(codeOf(() => backend.forward(h0, 2, false))).toBe('E_STEP');
    expect(() => backend.backward(s1, null, 1)).toThrow(/needs an incoming gradient|out of order/);
    expect(codeOf(() => backend.backward(s1, null, 1))).toBe('E_STEP');
    const other = createReferenceBackend(model, randomBatch(model, { steps: 3, batchSize: 1 }));
    expect(codeOf(() => other.forward(h0, 1, false))).toBe('E_HANDLE');
    backend.dispose(h0);
    expect(() => backend.dispose(h0)).toThrow(/twice/);
    expect(() => backend.forward(h0, 1, false)).toThrow(/disposed/);
    const view = backend.hiddenOf(s1);
    backend.dispose(s1);
    expect(() => backend.forward(view, 2, false)).toThrow(/disposed/);
    backend.dispose(out.h);
    expect(backend.liveHandles()).toBe(0);
  });

  it('standard BPTT is deterministic', () => {
    const model = createReferenceModel({
      cell: 'gru',
      inputSize: 3,
      hiddenSize: 3,
      head: { kind: 'softmax', classes: 3 },
    });
    const batch = randomBatch(model, { steps: 5, batchSize: 3, seed: 2 });
    const a = standardBptt(model, batch);
    const b = standardBptt(model, batch);
    expect(a).toEqual(b);
    expect(a.loss).toBeGreaterThan(0);
    expect(a.initialState.length).toBe(9);
  });
});
