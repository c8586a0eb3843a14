import { describe, expect, it } from 'vitest';
import {
  fillNegatives,
  fillRowNegatives,
  logQCorrection,
  negativeAt,
  popularitySampler,
  uniformSampler,
  type NegativeSampler,
} from '../../src/backend/negatives.js';
import { mulhi, philox4x32 } from '../../src/backend/philox.js';

/** Histogram of `draws` negatives (positions 0.., 64 per position) by item id. */
function histogram(sampler: NegativeSampler, draws: number, seed = 42, step = 3): Float64Array {
  const perRow = 64;
  const rows = draws / perRow;
  const buf = new Int32Array(perRow);
  const h = new Float64Array(sampler.numItems + 1);
  for (let r = 0; r < rows; r++) {
    // Target -1 matches no item: no rejection here.
    fillRowNegatives(buf, 0, sampler, seed, step, r, perRow, -1);
    for (const item of buf) h[item]!++;
  }
  return h;
}

/** Pearson's chi-square of observed counts against expected probabilities over items 1..V. */
function chiSquare(h: Float64Array, p: (i: number) => number, draws: number): number {
  let chi = 0;
  for (let i = 1; i < h.length; i++) {
    const e = p(i) * draws;
    if (e > 0) chi += (h[i]! - e) ** 2 / e;
  }
  return chi;
}

describe('uniform negatives', () => {
  it('are uniform over 1..V (chi-square, fixed seed, bound ≈ mean + 6 sd)', () => {
    const V = 50;
    const draws = 64 * 2000;
    const h = histogram(uniformSampler(V), draws);
    expect(h[0]).toBe(0);
    // 49 degrees of freedom: mean 49, sd ≈ 9.9.
    expect(chiSquare(h, () => 1 / V, draws)).toBeLessThan(49 + 6 * 9.9);
  });

  it('follow the documented counter layout', () => {
    const s = uniformSampler(9742);
    const w = new Uint32Array(4);
    for (const [r, j] of [[0, 0], [5, 3], [17, 4], [1000, 255]] as const) {
      philox4x32(r, j >> 2, 0, 0x4e454721, 42, 9, w);
      expect(negativeAt(s, 42, 9, r, j)).toBe(1 + mulhi(w[j & 3]!, 9742));
    }
  });
});

describe('popularity sampler', () => {
  const counts = new Float64Array([0, 5, 0, 1, 30, 2, 7, 0, 11, 3, 41]);

  it('has an alias table that reproduces p up to the documented rounding', () => {
    const w = new Uint32Array(4);
    const big = new Float64Array(1001);
    for (let i = 1; i <= 1000; i++) {
      philox4x32(i, 0, 0, 0, 3, 3, w);
      big[i] = w[0]! % 5 === 0 ? 0 : w[1]! % 100_000; // heavy spread, a fifth of them zero
    }
    for (const c of [counts, big]) expectAliasReproducesP(c);
  });

  function expectAliasReproducesP(counts: Float64Array): void {
    const s = popularitySampler(counts);
    const V = s.numItems;
    const implied = new Float64Array(V + 1);
    for (let c = 0; c < V; c++) {
      const accept = s.prob[c]! / 2 ** 32;
      implied[c + 1]! += accept / V;
      implied[s.alias[c]! + 1]! += (1 - accept) / V;
    }
    const total = counts.reduce((a, b) => a + b, 0);
    for (let i = 1; i <= V; i++) {
      expect(s.p[i]).toBe(counts[i]! / total);
      // Each column contributes at most 2^-33 (+ one double rounding) of error, over V columns.
      expect(Math.abs(implied[i]! - s.p[i]!)).toBeLessThan(2 ** -32);
    }
    // Zero-count items never accept and are nobody's alias.
    for (let i = 1; i <= V; i++) {
      if (counts[i] !== 0) continue;
      expect(s.prob[i - 1]).toBe(0);
      expect(implied[i]).toBe(0);
    }
  }

  it('draws in proportion to counts, never a zero-count item, never 0 or > V', () => {
    const s = popularitySampler(counts);
    const draws = 64 * 2000;
    const h = histogram(s, draws);
    expect(h[0]).toBe(0);
    expect(h[2]).toBe(0);
    expect(h[7]).toBe(0);
    // 8 items with positive counts: 7 degrees of freedom (mean 7, sd ≈ 3.7).
    expect(chiSquare(h, (i) => s.p[i]!, draws)).toBeLessThan(7 + 6 * 3.7);
  });

  it('follows the documented counter layout', () => {
    const s = popularitySampler(counts);
    const w = new Uint32Array(4);
    for (const [r, j] of [[0, 0], [3, 1], [8, 6], [77, 9]] as const) {
      philox4x32(r, j >> 1, 1, 0x4e454721, 1, 2, w);
      const col = mulhi(w[2 * (j & 1)]!, 10);
      const expected = 1 + (w[2 * (j & 1) + 1]! < s.prob[col]! ? col : s.alias[col]!);
      expect(negativeAt(s, 1, 2, r, j)).toBe(expected);
    }
  });

  it('rejects bad counts with the item named', () => {
    expect(() => popularitySampler(new Float64Array([0, 0, 0, 0]))).toThrow(/all zero/);
    expect(() => popularitySampler(new Float64Array([0, 1, -2]))).toThrow(/got -2 for item 2/);
    expect(() => popularitySampler(new Float64Array([0, 1, 0.5]))).toThrow(/non-negative integers, got 0.5 for item 2/);
    expect(() => popularitySampler(new Float64Array([0, 1]))).toThrow(/2 to 2\^32 - 1 items/);
  });
});

