import { describe, expect, it } from 'vitest';
import { lengthSummary } from '../../src/data/stats.js';

describe('lengthSummary', () => {
  it('gives nearest-rank percentiles of row lengths', () => {
    // Lengths 1..100 in shuffled order.
    const lengths = Array.from({ length: 100 }, (_, k) => ((k * 37) % 100) + 1);
    const offsets = Int32Array.from([0, ...lengths.map((_, r) => lengths.slice(0, r + 1).reduce((a, b) => a + b, 0))]);
    expect(lengthSummary(offsets)).toEqual({ min: 1, p25: 25, p50: 50, p75: 75, p90: 90, p99: 99, max: 100, mean: 50.5 });
    expect(lengthSummary(Int32Array.from([0]))).toEqual({ min: 0, p25: 0, p50: 0, p75: 0, p90: 0, p99: 0, max: 0, mean: 0 });
  });
});
