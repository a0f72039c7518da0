import * as tf from '@tensorflow/tfjs-core';
import { FUSED_KERNELS, runFused } from './fused.js';
import { share, tidy } from './util.js';

/**
 * One weight-gradient product of a backward step: `dWeight += d^T input` and `dBias += sum_rows(d)`,
 * with `d` the gradient at a layer's pre-activations (`[B, G]`) and `input` what the layer multiplied
 * (`[B, n]`).
 */
export interface LinearContribution {
  readonly weight: string;
  readonly bias?: string;
  readonly d: tf.Tensor2D;
  /** What the layer multiplied; absent with `ids` (one-hot rows are never materialised). */
  readonly input?: tf.Tensor2D;
  /**
   * The token ids behind a one-hot `input` (int32 `[B]`), when the fused kernels run: the product is then
   * a row scatter-add of `d` (no one-hot product).
   */
  readonly ids?: tf.Tensor1D;
  /** The width of the one-hot `input` (with `ids`). */
  readonly idRows?: number;
}

function inputOf(c: LinearContribution): tf.Tensor2D {
  if (c.input === undefined) throw new Error(`internal: the product of ${c.weight} has no input`);
  return c.input;
}

interface Pending {
  readonly bias: string | undefined;
  readonly ds: tf.Tensor2D[];
  readonly inputs: tf.Tensor2D[];
  readonly ids: tf.Tensor1D[];
  readonly idRows: number | undefined;
}

/**
 * Accumulates parameter gradients. Weight-gradient products are either made at every step (`chunk = 1`)
 * or buffered and made as one larger product every `chunk` steps (`d` and `input` of the buffered steps
 * are concatenated along the batch dimension), which saves the per-step additions into the
 * accumulators; `Infinity` makes one product per parameter at the end of the pass.
 */
export class GradientAccumulator {
  private readonly chunk: number;
  private readonly sums = new Map<string, tf.Tensor>();
  /** Gradients accumulated transposed (see `product`), folded into `sums` when read. */
  private readonly sumsT = new Map<string, tf.Tensor>();
  /** Rows of ones for the bias sums, by row count. */
  private readonly ones = new Map<number, tf.Tensor2D>();
  private readonly pending = new Map<string, Pending>();
  private buffered = 0;

  constructor(chunk: number) {
    this.chunk = chunk;
  }

  /** Add a gradient (taking ownership of `g`). */
  addDirect(name: string, g: tf.Tensor): void {
    this.add(this.sums, name, g);
  }

  /** Add `g` into `sums` (kept: a caller may add or read inside its own `tf.tidy`). */
  private add(sums: Map<string, tf.Tensor>, name: string, g: tf.Tensor): void {
    const prev = sums.get(name);
    if (prev === undefined) {
      sums.set(name, tf.keep(g));
      return;
    }
    sums.set(name, tf.keep(tf.add(prev, g)));
    prev.dispose();
    g.dispose();
  }

  /**
   * Add the products of one backward step. Takes ownership of every `d`; the `input` tensors are
   * borrowed (shared when buffered: no copy).
   */
  addLinear(contributions: readonly LinearContribution[]): void {
    if (this.chunk <= 1) {
      for (const c of contributions) {
        if (c.ids !== undefined) this.scatter(c.weight, c.bias, [c.d], [c.ids], c.idRows ?? 0);
        else this.product(c.weight, c.bias, [c.d], [inputOf(c)]);
      }
      const seen = new Set<tf.Tensor2D>();
      for (const c of contributions) {
        if (!seen.has(c.d)) c.d.dispose();
        seen.add(c.d);
      }
      return;
    }
    const owned = new Set<tf.Tensor2D>();
    for (const c of contributions) {
      let p = this.pending.get(c.weight);
      if (p === undefined) {
        p = { bias: c.bias, ds: [], inputs: [], ids: [], idRows: c.idRows };
        this.pending.set(c.weight, p);
      }
      // A `d` shared by two contributions is kept once per list: clone the second use.
      p.ds.push(owned.has(c.d) ? share(c.d) : c.d);
      owned.add(c.d);
      if (c.ids !== undefined) p.ids.push(share(c.ids));
      else p.inputs.push(share(inputOf(c)));
    }
    this.buffered++;
    if (this.buffered >= this.chunk) this.flush();
  }

