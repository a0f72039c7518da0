import type { CellKind, LossHead } from '@rewind/executor';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The whole unrolled sequence as one plain tfjs computation, written independently of the package's
 * cells (standard formulas: `tf.tanh`, `tf.split` of the gate pre-activations, matMul of the transposed
 * weights), for differentiation with tfjs' autodiff (`tf.grads`). The loss matches the package's:
 * weighted by `1 / (B T)` (every step) or `1 / B` (last step only).
 */
export interface UnrolledProblem {
  readonly cell: CellKind;
  readonly head: LossHead;
  /** `x_1 .. x_T`, each `[B, I]`. */
  readonly xs: readonly tf.Tensor2D[];
  /** Per step: class ids `[B]` (int32) for softmax, values `[B, O]` for MSE; undefined without loss. */
  readonly targets: readonly (tf.Tensor | undefined)[];
  /** `[h_0]` or `[h_0, c_0]`. */
  readonly initial: readonly tf.Tensor2D[];
  readonly weight: number;
}

/** The loss of `problem` as a function of the parameters (reference layout, by name). */
export function unrolledLoss(
  problem: UnrolledProblem,
  params: Readonly<Record<string, tf.Tensor>>,
): tf.Scalar {
  const p = (name: string): tf.Tensor2D => {
    const t = params[name];
    if (t === undefined) throw new Error(`missing ${name}`);
    return t as tf.Tensor2D;
  };
  const Wt = tf.transpose(p('W'));
  const Ut = tf.transpose(p('U'));
  const Wyt = tf.transpose(p('Wy'));
  const b = p('b');
  const by = p('by');
  let h = problem.initial[0] as tf.Tensor2D;
  let c = problem.initial[1];
  let loss: tf.Scalar = tf.scalar(0);
  problem.xs.forEach((x, k) => {
    if (problem.cell === 'rnn') {
      h = tf.tanh(tf.add(tf.add(tf.matMul(x, Wt), tf.matMul(h, Ut)), b));
    } else if (problem.cell === 'lstm') {
      const a = tf.add(tf.add(tf.matMul(x, Wt), tf.matMul(h, Ut)), b) as tf.Tensor2D;
      const [ai, af, ag, ao] = tf.split(a, 4, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const cc = tf.add(
        tf.mul(tf.sigmoid(af), c as tf.Tensor2D),
        tf.mul(tf.sigmoid(ai), tf.tanh(ag)),
      ) as tf.Tensor2D;
      c = cc;
      h = tf.mul(tf.sigmoid(ao), tf.tanh(cc));
    } else {
      const ax = tf.add(tf.matMul(x, Wt), b) as tf.Tensor2D;
      const ah = tf.add(tf.matMul(h, Ut), p('bu')) as tf.Tensor2D;
      const [xz, xr, xn] = tf.split(ax, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const [hz, hr, hn] = tf.split(ah, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const z = tf.sigmoid(tf.add(xz, hz));
      const r = tf.sigmoid(tf.add(xr, hr));
      const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
      h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
    }
    const target = problem.targets[k];
    if (target === undefined) return;
    const y = tf.add(tf.matMul(h, Wyt), by) as tf.Tensor2D;
    let term: tf.Scalar;
    if (problem.head.kind === 'softmax') {
      const onehot = tf.cast(tf.oneHot(target as tf.Tensor1D, problem.head.classes), 'float32');
      // log-softmax written out, with the kernels whose gradients this package registers.
      const shifted = tf.sub(y, tf.max(y, 1, true));
      const logSoftmax = tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), 1, true)));
      term = tf.neg(tf.sum(tf.mul(onehot, logSoftmax)));
    } else {
      term = tf.div(tf.sum(tf.square(tf.sub(y, target))), problem.head.outputs);
    }
    loss = tf.add(loss, tf.mul(term, problem.weight));
  });
  return loss;
}