describe('fillNegatives', () => {
  const samplers: NegativeSampler[] = [uniformSampler(7), popularitySampler(new Float64Array([0, 4, 1, 1, 9, 2, 2, 6]))];

  it('is deterministic in (seed, step) and changes with either', () => {
    for (const s of samplers) {
      const labels = Int32Array.from([0, 3, 5, 1, 0, 7]);
      const n = 13;
      const a = new Int32Array(labels.length * n);
      const b = new Int32Array(labels.length * n);
      fillNegatives(a, s, 42, 10, labels, n);
      fillNegatives(b, s, 42, 10, labels, n);
      expect(b).toEqual(a);
      fillNegatives(b, s, 43, 10, labels, n);
      expect(b).not.toEqual(a);
      fillNegatives(b, s, 42, 11, labels, n);
      expect(b).not.toEqual(a);
    }
  });

  it('zeroes padded positions and rejected draws, and matches negativeAt elsewhere', () => {
    for (const s of samplers) {
      const labels = Int32Array.from([0, 3, 5, 1, 0, 7, 4]);
      const n = 11; // odd: the last Philox call is partly used
      const out = new Int32Array(labels.length * n).fill(-5);
      fillNegatives(out, s, 9, 4, labels, n);
      let rejected = 0;
      for (let r = 0; r < labels.length; r++) {
        for (let j = 0; j < n; j++) {
          const got = out[r * n + j]!;
          if (labels[r] === 0) {
            expect(got).toBe(0);
            continue;
          }
          const drawn = negativeAt(s, 9, 4, r, j);
          expect(drawn).toBeGreaterThanOrEqual(1);
          expect(drawn).toBeLessThanOrEqual(7);
          expect(got).toBe(drawn === labels[r] ? 0 : drawn);
          if (got === 0) rejected++;
        }
      }
      // With 7 items and 55 real draws, some draws hit the target: the rejection path is exercised.
      expect(rejected).toBeGreaterThan(0);
    }
  });

  it('checks the output size', () => {
    expect(() => fillNegatives(new Int32Array(5), uniformSampler(9), 1, 1, new Int32Array(2), 3)).toThrow(/hold 2 × 3 = 6 negatives, got 5/);
  });
});

describe('logQCorrection', () => {
  it('is log(V-1) - log(n) for uniform and -log(n p) for popularity', () => {
    expect(logQCorrection(uniformSampler(101), 10, 5)).toBeCloseTo(Math.log(100 / 10), 12);
    const s = popularitySampler(new Float64Array([0, 1, 3]));
    expect(logQCorrection(s, 4, 2)).toBeCloseTo(-Math.log(4 * 0.75), 12);
    expect(logQCorrection(s, 4, 1)).toBeCloseTo(-Math.log(4 * 0.25), 12);
  });
});
