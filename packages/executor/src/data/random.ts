/** A seeded generator of uniform numbers in [0, 1): a 32-bit xorshift-multiply counter hash. */
export function seededUniform(seed: number): () => number {
  let state = (Math.trunc(seed) ^ 0x6d2b79f5) >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), 0x2c1b3c6d) >>> 0;
    z = Math.imul(z ^ (z >>> 12), 0x297a2d39) >>> 0;
    z = (z ^ (z >>> 15)) >>> 0;
    return z / 4294967296;
  };
}
