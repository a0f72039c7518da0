/**
 * A small PNG reader for the browser test's screenshot checks (8-bit greyscale, RGB or RGBA, not
 * interlaced: what Chromium writes), and a writer for testing the reader. Node only.
 */
import { deflateSync, inflateSync } from 'node:zlib';

export interface Image {
  readonly width: number;
  readonly height: number;
  /** RGBA, 4 bytes per pixel, rows top to bottom. */
  readonly rgba: Uint8Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decode a PNG file. Throws on anything it does not read. */
export function decodePng(file: Uint8Array): Image {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  SIGNATURE.forEach((b, i) => {
    if (file[i] !== b) throw new Error('png: bad signature');
  });
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= file.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...file.subarray(pos + 4, pos + 8));
    const data = file.subarray(pos + 8, pos + 8 + len);
    pos += 12 + len;
    if (type === 'IHDR') {
      width = view.getUint32(data.byteOffset - file.byteOffset);
      height = view.getUint32(data.byteOffset - file.byteOffset + 4);
      const depth = data[8];
      const color = data[9];
      const interlace = data[12];
      if (depth !== 8 || interlace !== 0)
        throw new Error(`png: unsupported depth ${depth} / interlace ${interlace}`);
      const byColor: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };
      channels = byColor[color ?? -1] ?? 0;
      if (channels === 0) throw new Error(`png: unsupported colour type ${color}`);
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
  }
  if (width === 0 || height === 0) throw new Error('png: no IHDR');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error('png: image data too short');
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? (pixels[row + x - channels] as number) : 0;
      const b = y > 0 ? (pixels[row - stride + x] as number) : 0;
      const c = x >= channels && y > 0 ? (pixels[row - stride + x - channels] as number) : 0;
      const v = raw[src + x] as number;
      let out: number;
      switch (filter) {
        case 0:
          out = v;
          break;
        case 1:
          out = v + a;
          break;
        case 2:
          out = v + b;
          break;
        case 3:
          out = v + ((a + b) >> 1);
          break;
        case 4:
          out = v + paeth(a, b, c);
          break;
        default:
          throw new Error(`png: bad filter ${filter}`);
      }
      pixels[row + x] = out & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const s = i * channels;
    const gray = channels <= 2;
    rgba[i * 4] = pixels[s] as number;
    rgba[i * 4 + 1] = pixels[gray ? s : s + 1] as number;
    rgba[i * 4 + 2] = pixels[gray ? s : s + 2] as number;
    rgba[i * 4 + 3] =
      channels === 4 ? (pixels[s + 3] as number) : channels === 2 ? (pixels[s + 1] as number) : 255;
  }
  return { width, height, rgba };
}

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encode RGBA pixels as a PNG, row `y` with filter `y % 5` (so that every filter is exercised). */
export function encodePng(img: Image): Uint8Array {
  const { width, height, rgba } = img;
  const stride = width * 4;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const filter = y % 5;
    raw[y * (stride + 1)] = filter;
    for (let x = 0; x < stride; x++) {
      const p = y * stride + x;
      const a = x >= 4 ? (rgba[p - 4] as number) : 0;
      const b = y > 0 ? (rgba[p - stride] as number) : 0;
      const c = x >= 4 && y > 0 ? (rgba[p - stride - 4] as number) : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter] as number;
      raw[y * (stride + 1) + 1 + x] = ((rgba[p] as number) - pred) & 0xff;
    }
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([
    Uint8Array.from(SIGNATURE),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Statistics of a rectangle of an image: the variance of the luminance and the pixels near given colours. */
export function regionStats(
  img: Image,
  box: { x: number; y: number; width: number; height: number },
  colors: Readonly<Record<string, string>> = {},
  tolerance = 48,
): { pixels: number; variance: number; near: Record<string, number> } {
  const targets = Object.entries(colors).map(([name, hex]) => {
    const v = Number.parseInt(hex.replace('#', ''), 16);
    return { name, r: (v >> 16) & 255, g: (v >> 8) & 255, b: v & 255 };
  });
  const near: Record<string, number> = Object.fromEntries(targets.map((t) => [t.name, 0]));
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(img.width, Math.ceil(box.x + box.width));
  const y1 = Math.min(img.height, Math.ceil(box.y + box.height));
  let sum = 0;
  let sum2 = 0;
  let count = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * img.width + x) * 4;
      const r = img.rgba[i] as number;
      const g = img.rgba[i + 1] as number;
      const b = img.rgba[i + 2] as number;
      const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
      sum += lum;
      sum2 += lum * lum;
      count++;
      for (const t of targets) {
        if (Math.abs(r - t.r) + Math.abs(g - t.g) + Math.abs(b - t.b) <= tolerance) {
          near[t.name] = (near[t.name] ?? 0) + 1;
        }
      }
    }
  }
  const mean = count > 0 ? sum / count : 0;
  return { pixels: count, variance: count > 0 ? sum2 / count - mean * mean : 0, near };
}
