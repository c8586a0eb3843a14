import { describe, expect, it } from 'vitest';
import { epochOrder, evalBatches, trainBatch, trainBatches } from '../../src/data/batches.js';
import type { EvalSet, Sequences } from '../../src/data/types.js';

const seqs: Sequences = { offsets: Int32Array.from([0, 5, 7, 8]), items: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };

describe('training batches', () => {
  it('takes each row’s last L+1 items, left-padded: inputs = first L, labels = last L', () => {
    const b = trainBatch(seqs, [0, 1, 2], 3, false);
    expect(b.rows).toBe(3);
    expect(b.length).toBe(3);
    expect(Array.from(b.inputs)).toEqual([2, 3, 4, 0, 0, 6, 0, 0, 0]);
    expect(Array.from(b.labels)).toEqual([3, 4, 5, 0, 0, 7, 0, 0, 0]);
  });

  it('by default also predicts the first item of a history shorter than L + 1, at the padded position before it', () => {
    const b = trainBatch(seqs, [0, 1, 2], 3);
    // Row 0 (5 items > L + 1) is unchanged; rows 1 and 2 gain their first item as a label over input 0.
    expect(Array.from(b.inputs)).toEqual([2, 3, 4, 0, 0, 6, 0, 0, 0]);
    expect(Array.from(b.labels)).toEqual([3, 4, 5, 0, 6, 7, 0, 0, 8]);
    // A history of exactly L + 1 items fills every position: no room, no extra target.
    const exact: Sequences = { offsets: Int32Array.from([0, 4]), items: Int32Array.from([1, 2, 3, 4]) };
    expect(Array.from(trainBatch(exact, [0], 3).labels)).toEqual([2, 3, 4]);
    // Per row, the label mask is the input mask shifted one position left (the last position always has a label).
    const mask = (a: Int32Array, r: number): number[] => Array.from(a.subarray(3 * r, 3 * r + 3), (v) => (v !== 0 ? 1 : 0));
    for (const r of [0, 1, 2]) expect(mask(b.labels, r)).toEqual([...mask(b.inputs, r).slice(1), 1]);
  });

  it('counts one more target per short history on Beauty-like lengths at L 32 (the reference’s targets)', () => {
    // Lengths 3..12 (training histories of a 5-core data set after leave-one-out), each 20 times.
    const lengths = Array.from({ length: 200 }, (_, k) => 3 + (k % 10));
    const offsets = Int32Array.from([0, ...lengths.map((_, i) => lengths.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
    const items = Int32Array.from({ length: offsets[offsets.length - 1]! }, (_, k) => 1 + (k % 97));
    const rows = Array.from({ length: lengths.length }, (_, r) => r);
    const count = (labels: Int32Array): number => labels.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
    const without = count(trainBatch({ offsets, items }, rows, 32, false).labels);
    const withFirst = count(trainBatch({ offsets, items }, rows, 32, true).labels);
    // One more target per user: Σ(len − 1) → Σ len, here 1300 → 1500 (+15%; Beauty's mean 7.5 gives about 13%).
    expect(without).toBe(lengths.reduce((a, b) => a + b - 1, 0));
    expect(withFirst).toBe(without + lengths.length);
    expect(withFirst / without).toBeCloseTo(1500 / 1300, 6);
  });

  it('shuffles rows by (seed, epoch), covers every row once, and leaves the last batch short', () => {
    const n = 10;
    const offsets = Int32Array.from({ length: n + 1 }, (_, r) => 2 * r);
    const items = Int32Array.from({ length: 2 * n }, (_, k) => (k >> 1) + 1);
    const batches = [...trainBatches({ offsets, items }, { batchSize: 4, maxLen: 1, seed: 42, epoch: 0, firstTarget: false })];
    expect(batches.map((b) => b.rows)).toEqual([4, 4, 2]);
    // Row r is [r+1, r+1]: its input (L = 1) names the row.
    const seen = batches.flatMap((b) => Array.from(b.inputs));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, r) => r + 1));
    expect(Array.from(epochOrder(n, 42, 0))).toEqual(seen.map((v) => v - 1));
    expect(Array.from(epochOrder(n, 42, 0))).toEqual(Array.from(epochOrder(n, 42, 0)));
    expect(Array.from(epochOrder(n, 42, 1))).not.toEqual(Array.from(epochOrder(n, 42, 0)));
    expect(Array.from(epochOrder(n, 7, 0))).not.toEqual(Array.from(epochOrder(n, 42, 0)));
  });
});

describe('evaluation batches', () => {
  it('gives the last L inputs left-padded, the targets, and each row’s whole history', () => {
    const set: EvalSet = { inputs: seqs, targets: Int32Array.from([9, 10, 11]) };
    const [first, second] = [...evalBatches(set, { batchSize: 2, maxLen: 3 })];
    expect(first!.start).toBe(0);
    expect(Array.from(first!.inputs)).toEqual([3, 4, 5, 0, 6, 7]);
    expect(Array.from(first!.targets)).toEqual([9, 10]);
    expect(Array.from(first!.history.offsets)).toEqual([0, 5, 7]);
    expect(Array.from(first!.history.items)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(second!.start).toBe(2);
    expect(second!.rows).toBe(1);
    expect(Array.from(second!.inputs)).toEqual([0, 0, 8]);
    expect(Array.from(second!.history.offsets)).toEqual([0, 1]);
    expect(Array.from(second!.history.items)).toEqual([8]);
  });
});
