import type * as tf from '@tensorflow/tfjs-core';
import type { LinearContribution } from './accumulate.js';
import type { Sparsifier } from './sparsity.js';

/** The tensors of a hidden state: `[h]`, or `[h, c]` for an LSTM. Each `[B, H]`. */
export type StateTensors = readonly tf.Tensor2D[];

/** Constants shared by the steps of a model. */
export interface Constants {
  readonly one: tf.Scalar;
  readonly two: tf.Scalar;
  readonly half: tf.Scalar;
}

/** What a cell's forward step produced. */
export interface CellForwardResult {
  readonly next: tf.Tensor2D[];
  /** Everything besides the previous and next states that the backward step needs (when kept). */
  readonly saved?: tf.Tensor[];
}

/** What a cell's backward step produced. Every tensor is new and owned by the caller. */
export interface CellBackwardResult {
  /** Gradient at each tensor of the previous state. */
  readonly dPrev: tf.Tensor2D[];
  /** Weight-gradient products to accumulate. */
  readonly linear: LinearContribution[];
  /** Parameter gradients computed directly (custom cells). */
  readonly direct?: Record<string, tf.Tensor>;
  /** Gradient at the input `x_t`, when asked for. */
  readonly dx?: tf.Tensor2D;
}

/** The arguments of a cell's backward step. Every tensor is borrowed. */
export interface CellBackwardArgs {
  readonly x: tf.Tensor2D;
  readonly prev: StateTensors;
  readonly next: StateTensors;
  readonly saved: readonly tf.Tensor[];
  /** Gradient at each tensor of the next state; `null` parts are zero. The first part is never null. */
  readonly dNext: readonly (tf.Tensor2D | null)[];
  readonly inputGradient: boolean;
  readonly sparsifier: Sparsifier | undefined;
}

/**
 * The arithmetic of one recurrent cell: forward and backward steps on tensors, with the parameters and
 * the derived tensors (transposed weights) of the model. Steps run inside `tf.tidy` scopes of the caller.
 */
export interface CellProgram {
  /** `'rnn'`, `'lstm'`, `'gru'` or `'custom'`. */
  readonly kind: string;
  /** Tensors in a hidden state (2 for an LSTM). */
  readonly stateParts: number;
  /** Recompute the derived tensors (e.g. transposed weights) from the parameters; owned by the caller. */
  derive(params: Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor>;
  forward(
    x: tf.Tensor2D,
    prev: StateTensors,
    keep: boolean,
    params: Readonly<Record<string, tf.Tensor>>,
    derived: Readonly<Record<string, tf.Tensor>>,
    constants: Constants,
  ): CellForwardResult;
  backward(
    args: CellBackwardArgs,
    params: Readonly<Record<string, tf.Tensor>>,
    derived: Readonly<Record<string, tf.Tensor>>,
    constants: Constants,
  ): CellBackwardResult;
}

/** A named tensor that must exist. */
export function need<T extends tf.Tensor>(record: Readonly<Record<string, tf.Tensor>>, name: string): T {
  const t = record[name];
  if (t === undefined) throw new Error(`internal: missing tensor ${name}`);
  return t as T;
}
