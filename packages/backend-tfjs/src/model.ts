import {
  CELL_GATES,
  type CellKind,
  checkHead as checkContractHead,
  headWidth,
  isExecutorError,
  type LossHead,
  parameterShapes,
} from '@rewind/executor';
import { seededUniform } from '@rewind/executor/data';
import type { StateBytes } from '@rewind/policy';
import * as tf from '@tensorflow/tfjs-core';
import { CELL_PROGRAMS } from './cells.js';
import { type CustomStepFunction, customProgram } from './custom.js';
import type { TfjsEngine } from './engine.js';
import { TfjsBackendError } from './errors.js';
import { registerGradients } from './gradients.js';
import { deriveHead } from './head.js';
import type { CellProgram, Constants } from './program.js';
import { distinctBytes, tidy } from './util.js';

/**
 * A model with a built-in cell. Parameters (row-major, the layout of @rewind/executor's reference
 * backend): `W` (`G x I`), `U` (`G x H`), `b` (`G`), for a GRU also `bu` (`G`, the recurrent bias), and the
 * head's `Wy` (`O x H`) and `by` (`O`), with `G = gates * H` and gate blocks LSTM `i, f, g, o`, GRU
 * `z, r, n`.
 */
export interface RecurrentModelConfig {
  /** `'rnn'` (tanh), `'lstm'` or `'gru'`. */
  readonly cell: CellKind;
  /** Width `I` of an input `x_t` (the vocabulary size for token inputs, which are one-hot encoded). */
  readonly inputSize: number;
  /** Width `H` of `h_t` (and of an LSTM's `c_t`). */
  readonly hiddenSize: number;
  /** The per-step output and loss. */
  readonly head: LossHead;
  /** Seed of the initialisation: uniform in `[-1/sqrt(H), 1/sqrt(H))` (default 1). */
  readonly seed?: number;
  /** Initial values of some or all parameters, by name, flat in the layout above. */
  readonly parameters?: Readonly<Record<string, ArrayLike<number>>>;
}

/** A parameter of a custom cell. */
export interface CustomParameter {
  /** Its shape. */
  readonly shape: readonly number[];
  /** Initial values: `'uniform'` in `[-1/sqrt(H), 1/sqrt(H))` (default), `'zeros'`, or flat values. */
  readonly init?: 'uniform' | 'zeros' | ArrayLike<number>;
}

/** A model with a custom cell, differentiated by tfjs' autodiff. */
export interface CustomModelConfig {
  /** A short name for messages (default `'custom'`). */
  readonly name?: string;
  /** Width `I` of an input `x_t`. */
  readonly inputSize: number;
  /** Width `H` of `h_t`. */
  readonly hiddenSize: number;
  /** The per-step output and loss (its parameters `Wy`, `by` are added to the cell's). */
  readonly head: LossHead;
  /** The cell's parameters, by name (`Wy` and `by` are reserved). */
  readonly parameters: Readonly<Record<string, CustomParameter>>;
  /** The step function. */
  readonly step: CustomStepFunction;
  /** Seed of the `'uniform'` initialisations (default 1). */
  readonly seed?: number;
}

/**
 * A recurrent model on a tfjs engine: a cell, a loss head and their parameters as `tf.Variable`s. Cell
 * backends (`createCellBackend`) read the parameters at every step; change them only through
 * `setParameters`, or call `markUpdated()` after assigning the variables directly (the model caches
 * derived tensors such as the transposed weights).
 */
export interface TfjsModel {
  /** The engine the model's tensors live on. */
  readonly engine: TfjsEngine;
  /** `'rnn'`, `'lstm'`, `'gru'` or `'custom'`. */
  readonly cell: CellKind | 'custom';
  /** A short name for messages. */
  readonly name: string;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly head: LossHead;
  /** Tensors in a hidden state: 2 for an LSTM (`h`, `c`), else 1. */
  readonly stateParts: number;
  /** The parameters, by name. */
  readonly parameters: Readonly<Record<string, tf.Variable>>;
  /** Incremented whenever the parameters change. */
  readonly version: number;
  /** Copy values into some or all parameters (flat, row-major). */
  setParameters(values: Readonly<Record<string, ArrayLike<number>>>): void;
  /** A copy of every parameter, flat (an asynchronous read-back). */
  getParameters(): Promise<Record<string, Float32Array>>;
  /** Declare that parameter variables were assigned directly. */
  markUpdated(): void;
  /**
   * Bytes of one hidden and one internal state for batches of `batchSize` sequences, measured on the
   * tensors a forward step really keeps (cached per batch size).
   */
  stateBytes(batchSize: number): StateBytes;
  /** Whether `dispose` was called. */
  readonly disposed: boolean;
  /** Release every tensor of the model. */
  dispose(): void;
}

