import type { LossHead } from '@rewind/executor';
import * as tf from '@tensorflow/tfjs-core';
import type { LinearContribution } from './accumulate.js';
import { FUSED_KERNELS, runFused } from './fused.js';
import type { HeadTargets } from './head.js';
import { need } from './program.js';
import type { Sparsifier } from './sparsity.js';

/** Steps per projected block of dense inputs (one matrix product per block). */
export const PROJECTION_BLOCK = 32;

/** The batch's inputs as the fused steps read them. */
export interface FusedInputs {
  /** `'ids'`: `ids[t - 1]` (int32 `[B]`); `'dense'`: `blocks[k]` (`[n B, I]`) and `rows[j]` (int32 `[B]`). */
  readonly kind: 'ids' | 'dense';
  readonly ids: readonly tf.Tensor1D[];
  readonly blocks: readonly tf.Tensor2D[];
  readonly rows: readonly tf.Tensor1D[];
}

export interface FusedForward {
  readonly next: tf.Tensor2D[];
  readonly saved: tf.Tensor[];
}

export interface FusedBackwardArgs {
  readonly t: number;
  /** The step's dense inputs (`[B, I]`); absent for token ids, which the fused steps read alone. */
  readonly x?: tf.Tensor2D;
  readonly prev: readonly tf.Tensor2D[];
  readonly next: readonly tf.Tensor2D[];
  readonly saved: readonly tf.Tensor[];
  readonly dNext: readonly (tf.Tensor2D | null)[];
  readonly target: HeadTargets | undefined;
  readonly weight: number;
  readonly inputGradient: boolean;
  readonly sparsifier: Sparsifier | undefined;
  /** The step's rows of a block's head ({@link FusedCell.blockHead}): the head is not computed again. */
  readonly head?: { readonly dy: tf.Tensor2D; readonly dh: tf.Tensor2D };
}

/** The loss head of a block of steps, computed at once. Every tensor is new. */
export interface BlockHead {
  /** The gradient at the logits, the steps' rows in the order given (`[k B, O]`). */
  readonly dy: tf.Tensor2D;
  /** The gradient at the hidden states (`[k B, H]`). */
  readonly dh: tf.Tensor2D;
  /** The steps' losses: `[k]` (one per step) on wasm and cpu, per-row terms on WebGPU. */
  readonly loss: tf.Tensor;
}

export interface FusedBackward {
  readonly dPrev: tf.Tensor2D[];
  readonly linear: LinearContribution[];
  readonly loss?: tf.Scalar;
  readonly dx?: tf.Tensor2D;
}

/**
 * Forward and backward steps of the built-in LSTM and GRU on the fused kernels: per forward step one
 * recurrent product `h U^T` and one fused kernel (the input projection is a row gather of `W^T + b` for
 * token ids, or a row of a block `x W^T + b` projected once per {@link PROJECTION_BLOCK} steps); per
 * backward step the head's two products and its fused loss kernel, the fused gate kernel and the
 * product `da U`. Weight gradients stay with the caller's accumulator (one product per chunk of steps).
 */
export class FusedCell {
  private readonly cell: 'lstm' | 'gru';
  private readonly head: LossHead;
  private readonly inputs: FusedInputs;
  private readonly params: Readonly<Record<string, tf.Tensor>>;
  private readonly version: () => number;
  private derived: { version: number; ut: tf.Tensor2D; wt: tf.Tensor2D; wyt: tf.Tensor2D } | undefined;
  private block: { version: number; index: number; proj: tf.Tensor2D } | undefined;

  constructor(
    cell: 'lstm' | 'gru',
    head: LossHead,
    inputs: FusedInputs,
    params: Readonly<Record<string, tf.Tensor>>,
    version: () => number,
  ) {
    this.cell = cell;
    this.head = head;
    this.inputs = inputs;
    this.params = params;
    this.version = version;
  }

  /** `U^T`, `W^T (+ b for token ids)` and `Wy^T` of the current parameters (kept, owned here). */
  private weights(): { ut: tf.Tensor2D; wt: tf.Tensor2D; wyt: tf.Tensor2D } {
    const version = this.version();
    if (this.derived !== undefined && this.derived.version === version) return this.derived;
    this.disposeDerived();
    const made = tf.tidy(() => {
      const W = need<tf.Tensor2D>(this.params, 'W');
      const wt = tf.transpose(W);
      return {
        ut: tf.transpose(need<tf.Tensor2D>(this.params, 'U')),
        wt: this.inputs.kind === 'ids' ? (tf.add(wt, need(this.params, 'b')) as tf.Tensor2D) : wt,
        wyt: tf.transpose(need<tf.Tensor2D>(this.params, 'Wy')),
      };
    });
    tf.keep(made.ut);
    tf.keep(made.wt);
    tf.keep(made.wyt);
    this.derived = { version, ...made };
    return this.derived;
  }

