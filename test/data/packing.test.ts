import { describe, expect, it } from 'vitest';
import { trainBatch, trainRowNeeds } from '../../src/data/batches.js';
import { packBatch, plannedRows } from '../../src/data/packing.js';
import type { Sequences } from '../../src/data/types.js';

const L = 4;
// Left-padded [3 × 4]: a full sequence, one of two items with a first target before it, one empty.
const INPUTS = Int32Array.from([5, 6, 7, 8, 0, 0, 2, 3, 0, 0, 0, 0]);
const LABELS = Int32Array.from([6, 7, 8, 9, 0, 1, 3, 4, 0, 0, 0, 0]);

describe('packBatch', () => {
  it('puts each sequence\'s items one after another, a first target\'s row (id 0) before its sequence', () => {
    const [part, ...rest] = packBatch(INPUTS, LABELS, 3, L, 10, 3);
    expect(rest).toHaveLength(0);
    expect(part!.used).toBe(7);
    expect(Array.from(part!.ids)).toEqual([5, 6, 7, 8, 0, 2, 3, 0, 0, 0]);
    expect(Array.from(part!.labels!)).toEqual([6, 7, 8, 9, 1, 3, 4, 0, 0, 0]);
    // (first row, length): sequence 1's items start after its first target's row; the empty one is (7, 0).
    expect(Array.from(part!.seqs)).toEqual([0, 4, 5, 2, 7, 0]);
    expect(part!.sequences).toBe(3);
  });

  it('cuts a batch that does not fit into parts between sequences, each with its own layout', () => {
    const parts = packBatch(INPUTS, LABELS, 3, L, 5, 3);
    expect(parts.map((p) => [p.first, p.sequences, p.used])).toEqual([[0, 1, 4], [1, 2, 3]]);
    expect(Array.from(parts[1]!.seqs)).toEqual([1, 2, 3, 0, 0, 0]);
    expect(Array.from(parts[1]!.labels!)).toEqual([1, 3, 4, 0, 0]);
  });

  it('caps the sequences of a part, packs without labels, and refuses a sequence wider than the rows', () => {
    expect(packBatch(INPUTS, null, 3, L, 12, 2).map((p) => p.sequences)).toEqual([2, 1]);
    expect(packBatch(INPUTS, null, 3, L, 12, 2)[0]!.labels).toBeNull();
    expect(() => packBatch(INPUTS, LABELS, 3, L, 3, 3)).toThrow(/sequence 0 needs 4 rows, more than the 3 planned/);
  });
});

describe('row needs and the planned rows', () => {
  const seq: Sequences = { offsets: Int32Array.from([0, 1, 3, 9, 9]), items: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]) };

  it('trainRowNeeds counts the rows packBatch takes for each user\'s training sample', () => {
    for (const firstTarget of [true, false]) {
      const need = trainRowNeeds(seq, L, firstTarget, false);
      for (let u = 0; u < 4; u++) {
        const batch = trainBatch(seq, [u], L, firstTarget);
        expect(packBatch(batch.inputs, batch.labels, 1, L, L, 1)[0]!.used, `user ${u}`).toBe(need[u]);
      }
    }
    expect(Array.from(trainRowNeeds(seq, L, true, true))).toEqual([1, 2, 4, 0]);
  });

  it('plans at most B·L and the B largest needs together, at least L, else the mean plus four deviations', () => {
    expect(plannedRows(Int32Array.from([4, 4, 4]), 2, 4)).toBe(8);
    expect(plannedRows(Int32Array.from([1, 1, 1]), 2, 4)).toBe(4);
    const many = Int32Array.from({ length: 1000 }, (_, i) => 20 + (i % 41));
    const planned = plannedRows(many, 128, 200);
    // mean 40, sd ≈ 11.8: 128·40 + 4·11.8·√128 + 200 ≈ 5,854, rounded up to 64.
    expect(planned).toBe(5888);
    expect(planned % 64).toBe(0);
    expect(plannedRows(new Int32Array(0), 8, 16)).toBe(16);
  });
});
