/**
 * The rows of backward steps whose weight-gradient products are still to be made, in chunks of `K` steps
 * aligned from the last step down (`T-K+1 .. T`, `T-2K+1 .. T-K`, ..; the lowest chunk, ending at step 1,
 * may be shorter). The chunks are the same whatever the policy, so every policy makes the same products
 * and, added up in the same order (highest chunk first), the same sums: gradients equal bit for bit.
 *
 * A chunk that lies inside the rows handed over at once (a backward range's outputs) is kept as views of
 * them; a chunk that spans several hand-overs (backward ranges, or single steps) is copied into a buffer
 * of its own. Pure bookkeeping over typed arrays: nothing here touches the runtime.
 */
import { allocFloat, type FloatArray } from './tensors.js';

/** The rows kept per step: gate gradients (`dAh`: the GRU's recurrent ones), inputs, states, head gradients. */
export const CHUNK_ROLES = ['dA', 'dAh', 'x', 'hPrev', 'dy', 'h'] as const;
export type ChunkRole = (typeof CHUNK_ROLES)[number];

/** Row widths per role; a role of width 0 is not kept (`dAh` outside the GRU). */
export type ChunkWidths = Readonly<Record<ChunkRole, number>>;

/** A complete chunk: steps `low .. low + size - 1`, per role `size x B` rows in ascending step order. */
export interface Chunk {
  readonly low: number;
  readonly size: number;
  readonly rows: Readonly<Record<ChunkRole, FloatArray | undefined>>;
  /** The buffer the rows were copied into (returned to the store once the chunk's products are made). */
  readonly owned?: Record<ChunkRole, FloatArray | undefined>;
}

interface Partial {
  readonly low: number;
  readonly size: number;
  count: number;
  readonly rows: Record<ChunkRole, FloatArray | undefined>;
}

export class ChunkStore {
  /** Steps per chunk. */
  readonly K: number;
  private readonly pending: Chunk[] = [];
  private partial: Partial | undefined;
  private readonly free: Record<ChunkRole, FloatArray | undefined>[] = [];
  private allocated = 0;

  constructor(
    K: number,
    private readonly T: number,
    private readonly B: number,
    private readonly widths: ChunkWidths,
    private readonly dtype: 'float32' | 'float64',
  ) {
    this.K = Math.max(1, Math.min(K, T));
  }

  /** The chunk of step `t`: its lowest step and its size. */
  bounds(t: number): { readonly low: number; readonly high: number; readonly size: number } {
    const high = this.T - Math.floor((this.T - t) / this.K) * this.K;
    const low = Math.max(1, high - this.K + 1);
    return { low, high, size: high - low + 1 };
  }

  /**
   * Hand over the rows of backward steps `to .. from` (they arrive from step T down to step 1): per role an
   * array of `(from - to + 1) x B` rows in ascending step order, or undefined for a role of width 0.
   */
  add(from: number, to: number, data: Readonly<Record<ChunkRole, FloatArray | undefined>>): void {
    const B = this.B;
    let t = from;
    while (t >= to) {
      const { low, high, size } = this.bounds(t);
      if (this.partial === undefined && t === high && low >= to) {
        const rows = {} as Record<ChunkRole, FloatArray | undefined>;
        for (const role of CHUNK_ROLES) {
          const w = this.widths[role];
          const d = data[role];
          rows[role] =
            w === 0 || d === undefined ? undefined : d.subarray((low - to) * B * w, (high - to + 1) * B * w);
        }
        this.pending.push({ low, size, rows });
        t = low - 1;
        continue;
      }
      let partial = this.partial;
      if (partial === undefined) {
        if (t !== high) throw new Error(`internal: the chunk of step ${t} was started above it`);
        partial = { low, size, count: 0, rows: this.take() };
        this.partial = partial;
      } else if (partial.low !== low || t !== partial.low + partial.size - 1 - partial.count) {
        throw new Error(
          `internal: step ${t} does not continue the chunk from step ${partial.low + partial.size - 1}`,
        );
      }
      const lo = Math.max(low, to);
      for (const role of CHUNK_ROLES) {
        const w = this.widths[role];
        const d = data[role];
        const into = partial.rows[role];
        if (w === 0 || d === undefined || into === undefined) continue;
        into.set(d.subarray((lo - to) * B * w, (t - to + 1) * B * w), (lo - low) * B * w);
      }
      partial.count += t - lo + 1;
      if (partial.count === partial.size) {
        const rows = {} as Record<ChunkRole, FloatArray | undefined>;
        for (const role of CHUNK_ROLES)
          rows[role] = partial.rows[role]?.subarray(0, size * B * this.widths[role]);
        this.pending.push({ low, size, rows, owned: partial.rows });
        this.partial = undefined;
      }
      t = lo - 1;
    }
  }

  /**
   * The complete chunks, highest first, taken out of the store: `full` those of `K` steps, `short` the
   * lowest chunk when it has fewer. Give them back with `release` once their products are made.
   */
  takeComplete(): { readonly full: Chunk[]; readonly short: Chunk | undefined } {
    const full = this.pending.filter((c) => c.size === this.K);
    const short = this.pending.find((c) => c.size !== this.K);
    this.pending.length = 0;
    return { full, short };
  }

  /** Whether complete chunks wait for their products. */
  get hasComplete(): boolean {
    return this.pending.length > 0;
  }

  /** Whether a chunk is under way (some of its steps handed over, not all). */
  get hasPartial(): boolean {
    return this.partial !== undefined;
  }

  /** Return the buffers of chunks whose products are made. */
  release(chunks: readonly (Chunk | undefined)[]): void {
    for (const c of chunks) if (c?.owned !== undefined) this.free.push(c.owned);
  }

  /** Forget every row (a new pass). */
  clear(): void {
    for (const c of this.pending) if (c.owned !== undefined) this.free.push(c.owned);
    this.pending.length = 0;
    if (this.partial !== undefined) this.free.push(this.partial.rows);
    this.partial = undefined;
  }

  /** Bytes of the chunk buffers allocated (working memory: rows are copied only for chunks that span hand-overs). */
  bytes(): number {
    const per = this.dtype === 'float32' ? 4 : 8;
    let width = 0;
    for (const role of CHUNK_ROLES) width += this.widths[role];
    return this.allocated * this.K * this.B * width * per;
  }

  private take(): Record<ChunkRole, FloatArray | undefined> {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    this.allocated++;
    const rows = {} as Record<ChunkRole, FloatArray | undefined>;
    for (const role of CHUNK_ROLES) {
      const w = this.widths[role];
      rows[role] = w === 0 ? undefined : allocFloat(this.dtype, this.K * this.B * w);
    }
    return rows;
  }
}
