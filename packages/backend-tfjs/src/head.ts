import type { LossHead } from '@rewind/executor';
import * as tf from '@tensorflow/tfjs-core';
import type { LinearContribution } from './accumulate.js';
import { need } from './program.js';

/** The step's targets, prepared once per batch: class ids `[B]` (int32) or values `[B, O]`. */
export type HeadTargets = tf.Tensor1D | tf.Tensor2D;

/** What the head adds at one step. Every tensor is new. */
export interface HeadStep {
  /** The step's loss term (already weighted). */
  readonly loss: tf.Scalar;
  /** The gradient at `h_t`. */
  readonly dh: tf.Tensor2D;
  /** `dWy += dy^T h`, `dby += sum(dy)`. */
  readonly linear: LinearContribution;
}

/**
 * The loss term at one step, weighted by `weight`, its gradient at `h` and the head's weight-gradient
 * product. Softmax: `weight * sum_rows(logsumexp(y) - y[target])`; MSE: `weight / O * sum((y - target)^2)`.
 */
export function headStep(
  head: LossHead,
  h: tf.Tensor2D,
  targets: HeadTargets,
  weight: number,
  params: Readonly<Record<string, tf.Tensor>>,
  derived: Readonly<Record<string, tf.Tensor>>,
): HeadStep {
  const y = tf.fused.matMul({
    a: h,
    b: need<tf.Tensor2D>(derived, 'Wy.t'),
    bias: need(params, 'by'),
  }) as tf.Tensor2D;
  let loss: tf.Scalar;
  let dy: tf.Tensor2D;
  if (head.kind === 'softmax') {
    const max = tf.max(y, 1, true);
    const shifted = tf.sub(y, max);
    const e = tf.exp(shifted);
    const sum = tf.sum(e, 1, true);
    // oneHot straight to float32 is wrong on the wasm backend (tfjs 4.22): build int32, then cast.
    const onehot = tf.cast(tf.oneHot(targets as tf.Tensor1D, head.classes), 'float32') as tf.Tensor2D;
    const perRow = tf.sub(tf.log(sum), tf.sum(tf.mul(shifted, onehot), 1, true));
    loss = tf.mul(tf.sum(perRow), weight);
    dy = tf.mul(tf.sub(tf.div(e, sum), onehot), weight);
  } else {
    const err = tf.sub(y, targets as tf.Tensor2D);
    const scale = weight / head.outputs;
    loss = tf.mul(tf.sum(tf.square(err)), scale);
    dy = tf.mul(err, 2 * scale);
  }
  const dh = tf.matMul(dy, need<tf.Tensor2D>(params, 'Wy'));
  return { loss, dh: dh as tf.Tensor2D, linear: { weight: 'Wy', bias: 'by', d: dy, input: h } };
}

/** Derived tensors of the head: `Wy^T`. */
export function deriveHead(params: Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor> {
  return { 'Wy.t': tf.transpose(need<tf.Tensor2D>(params, 'Wy')) };
}
