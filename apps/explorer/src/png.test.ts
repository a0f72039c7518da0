import { describe, expect, it } from 'vitest';
import { decodePng, encodePng, regionStats } from './png.test-util';

function image(width: number, height: number): { width: number; height: number; rgba: Uint8Array } {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = (i * 37 + (i >> 5) * 11) & 0xff;
  return { width, height, rgba };
}

describe('png test utility', () => {
  it('decodes what it encodes, through every row filter', () => {
    const img = image(13, 11);
    const back = decodePng(encodePng(img));
    expect(back.width).toBe(13);
    expect(back.height).toBe(11);
    expect(Buffer.from(back.rgba).equals(Buffer.from(img.rgba))).toBe(true);
  });

  it('rejects what is not a PNG', () => {
    expect(() => decodePng(new Uint8Array(16))).toThrow(/signature/);
  });

  it('measures variance and colour counts of a region', () => {
    const w = 10;
    const h = 10;
    const rgba = new Uint8Array(w * h * 4).fill(255);
    for (let x = 0; x < 5; x++) rgba.set([220, 38, 38, 255], (2 * w + x) * 4);
    const stats = regionStats(
      { width: w, height: h, rgba },
      { x: 0, y: 0, width: w, height: h },
      { red: '#dc2626' },
    );
    expect(stats.pixels).toBe(100);
    expect(stats.near['red']).toBe(5);
    expect(stats.variance).toBeGreaterThan(0);
    const blank = regionStats({ width: w, height: h, rgba }, { x: 0, y: 5, width: w, height: 5 });
    expect(blank.variance).toBeCloseTo(0, 6);
  });
});
