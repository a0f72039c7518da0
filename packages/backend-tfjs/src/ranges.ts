import {
  adaptV1,
  type BackwardRangeRequest,
  type CellBackendV2,
  type ForwardRangeRequest,
  type ForwardRangeResult,
  type GradientReadout,
} from '@rewind/executor';
import {
  blockBackwards,
  type CellBackendOptions,
  createCellBackend,
  HEAD_BLOCK,
  type TfjsBatch,
  type TfjsBatchBackend,
  type TfjsCellBackend,
  type TfjsGradient,
  type TfjsHidden,
  type TfjsInternal,
} from './backend.js';
import type { TfjsModel } from './model.js';

/** A `rewind-backend-v2` backend over one model and one batch, on tfjs: the policy's ranges whole. */
export interface TfjsRangeBackend
  extends CellBackendV2<TfjsHidden, TfjsInternal, TfjsGradient>,
    TfjsBatchBackend {
  /** The per-step backend underneath (same handles, same accumulators). */
  readonly perStep: TfjsCellBackend;
  zeroGradients(): void;
  liveHandles(): number;
  loss(): Promise<number>;
  readGradients(): Promise<GradientReadout>;
}

/**
 * Create the `rewind-backend-v2` backend of one model and one batch: the policy's forward and backward
 * ranges as whole operations. Forward ranges run their steps as `createCellBackend`'s do; a backward range
 * of the built-in LSTM or GRU (fused kernels, a loss at every step) computes the loss head of its steps
 * whose internal states are held in blocks of up to {@link HEAD_BLOCK} steps (three products and one loss
 * kernel per block instead of per step), and recomputes the others just in time. Every row is computed as
 * a step alone computes it, so losses and gradients are bitwise those of the per-step backend, for every
 * policy. Other cells run every range step by step.
 */
export function createRangeBackend(
  model: TfjsModel,
  batch: TfjsBatch,
  options: CellBackendOptions = {},
): TfjsRangeBackend {
  const inner = createCellBackend(model, batch, options);
  const adapted = adaptV1(inner);
  const block = blockBackwards.get(inner);
  const T = inner.steps;

  /**
   * One pass over the range: each run of held internal states in blocks that end at the window boundaries
   * (windows of HEAD_BLOCK steps counted from T), each step to recompute on its own.
   */
  const backwardRange = async (
    request: BackwardRangeRequest<TfjsHidden, TfjsInternal, TfjsGradient>,
  ): Promise<TfjsGradient> => {
    if (block === undefined) return adapted.backwardRange(request);
    let dh = request.dh;
    let i = 0;
    const count = request.from - request.to + 1;
    try {
      while (i < count) {
        const t = request.from - i;
        const source = request.sources[i];
        let next: TfjsGradient;
        if (source !== undefined && 'internal' in source) {
          const room = Math.min(HEAD_BLOCK - ((T - t) % HEAD_BLOCK), count - i);
          const internals: TfjsInternal[] = [];
          while (internals.length < room) {
            const s = request.sources[i + internals.length];
            if (s === undefined || !('internal' in s)) break;
            internals.push(s.internal);
          }
          next = block(internals, dh, t);
          i += internals.length;
        } else {
          // Recompute step t from the held state at t - 1, then run it (with its head) on its own.
          next = await adapted.backwardRange({ from: t, to: t, sources: [source as never], dh });
          i += 1;
        }
        if (dh !== request.dh && dh !== null) inner.dispose(dh);
        dh = next;
      }
    } catch (error) {
      if (dh !== request.dh && dh !== null) inner.dispose(dh);
      throw error;
    }
    return dh as TfjsGradient;
  };

  return {
    specificationVersion: 'rewind-backend-v2',
    name: inner.name,
    steps: T,
    model: inner.model,
    batchSize: inner.batchSize,
    perStep: inner,
    stateBytes: () => inner.stateBytes(),
    initialState: () => inner.initialState(),
    forwardRange: (request: ForwardRangeRequest<TfjsHidden>) =>
      adapted.forwardRange(request) as Promise<ForwardRangeResult<TfjsHidden, TfjsInternal>>,
    hiddenOf: (internal) => inner.hiddenOf(internal),
    backwardRange,
    dispose: (handle) => inner.dispose(handle),
    zeroGradients: () => inner.zeroGradients(),
    loss: () => inner.loss(),
    readGradients: () => inner.readGradients(),
    liveHandles: () => inner.liveHandles(),
    dispatchCounts: () => inner.dispatchCounts(),
    gradientTensors: () => inner.gradientTensors(),
    sparsityStats: () => inner.sparsityStats(),
    release: () => inner.release(),
  };
}
