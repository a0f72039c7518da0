import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileNativeModules, renderNativeModule } from '../scripts/native-lib.js';
import { isWasmMemory, loadNativeKernels, type NativeKernels, type WasmMemory } from './native.js';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const tanh = (x: number): number => 2 * sigmoid(2 * x) - 1;

/** Deterministic pseudo-random floats in [-scale, scale]. */
function randoms(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296 - 0.5) * 2 * scale;
  });
}

/** A bump allocator over a fresh memory, with the native kernels on it. */
async function arena(shared: boolean) {
  const WA = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => object } }).WebAssembly;
  const created: unknown = new WA.Memory({
    initial: 64,
    maximum: 65536,
    ...(shared ? { shared: true } : {}),
  });
  if (!isWasmMemory(created)) throw new Error('not a memory');
  const memory: WasmMemory = created;
  const kernels = (await loadNativeKernels(memory)) as NativeKernels;
  let next = 64;
  const put = (values: Float32Array | Int32Array): number => {
    const at = next;
    const view =
      values instanceof Int32Array
        ? new Int32Array(memory.buffer, at, values.length)
        : new Float32Array(memory.buffer, at, values.length);
    view.set(values);
    next += values.length * 4 + 16;
    return at;
  };
  const zeros = (n: number): number => put(new Float32Array(n));
  const read = (at: number, n: number): Float32Array => new Float32Array(memory.buffer, at, n).slice();
  return { kernels, put, zeros, read };
}

function expectClose(actual: Float32Array, want: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const w = want[i] as number;
    const err = Math.abs((actual[i] as number) - w) / Math.max(1, Math.abs(w));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  expect(worst, `${what}: worst relative error at ${at}`).toBeLessThanOrEqual(tolerance);
}

