import * as tf from '@tensorflow/tfjs-core';

// tfjs-core's Node entry registers no gradient, and its `dist/register_all_gradients` cannot be imported by
// Node (its ES modules import extension-less paths). This module registers gradients of its own for the
// kernels recurrent step functions commonly use. Matrix products use explicit transposes, not matMul's
// transpose flags (which are ~20x slower on the wasm backend). A kernel that already has a gradient (for
// instance registered by the umbrella `@tensorflow/tfjs`) keeps it.

type Grads = Record<string, () => tf.Tensor>;

function first(dy: tf.Tensor | tf.Tensor[]): tf.Tensor {
  if (Array.isArray(dy)) {
    const d = dy[0];
    if (d === undefined) throw new Error('internal: empty gradient list');
    return d;
  }
  return dy;
}

function saved(list: tf.Tensor[], i: number): tf.Tensor {
  const t = list[i];
  if (t === undefined) throw new Error(`internal: saved tensor ${i} missing`);
  return t;
}

/** Sum `g` over the axes `shape` was broadcast along, and give it `shape`. */
function unbroadcast(g: tf.Tensor, shape: readonly number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape as number[], g.shape);
  const reduced = axes.length > 0 ? tf.sum(g, axes) : g;
  return tf.reshape(reduced, shape as number[]);
}

/** `a^T` over the last two axes. */
function swapLast(a: tf.Tensor): tf.Tensor {
  const rank = a.rank;
  if (rank < 2) return a;
  const perm = [...Array(rank).keys()];
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return tf.transpose(a, perm);
}

function binary(
  kernelName: string,
  grad: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => readonly [tf.Tensor, tf.Tensor],
): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, s) => {
      const a = saved(s, 0);
      const b = saved(s, 1);
      const d = first(dy);
      return {
        a: () => unbroadcast(grad(d, a, b)[0], a.shape),
        b: () => unbroadcast(grad(d, a, b)[1], b.shape),
      };
    },
  };
}

/** A unary kernel whose gradient needs its input `x`. */
function unaryX(
  kernelName: string,
  grad: (dy: tf.Tensor, x: tf.Tensor, attrs: tf.NamedAttrMap) => tf.Tensor,
) {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, s, attrs) => ({ x: () => grad(first(dy), saved(s, 0), attrs) }),
  } satisfies tf.GradConfig;
}

/** A unary kernel whose gradient needs its output `y`. */
function unaryY(kernelName: string, grad: (dy: tf.Tensor, y: tf.Tensor) => tf.Tensor) {
  return {
    kernelName,
    outputsToSave: [true],
    gradFunc: (dy, s) => ({ x: () => grad(first(dy), saved(s, 0)) }),
  } satisfies tf.GradConfig;
}

/** A kernel whose gradient needs nothing saved. */
function plain(kernelName: string, grad: (dy: tf.Tensor, attrs: tf.NamedAttrMap) => Grads): tf.GradConfig {
  return { kernelName, gradFunc: (dy, _s, attrs) => grad(first(dy), attrs) };
}

function numberAttr(attrs: tf.NamedAttrMap, name: string): number {
  const v = attrs[name];
  if (typeof v !== 'number') throw new Error(`internal: attribute ${name} is not a number`);
  return v;
}

function axesAttr(attrs: tf.NamedAttrMap, name: string, rank: number): number[] {
  const v = attrs[name];
  const list = v === undefined || v === null ? [...Array(rank).keys()] : Array.isArray(v) ? v : [v];
  return list.map((a) => {
    const n = Number(a);
    return n < 0 ? n + rank : n;
  });
}

/** Broadcast the gradient of a reduction back to the input's shape. */
function expandReduced(dy: tf.Tensor, xShape: readonly number[], axes: readonly number[]): tf.Tensor {
  const kept = xShape.map((d, i) => (axes.includes(i) ? 1 : d));
  return tf.mul(tf.reshape(dy, kept), tf.ones(xShape as number[]));
}

