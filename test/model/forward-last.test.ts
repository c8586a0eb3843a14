/**
 * Evaluation's forward of the last position (Sasrec.forwardLast) gives the scores today's evaluation
 * gives (forward over every position, then row L − 1 of each sequence), bit for bit on the CPU backend,
 * for SASRec and BERT4Rec (tied and untied output, 1 to 3 blocks, awkward sizes) on left-padded batches
 * with an unpadded sequence, a one-item one and the all-padding rows that fill a short last batch; and
 * the packed layout (data/packing.ts) scores exactly as the padded one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { bert4recDims, maskTokenId } from '../../src/model/bert4rec.js';
import { Sasrec } from '../../src/model/sasrec.js';
import type { SasrecDims } from '../../src/model/sasrec-specs.js';
import { batchRows, modelGroups } from '../helpers/model-fixture.js';

let ops: CpuOps;
beforeAll(async () => {
  ops = await CpuOps.create({ threads: 2 });
});
afterAll(() => ops.close());

const B = 6;
/** Sequence lengths (real items) of the batch: full, padded, one item, and all padding (the short last batch's filler). */
function lengths(L: number): number[] {
  return [L, 3, 1, L - 2, 0, 0];
}

/** A left-padded batch of random items; BERT4Rec's rows end with the mask token, as evaluation builds them. */
function batch(dims: SasrecDims): Int32Array {
  const L = dims.maxLen;
  const ids = new Int32Array(B * L);
  lengths(L).forEach((n, b) => {
    for (let i = L - n; i < L; i++) ids[b * L + i] = 1 + Math.floor(Math.random() * dims.items);
    if (dims.maskToken === true && n > 0) ids[b * L + L - 1] = maskTokenId(dims);
  });
  return ids;
}

const SASREC: SasrecDims = { items: 23, hidden: 12, blocks: 2, heads: 3, maxLen: 7 };
const CASES: readonly { readonly name: string; readonly dims: SasrecDims }[] = [
  { name: 'SASRec, 2 blocks', dims: SASREC },
  { name: 'SASRec, 1 block, untied output', dims: { ...SASREC, blocks: 1, tieOutput: false } },
  { name: 'SASRec, 3 blocks, one head, odd width', dims: { ...SASREC, hidden: 9, heads: 1, blocks: 3, maxLen: 11 } },
  { name: 'BERT4Rec, 2 blocks', dims: bert4recDims(SASREC) },
  { name: 'BERT4Rec, 1 block, untied output', dims: bert4recDims({ ...SASREC, blocks: 1, tieOutput: false, maxLen: 5 }) },
];

describe('Sasrec.forwardLast', () => {
  for (const { name, dims } of CASES) {
    it(`scores exactly as the full forward's last rows: ${name}`, async () => {
      const { items: V, hidden: d, maxLen: L } = dims;
      const groups = modelGroups(ops, dims, B);
      const model = new Sasrec(ops, dims, 0.3, groups);
      model.initialise(7);
      const io = ops.allocGroup('eval', [
        { name: 'hidden_full', shape: [B, d], dtype: 'f32' },
        { name: 'hidden_packed', shape: [B, d], dtype: 'f32' },
        { name: 'hidden_last', shape: [B, d], dtype: 'f32' },
        { name: 'scores_full', shape: [B, V + 1], dtype: 'f32' },
        { name: 'scores_last', shape: [B, V + 1], dtype: 'f32' },
      ]);
      const ids = batch(dims);
      const rows = batchRows(ops, ids, B, L);
      {
        model.forward(rows, { train: false, seed: 0, step: 0 });
        ops.sliceRows(io.get('hidden_full'), model.hidden, B, L - 1, L, d);
        ops.scoreItems(io.get('scores_full'), io.get('hidden_full'), model.outputTable, B, V, d);
      }
      model.forwardLast(io.get('hidden_packed'), batchRows(ops, ids, B, L, { rows: ids.filter((id) => id !== 0).length + 2 }));
      model.forwardLast(io.get('hidden_last'), rows);
      ops.scoreItems(io.get('scores_last'), io.get('hidden_last'), model.outputTable, B, V, d);
      const [full, last] = [await ops.readF32(io.get('scores_full')), await ops.readF32(io.get('scores_last'))];
      const real = lengths(L).filter((n) => n > 0).length;
      // Rows of real sequences: identical. The all-padding rows are never scored; they must only be finite.
      expect(Array.from(last.subarray(0, real * (V + 1)))).toEqual(Array.from(full.subarray(0, real * (V + 1))));
      const hidden = await ops.readF32(io.get('hidden_last'));
      expect(hidden.every(Number.isFinite)).toBe(true);
      // Packed: the same numbers for the real sequences (every op is row by row, attention reads the same keys in the same order).
      const packed = await ops.readF32(io.get('hidden_packed'));
      expect(Array.from(packed.subarray(0, real * d))).toEqual(Array.from(hidden.subarray(0, real * d)));
      // Not a vacuous comparison: the scores differ between sequences.
      expect(full[V + 1 + 1]).not.toBe(full[2 * (V + 1) + 1]);
      for (const g of [io, groups.params, groups.grads, groups.acts, groups.scratch]) ops.freeGroup(g);
    });
  }
});
