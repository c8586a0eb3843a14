import { describe, expect, it } from 'vitest';
import { bf16BitsOfWord, fromBf16Bits, toBf16Bits } from '../../src/backend/bf16.js';

describe('host bf16', () => {
  it('rounds to nearest even and keeps what bf16 holds exactly', () => {
    const x = Float32Array.of(1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 65504, -0);
    const back = fromBf16Bits(toBf16Bits(x));
    // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: even (1); 1 + 3·2^-8 halfway up to 1 + 2^-6: even (that).
    expect(Array.from(back)).toEqual([1, -2.5, 1, 1 + 2 ** -6, 1 + 2 ** -7, 65536, -0]);
    expect(Object.is(back[6], -0)).toBe(true);
  });

  it('keeps infinities and turns every NaN into a quiet NaN, never a number', () => {
    const back = fromBf16Bits(toBf16Bits(Float32Array.of(Infinity, -Infinity, NaN)));
    expect(back[0]).toBe(Infinity);
    expect(back[1]).toBe(-Infinity);
    expect(Number.isNaN(back[2])).toBe(true);
    // NaN bit patterns whose rounding as numbers would carry into -0 (0xffffffff) or stay a signalling NaN.
    expect(bf16BitsOfWord(0xffffffff)).toBe(0x7fc0);
    expect(bf16BitsOfWord(0x7f800001)).toBe(0x7fc0);
    expect(bf16BitsOfWord(0x3f808000)).toBe(0x3f80); // a tie rounds to even
    expect(bf16BitsOfWord(0x3f818000)).toBe(0x3f82);
  });
});
