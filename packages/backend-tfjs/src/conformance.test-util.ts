import type { CellBackendV1, LossHead } from '@rewind/executor';
import {
  type BackendFactory,
  type ConformanceOptions,
  describeBackendConformance,
} from '@rewind/executor/conformance';
import { createReferenceModel, type ReferenceModel, randomBatch } from '@rewind/executor/reference';
import { solverPlanner } from '@rewind/solver';
import * as tf from '@tensorflow/tfjs-core';
import { type CellBackendOptions, createCellBackend, type TfjsCellBackend } from './backend.js';
import type { TfjsEngine } from './engine.js';
import { createCustomModel, createRecurrentModel, type TfjsModel } from './model.js';
import { createRangeBackend, type TfjsRangeBackend } from './ranges.js';

/** The cells the tests build: the three built-in ones and a custom tanh RNN differentiated by autodiff. */
export type TestCell = 'rnn' | 'lstm' | 'gru' | 'custom';

/** A custom cell computing exactly the reference's vanilla RNN, `h' = tanh(W x + U h + b)`, with tf ops. */
export function customTanhRnn(
  engine: TfjsEngine,
  reference: ReferenceModel,
  options: { readonly name?: string } = {},
): TfjsModel {
  const { inputSize, hiddenSize, head } = reference.config;
  const p = reference.params;
  return createCustomModel(engine, {
    name: options.name ?? 'custom-rnn',
    inputSize,
    hiddenSize,
    head,
    parameters: {
      W: { shape: [hiddenSize, inputSize], init: p['W'] as Float64Array },
      U: { shape: [hiddenSize, hiddenSize], init: p['U'] as Float64Array },
      b: { shape: [hiddenSize], init: p['b'] as Float64Array },
    },
    step: (x, h, q) =>
      tf.tanh(
        tf.add(
          tf.add(
            tf.matMul(x, tf.transpose(q['W'] as tf.Tensor2D)),
            tf.matMul(h, tf.transpose(q['U'] as tf.Tensor2D)),
          ),
          q['b'] as tf.Tensor1D,
        ),
      ),
  });
}

/** The tfjs model for a reference model (same weights). */
export function modelFor(engine: TfjsEngine, cell: TestCell, reference: ReferenceModel): TfjsModel {
  if (cell === 'custom') {
    const model = customTanhRnn(engine, reference);
    model.setParameters({
      Wy: reference.params['Wy'] as Float64Array,
      by: reference.params['by'] as Float64Array,
    });
    return model;
  }
  const { inputSize, hiddenSize, head } = reference.config;
  return createRecurrentModel(engine, { cell, inputSize, hiddenSize, head, parameters: reference.params });
}

const owners = new WeakMap<object, TfjsModel>();

/**
 * A conformance factory: a small reference model and random batch (perturbations applied), copied into a
 * tfjs model on `engine`.
 */
export function tfjsFactory(
  engine: TfjsEngine,
  cell: TestCell,
  head: LossHead,
  backendOptions: CellBackendOptions = {},
  ranges = false,
): BackendFactory<CellBackendV1 | TfjsRangeBackend> {
  return ({ steps, seed, perturb }) => {
    const reference = createReferenceModel({
      cell: cell === 'custom' ? 'rnn' : cell,
      inputSize: 3,
      hiddenSize: 3,
      head,
      seed,
    });
    const batch = randomBatch(reference, { steps, batchSize: 2, seed: seed + 1, randomInitialState: true });
    if (perturb !== undefined) {
      const target =
        perturb.group === 'parameters'
          ? reference.params[perturb.name ?? '']
          : perturb.group === 'inputs'
            ? batch.inputs
            : batch.initialState;
      if (target === undefined || perturb.index >= target.length) throw new RangeError('no such coordinate');
      target[perturb.index] = (target[perturb.index] as number) + perturb.delta;
    }
    const model = modelFor(engine, cell, reference);
    const options = { inputGradients: true, ...backendOptions };
    const backend = ranges
      ? createRangeBackend(model, batch, options)
      : createCellBackend(model, batch, options);
    owners.set(backend, model);
    return backend;
  };
}

/** Conformance options for float32 tfjs backends. */
export function conformanceOptions<B extends CellBackendV1 | TfjsRangeBackend = CellBackendV1>(
  overrides: ConformanceOptions<B> = {},
): ConformanceOptions<B> {
  return {
    // Recomputed steps are bit-identical, so every strategy equals store-all up to float32 rounding.
    tolerance: 1e-5,
    // Float32: central differences need a larger step, and float32 round-off bounds the agreement.
    finiteDifferences: { epsilon: 1e-2, tolerance: 2e-3, coordinates: 2 },
    disposeBackend: (backend) => {
      (backend as unknown as TfjsCellBackend | TfjsRangeBackend).release();
      owners.get(backend)?.dispose();
    },
    ...overrides,
  };
}

/** The cells and heads every tfjs engine runs the executor's conformance suite on. */
const CONFORMANCE_CASES: ReadonlyArray<readonly [TestCell, Parameters<typeof tfjsFactory>[2]]> = [
  ['rnn', { kind: 'softmax', classes: 3 }],
  ['lstm', { kind: 'mse', outputs: 2 }],
  ['gru', { kind: 'softmax', classes: 4 }],
  ['custom', { kind: 'mse', outputs: 2 }],
];

/** The cases of the range-level backend (version 2): the fused cells, whose heads it batches. */
const RANGE_CASES: ReadonlyArray<readonly [TestCell, Parameters<typeof tfjsFactory>[2]]> = [
  ['lstm', { kind: 'softmax', classes: 3 }],
  ['gru', { kind: 'mse', outputs: 2 }],
];

/** Register the conformance suite for every case on one engine. */
export function describeTfjsConformance(engine: TfjsEngine, overrides: ConformanceOptions = {}): void {
  for (const [cell, head] of CONFORMANCE_CASES) {
    describeBackendConformance(
      `tfjs ${engine.backend} ${cell} (${head.kind})`,
      tfjsFactory(engine, cell, head) as BackendFactory<CellBackendV1>,
      { ...conformanceOptions(overrides), planner: solverPlanner },
    );
  }
  // The range-level backend computes every row as a step alone does: each strategy equals store-all
  // exactly (tolerance 0).
  for (const [cell, head] of RANGE_CASES) {
    describeBackendConformance(
      `tfjs ${engine.backend} v2 ${cell} (${head.kind})`,
      tfjsFactory(engine, cell, head, {}, true) as BackendFactory<TfjsRangeBackend>,
      { ...conformanceOptions<TfjsRangeBackend>(), tolerance: 0, planner: solverPlanner },
    );
  }
}