const CONFIGS: readonly tf.GradConfig[] = [
  binary('Add', (dy) => [dy, dy]),
  binary('Sub', (dy) => [dy, tf.neg(dy)]),
  binary('Multiply', (dy, a, b) => [tf.mul(dy, b), tf.mul(dy, a)]),
  binary('RealDiv', (dy, a, b) => [tf.div(dy, b), tf.neg(tf.div(tf.mul(dy, a), tf.square(b)))]),
  binary('Maximum', (dy, a, b) => [
    tf.mul(dy, tf.cast(tf.greaterEqual(a, b), 'float32')),
    tf.mul(dy, tf.cast(tf.less(a, b), 'float32')),
  ]),
  binary('Minimum', (dy, a, b) => [
    tf.mul(dy, tf.cast(tf.lessEqual(a, b), 'float32')),
    tf.mul(dy, tf.cast(tf.greater(a, b), 'float32')),
  ]),
  binary('SquaredDifference', (dy, a, b) => {
    const g = tf.mul(dy, tf.mul(tf.sub(a, b), 2));
    return [g, tf.neg(g)];
  }),
  binary('Pow', (dy, a, b) => [
    tf.mul(dy, tf.mul(b, tf.pow(a, tf.sub(b, 1)))),
    tf.mul(dy, tf.mul(tf.pow(a, b), tf.where(tf.greater(a, 0), tf.log(a), tf.zerosLike(a)))),
  ]),
  {
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, s, attrs) => {
      const a = saved(s, 0);
      const b = saved(s, 1);
      const d = first(dy);
      const ta = attrs['transposeA'] === true;
      const tb = attrs['transposeB'] === true;
      const mm = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.matMul(x, y);
      let da: () => tf.Tensor;
      let db: () => tf.Tensor;
      if (!ta && !tb) {
        da = () => mm(d, swapLast(b));
        db = () => mm(swapLast(a), d);
      } else if (!ta && tb) {
        da = () => mm(d, b);
        db = () => mm(swapLast(d), a);
      } else if (ta && !tb) {
        da = () => mm(b, swapLast(d));
        db = () => mm(a, d);
      } else {
        da = () => mm(swapLast(b), swapLast(d));
        db = () => mm(swapLast(d), swapLast(a));
      }
      return { a: () => unbroadcast(da(), a.shape), b: () => unbroadcast(db(), b.shape) };
    },
  },
  {
    kernelName: 'AddN',
    saveAllInputs: true,
    gradFunc: (dy, s) => {
      const d = first(dy);
      const out: Grads = {};
      s.forEach((_, i) => {
        out[String(i)] = () => tf.clone(d);
      });
      return out;
    },
  },
  plain('Neg', (dy) => ({ x: () => tf.neg(dy) })),
  plain('Identity', (dy) => ({ x: () => tf.clone(dy) })),
  plain('Cast', (dy) => ({ x: () => tf.clone(dy) })),
  plain('Step', (dy) => ({ x: () => tf.zerosLike(dy) })),
  plain('OnesLike', (dy) => ({ x: () => tf.zerosLike(dy) })),
  plain('ZerosLike', (dy) => ({ x: () => tf.zerosLike(dy) })),
  unaryY('Tanh', (dy, y) => tf.mul(dy, tf.sub(1, tf.square(y)))),
  unaryY('Sigmoid', (dy, y) => tf.mul(dy, tf.mul(y, tf.sub(1, y)))),
  unaryY('Exp', (dy, y) => tf.mul(dy, y)),
  unaryY('Sqrt', (dy, y) => tf.div(dy, tf.mul(y, 2))),
  unaryY('Elu', (dy, y) => tf.where(tf.greater(y, 0), dy, tf.mul(dy, tf.add(y, 1)))),
  unaryX('Relu', (dy, x) => tf.mul(dy, tf.step(x))),
  unaryX('Relu6', (dy, x) => tf.mul(dy, tf.mul(tf.step(x), tf.step(tf.sub(6, x))))),
  unaryX('LeakyRelu', (dy, x, attrs) =>
    tf.where(tf.greater(x, 0), dy, tf.mul(dy, numberAttr(attrs, 'alpha'))),
  ),
  unaryX('Log', (dy, x) => tf.div(dy, x)),
  unaryX('Log1p', (dy, x) => tf.div(dy, tf.add(x, 1))),
  unaryX('Square', (dy, x) => tf.mul(dy, tf.mul(x, 2))),
  unaryX('Abs', (dy, x) => tf.mul(dy, tf.sign(x))),
  unaryX('Sin', (dy, x) => tf.mul(dy, tf.cos(x))),
  unaryX('Cos', (dy, x) => tf.neg(tf.mul(dy, tf.sin(x)))),
  unaryX('Softplus', (dy, x) => tf.mul(dy, tf.sigmoid(x))),
  unaryX('Reciprocal', (dy, x) => tf.neg(tf.div(dy, tf.square(x)))),
  unaryX('Rsqrt', (dy, x) => tf.mul(dy, tf.mul(tf.pow(x, -1.5), -0.5))),
  unaryX('ClipByValue', (dy, x, attrs) => {
    const lo = numberAttr(attrs, 'clipValueMin');
    const hi = numberAttr(attrs, 'clipValueMax');
    return tf.mul(dy, tf.cast(tf.logicalAnd(tf.greaterEqual(x, lo), tf.lessEqual(x, hi)), 'float32'));
  }),
  unaryX('Reshape', (dy, x) => tf.reshape(dy, x.shape)),
  {
    kernelName: 'ExpandDims',
    inputsToSave: ['input'],
    gradFunc: (dy, s) => ({ input: () => tf.reshape(first(dy), saved(s, 0).shape) }),
  },
  unaryX('Slice', (dy, x, attrs) => {
    const begin = (attrs['begin'] as number[] | number | undefined) ?? 0;
    const b = Array.isArray(begin) ? begin : x.shape.map((_, i) => (i === 0 ? begin : 0));
    const paddings = x.shape.map((size, i): [number, number] => {
      const start = b[i] ?? 0;
      return [start, size - start - (dy.shape[i] ?? 0)];
    });
    return tf.pad(dy, paddings);
  }),
  unaryX('Sum', (dy, x, attrs) => expandReduced(dy, x.shape, axesAttr(attrs, 'axis', x.rank))),
  unaryX('Mean', (dy, x, attrs) => {
    const axes = axesAttr(attrs, 'axis', x.rank);
    const count = axes.reduce((n, a) => n * (x.shape[a] ?? 1), 1);
    return tf.div(expandReduced(dy, x.shape, axes), count);
  }),
  {
    kernelName: 'Max',
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, s, attrs) => {
      const x = saved(s, 0);
      const y = saved(s, 1);
      const axes = axesAttr(attrs, 'reductionIndices', x.rank);
      return {
        x: () =>
          tf.mul(
            expandReduced(first(dy), x.shape, axes),
            tf.cast(tf.equal(x, expandReduced(y, x.shape, axes)), 'float32'),
          ),
      };
    },
  },
  {
    kernelName: 'Transpose',
    gradFunc: (dy, _s, attrs) => {
      const perm = attrs['perm'] as number[];
      const inverse = perm.map((_, i) => perm.indexOf(i));
      return { x: () => tf.transpose(first(dy), inverse) };
    },
  },
  {
    kernelName: 'Concat',
    saveAllInputs: true,
    gradFunc: (dy, s, attrs) => {
      const d = first(dy);
      const rank = d.rank;
      const raw = numberAttr(attrs, 'axis');
      const axis = raw < 0 ? raw + rank : raw;
      const sizes = s.map((t) => t.shape[axis] ?? 0);
      const out: Grads = {};
      let start = 0;
      sizes.forEach((size, i) => {
        const begin = d.shape.map((_, k) => (k === axis ? start : 0));
        const extent = d.shape.map((n, k) => (k === axis ? size : n));
        out[String(i)] = () => tf.slice(d, begin, extent);
        start += size;
      });
      return out;
    },
  },
  {
    kernelName: 'SplitV',
    gradFunc: (dy, _s, attrs) => {
      const parts = Array.isArray(dy) ? dy : [dy];
      return { x: () => tf.concat(parts, numberAttr(attrs, 'axis')) };
    },
  },
  {
    kernelName: 'Pack',
    saveAllInputs: true,
    gradFunc: (dy, s, attrs) => {
      const parts = tf.unstack(first(dy), numberAttr(attrs, 'axis'));
      const out: Grads = {};
      s.forEach((t, i) => {
        out[String(i)] = () => tf.reshape(parts[i] as tf.Tensor, t.shape);
      });
      return out;
    },
  },
  {
    kernelName: 'Unpack',
    gradFunc: (dy, _s, attrs) => {
      const parts = Array.isArray(dy) ? dy : [dy];
      return { value: () => tf.stack(parts, numberAttr(attrs, 'axis')) };
    },
  },
  {
    kernelName: 'Softmax',
    outputsToSave: [true],
    gradFunc: (dy, s, attrs) => {
      const y = saved(s, 0);
      const d = first(dy);
      const dimAttr = attrs['dim'];
      const dim = typeof dimAttr === 'number' ? (dimAttr < 0 ? dimAttr + y.rank : dimAttr) : y.rank - 1;
      return { logits: () => tf.mul(y, tf.sub(d, tf.sum(tf.mul(d, y), dim, true))) };
    },
  },
  {
    kernelName: 'Select',
    inputsToSave: ['condition'],
    gradFunc: (dy, s) => {
      const condition = saved(s, 0);
      const d = first(dy);
      return {
        condition: () => tf.zerosLike(condition),
        t: () => tf.where(condition, d, tf.zerosLike(d)),
        e: () => tf.where(condition, tf.zerosLike(d), d),
      };
    },
  },
  {
    kernelName: 'GatherV2',
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, s, attrs) => {
      const x = saved(s, 0);
      const indices = saved(s, 1);
      if (numberAttr(attrs, 'axis') !== 0 || (attrs['batchDims'] ?? 0) !== 0) {
        throw new Error('the registered GatherV2 gradient supports axis 0 without batch dimensions only');
      }
      const d = first(dy);
      const rows = x.shape[0] ?? 0;
      return {
        x: () =>
          tf.unsortedSegmentSum(
            tf.reshape(d, [indices.size, ...x.shape.slice(1)]),
            tf.reshape(indices, [-1]),
            rows,
          ),
        indices: () => tf.zerosLike(indices),
      };
    },
  },
];

/** Kernels this package can register a gradient for. */
export const GRADIENT_KERNELS: readonly string[] = CONFIGS.map((c) => c.kernelName);

/**
 * Register this package's gradients for the kernels in `GRADIENT_KERNELS` that have none yet, so that
 * `tf.grad`, `tf.grads` and `tf.variableGrads` work under Node with tfjs-core alone. Idempotent; kernels
 * that already have a gradient keep theirs.
 *
 * @returns the kernels registered by this call.
 */
export function registerGradients(): string[] {
  const added: string[] = [];
  for (const config of CONFIGS) {
    if (tf.getGradient(config.kernelName) !== undefined) continue;
    tf.registerGradient(config);
    added.push(config.kernelName);
  }
  return added;
}