  /** Make every buffered product now. */
  flush(): void {
    for (const [weight, p] of this.pending) {
      if (p.ds.length > 0) {
        if (p.ids.length > 0) this.scatter(weight, p.bias, p.ds, p.ids, p.idRows ?? 0);
        else this.product(weight, p.bias, p.ds, p.inputs);
      }
      for (const t of p.ds) t.dispose();
      for (const t of p.inputs) t.dispose();
      for (const t of p.ids) t.dispose();
    }
    this.pending.clear();
    this.buffered = 0;
  }

  private product(weight: string, bias: string | undefined, ds: tf.Tensor2D[], inputs: tf.Tensor2D[]): void {
    const first = ds[0];
    const firstInput = inputs[0];
    if (first === undefined || firstInput === undefined) return;
    // `d^T x` contracts over the rows of both factors, which the backends' matrix products want as the
    // columns of their left factor: one of the two is transposed explicitly (matMul's transpose flags are
    // ~20x slower on the wasm backend). Transposing the narrower one moves fewer bytes; with `x` the
    // narrower (a recurrent weight: `x` has H columns, `d` 4H), `x^T d` = `(d^T x)^T` is accumulated and
    // transposed once, when the gradient is read. The bias is `ones^T d`, a product too (a column sum is a
    // transpose and a row reduction on wasm, ~50x slower).
    const transposed = firstInput.shape[1] < first.shape[1];
    const [dw, db] = tidy(() => {
      const d = ds.length === 1 ? first : tf.concat(ds, 0);
      const x = inputs.length === 1 ? firstInput : tf.concat(inputs, 0);
      const w = transposed ? tf.matMul(tf.transpose(x), d) : tf.matMul(tf.transpose(d), x);
      return [w, bias === undefined ? undefined : this.columnSums(d)] as const;
    });
    this.add(transposed ? this.sumsT : this.sums, weight, dw);
    if (bias !== undefined && db !== undefined) this.addDirect(bias, db);
  }

  /** The column sums of `d` (`[G]`) as one product with a row of ones (kept per row count). */
  private columnSums(d: tf.Tensor2D): tf.Tensor1D {
    const rows = d.shape[0];
    let ones = this.ones.get(rows);
    if (ones === undefined) {
      ones = tf.keep(tf.ones([1, rows]));
      this.ones.set(rows, ones);
    }
    return tf.reshape(tf.matMul(ones, d), [d.shape[1]]);
  }

  /** The product of one-hot inputs given by their ids: `(scatter of the rows of d)^T`. */
  private scatter(
    weight: string,
    bias: string | undefined,
    ds: tf.Tensor2D[],
    ids: tf.Tensor1D[],
    rows: number,
  ): void {
    const [dw, db] = tidy(() => {
      const d = ds.length === 1 ? (ds[0] as tf.Tensor2D) : tf.concat(ds, 0);
      const i = ids.length === 1 ? (ids[0] as tf.Tensor1D) : tf.concat(ids, 0);
      const [summed] = runFused(FUSED_KERNELS.scatterRows, { d, ids: i }, { rows }) as [tf.Tensor2D];
      return [summed, bias === undefined ? undefined : this.columnSums(d)] as const;
    });
    // `summed` is the gradient transposed (`[rows, G]`): accumulated so, transposed once when read.
    this.add(this.sumsT, weight, dw);
    if (bias !== undefined && db !== undefined) this.addDirect(bias, db);
  }

  /** The accumulated gradient of `name` (after `flush`), or undefined when nothing was added. */
  get(name: string): tf.Tensor | undefined {
    const t = this.sumsT.get(name);
    if (t !== undefined) {
      this.sumsT.delete(name);
      this.add(this.sums, name, tf.transpose(t));
      t.dispose();
    }
    return this.sums.get(name);
  }

  /** Drop everything accumulated and buffered. */
  reset(): void {
    for (const p of this.pending.values()) {
      for (const t of p.ds) t.dispose();
      for (const t of p.inputs) t.dispose();
      for (const t of p.ids) t.dispose();
    }
    this.pending.clear();
    this.buffered = 0;
    for (const t of this.sums.values()) t.dispose();
    this.sums.clear();
    for (const t of this.sumsT.values()) t.dispose();
    this.sumsT.clear();
  }

  /** Release everything, the kept rows of ones included. */
  dispose(): void {
    this.reset();
    for (const t of this.ones.values()) t.dispose();
    this.ones.clear();
  }

  /** Tensors held (diagnostics). */
  heldTensors(): number {
    let n = this.sums.size + this.sumsT.size + this.ones.size;
    for (const p of this.pending.values()) n += p.ds.length + p.inputs.length + p.ids.length;
    return n;
  }
}
