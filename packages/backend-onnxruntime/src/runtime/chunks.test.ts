import { describe, expect, it } from 'vitest';
import { type Chunk, ChunkStore, type ChunkWidths } from './chunks.js';

const WIDTHS: ChunkWidths = { dA: 2, dAh: 0, x: 1, hPrev: 1, dy: 1, h: 1 };
const B = 2;

/** Rows of steps `to .. from` where every value is its step number (role `dA` holds `step + 0.5` too). */
function rows(from: number, to: number): Record<'dA' | 'x' | 'hPrev' | 'dy' | 'h', Float64Array> {
  const make = (w: number, extra = 0): Float64Array => {
    const a = new Float64Array((from - to + 1) * B * w);
    for (let t = to; t <= from; t++) a.fill(t + extra, (t - to) * B * w, (t - to + 1) * B * w);
    return a;
  };
  return { dA: make(2, 0.5), x: make(1), hPrev: make(1), dy: make(1), h: make(1) };
}

const steps = (c: Chunk): number[] => Array.from(c.rows.x ?? [], (v) => v);

describe('ChunkStore', () => {
  it('aligns chunks from the last step down; only the chunk ending at step 1 is shorter', () => {
    const store = new ChunkStore(4, 10, B, WIDTHS, 'float64');
    expect(store.bounds(10)).toEqual({ low: 7, high: 10, size: 4 });
    expect(store.bounds(7)).toEqual({ low: 7, high: 10, size: 4 });
    expect(store.bounds(6)).toEqual({ low: 3, high: 6, size: 4 });
    expect(store.bounds(2)).toEqual({ low: 1, high: 2, size: 2 });
    expect(new ChunkStore(50, 10, B, WIDTHS, 'float64').K).toBe(10);
  });

  it('keeps a chunk inside one hand-over as views, copies one that spans hand-overs', () => {
    const store = new ChunkStore(4, 10, B, WIDTHS, 'float64');
    const first = rows(10, 5); // chunk 7..10 inside; 5..6 start chunk 3..6
    store.add(10, 5, { ...first, dAh: undefined });
    let done = store.takeComplete();
    expect(done.full.map((c) => c.low)).toEqual([7]);
    const inside = done.full[0] as Chunk;
    expect(inside.owned).toBeUndefined();
    expect(inside.rows.x?.buffer).toBe(first.x.buffer);
    expect(steps(inside)).toEqual([7, 7, 8, 8, 9, 9, 10, 10]);
    expect(inside.rows.dA?.length).toBe(4 * B * 2);
    expect(store.hasPartial).toBe(true);
    expect(store.bytes()).toBe(4 * B * 6 * 8);
    store.add(4, 1, { ...rows(4, 1), dAh: undefined });
    done = store.takeComplete();
    expect(done.full.map((c) => c.low)).toEqual([3]);
    const spanning = done.full[0] as Chunk;
    expect(spanning.owned).toBeDefined();
    expect(steps(spanning)).toEqual([3, 3, 4, 4, 5, 5, 6, 6]);
    expect(done.short?.low).toBe(1);
    expect(steps(done.short as Chunk)).toEqual([1, 1, 2, 2]);
    expect(store.hasComplete).toBe(false);
    expect(store.hasPartial).toBe(false);
  });

  it('step by step: every chunk copied, its buffer reused once released', () => {
    const store = new ChunkStore(3, 6, B, WIDTHS, 'float64');
    const seen: number[][] = [];
    for (let t = 6; t >= 1; t--) {
      store.add(t, t, { ...rows(t, t), dAh: undefined });
      if (!store.hasComplete) continue;
      const { full } = store.takeComplete();
      for (const c of full) seen.push(steps(c));
      store.release(full);
    }
    expect(seen).toEqual([
      [4, 4, 5, 5, 6, 6],
      [1, 1, 2, 2, 3, 3],
    ]);
    expect(store.bytes()).toBe(3 * B * 6 * 8); // one buffer, reused
  });

  it('refuses steps that do not continue the chunk under way', () => {
    const store = new ChunkStore(4, 8, B, WIDTHS, 'float64');
    store.add(8, 7, { ...rows(8, 7), dAh: undefined });
    expect(() => store.add(5, 5, { ...rows(5, 5), dAh: undefined })).toThrow(/does not continue/);
    store.clear();
    expect(() => store.add(6, 6, { ...rows(6, 6), dAh: undefined })).toThrow(/started above it/);
  });
});
