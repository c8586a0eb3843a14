/**
 * Philox4x32-10, the counter-based random number generator of Salmon, Moraes, Dror and Shaw,
 * "Parallel random numbers: as easy as 1, 2, 3" (SC 2011), with Random123's constants. A call maps
 * (counter: 4 words, key: 2 words) to 4 random words and keeps no state, so any random value can be
 * regenerated from its coordinates: backward recomputes dropout masks, the streamed CCE- redraws a
 * row's negatives, and the CUDA kernels produce bit-identical draws without sharing state.
 *
 * DERIVED STREAMS (the CUDA kernels implement exactly this scheme; change both or neither):
 * - key = [seed, step]: seed = the trial's `train.seed` (uint32), step = the global training step
 *   (0-based, counted over all epochs), reduced mod 2^32.
 * - counter word c3 names the purpose: NEGATIVES_STREAM = 0x4e454721 ("NEG!"), DROPOUT_STREAM =
 *   0x44524f50 ("DROP"), SCE_STREAM = 0x53434521 ("SCE!"). The other words are laid out by the user
 *   of the stream:
 *   - negatives (src/backend/negatives.ts): [position r, j >> 2, 0, NEG!] for uniform,
 *     [position r, j >> 1, 1, NEG!] for popularity (c2 tells the two samplers apart).
 *   - dropout: element i (flattened, row-major) of the tensor of dropout site `stream` (an integer
 *     the model fixes per dropout location, the same in forward and backward: `RngKey.site` of the
 *     ops interface) uses word (i & 3) of philox([i >>> 2, stream, 0, DROP], [seed, step]).
 *     The element is kept iff (word >>> 8) >= dropoutThreshold(p), i.e. uniformFloat(word) >= the
 *     threshold / 2^24: an integer comparison, so CPU and GPU agree exactly.
 * - BERT4Rec's masks (src/data/batches.ts, host only): MASK_STREAM = 0x4d41534b ("MASK"), key
 *   [seed, 0], counter [user row, position >> 2, epoch, MASK], word (position & 3).
 * - sce's projections (src/backend/sce.ts): element i of the step's random matrix uses the top 23
 *   bits of all four words of philox([i, 0, 0, SCE!], [seed, step]).
 *
 * Products of two 32-bit words are computed exactly: the low half by Math.imul, the high half from
 * 16-bit partial products (each below 2^32).
 */

/** Philox4x32 round multipliers (Random123's PHILOX_M4x32_0 and _1). */
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
/** 16-bit halves of the multipliers, for the exact high product. */
const M0_LO = M0 & 0xffff;
const M0_HI = M0 >>> 16;
const M1_LO = M1 & 0xffff;
const M1_HI = M1 >>> 16;
/** Weyl key increments (Random123's PHILOX_W32_0 and _1). */
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const ROUNDS = 10;
const TWO_POW_MINUS_24 = 2 ** -24;
const TWO_POW_MINUS_32 = 2 ** -32;
/** Below this, w × V < 2^53 for any 32-bit w, so one double product is exact. */
const SINGLE_PRODUCT_LIMIT = 2 ** 21;

/** Counter word c3 of negative sampling ("NEG!"). */
export const NEGATIVES_STREAM = 0x4e454721;
/** Counter word c3 of dropout masks ("DROP"). */
export const DROPOUT_STREAM = 0x44524f50;
/** Counter word c3 of BERT4Rec's training masks ("MASK"). */
export const MASK_STREAM = 0x4d41534b;
/** Counter word c3 of sce's random projections ("SCE!"). */
export const SCE_STREAM = 0x53434521;

/**
 * High 32 bits of a × (bh × 2^16 + bl) as int32 bits, for a read as uint32 and bl, bh < 2^16: four
 * 16 × 16-bit partial products, each below 2^32, so every step is exact (and faster in V8 than one
 * split double product).
 */
function mulhiSplit(a: number, bl: number, bh: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const carry = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff); // < 3 × 2^16
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (carry >>> 16)) | 0;
}

/**
 * Exact high 32 bits of the 64-bit product of two uint32 values (CUDA's `__umulhi`). Arguments are
 * read as uint32, so signed int32 views of the same bits give the same answer.
 */
export function mulhi32(a: number, b: number): number {
  return mulhiSplit(a, b & 0xffff, b >>> 16) >>> 0;
}

/**
 * Writes the 4 output words of Philox4x32-10 for counter (c0..c3) and key (k0, k1) into `out[0..3]`.
 * Allocates nothing; inputs are read as uint32 (the state is kept as int32 bits).
 */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  let x0 = c0 | 0;
  let x1 = c1 | 0;
  let x2 = c2 | 0;
  let x3 = c3 | 0;
  let key0 = k0 | 0;
  let key1 = k1 | 0;
  for (let round = 0; round < ROUNDS; round++) {
    const hi0 = mulhiSplit(x0, M0_LO, M0_HI);
    const lo0 = Math.imul(x0, M0);
    const hi1 = mulhiSplit(x2, M1_LO, M1_HI);
    const lo1 = Math.imul(x2, M1);
    x0 = hi1 ^ x1 ^ key0;
    x1 = lo1;
    x2 = hi0 ^ x3 ^ key1;
    x3 = lo0;
    key0 = (key0 + W0) | 0;
    key1 = (key1 + W1) | 0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
}

/** A float in [0, 1) from the top 24 bits of a random word (exact in float32: the same on the GPU). */
export function uniformFloat(word: number): number {
  return (word >>> 8) * TWO_POW_MINUS_24;
}

/**
 * floor(w × V / 2^32): maps a random word w to [0, V), as CUDA's `__umulhi(w, V)`. Exact for every
 * uint32 V: one double product while V < 2^21 (w × V < 2^53), `mulhi32` above.
 * The bias is at most V / 2^32 per value (below 5e-4 for V < 2^21).
 */
export function mulhi(w: number, V: number): number {
  return V < SINGLE_PRODUCT_LIMIT ? Math.floor((w >>> 0) * V * TWO_POW_MINUS_32) : mulhi32(w, V);
}

/**
 * The integer drop threshold for dropout probability p: an element is dropped iff
 * (word >>> 8) < round(p × 2^24), so the drop probability is p rounded to a multiple of 2^-24.
 */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new RangeError(`Expected dropout probability in [0, 1), got ${p}`);
  return Math.round(p * 2 ** 24);
}

const scratch = new Uint32Array(4);

/**
 * Fills `keep[0 .. count)` with the dropout mask of elements `start .. start + count` of site `stream`
 * at (seed, step): 1 = kept, 0 = dropped, per the DROP stream in the module header. Regenerating it in
 * backward gives the same mask; any split of a tensor into slices (threads) gives the same bits.
 * @param start first element's flattened index in the site's tensor. @default 0
 */
export function fillDropoutMask(keep: Uint8Array, count: number, p: number, seed: number, step: number, stream: number, start = 0): void {
  if (count > keep.length) throw new RangeError(`Expected count ≤ keep.length (${keep.length}), got ${count}`);
  const threshold = dropoutThreshold(p);
  for (let i = 0; i < count; i++) {
    const e = start + i;
    if (i === 0 || (e & 3) === 0) philox4x32(e >>> 2, stream, 0, DROPOUT_STREAM, seed, step, scratch);
    keep[i] = scratch[e & 3]! >>> 8 >= threshold ? 1 : 0;
  }
}