/** The model's internals, used by cell backends and trainers of this package. */
export interface ModelInternals {
  readonly program: CellProgram;
  /** Gate blocks of a built-in cell (0 for custom cells). */
  readonly gates: number;
  readonly constants: Constants;
  /** The derived tensors for the current parameters. */
  derived(): Readonly<Record<string, tf.Tensor>>;
}

const internals = new WeakMap<TfjsModel, ModelInternals>();

/** The internals of a model of this package. */
export function modelInternals(model: TfjsModel): ModelInternals {
  const found = internals.get(model);
  if (found === undefined) throw new TfjsBackendError('E_CONFIG', 'not a model of @rewind/backend-tfjs');
  return found;
}

function positiveInteger(name: string, n: unknown): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new TfjsBackendError('E_CONFIG', `${name} must be a positive integer, got ${String(n)}`);
  }
  return n;
}

function checkHead(head: LossHead): void {
  try {
    checkContractHead(head);
  } catch (e) {
    if (isExecutorError(e)) throw new TfjsBackendError('E_CONFIG', e.message.slice(e.code.length + 2));
    throw e;
  }
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function toFloat32(name: string, values: ArrayLike<number>, size: number): Float32Array {
  if (values.length !== size) {
    throw new TfjsBackendError('E_CONFIG', `parameter ${name} needs ${size} values, got ${values.length}`);
  }
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = values[i] as number;
  return out;
}

interface ModelSpec {
  readonly engine: TfjsEngine;
  readonly cell: CellKind | 'custom';
  readonly name: string;
  readonly program: CellProgram;
  readonly gates: number;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly head: LossHead;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  readonly initial: Readonly<Record<string, Float32Array>>;
}

function buildModel(spec: ModelSpec): TfjsModel {
  const { engine, program } = spec;
  engine.assertActive();
  const parameters: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(spec.shapes)) {
    const values = spec.initial[name] as Float32Array;
    const init = tf.tensor(values, shape as number[], 'float32');
    parameters[name] = tf.variable(init, true);
    init.dispose();
  }
  const constants: Constants = {
    one: tf.keep(tf.scalar(1)),
    two: tf.keep(tf.scalar(2)),
    half: tf.keep(tf.scalar(0.5)),
  };
  let version = 0;
  let cache: { version: number; tensors: Record<string, tf.Tensor> } | undefined;
  const bytesCache = new Map<number, StateBytes>();
  let disposed = false;

  const alive = (): void => {
    if (disposed) throw new TfjsBackendError('E_DISPOSED', `model ${spec.name} was disposed`);
  };
  const derived = (): Readonly<Record<string, tf.Tensor>> => {
    if (cache !== undefined && cache.version === version) return cache.tensors;
    alive();
    // Kept: derived() may be first called inside a caller's tf.tidy scope.
    const tensors = tidy(() => ({ ...program.derive(parameters), ...deriveHead(parameters) }));
    for (const t of Object.values(tensors)) tf.keep(t);
    if (cache !== undefined) for (const t of Object.values(cache.tensors)) t.dispose();
    cache = { version, tensors };
    return tensors;
  };

  const model: TfjsModel = {
    engine,
    cell: spec.cell,
    name: spec.name,
    inputSize: spec.inputSize,
    hiddenSize: spec.hiddenSize,
    head: spec.head,
    stateParts: program.stateParts,
    parameters,
    get version() {
      return version;
    },
    get disposed() {
      return disposed;
    },
    setParameters(values) {
      alive();
      for (const [name, v] of Object.entries(values)) {
        const p = parameters[name];
        if (p === undefined) {
          throw new TfjsBackendError(
            'E_CONFIG',
            `model ${spec.name} has no parameter ${name} (it has ${Object.keys(parameters).join(', ')})`,
          );
        }
        const data = toFloat32(name, v, p.size);
        tf.tidy(() => p.assign(tf.tensor(data, p.shape, 'float32')));
      }
      version++;
    },
    async getParameters() {
      alive();
      const out: Record<string, Float32Array> = {};
      for (const [name, p] of Object.entries(parameters)) out[name] = Float32Array.from(await p.data());
      return out;
    },
    markUpdated() {
      version++;
    },
    stateBytes(batchSize) {
      alive();
      positiveInteger('batchSize', batchSize);
      const known = bytesCache.get(batchSize);
      if (known !== undefined) return { ...known };
      const H = spec.hiddenSize;
      const measured = tf.tidy(() => {
        const x = tf.zeros([batchSize, spec.inputSize]) as tf.Tensor2D;
        const prev = Array.from(
          { length: program.stateParts },
          () => tf.zeros([batchSize, H]) as tf.Tensor2D,
        );
        const out = program.forward(x, prev, true, parameters, derived(), constants);
        for (const t of out.next) {
          if (t.rank !== 2 || t.shape[0] !== batchSize || t.shape[1] !== H) {
            throw new TfjsBackendError(
              'E_CONFIG',
              `the ${spec.name} step returned a state of shape [${t.shape.join(', ')}], expected [${batchSize}, ${H}]`,
            );
          }
        }
        // The tensors a backend keeps: the next state for a hidden checkpoint; the previous state, what
        // the step saved and the next state for an internal checkpoint.
        const hidden = distinctBytes(out.next);
        const internal = distinctBytes([...prev, ...(out.saved ?? []), ...out.next]);
        return { hidden, internal };
      });
      bytesCache.set(batchSize, measured);
      return { ...measured };
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const p of Object.values(parameters)) p.dispose();
      if (cache !== undefined) for (const t of Object.values(cache.tensors)) t.dispose();
      cache = undefined;
      constants.one.dispose();
      constants.two.dispose();
      constants.half.dispose();
    },
  };
  internals.set(model, { program, gates: spec.gates, constants, derived });
  return model;
}

