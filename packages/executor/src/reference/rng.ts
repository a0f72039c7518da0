/** A deterministic generator of uniform numbers in [0, 1) from a 32-bit seed (a splitmix-style counter hash). */
export function createRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

/** Fill `out` with uniform numbers in [-scale, scale). */
export function fillUniform(out: Float64Array, rng: () => number, scale: number): Float64Array {
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng() - 1) * scale;
  return out;
}
