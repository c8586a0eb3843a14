import { describe, expect, it } from 'vitest';
import { epochOrder, evalBatches, trainBatch, trainBatches } from '../../src/data/batches.js';
import type { EvalSet, Sequences } from '../../src/data/types.js';

const seqs: Sequences = { offsets: Int32Array.from([0, 5, 7, 8]), items: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };

describe('training batches', () => {
  it('takes each row’s last L+1 items, left-padded: inputs = first L, labels = last L', () => {
    const b = trainBatch(seqs, [0, 1, 2], 3);
    expect(b.rows).toBe(3);
    expect(b.length).toBe(3);
    expect(Array.from(b.inputs)).toEqual([2, 3, 4, 0, 0, 6, 0, 0, 0]);
    expect(Array.from(b.labels)).toEqual([3, 4, 5, 0, 0, 7, 0, 0, 0]);
  });

  it('shuffles rows by (seed, epoch), covers every row once, and leaves the last batch short', () => {
    const n = 10;
    const offsets = Int32Array.from({ length: n + 1 }, (_, r) => 2 * r);
    const items = Int32Array.from({ length: 2 * n }, (_, k) => (k >> 1) + 1);
    const batches = [...trainBatches({ offsets, items }, { batchSize: 4, maxLen: 1, seed: 42, epoch: 0 })];
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
