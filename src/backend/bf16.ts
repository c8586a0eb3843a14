/**
 * bf16 on the host, once for every caller (uploads, fills, tests, benchmarks): float32 values rounded to
 * bf16 to nearest even, as the kernels' __float2bfloat16_rn stores them, and back. Imports nothing.
 */

/** The quiet NaN every NaN becomes (rounding a NaN's bits as a number could carry it into ±0 or ±Inf). */
const BF16_NAN = 0x7fc0;

/** The bf16 bits of the float32 whose bit pattern is `word` (uint32), rounded to nearest even. */
export function bf16BitsOfWord(word: number): number {
  if ((word & 0x7fffffff) >>> 0 > 0x7f800000) return BF16_NAN;
  return ((word + 0x7fff + ((word >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 values → bf16 bits (nearest even), into `out` (a new array by default). */
export function toBf16Bits(x: Float32Array, out: Uint16Array = new Uint16Array(x.length)): Uint16Array {
  const words = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) out[i] = bf16BitsOfWord(words[i]!);
  return out;
}

/** bf16 bits → the float32 values they hold exactly. */
export function fromBf16Bits(bits: Uint16Array): Float32Array {
  return new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
}
