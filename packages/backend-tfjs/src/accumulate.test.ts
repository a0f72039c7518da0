import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { GradientAccumulator, type LinearContribution } from './accumulate.js';
import { createTfjsEngine } from './engine.js';
import { ensureFusedKernels } from './fused.js';

const engine = await createTfjsEngine({ backend: 'cpu' });
ensureFusedKernels('cpu');
afterAll(() => engine.dispose());

const B = 3;
const STEPS = 7;

/** A deterministic pseudo-random `[rows, cols]` matrix. */
function matrix(rows: number, cols: number, seed: number): number[][] {
  let s = seed;
  return Array.from({ length: rows }, () =>
    Array.from({ length: cols }, () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648 - 0.5;
    }),
  );
}

/** `sum_t d_t^T x_t` and `sum_t sum_rows d_t` in float64. */
function expected(ds: number[][][], xs: number[][][]): { w: number[][]; b: number[] } {
  const G = ds[0]?.[0]?.length ?? 0;
  const n = xs[0]?.[0]?.length ?? 0;
  const w = Array.from({ length: G }, () => new Array<number>(n).fill(0));
  const b = new Array<number>(G).fill(0);
  ds.forEach((d, t) => {
    d.forEach((row, r) => {
      row.forEach((v, g) => {
        b[g] = (b[g] ?? 0) + v;
        const x = xs[t]?.[r] ?? [];
        for (let k = 0; k < n; k++) (w[g] as number[])[k] = ((w[g] as number[])[k] ?? 0) + v * (x[k] ?? 0);
      });
    });
  });
  return { w, b };
}

function close(actual: tf.Tensor, want: number[] | number[][]): void {
  const a = actual.arraySync() as number[] | number[][];
  expect(actual.shape).toEqual(
    Array.isArray(want[0]) ? [want.length, (want[0] as number[]).length] : [want.length],
  );
  const flat = (v: number[] | number[][]): number[] => (v as number[]).flat() as number[];
  const fa = flat(a);
  for (const [i, w] of flat(want).entries()) expect(Math.abs((fa[i] as number) - w)).toBeLessThan(1e-5);
}

describe('GradientAccumulator', () => {
  // x narrower than d (a recurrent weight: accumulated transposed) and wider (a head: as is).
  it.each([
    [8, 3],
    [2, 5],
  ])(
    'sums d^T x and the bias over steps for d of width %i and x of width %i, at every chunk size',
    (G, n) => {
      const ds = Array.from({ length: STEPS }, (_, t) => matrix(B, G, 11 + t));
      const xs = Array.from({ length: STEPS }, (_, t) => matrix(B, n, 101 + t));
      const want = expected(ds, xs);
      for (const chunk of [1, 3, Number.POSITIVE_INFINITY]) {
        const before = tf.memory().numTensors;
        const acc = new GradientAccumulator(chunk);
        const inputs = xs.map((x) => tf.tensor2d(x));
        for (let t = 0; t < STEPS; t++) {
          const c: LinearContribution = {
            weight: 'W',
            bias: 'b',
            d: tf.tensor2d(ds[t] as number[][]),
            input: inputs[t] as tf.Tensor2D,
          };
          acc.addLinear([c]);
        }
        acc.flush();
        // Read inside a tidy twice: the folded sum survives the caller's scope.
        tf.tidy(() => {
          close(acc.get('W') as tf.Tensor, want.w);
        });
        close(acc.get('W') as tf.Tensor, want.w);
        close(acc.get('b') as tf.Tensor, want.b);
        expect(acc.get('nothing')).toBeUndefined();
        for (const x of inputs) x.dispose();
        acc.dispose();
        expect(tf.memory().numTensors).toBe(before);
      }
    },
  );

  it('sums the rows of d by token id (one-hot inputs without the product), repeated ids included', () => {
    const G = 4;
    const V = 5;
    const ds = Array.from({ length: STEPS }, (_, t) => matrix(B, G, 7 + t));
    const idRows = Array.from({ length: STEPS }, (_, t) => [t % V, (2 * t) % V, t % V]);
    const onehots = idRows.map((ids) =>
      ids.map((id) => Array.from({ length: V }, (_, k) => (k === id ? 1 : 0))),
    );
    const want = expected(ds, onehots);
    for (const chunk of [1, 4]) {
      const acc = new GradientAccumulator(chunk);
      const ids = idRows.map((r) => tf.tensor1d(r, 'int32'));
      const x = tf.zeros([B, V]) as tf.Tensor2D;
      for (let t = 0; t < STEPS; t++) {
        acc.addLinear([
          {
            weight: 'W',
            bias: 'b',
            d: tf.tensor2d(ds[t] as number[][]),
            input: x,
            ids: ids[t] as tf.Tensor1D,
            idRows: V,
          },
        ]);
      }
      acc.flush();
      close(acc.get('W') as tf.Tensor, want.w);
      close(acc.get('b') as tf.Tensor, want.b);
      for (const t of ids) t.dispose();
      x.dispose();
      acc.dispose();
    }
  });

  it('adds direct gradients to the products of the same parameter, and starts over after reset', () => {
    const acc = new GradientAccumulator(2);
    const d = matrix(B, 6, 3);
    const x = matrix(B, 2, 4);
    const input = tf.tensor2d(x);
    acc.addLinear([{ weight: 'U', bias: 'c', d: tf.tensor2d(d), input }]);
    acc.flush();
    acc.addDirect('U', tf.ones([6, 2]));
    const want = expected([d], [x]).w.map((row) => row.map((v) => v + 1));
    close(acc.get('U') as tf.Tensor, want);
    acc.reset();
    expect(acc.get('U')).toBeUndefined();
    expect(acc.heldTensors()).toBe(1); // the kept row of ones
    input.dispose();
    acc.dispose();
    expect(acc.heldTensors()).toBe(0);
  });
});
