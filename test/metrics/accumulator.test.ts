import { describe, expect, it } from 'vitest';
import { topK } from '../../src/backend/cpu/topk.js';
import { MetricsAccumulator } from '../../src/metrics/accumulator.js';
import { historyStats } from '../../src/metrics/history-stats.js';
import { csr, evalSet } from '../helpers/csr.js';

describe('historyStats', () => {
  it('counts each user once per item and weighs items by log2(N / u) / log2(N)', () => {
    const s = historyStats(csr([[1, 2], [2, 3, 2], [], [2, 1]]), 6);
    expect(s.numUsers).toBe(4);
    expect([...s.userCounts]).toEqual([0, 2, 3, 1, 0, 0, 0]);
    expect(s.distinctItems).toBe(3);
    expect(s.weights[1]).toBeCloseTo(Math.log2(4 / 2) / 2, 15);
    expect(s.weights[2]).toBeCloseTo(Math.log2(4 / 3) / 2, 15);
    expect(s.weights[3]).toBeCloseTo(1, 15);
    expect(s.weights[4]).toBe(1); // in no history
  });

  it('defines N = 1: the one history weighs 0, everything else 1', () => {
    const s = historyStats(csr([[2, 2, 3]]), 4);
    expect([...s.weights.subarray(1)]).toEqual([1, 0, 0, 1]);
  });

  it('names a history item outside the catalogue', () => {
    expect(() => historyStats(csr([[1], [7]]), 6)).toThrow(/items in 1..6, got 7 for user row 1/);
  });
});

describe('MetricsAccumulator', () => {
  // Four users over items 1..6; user 2 has an empty history. Top-5 lists exclude each history and
  // end in 0 where fewer than 5 items are eligible.
  const set = evalSet([[1, 2], [2, 3, 2], [], [2, 1]], [3, 5, 1, 6]);
  const lists = Int32Array.from([
    [4, 3, 6, 5, 0], // target 3 at rank 2
    [1, 4, 6, 5, 0], // target 5 at rank 4
    [2, 3, 4, 5, 6], // target 1 not listed
    [6, 3, 4, 5, 0], // target 6 at rank 1
  ].flat());
  // Weights: item 1 (2 of 4 users) 0.5, item 2 (3 of 4) log2(4/3)/2, item 3 (1 of 4) 1, 4..6 (none) 1.
  const w2 = Math.log2(4 / 3) / 2;

  it('computes every metric of a hand-worked example, at K = 1 and 5', () => {
    const acc = new MetricsAccumulator({ evalSet: set, numItems: 6, ks: [5, 1] });
    expect(acc.kMax).toBe(5);
    // In two batches, out of order: only the users' rows matter.
    acc.add(lists.subarray(10), 2, 2);
    acc.add(lists, 0, 2);
    const m = acc.result();
    expect(Object.keys(m).sort()).toEqual(
      ['coverage@1', 'coverage@5', 'hr@1', 'hr@5', 'mrr@1', 'mrr@5', 'ndcg@1', 'ndcg@5', 'surprisal@1', 'surprisal@5'],
    );
    expect(m['ndcg@1']).toBeCloseTo(1 / 4, 12);
    expect(m['hr@1']).toBeCloseTo(1 / 4, 12);
    expect(m['mrr@1']).toBeCloseTo(1 / 4, 12);
    expect(m['ndcg@5']).toBeCloseTo((1 / Math.log2(3) + 1 / Math.log2(5) + 1) / 4, 12);
    expect(m['hr@5']).toBeCloseTo(3 / 4, 12);
    expect(m['mrr@5']).toBeCloseTo((1 / 2 + 1 / 4 + 1) / 4, 12);
    // Top-1 items {4, 1, 2, 6}; of the history items {1, 2, 3}, 1 and 2 are covered.
    expect(m['coverage@1']).toBeCloseTo(2 / 3, 12);
    expect(m['coverage@5']).toBeCloseTo(1, 12);
    expect(m['surprisal@1']).toBeCloseTo((1 + 0.5 + w2 + 1) / 4, 12);
    // Padding zeros are not items: user 1's mean runs over its 4 real items.
    expect(m['surprisal@5']).toBeCloseTo((1 + (0.5 + 3) / 4 + (w2 + 4) / 5 + 1) / 4, 12);
  });

  it('ranks tied scores by the lower item id, as topK orders them', () => {
    // Items 1 and 2 tie; the target 2 therefore ranks second, not first.
    const scores = Float32Array.from([0, 0.5, 0.5, 0.1]);
    const set1 = evalSet([[]], [2]);
    const acc = new MetricsAccumulator({ evalSet: set1, numItems: 3, ks: [1, 5] });
    const top = new Int32Array(acc.kMax);
    topK(top, scores, set1.inputs, 0, 1, 3, acc.kMax);
    expect([...top]).toEqual([1, 2, 3, 0, 0]);
    acc.add(top, 0, 1);
    const m = acc.result();
    expect(m['ndcg@1']).toBe(0);
    expect(m['ndcg@5']).toBeCloseTo(1 / Math.log2(3), 12);
    expect(m['mrr@5']).toBeCloseTo(1 / 2, 12);
  });

  it('handles users whose histories are all empty (coverage 0, every item weighs 1)', () => {
    const acc = new MetricsAccumulator({ evalSet: evalSet([[], []], [1, 3]), numItems: 3, ks: [1] });
    acc.add(Int32Array.from([1, 2]), 0, 2);
    expect(acc.result()).toEqual({ 'ndcg@1': 0.5, 'hr@1': 0.5, 'mrr@1': 0.5, 'coverage@1': 0, 'surprisal@1': 1 });
  });

  it('refuses double counting, missing users and short lists', () => {
    const acc = new MetricsAccumulator({ evalSet: set, numItems: 6, ks: [5] });
    acc.add(lists, 0, 2);
    expect(() => acc.result()).toThrow(/cover 2 of 4 evaluated users/);
    expect(() => acc.add(lists.subarray(5), 1, 2)).toThrow(/user row 1 was added twice/);
    // The refused batch counted nothing: user 2 can still be added.
    acc.add(lists.subarray(10), 2, 2);
    expect(acc.result()['hr@5']).toBeCloseTo(3 / 4, 12);
    expect(() => acc.add(lists.subarray(0, 9), 2, 2)).toThrow(/topIds to hold 2 × 5 ids, got 9/);
    expect(() => acc.add(lists, 3, 2)).toThrow(/user rows 3..4 within 0..3/);
    expect(() => new MetricsAccumulator({ evalSet: set, numItems: 6, ks: [0] })).toThrow(/positive integer, got 0/);
    expect(() => new MetricsAccumulator({ evalSet: evalSet([[1]], [1, 2]), numItems: 6 })).toThrow(/one target per evaluated user \(1\), got 2/);
  });
});
