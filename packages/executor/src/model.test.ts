import { describe, expect, it } from 'vitest';
import { isExecutorError } from './errors.js';
import {
  CELL_GATES,
  CELL_KINDS,
  cellParameterNames,
  checkBatch,
  checkModelShape,
  denseBatch,
  GATE_ORDER,
  lossTokens,
  lossWeight,
  parameterShapes,
  parameterSizes,
  STATE_PARTS,
} from './model.js';

function failure(f: () => unknown): { code: string; path: string | undefined } | undefined {
  try {
    f();
  } catch (e) {
    if (!isExecutorError(e)) throw e;
    return { code: e.code, path: e.path };
  }
  return undefined;
}

describe('the model contract', () => {
  it('lays out every cell: gates, carried tensors, parameters', () => {
    expect(CELL_KINDS).toEqual(['rnn', 'lstm', 'gru']);
    expect(GATE_ORDER.lstm).toEqual(['i', 'f', 'g', 'o']);
    expect(GATE_ORDER.gru).toEqual(['z', 'r', 'n']);
    expect(CELL_GATES).toEqual({ rnn: 1, lstm: 4, gru: 3 });
    expect(STATE_PARTS.lstm).toEqual(['h', 'c']);
    expect(cellParameterNames('gru')).toEqual(['W', 'U', 'b', 'bu']);
    const shape = { cell: 'gru', inputSize: 5, hiddenSize: 3, head: { kind: 'mse', outputs: 2 } } as const;
    expect(parameterShapes(shape)).toEqual({ W: [9, 5], U: [9, 3], b: [9], bu: [9], Wy: [2, 3], by: [2] });
    expect(parameterSizes(shape)).toEqual({ W: 45, U: 27, b: 9, bu: 9, Wy: 6, by: 2 });
    expect(Object.keys(parameterShapes({ ...shape, cell: 'lstm' }))).toEqual(['W', 'U', 'b', 'Wy', 'by']);
  });

  it('weights the loss as a mean over sequences and loss steps', () => {
    expect(lossWeight({ steps: 4, batchSize: 2 }, 3)).toBe(1 / 8);
    expect(lossWeight({ steps: 4, batchSize: 2, lossSteps: 'last' }, 3)).toBe(0);
    expect(lossWeight({ steps: 4, batchSize: 2, lossSteps: 'last' }, 4)).toBe(1 / 2);
    expect(lossTokens({ steps: 4, batchSize: 2 })).toBe(8);
    expect(lossTokens({ steps: 4, batchSize: 2, lossSteps: 'last' })).toBe(2);
  });

  it('refuses bad model shapes with E_MODEL and the field as a JSON pointer', () => {
    const ok = { cell: 'lstm', inputSize: 2, hiddenSize: 3, head: { kind: 'softmax', classes: 4 } } as const;
    expect(failure(() => checkModelShape(ok))).toBeUndefined();
    expect(failure(() => checkModelShape({ ...ok, cell: 'cnn' as 'lstm' }))).toEqual({
      code: 'E_MODEL',
      path: '/cell',
    });
    expect(failure(() => checkModelShape({ ...ok, hiddenSize: 0 }))).toEqual({
      code: 'E_MODEL',
      path: '/hiddenSize',
    });
    expect(failure(() => checkModelShape({ ...ok, head: { kind: 'softmax', classes: 1.5 } }))).toEqual({
      code: 'E_MODEL',
      path: '/head/classes',
    });
    expect(failure(() => checkModelShape({ ...ok, head: { kind: 'x' } as never }))).toEqual({
      code: 'E_MODEL',
      path: '/head',
    });
  });

  it('refuses batches that do not fit with E_BATCH, naming the field, what it holds and what fits', () => {
    const shape = {
      inputSize: 3,
      head: { kind: 'softmax', classes: 3 },
      stateWidth: 4,
    } as const;
    const ok = { steps: 2, batchSize: 2, inputs: new Float64Array(12), targets: [0, 1, 2, 0] };
    expect(failure(() => checkBatch(shape, ok))).toBeUndefined();
    expect(failure(() => checkBatch(shape, { ...ok, steps: 0 }))).toEqual({
      code: 'E_BATCH',
      path: '/steps',
    });
    expect(failure(() => checkBatch(shape, { ...ok, inputs: new Float64Array(11) }))).toEqual({
      code: 'E_BATCH',
      path: '/inputs',
    });
    expect(() => checkBatch(shape, { ...ok, inputs: new Float64Array(11) })).toThrow(
      /\/inputs must hold T\*B\*I = 12 numbers, found 11/,
    );
    expect(failure(() => checkBatch(shape, { ...ok, targets: [0, 1, 3, 0] }))).toEqual({
      code: 'E_BATCH',
      path: '/targets/2',
    });
    expect(failure(() => checkBatch(shape, { ...ok, initialState: new Float64Array(4) }))).toEqual({
      code: 'E_BATCH',
      path: '/initialState',
    });
    expect(failure(() => checkBatch(shape, { ...ok, lossSteps: 'some' as 'all' }))).toEqual({
      code: 'E_BATCH',
      path: '/lossSteps',
    });
    const ids = { ...ok, inputKind: 'ids' as const, inputs: [0, 2, 1, 1] };
    expect(failure(() => checkBatch(shape, ids))).toBeUndefined();
    expect(failure(() => checkBatch(shape, { ...ids, inputs: [0, 3, 1, 1] }))).toEqual({
      code: 'E_BATCH',
      path: '/inputs/1',
    });
  });

  it('one-hot encodes token-id batches for backends that take dense inputs', () => {
    const batch = { steps: 1, batchSize: 2, inputKind: 'ids' as const, inputs: [2, 0], targets: [0, 1] };
    const dense = denseBatch(batch, 3);
    expect(dense.inputKind).toBeUndefined();
    expect(Array.from(dense.inputs)).toEqual([0, 0, 1, 1, 0, 0]);
    const already = { steps: 1, batchSize: 1, inputs: [0.5], targets: [0] };
    expect(denseBatch(already, 1)).toBe(already);
  });
});