  /** The projection table and the rows step `t` reads. */
  private projection(t: number): { xs: tf.Tensor; rows: tf.Tensor1D } {
    const { wt } = this.weights();
    if (this.inputs.kind === 'ids') return { xs: wt, rows: this.inputs.ids[t - 1] as tf.Tensor1D };
    const index = Math.floor((t - 1) / PROJECTION_BLOCK);
    const version = this.version();
    if (this.block === undefined || this.block.index !== index || this.block.version !== version) {
      this.block?.proj.dispose();
      this.block = undefined;
      const proj = tf.tidy(
        () =>
          tf.fused.matMul({
            a: this.inputs.blocks[index] as tf.Tensor2D,
            b: wt,
            bias: need(this.params, 'b'),
          }) as tf.Tensor2D,
      );
      this.block = { version, index, proj: tf.keep(proj) };
    }
    return { xs: this.block.proj, rows: this.inputs.rows[(t - 1) % PROJECTION_BLOCK] as tf.Tensor1D };
  }

  /** Forward step `t` (the tensors returned are new). */
  forward(prev: readonly tf.Tensor2D[], keep: boolean, t: number): FusedForward {
    const { xs, rows } = this.projection(t);
    const { ut } = this.weights();
    const h = prev[0] as tf.Tensor2D;
    return tf.tidy(() => {
      const hu = tf.matMul(h, ut);
      if (this.cell === 'lstm') {
        const [hNext, cNext, saved] = runFused(
          FUSED_KERNELS.lstmForward,
          { xs, rows, hu, cPrev: prev[1] },
          { keep: keep ? 1 : 0 },
        ) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        if (!keep) saved.dispose();
        return { next: [hNext, cNext], saved: keep ? [saved] : [] };
      }
      const [hNext, saved] = runFused(FUSED_KERNELS.gruForward, {
        xs,
        rows,
        hu,
        bu: need(this.params, 'bu'),
        hPrev: h,
      }) as [tf.Tensor2D, tf.Tensor2D];
      if (!keep) saved.dispose();
      return { next: [hNext], saved: keep ? [saved] : [] };
    }) as unknown as FusedForward;
  }

  /**
   * The loss head of steps whose hidden states are `hs` (each `[B, H]`) and targets `targets`, as three
   * products and one loss kernel for the block instead of per step. Every row is computed as a step alone
   * computes it (row-independent products, per-step loss sums), so results do not depend on the blocking.
   */
  blockHead(hs: readonly tf.Tensor2D[], targets: readonly HeadTargets[], weight: number): BlockHead {
    const params = this.params;
    const { wyt } = this.weights();
    return tf.tidy(() => {
      const h = hs.length === 1 ? (hs[0] as tf.Tensor2D) : tf.concat(hs as tf.Tensor2D[], 0);
      const target =
        targets.length === 1 ? (targets[0] as HeadTargets) : tf.concat(targets as tf.Tensor[], 0);
      const y = tf.fused.matMul({ a: h, b: wyt, bias: need(params, 'by') });
      const groups = hs.length;
      const [dy, loss] =
        this.head.kind === 'softmax'
          ? (runFused(FUSED_KERNELS.softmaxLoss, { y, targets: target }, { weight, groups }) as [
              tf.Tensor2D,
              tf.Tensor,
            ])
          : (runFused(
              FUSED_KERNELS.mseLoss,
              { y, targets: target },
              { scale: weight / this.head.outputs, groups },
            ) as [tf.Tensor2D, tf.Tensor]);
      const dh = tf.matMul(dy, need<tf.Tensor2D>(params, 'Wy')) as tf.Tensor2D;
      return { dy, dh, loss };
    }) as unknown as BlockHead;
  }