/** Uniform values in `[-scale, scale)`. */
function uniform(size: number, rng: () => number, scale: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = (2 * rng() - 1) * scale;
  return out;
}

/**
 * Create a model with a built-in cell (vanilla RNN, LSTM or GRU) whose backward steps are written by
 * hand. Parameters are initialised uniformly in `[-1/sqrt(H), 1/sqrt(H))` from `seed`, or taken from
 * `config.parameters`.
 */
export function createRecurrentModel(engine: TfjsEngine, config: RecurrentModelConfig): TfjsModel {
  if (!(config.cell in CELL_PROGRAMS)) {
    throw new TfjsBackendError(
      'E_CONFIG',
      `unknown cell ${JSON.stringify(config.cell)}; expected rnn, lstm or gru`,
    );
  }
  positiveInteger('inputSize', config.inputSize);
  positiveInteger('hiddenSize', config.hiddenSize);
  checkHead(config.head);
  const shapes = parameterShapes(config);
  const rng = seededUniform(config.seed ?? 1);
  const scale = 1 / Math.sqrt(config.hiddenSize);
  const initial: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const given = config.parameters?.[name];
    initial[name] =
      given === undefined ? uniform(sizeOf(shape), rng, scale) : toFloat32(name, given, sizeOf(shape));
  }
  for (const name of Object.keys(config.parameters ?? {})) {
    if (!(name in shapes))
      throw new TfjsBackendError('E_CONFIG', `a ${config.cell} model has no parameter ${name}`);
  }
  return buildModel({
    engine,
    cell: config.cell,
    name: config.cell,
    program: CELL_PROGRAMS[config.cell],
    gates: CELL_GATES[config.cell],
    inputSize: config.inputSize,
    hiddenSize: config.hiddenSize,
    head: config.head,
    shapes,
    initial,
  });
}

/**
 * Create a model whose cell is any step function `(x_t, hPrev, params) => h_t` made of tfjs operations.
 * Its backward steps use tfjs' autodiff (`tf.grads`); this registers the package's gradients for common
 * kernels first (`registerGradients`).
 */
export function createCustomModel(engine: TfjsEngine, config: CustomModelConfig): TfjsModel {
  positiveInteger('inputSize', config.inputSize);
  positiveInteger('hiddenSize', config.hiddenSize);
  checkHead(config.head);
  if (typeof config.step !== 'function') throw new TfjsBackendError('E_CONFIG', 'step must be a function');
  const names = Object.keys(config.parameters);
  const shapes: Record<string, readonly number[]> = {};
  const initial: Record<string, Float32Array> = {};
  const rng = seededUniform(config.seed ?? 1);
  const scale = 1 / Math.sqrt(config.hiddenSize);
  for (const name of names) {
    if (name === 'Wy' || name === 'by') {
      throw new TfjsBackendError('E_CONFIG', `the parameter names Wy and by are reserved for the head`);
    }
    const p = config.parameters[name] as CustomParameter;
    const shape = [...p.shape];
    if (shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new TfjsBackendError('E_CONFIG', `parameter ${name} has an invalid shape [${shape.join(', ')}]`);
    }
    const size = sizeOf(shape);
    const init = p.init ?? 'uniform';
    shapes[name] = shape;
    initial[name] =
      init === 'uniform'
        ? uniform(size, rng, scale)
        : init === 'zeros'
          ? new Float32Array(size)
          : toFloat32(name, init, size);
  }
  const O = headWidth(config.head);
  shapes['Wy'] = [O, config.hiddenSize];
  shapes['by'] = [O];
  initial['Wy'] = uniform(O * config.hiddenSize, rng, scale);
  initial['by'] = uniform(O, rng, scale);
  registerGradients();
  const name = config.name ?? 'custom';
  return buildModel({
    engine,
    cell: 'custom',
    name,
    program: customProgram(config.step, names),
    gates: 0,
    inputSize: config.inputSize,
    hiddenSize: config.hiddenSize,
    head: config.head,
    shapes,
    initial,
  });
}
