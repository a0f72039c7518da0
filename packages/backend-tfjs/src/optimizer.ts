import * as tf from '@tensorflow/tfjs-core';
import { TfjsBackendError } from './errors.js';

/** An optimiser: updates parameter variables in place from gradients. */
export interface Optimizer {
  /** `'adam'` or `'sgd'`. */
  readonly name: string;
  /** Updates applied so far. */
  readonly iterations: number;
  /**
   * Update every parameter that has a gradient: `params[name] -= step(scale * grads[name])`. The gradients
   * are borrowed; `scale` (default 1) multiplies them first (gradient clipping).
   */
  apply(
    params: Readonly<Record<string, tf.Variable>>,
    grads: Readonly<Record<string, tf.Tensor>>,
    scale?: tf.Scalar | number,
  ): void;
  /** Release the optimiser's state (moments). */
  dispose(): void;
}

/** Options of `adam`. */
export interface AdamOptions {
  /** Step size (default 1e-3). */
  readonly learningRate?: number;
  /** Decay of the first moment (default 0.9). */
  readonly beta1?: number;
  /** Decay of the second moment (default 0.999). */
  readonly beta2?: number;
  /** Added to the root of the second moment (default 1e-8). */
  readonly epsilon?: number;
}

/** Options of `sgd`. */
export interface SgdOptions {
  /** Step size. */
  readonly learningRate: number;
  /** Heavy-ball momentum in `[0, 1)` (default 0: plain gradient descent). */
  readonly momentum?: number;
}

function checkRate(name: string, value: number, low: number, high: number, openHigh = true): number {
  if (!(Number.isFinite(value) && value >= low && (openHigh ? value < high : value <= high))) {
    throw new TfjsBackendError(
      'E_CONFIG',
      `${name} must be in [${low}, ${high}${openHigh ? ')' : ']'}, got ${value}`,
    );
  }
  return value;
}

function scaled(g: tf.Tensor, scale: tf.Scalar | number | undefined): tf.Tensor {
  return scale === undefined || scale === 1 ? g : tf.mul(g, scale);
}

/** Adam (Kingma and Ba), with bias correction. */
export function adam(options: AdamOptions = {}): Optimizer {
  const lr = checkRate('learningRate', options.learningRate ?? 1e-3, 0, Number.POSITIVE_INFINITY);
  const beta1 = checkRate('beta1', options.beta1 ?? 0.9, 0, 1);
  const beta2 = checkRate('beta2', options.beta2 ?? 0.999, 0, 1);
  const epsilon = checkRate('epsilon', options.epsilon ?? 1e-8, 0, Number.POSITIVE_INFINITY);
  const m = new Map<string, tf.Tensor>();
  const v = new Map<string, tf.Tensor>();
  let k = 0;
  return {
    name: 'adam',
    get iterations() {
      return k;
    },
    apply(params, grads, scale) {
      k++;
      const c1 = 1 - beta1 ** k;
      const c2 = 1 - beta2 ** k;
      for (const [name, p] of Object.entries(params)) {
        const raw = grads[name];
        if (raw === undefined) continue;
        const prevM = m.get(name);
        const prevV = v.get(name);
        const [nextM, nextV] = tf.tidy(() => {
          const g = scaled(raw, scale);
          const mm =
            prevM === undefined ? tf.mul(g, 1 - beta1) : tf.add(tf.mul(prevM, beta1), tf.mul(g, 1 - beta1));
          const vv =
            prevV === undefined
              ? tf.mul(tf.square(g), 1 - beta2)
              : tf.add(tf.mul(prevV, beta2), tf.mul(tf.square(g), 1 - beta2));
          const update = tf.div(tf.mul(mm, lr / c1), tf.add(tf.sqrt(tf.div(vv, c2)), epsilon));
          p.assign(tf.sub(p, update));
          return [mm, vv];
        }) as [tf.Tensor, tf.Tensor];
        prevM?.dispose();
        prevV?.dispose();
        m.set(name, nextM);
        v.set(name, nextV);
      }
    },
    dispose() {
      for (const t of m.values()) t.dispose();
      for (const t of v.values()) t.dispose();
      m.clear();
      v.clear();
    },
  };
}

/** Stochastic gradient descent, with optional heavy-ball momentum (`v = momentum v + g; p -= lr v`). */
export function sgd(options: SgdOptions): Optimizer {
  const lr = checkRate('learningRate', options.learningRate, 0, Number.POSITIVE_INFINITY);
  const momentum = checkRate('momentum', options.momentum ?? 0, 0, 1);
  const velocity = new Map<string, tf.Tensor>();
  let k = 0;
  return {
    name: 'sgd',
    get iterations() {
      return k;
    },
    apply(params, grads, scale) {
      k++;
      for (const [name, p] of Object.entries(params)) {
        const raw = grads[name];
        if (raw === undefined) continue;
        if (momentum === 0) {
          tf.tidy(() => {
            p.assign(tf.sub(p, tf.mul(scaled(raw, scale), lr)));
          });
          continue;
        }
        const prev = velocity.get(name);
        const next = tf.tidy(() => {
          const g = scaled(raw, scale);
          const vel = prev === undefined ? tf.clone(g) : tf.add(tf.mul(prev, momentum), g);
          p.assign(tf.sub(p, tf.mul(vel, lr)));
          return vel;
        });
        prev?.dispose();
        velocity.set(name, next);
      }
    },
    dispose() {
      for (const t of velocity.values()) t.dispose();
      velocity.clear();
    },
  };
}

/**
 * The global norm of `grads` and the factor that brings it down to `maxNorm` (`min(1, maxNorm / norm)`),
 * as scalars on the device; the caller disposes both.
 */
export function globalNormClip(
  grads: Readonly<Record<string, tf.Tensor>>,
  maxNorm: number | undefined,
): { norm: tf.Scalar; scale: tf.Scalar | undefined } {
  return tf.tidy(() => {
    const squares = Object.values(grads).map((g) => tf.sum(tf.square(g)));
    const norm = tf.sqrt(squares.length === 0 ? tf.scalar(0) : tf.addN(squares)) as tf.Scalar;
    if (maxNorm === undefined) return { norm, scale: undefined };
    const scale = tf.div(maxNorm, tf.maximum(norm, maxNorm)) as tf.Scalar;
    return { norm, scale };
  }) as { norm: tf.Scalar; scale: tf.Scalar | undefined };
}
