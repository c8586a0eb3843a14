/**
 * BERT4Rec's batches: masked-item training samples drawn from (seed, epoch, user) alone, and the
 * evaluation input that ends in the mask token.
 */
import { describe, expect, it } from 'vitest';
import { evalBatches, maskedTrainBatch, trainBatches, type Masking } from '../../src/data/batches.js';
import type { EvalSet, Sequences } from '../../src/data/types.js';

const V = 50;
const MASK: Masking = { prob: 0.2, token: V + 1 };
// 40 users of lengths 1..12 (items 1..V); user 0 is empty.
const lengths = Array.from({ length: 40 }, (_, r) => (r === 0 ? 0 : 1 + (r % 12)));
const offsets = Int32Array.from([0, ...lengths.map((_, i) => lengths.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
const seqs: Sequences = { offsets, items: Int32Array.from({ length: offsets[offsets.length - 1]! }, (_, k) => 1 + ((7 * k) % V)) };
const L = 8;
const all = Array.from({ length: lengths.length }, (_, r) => r);

/** Row b of a [rows × L] array. */
const row = (a: Int32Array, b: number): number[] => Array.from(a.subarray(b * L, (b + 1) * L));

describe('masked training batches (BERT4Rec)', () => {
  it('keeps each user’s last L items, masks some with the token, and labels exactly the masked ones with their item', () => {
    const batch = maskedTrainBatch(seqs, all, L, MASK, 42, 0);
    for (const r of all) {
      const items = Array.from(seqs.items.subarray(offsets[r]!, offsets[r + 1]!)).slice(-L);
      const padded = [...new Array(L - items.length).fill(0), ...items];
      const inputs = row(batch.inputs, r);
      const labels = row(batch.labels, r);
      for (let t = 0; t < L; t++) {
        if (inputs[t] === MASK.token) expect(labels[t]).toBe(padded[t]);
        else expect([inputs[t], labels[t]]).toEqual([padded[t], 0]);
      }
      const masked = labels.filter((v) => v !== 0).length;
      // At least one masked position per non-empty sequence; none in an empty one.
      expect(masked >= 1).toBe(items.length > 0);
    }
  });

  it('masks about mask_prob of the items over many users', () => {
    const many: Sequences = { offsets: Int32Array.from({ length: 2001 }, (_, r) => 10 * r), items: Int32Array.from({ length: 20000 }, (_, k) => 1 + (k % V)) };
    const rows = Array.from({ length: 2000 }, (_, r) => r);
    for (const prob of [0.2, 0.5]) {
      const b = maskedTrainBatch(many, rows, 10, { prob, token: V + 1 }, 3, 1);
      const rate = b.labels.filter((v) => v !== 0).length / 20000;
      // 20,000 draws: sd 0.003 at 0.2; the forced mask of an otherwise unmasked sequence adds 0.1 · 0.8^10 ≈ 0.011 at 0.2.
      expect(Math.abs(rate - prob - (prob === 0.2 ? 0.011 : 0))).toBeLessThan(0.012);
    }
  });

  it('draws a user’s masks from (seed, epoch, user) alone: the same in any batch and order, new each epoch and seed', () => {
    const byRow = (rows: number[], seed: number, epoch: number): Map<number, number[]> => {
      const b = maskedTrainBatch(seqs, rows, L, MASK, seed, epoch);
      return new Map(rows.map((r, i) => [r, row(b.labels, i)]));
    };
    const whole = byRow(all, 42, 3);
    const reversed = byRow([...all].reverse(), 42, 3);
    const some = byRow([17, 5, 30], 42, 3);
    for (const r of all) expect(reversed.get(r)).toEqual(whole.get(r));
    for (const r of [17, 5, 30]) expect(some.get(r)).toEqual(whole.get(r));
    // An epoch's batches (shuffled) hold the same rows as the direct call.
    const fromEpoch = new Map<string, number>();
    for (const b of trainBatches(seqs, { batchSize: 7, maxLen: L, seed: 42, epoch: 3, masking: MASK })) {
      for (let i = 0; i < b.rows; i++) fromEpoch.set(row(b.labels, i).join(','), (fromEpoch.get(row(b.labels, i).join(',')) ?? 0) + 1);
    }
    for (const r of all) expect(fromEpoch.get(whole.get(r)!.join(','))).toBeGreaterThan(0);
    const flat = (m: Map<number, number[]>): number[] => all.flatMap((r) => m.get(r)!);
    expect(flat(byRow(all, 42, 4))).not.toEqual(flat(whole));
    expect(flat(byRow(all, 43, 3))).not.toEqual(flat(whole));
  });

  it('rejects a probability outside (0, 1) and a token that is not an id', () => {
    expect(() => trainBatches(seqs, { batchSize: 4, maxLen: L, seed: 1, epoch: 0, masking: { prob: 1, token: V + 1 } }).next()).toThrow(/masking\.prob must lie in \(0, 1\), got 1/);
    expect(() => trainBatches(seqs, { batchSize: 4, maxLen: L, seed: 1, epoch: 0, masking: { prob: 0.2, token: 0 } }).next()).toThrow(/masking\.token/);
  });
});

describe('evaluation batches with a query token (BERT4Rec)', () => {
  it('holds the last L − 1 history items followed by the token; the exclusion set stays the whole history', () => {
    const set: EvalSet = { inputs: { offsets: Int32Array.from([0, 5, 6]), items: Int32Array.from([1, 2, 3, 4, 5, 9]) }, targets: Int32Array.from([6, 7]) };
    const [b] = [...evalBatches(set, { batchSize: 2, maxLen: 4, queryToken: 99 })];
    expect(Array.from(b!.inputs)).toEqual([3, 4, 5, 99, 0, 0, 9, 99]);
    expect(Array.from(b!.history.items)).toEqual([1, 2, 3, 4, 5, 9]);
    // Without it, the last L items as before.
    const [plain] = [...evalBatches(set, { batchSize: 2, maxLen: 4 })];
    expect(Array.from(plain!.inputs)).toEqual([2, 3, 4, 5, 0, 0, 0, 9]);
  });
});
