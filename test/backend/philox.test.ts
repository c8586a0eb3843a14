import { describe, expect, it } from 'vitest';
import { dropoutThreshold, fillDropoutMask, mulhi, mulhi32, philox4x32, uniformFloat } from '../../src/backend/philox.js';

/** Random123's tests/kat_vectors for philox4x32 10: counter[4], key[2] → output[4]. */
const KAT: readonly (readonly [readonly number[], readonly number[], readonly number[]])[] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
  [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
];

/** A deterministic stream of uint32 test operands, edge values first. */
function operands(count: number): number[] {
  const out = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
  const w = new Uint32Array(4);
  for (let i = 0; out.length < count; i++) {
    philox4x32(i, 0, 0, 0, 7, 7, w);
    out.push(...w);
  }
  return out;
}

describe('philox4x32', () => {
  it('matches the Random123 known-answer vectors', () => {
    const out = new Uint32Array(4);
    for (const [c, k, expected] of KAT) {
      philox4x32(c[0]!, c[1]!, c[2]!, c[3]!, k[0]!, k[1]!, out);
      expect([...out]).toEqual(expected);
    }
  });

  it('reads signed int32 views of a word as the same uint32', () => {
    const a = new Uint32Array(4);
    const b = new Uint32Array(4);
    philox4x32(-1, -1, -1, -1, -1, -1, a);
    philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, b);
    expect([...a]).toEqual([...b]);
  });
});

describe('mulhi32 and mulhi', () => {
  it('equal the exact 64-bit high half (BigInt)', () => {
    const xs = operands(200);
    for (const a of xs) {
      for (const b of xs.slice(0, 40)) {
        const exact = Number((BigInt(a) * BigInt(b)) >> 32n);
        expect(mulhi32(a, b)).toBe(exact);
        // mulhi switches to the split product at 2^21; both sides of the switch must be exact.
        expect(mulhi(a, b)).toBe(exact);
      }
    }
  });

  it('maps words into [0, V) with the extremes at the ends', () => {
    for (const V of [1, 2, 9742, 2 ** 21 - 1, 2 ** 21, 3_000_001]) {
      expect(mulhi(0, V)).toBe(0);
      expect(mulhi(0xffffffff, V)).toBe(V - 1);
    }
  });
});

describe('uniformFloat', () => {
  it('spans [0, 1) in steps of 2^-24', () => {
    expect(uniformFloat(0)).toBe(0);
    expect(uniformFloat(0xffffffff)).toBe(1 - 2 ** -24);
    expect(uniformFloat(0x100)).toBe(2 ** -24);
    expect(uniformFloat(0xff)).toBe(0);
  });
});

describe('fillDropoutMask', () => {
  it('is a pure function of (seed, step, stream) and drops about p of the elements', () => {
    const n = 40_003; // not a multiple of 4: the last Philox call is partly used
    const a = new Uint8Array(n);
    const b = new Uint8Array(n);
    fillDropoutMask(a, n, 0.1, 42, 7, 3);
    fillDropoutMask(b, n, 0.1, 42, 7, 3);
    expect(b).toEqual(a);
    const dropped = n - a.reduce((s, x) => s + x, 0);
    // Binomial(40003, 0.1): sd ≈ 60; 6 sd.
    expect(Math.abs(dropped - 0.1 * n)).toBeLessThan(360);
    fillDropoutMask(b, n, 0.1, 42, 7, 4);
    expect(b).not.toEqual(a);
    fillDropoutMask(b, n, 0.1, 42, 8, 3);
    expect(b).not.toEqual(a);
  });

  it('follows the documented stream: word i & 3 of philox([i >> 2, stream, 0, DROP], [seed, step])', () => {
    const keep = new Uint8Array(9);
    fillDropoutMask(keep, 9, 0.5, 5, 11, 2);
    const w = new Uint32Array(4);
    const threshold = dropoutThreshold(0.5);
    for (let i = 0; i < 9; i++) {
      philox4x32(i >> 2, 2, 0, 0x44524f50, 5, 11, w);
      expect(keep[i]).toBe(w[i & 3]! >>> 8 >= threshold ? 1 : 0);
    }
  });

  it('gives any slice the bits of the whole tensor', () => {
    const whole = new Uint8Array(23);
    fillDropoutMask(whole, 23, 0.5, 8, 2, 1);
    const slice = new Uint8Array(10);
    fillDropoutMask(slice, 10, 0.5, 8, 2, 1, 7); // starts mid-word: elements 7..16
    expect(slice).toEqual(whole.subarray(7, 17));
  });

  it('keeps everything at p = 0 and rejects p outside [0, 1)', () => {
    const keep = new Uint8Array(17);
    fillDropoutMask(keep, 17, 0, 1, 1, 0);
    expect(keep.every((x) => x === 1)).toBe(true);
    expect(() => dropoutThreshold(1)).toThrow(/dropout probability in \[0, 1\), got 1/);
    expect(() => fillDropoutMask(keep, 18, 0.1, 1, 1, 0)).toThrow(/count ≤ keep.length/);
  });
});