describe('native kernels', () => {
  it('are what native/kernels.wat compiles to (run `pnpm native` after editing it)', async () => {
    const source = readFileSync(new URL('../native/kernels.wat', import.meta.url), 'utf8');
    const committed = readFileSync(new URL('./native-module.ts', import.meta.url), 'utf8');
    expect(renderNativeModule(await compileNativeModules(source))).toBe(committed);
  });

  describe.each([
    ['shared', true],
    ['plain', false],
  ] as const)('on a %s memory', (_, shared) => {
    const B = 3;
    const H = 8;
    const G = 4 * H;
    const V = 4;

    it('LSTM forward equals the float64 step (saved gates when kept, none otherwise), extreme inputs included', async () => {
      const a = await arena(shared);
      const xs = randoms(V * G, 1, 3);
      // Pre-activations far into both tails, at the clamps of exp, zero and infinities.
      const extremes = [
        100,
        -100,
        88.7,
        -88.7,
        87.3,
        -87.3,
        0,
        1e-8,
        -1e-8,
        20,
        -20,
        1e4,
        -1e4,
        Infinity,
        -Infinity,
      ];
      extremes.forEach((v, i) => {
        xs[i * 3] = v;
      });
      const rows = Int32Array.from([2, 0, 2]);
      const hu = randoms(B * G, 2, 2);
      const cPrev = randoms(B * H, 3, 4);
      for (const keep of [1, 0]) {
        const p = {
          xs: a.put(xs),
          rows: a.put(rows),
          hu: a.put(hu),
          cPrev: a.put(cPrev),
          h: a.zeros(B * H),
          c: a.zeros(B * H),
          saved: a.zeros(B * 5 * H),
        };
        a.kernels.lstmForward(p.xs, p.rows, p.hu, p.cPrev, p.h, p.c, p.saved, B, H, keep);
        const h = new Float64Array(B * H);
        const c = new Float64Array(B * H);
        const saved = new Float64Array(B * 5 * H);
        for (let r = 0; r < B; r++) {
          for (let j = 0; j < H; j++) {
            const pre = (k: number): number =>
              Math.fround(
                (xs[(rows[r] as number) * G + k * H + j] as number) + (hu[r * G + k * H + j] as number),
              );
            const i = sigmoid(pre(0));
            const f = sigmoid(pre(1));
            const g = tanh(pre(2));
            const o = sigmoid(pre(3));
            const cn = f * (cPrev[r * H + j] as number) + i * g;
            const tc = tanh(cn);
            c[r * H + j] = cn;
            h[r * H + j] = o * tc;
            [i, f, g, o, tc].forEach((v, k) => {
              saved[r * 5 * H + k * H + j] = keep ? v : 0;
            });
          }
        }
        expectClose(a.read(p.c, B * H), c, 4e-7, 'c');
        expectClose(a.read(p.h, B * H), h, 4e-7, 'h');
        expectClose(a.read(p.saved, B * 5 * H), saved, 4e-7, 'saved');
      }
    });

    it('LSTM backward equals the float64 step, with and without the second dh and dc', async () => {
      const a = await arena(shared);
      const gates = randoms(B * 5 * H, 4, 1).map((v, i) =>
        Math.floor(i / H) % 5 === 2 || Math.floor(i / H) % 5 === 4 ? v : Math.abs(v),
      );
      const dh = randoms(B * H, 5, 1);
      const dh2 = randoms(B * H, 6, 1);
      const dc = randoms(B * H, 7, 1);
      const cPrev = randoms(B * H, 8, 3);
      for (const [withDh2, withDc] of [
        [true, true],
        [false, true],
        [true, false],
        [false, false],
      ] as const) {
        const p = {
          dh: a.put(dh),
          dh2: withDh2 ? a.put(dh2) : 0,
          dc: withDc ? a.put(dc) : 0,
          saved: a.put(gates),
          cPrev: a.put(cPrev),
          da: a.zeros(B * G),
          dcPrev: a.zeros(B * H),
        };
        a.kernels.lstmBackward(p.dh, p.dh2, p.dc, p.saved, p.cPrev, p.da, p.dcPrev, B, H);
        const da = new Float64Array(B * G);
        const dcPrev = new Float64Array(B * H);
        for (let r = 0; r < B; r++) {
          for (let j = 0; j < H; j++) {
            const s = (k: number): number => gates[r * 5 * H + k * H + j] as number;
            const [i, f, g, o, tc] = [s(0), s(1), s(2), s(3), s(4)];
            const d = (dh[r * H + j] as number) + (withDh2 ? (dh2[r * H + j] as number) : 0);
            const dct = d * o * (1 - tc * tc) + (withDc ? (dc[r * H + j] as number) : 0);
            da[r * G + j] = dct * g * i * (1 - i);
            da[r * G + H + j] = dct * (cPrev[r * H + j] as number) * f * (1 - f);
            da[r * G + 2 * H + j] = dct * i * (1 - g * g);
            da[r * G + 3 * H + j] = d * tc * o * (1 - o);
            dcPrev[r * H + j] = dct * f;
          }
        }
        expectClose(a.read(p.da, B * G), da, 1e-6, `da (dh2 ${withDh2}, dc ${withDc})`);
        expectClose(a.read(p.dcPrev, B * H), dcPrev, 1e-6, `dc_prev (dh2 ${withDh2}, dc ${withDc})`);
      }
    });

    it('GRU forward equals the float64 step, extreme inputs included', async () => {
      const a = await arena(shared);
      const G3 = 3 * H;
      const xs = randoms(V * G3, 11, 3);
      const extremes = [100, -100, 88.7, -88.7, 0, 20, -20, 1e4, -1e4, Infinity, -Infinity];
      extremes.forEach((v, i) => {
        xs[i * 5] = v;
      });
      const rows = Int32Array.from([1, 3, 1]);
      const hu = randoms(B * G3, 12, 2);
      const bu = randoms(G3, 13, 1);
      const hPrev = randoms(B * H, 14, 1);
      const p = {
        xs: a.put(xs),
        rows: a.put(rows),
        hu: a.put(hu),
        bu: a.put(bu),
        hPrev: a.put(hPrev),
        h: a.zeros(B * H),
        saved: a.zeros(B * 4 * H),
      };
      a.kernels.gruForward(p.xs, p.rows, p.hu, p.bu, p.hPrev, p.h, p.saved, B, H);
      const h = new Float64Array(B * H);
      const saved = new Float64Array(B * 4 * H);
      for (let r = 0; r < B; r++) {
        for (let j = 0; j < H; j++) {
          const x = (k: number): number => xs[(rows[r] as number) * G3 + k * H + j] as number;
          const u = (k: number): number => (hu[r * G3 + k * H + j] as number) + (bu[k * H + j] as number);
          const z = sigmoid(Math.fround(Math.fround(x(0) + (hu[r * G3 + j] as number)) + (bu[j] as number)));
          const rr = sigmoid(
            Math.fround(Math.fround(x(1) + (hu[r * G3 + H + j] as number)) + (bu[H + j] as number)),
          );
          const hn = Math.fround(u(2));
          const n = tanh(x(2) + rr * hn);
          h[r * H + j] = n + z * ((hPrev[r * H + j] as number) - n);
          [z, rr, n, hn].forEach((v, k) => {
            saved[r * 4 * H + k * H + j] = v;
          });
        }
      }
      expectClose(a.read(p.h, B * H), h, 4e-7, 'h');
      expectClose(a.read(p.saved, B * 4 * H), saved, 4e-7, 'saved');
    });

    it('GRU backward equals the float64 step, with and without the second dh', async () => {
      const a = await arena(shared);
      const G3 = 3 * H;
      const saved = randoms(B * 4 * H, 15, 1).map((v, i) => (Math.floor(i / H) % 4 < 2 ? Math.abs(v) : v));
      const dh = randoms(B * H, 16, 1);
      const dh2 = randoms(B * H, 17, 1);
      const hPrev = randoms(B * H, 18, 1);
      for (const withDh2 of [true, false]) {
        const p = {
          dh: a.put(dh),
          dh2: withDh2 ? a.put(dh2) : 0,
          saved: a.put(saved),
          hPrev: a.put(hPrev),
          dax: a.zeros(B * G3),
          dah: a.zeros(B * G3),
          dhz: a.zeros(B * H),
        };
        a.kernels.gruBackward(p.dh, p.dh2, p.saved, p.hPrev, p.dax, p.dah, p.dhz, B, H);
        const dax = new Float64Array(B * G3);
        const dah = new Float64Array(B * G3);
        const dhz = new Float64Array(B * H);
        for (let r = 0; r < B; r++) {
          for (let j = 0; j < H; j++) {
            const sv = (k: number): number => saved[r * 4 * H + k * H + j] as number;
            const [z, rr, n, hn] = [sv(0), sv(1), sv(2), sv(3)];
            const d = (dh[r * H + j] as number) + (withDh2 ? (dh2[r * H + j] as number) : 0);
            const dan = d * (1 - z) * (1 - n * n);
            const daz = d * ((hPrev[r * H + j] as number) - n) * z * (1 - z);
            const dar = dan * hn * rr * (1 - rr);
            [daz, dar, dan].forEach((v, k) => {
              dax[r * G3 + k * H + j] = v;
              dah[r * G3 + k * H + j] = k === 2 ? dan * rr : v;
            });
            dhz[r * H + j] = d * z;
          }
        }
        expectClose(a.read(p.dax, B * G3), dax, 1e-6, `dax (dh2 ${withDh2})`);
        expectClose(a.read(p.dah, B * G3), dah, 1e-6, `dah (dh2 ${withDh2})`);
        expectClose(a.read(p.dhz, B * H), dhz, 1e-6, `dhz (dh2 ${withDh2})`);
      }
    });

    it('scatters rows by id, adding rows that share an id', async () => {
      const a = await arena(shared);
      const N = 5;
      const d = randoms(N * G, 9, 1);
      const ids = Int32Array.from([1, 3, 1, 0, 1]);
      const out = a.zeros(V * G);
      a.kernels.scatterRows(a.put(d), a.put(ids), out, N, G);
      const want = new Float64Array(V * G);
      for (let r = 0; r < N; r++)
        for (let k = 0; k < G; k++)
          want[(ids[r] as number) * G + k] =
            (want[(ids[r] as number) * G + k] as number) + (d[r * G + k] as number);
      expectClose(a.read(out, V * G), want, 1e-6, 'scatter');
    });
  });
});