  /** One backward step, inside the caller's `tf.tidy`. */
  backward(a: FusedBackwardArgs): FusedBackward {
    const params = this.params;
    const hNext = a.next[0] as tf.Tensor2D;
    let dh: tf.Tensor2D | null = a.dNext[0] ?? null;
    let dh2: tf.Tensor2D | undefined;
    let loss: tf.Scalar | undefined;
    let headLinear: LinearContribution | undefined;
    if (a.head !== undefined) {
      headLinear = { weight: 'Wy', bias: 'by', d: a.head.dy, input: hNext };
      if (dh === null) dh = a.head.dh;
      else dh2 = a.head.dh;
    } else if (a.target !== undefined) {
      const { wyt } = this.weights();
      const y = tf.fused.matMul({ a: hNext, b: wyt, bias: need(params, 'by') });
      const [dy, l] =
        this.head.kind === 'softmax'
          ? (runFused(FUSED_KERNELS.softmaxLoss, { y, targets: a.target }, { weight: a.weight }) as [
              tf.Tensor2D,
              tf.Scalar,
            ])
          : (runFused(
              FUSED_KERNELS.mseLoss,
              { y, targets: a.target },
              { scale: a.weight / this.head.outputs },
            ) as [tf.Tensor2D, tf.Scalar]);
      loss = l;
      headLinear = { weight: 'Wy', bias: 'by', d: dy, input: hNext };
      const dhHead = tf.matMul(dy, need<tf.Tensor2D>(params, 'Wy')) as tf.Tensor2D;
      if (dh === null) dh = dhHead;
      else dh2 = dhHead;
    }
    if (dh === null) dh = tf.zerosLike(hNext);
    const hPrev = a.prev[0] as tf.Tensor2D;
    const U = need<tf.Tensor2D>(params, 'U');
    const W = need<tf.Tensor2D>(params, 'W');
    const sparsify = (ds: tf.Tensor2D[]): tf.Tensor2D[] => {
      const first = ds[0];
      if (a.sparsifier === undefined || first === undefined) return ds;
      const mask = a.sparsifier.mask(first);
      return ds.map((d) => tf.mul(d, mask) as tf.Tensor2D);
    };
    let dPrev: tf.Tensor2D[];
    let linear: LinearContribution[];
    let dInput: tf.Tensor2D;
    if (this.cell === 'lstm') {
      const [daRaw, dcPrev] = runFused(FUSED_KERNELS.lstmBackward, {
        dh,
        dh2,
        dc: a.dNext[1] ?? undefined,
        saved: a.saved[0],
        cPrev: a.prev[1],
      }) as [tf.Tensor2D, tf.Tensor2D];
      const [da] = sparsify([daRaw]) as [tf.Tensor2D];
      dPrev = [tf.matMul(da, U) as tf.Tensor2D, dcPrev];
      linear = [this.inputLinear(a, 'b', da), { weight: 'U', d: da, input: hPrev }];
      dInput = da;
    } else {
      const [daxRaw, dahRaw, dhz] = runFused(FUSED_KERNELS.gruBackward, {
        dh,
        dh2,
        saved: a.saved[0],
        hPrev,
      }) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const [dax, dah] = sparsify([daxRaw, dahRaw]) as [tf.Tensor2D, tf.Tensor2D];
      dPrev = [tf.add(dhz, tf.matMul(dah, U)) as tf.Tensor2D];
      linear = [this.inputLinear(a, 'b', dax), { weight: 'U', bias: 'bu', d: dah, input: hPrev }];
      dInput = dax;
    }
    if (headLinear !== undefined) linear.push(headLinear);
    const out: FusedBackward = { dPrev, linear, ...(loss === undefined ? {} : { loss }) };
    return a.inputGradient ? { ...out, dx: tf.matMul(dInput, W) } : out;
  }

  /** The input weights' product: a row scatter-add for token ids, a product for dense inputs. */
  private inputLinear(a: FusedBackwardArgs, bias: string, d: tf.Tensor2D): LinearContribution {
    if (this.inputs.kind !== 'ids') {
      if (a.x === undefined) throw new Error(`internal: no inputs for step ${a.t}`);
      return { weight: 'W', bias, d, input: a.x };
    }
    const ids = this.inputs.ids[a.t - 1] as tf.Tensor1D;
    return { weight: 'W', bias, d, ids, idRows: need<tf.Tensor2D>(this.params, 'W').shape[1] };
  }

  private disposeDerived(): void {
    if (this.derived === undefined) return;
    this.derived.ut.dispose();
    this.derived.wt.dispose();
    this.derived.wyt.dispose();
    this.derived = undefined;
  }

  /** Release the derived weights and the projected block. */
  dispose(): void {
    this.disposeDerived();
    this.block?.proj.dispose();
    this.block = undefined;
  }
}
