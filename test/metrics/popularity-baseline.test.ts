import { describe, expect, it } from 'vitest';
import { evaluatePopularity, popularityRanking } from '../../src/metrics/popularity-baseline.js';
import { evalSet } from '../helpers/csr.js';

describe('popularity baseline', () => {
  // Training counts of items 1..5 (index 0 unused): 2 and 3 tie at the top.
  const counts = new Float64Array([0, 3, 5, 5, 1, 0]);

  it('ranks by count, ties by the lower id', () => {
    expect([...popularityRanking(counts)]).toEqual([2, 3, 1, 4, 5]);
  });

  it('recommends the most popular unseen items and scores them with the shared metrics', () => {
    // Lists: user 0 [3, 1, 4, 5, 0] (target 3 at rank 1), user 1 [2, 4, 5, 0, 0] (target 4 at
    // rank 2), user 2 [2, 3, 1, 4, 5] (empty history; target 5 at rank 5).
    const set = evalSet([[2], [3, 1], []], [3, 4, 5]);
    const m = evaluatePopularity(set, counts, [1, 5]);
    expect(m['ndcg@1']).toBeCloseTo(1 / 3, 12);
    expect(m['hr@1']).toBeCloseTo(1 / 3, 12);
    expect(m['ndcg@5']).toBeCloseTo((1 + 1 / Math.log2(3) + 1 / Math.log2(6)) / 3, 12);
    expect(m['mrr@5']).toBeCloseTo((1 + 1 / 2 + 1 / 5) / 3, 12);
    expect(m['hr@5']).toBe(1);
    // Top-1 items {3, 2}; history items {1, 2, 3}.
    expect(m['coverage@1']).toBeCloseTo(2 / 3, 12);
  });
});
