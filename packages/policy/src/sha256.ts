// SHA-256 as defined in FIPS 180-4, section 6.2. Synchronous, dependency-free, runs anywhere.

/** The 64 round constants K (FIPS 180-4, 4.2.2): fractional parts of the cube roots of the first 64 primes. */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

/** The initial hash value H(0) (FIPS 180-4, 5.3.3): fractional parts of the square roots of the first 8 primes. */
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** Process 64-byte blocks of `data` starting at `offset`, `blocks` of them, updating the state `h` in place. */
function compress(h: Int32Array, w: Int32Array, data: Uint8Array, offset: number, blocks: number): void {
  let h0 = h[0]!;
  let h1 = h[1]!;
  let h2 = h[2]!;
  let h3 = h[3]!;
  let h4 = h[4]!;
  let h5 = h[5]!;
  let h6 = h[6]!;
  let h7 = h[7]!;
  let p = offset;
  for (let block = 0; block < blocks; block++) {
    // 1. Prepare the message schedule W (6.2.2 step 1).
    for (let t = 0; t < 16; t++, p += 4) {
      w[t] = (data[p]! << 24) | (data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!;
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 2]!;
      const y = w[t - 15]!;
      // sigma1(x) = ROTR17 ^ ROTR19 ^ SHR10; sigma0(y) = ROTR7 ^ ROTR18 ^ SHR3
      const s1 = ((x >>> 17) | (x << 15)) ^ ((x >>> 19) | (x << 13)) ^ (x >>> 10);
      const s0 = ((y >>> 7) | (y << 25)) ^ ((y >>> 18) | (y << 14)) ^ (y >>> 3);
      w[t] = (s1 + w[t - 7]! + s0 + w[t - 16]!) | 0;
    }
    // 2.-3. Initialise the working variables and run the 64 rounds.
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    let f = h5;
    let g = h6;
    let hh = h7;
    for (let t = 0; t < 64; t++) {
      // Sigma1(e) = ROTR6 ^ ROTR11 ^ ROTR25; Ch(e,f,g) = (e & f) ^ (~e & g)
      const bigS1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + bigS1 + ch + K[t]! + w[t]!) | 0;
      // Sigma0(a) = ROTR2 ^ ROTR13 ^ ROTR22; Maj(a,b,c) = (a & b) ^ (a & c) ^ (b & c)
      const bigS0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (bigS0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    // 4. The next intermediate hash value.
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + hh) | 0;
  }
  h[0] = h0;
  h[1] = h1;
  h[2] = h2;
  h[3] = h3;
  h[4] = h4;
  h[5] = h5;
  h[6] = h6;
  h[7] = h7;
}

/**
 * The SHA-256 digest (FIPS 180-4) of `data`, as 32 bytes.
 *
 * Synchronous and dependency-free, so it runs in browsers and workers as well as in Node.
 */
export function sha256(data: Uint8Array): Uint8Array {
  const h = new Int32Array(H0);
  const w = new Int32Array(64);
  const length = data.length;
  const fullBlocks = Math.floor(length / 64);
  compress(h, w, data, 0, fullBlocks);

  // Padding (5.1.1): the remaining bytes, a 1 bit, zeros, and the message length in bits as 64-bit big-endian.
  const rest = length - fullBlocks * 64;
  const tailLength = rest < 56 ? 64 : 128;
  const tail = new Uint8Array(tailLength);
  tail.set(data.subarray(fullBlocks * 64), 0);
  tail[rest] = 0x80;
  const bitsHigh = Math.floor(length / 0x20000000); // length * 8 / 2^32
  const bitsLow = (length * 8) >>> 0;
  tail[tailLength - 8] = bitsHigh >>> 24;
  tail[tailLength - 7] = bitsHigh >>> 16;
  tail[tailLength - 6] = bitsHigh >>> 8;
  tail[tailLength - 5] = bitsHigh;
  tail[tailLength - 4] = bitsLow >>> 24;
  tail[tailLength - 3] = bitsLow >>> 16;
  tail[tailLength - 2] = bitsLow >>> 8;
  tail[tailLength - 1] = bitsLow;
  compress(h, w, tail, 0, tailLength / 64);

  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const v = h[i]!;
    out[4 * i] = v >>> 24;
    out[4 * i + 1] = v >>> 16;
    out[4 * i + 2] = v >>> 8;
    out[4 * i + 3] = v;
  }
  return out;
}

const HEX = '0123456789abcdef';

/** Lowercase hexadecimal of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  const parts = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    parts[i] = HEX[b >>> 4]! + HEX[b & 15]!;
  }
  return parts.join('');
}

/** The SHA-256 digest of `data` as 64 lowercase hexadecimal digits. */
export function sha256Hex(data: Uint8Array): string {
  return toHex(sha256(data));
}
