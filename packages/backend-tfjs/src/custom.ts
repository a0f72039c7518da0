import * as tf from '@tensorflow/tfjs-core';
import { TfjsBackendError } from './errors.js';
import type { CellBackwardResult, CellProgram } from './program.js';

/**
 * One step of a custom cell: `h_t` (`[B, H]`) from `x_t` (`[B, I]`), `hPrev = h_{t-1}` (`[B, H]`) and the
 * cell's parameters by name. Use tfjs operations only (no read-backs); the function is called inside
 * `tf.tidy` and differentiated by tfjs' autodiff, so every kernel it uses needs a registered gradient
 * (see `registerGradients`).
 */
export type CustomStepFunction = (
  x: tf.Tensor2D,
  hPrev: tf.Tensor2D,
  params: Readonly<Record<string, tf.Tensor>>,
) => tf.Tensor2D;

function isMissingGradient(error: unknown): boolean {
  return error instanceof Error && /gradient function not found/i.test(error.message);
}

/**
 * The program of a custom cell: the forward step is the user's function; the backward step replays it
 * under `tf.grads` with the gradient arriving at `h_t`. The internal state is `h_{t-1}` and `h_t`: the
 * backward recomputes the step's intermediate values instead of storing them.
 */
export function customProgram(step: CustomStepFunction, names: readonly string[]): CellProgram {
  const pick = (params: Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor> => {
    const out: Record<string, tf.Tensor> = {};
    for (const name of names) {
      const p = params[name];
      if (p === undefined) throw new Error(`internal: missing parameter ${name}`);
      out[name] = p;
    }
    return out;
  };
  return {
    kind: 'custom',
    stateParts: 1,
    derive: () => ({}),
    forward(x, prev, _keep, params) {
      const h = step(x, prev[0] as tf.Tensor2D, pick(params));
      return { next: [h], saved: [] };
    },
    backward(args, params): CellBackwardResult {
      const hPrev = args.prev[0] as tf.Tensor2D;
      const dh = args.dNext[0] as tf.Tensor2D;
      const cellParams = pick(params);
      const order = names.map((n) => cellParams[n] as tf.Tensor);
      const xs: tf.Tensor[] = [hPrev, ...order];
      if (args.inputGradient) xs.push(args.x);
      const f = (...inputs: tf.Tensor[]): tf.Tensor => {
        const record: Record<string, tf.Tensor> = {};
        names.forEach((n, i) => {
          record[n] = inputs[i + 1] as tf.Tensor;
        });
        const x = args.inputGradient ? (inputs[names.length + 1] as tf.Tensor2D) : args.x;
        return step(x, inputs[0] as tf.Tensor2D, record);
      };
      let grads: tf.Tensor[];
      try {
        grads = tf.grads(f)(xs, dh);
      } catch (error) {
        if (isMissingGradient(error)) {
          throw new TfjsBackendError(
            'E_NO_GRADIENT',
            `the custom cell uses a kernel without a registered gradient (${(error as Error).message}); register one with tf.registerGradient or import tfjs' register_all_gradients through a bundler`,
            { cause: error },
          );
        }
        throw error;
      }
      const direct: Record<string, tf.Tensor> = {};
      names.forEach((n, i) => {
        direct[n] = grads[i + 1] as tf.Tensor;
      });
      const result: CellBackwardResult = { dPrev: [grads[0] as tf.Tensor2D], linear: [], direct };
      if (!args.inputGradient) return result;
      return { ...result, dx: grads[names.length + 1] as tf.Tensor2D };
    },
  };
}
