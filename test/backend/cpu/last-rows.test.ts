/**
 * The CPU backend's ops over a batch layout (ops.SequenceRows) where they are plain copies: lastRows
 * (evaluation's scored rows) on the padded and a packed layout, and the layout checks every such op makes.
 */
import { describe, expect, it } from 'vitest';
import type { SequenceRows } from '../../../src/backend/ops.js';
import { randArray, rng } from '../../helpers/numeric.js';
import { useCpuOps } from '../../helpers/cpu-ops.js';

const ops = useCpuOps(1);

describe('CpuOps lastRows', () => {
  const B = 5, L = 6, cols = 3;
  // Lengths 2, 6 (full), 0 (empty: its first_b is never read), 1, 4.
  const LAYOUTS = [
    { name: 'padded', rows: B * L, seqs: [4, 2, 6, 6, -5, 0, 23, 1, 26, 4] },
    { name: 'packed', rows: 16, seqs: [14, 2, 1, 6, 0, 0, 0, 1, 8, 4] },
  ] as const;
  for (const layout of LAYOUTS) {
    it(`${layout.name} layout: each sequence's last row, zeros for an empty one`, async () => {
      const g = ops().allocGroup('last', [
        { name: 'out', shape: [B, cols], dtype: 'f32' },
        { name: 'x', shape: [layout.rows, cols], dtype: 'f32' },
        { name: 'seqs', shape: [B, 2], dtype: 'i32' },
      ]);
      const x = Float32Array.from(randArray(rng(5), layout.rows * cols));
      ops().write(g.get('x'), x);
      ops().write(g.get('seqs'), Int32Array.from(layout.seqs));
      ops().fill(g.get('out'), 7, B * cols);
      ops().lastRows(g.get('out'), g.get('x'), { seqs: g.get('seqs'), rows: layout.rows }, B, cols);
      const got = await ops().readF32(g.get('out'));
      const want = new Float32Array(B * cols);
      for (let b = 0; b < B; b++) {
        const [first, len] = [layout.seqs[2 * b]!, layout.seqs[2 * b + 1]!];
        if (len > 0) want.set(x.subarray((first + len - 1) * cols, (first + len) * cols), b * cols);
      }
      expect(got).toEqual(want);
      ops().freeGroup(g);
    });
  }

  it('rejects a layout whose rows lie outside the activations, or a sequence longer than L', () => {
    const g = ops().allocGroup('bad', [
      { name: 'out', shape: [2, cols], dtype: 'f32' },
      { name: 'x', shape: [8, cols], dtype: 'f32' },
      { name: 'ids', shape: [8], dtype: 'i32' },
      { name: 'items', shape: [3, cols], dtype: 'f32' },
      { name: 'positions', shape: [4, cols], dtype: 'f32' },
      { name: 'seqs', shape: [2, 2], dtype: 'i32' },
    ]);
    const layout: SequenceRows = { seqs: g.get('seqs'), rows: 8 };
    ops().write(g.get('seqs'), Int32Array.from([0, 2, 7, 2]));
    expect(() => ops().lastRows(g.get('out'), g.get('x'), layout, 2, cols)).toThrow(/sequence 1's rows 7\.\.8 within 0\.\.7/);
    ops().write(g.get('seqs'), Int32Array.from([0, 5, 5, 2]));
    expect(() => ops().embedForward(g.get('x'), g.get('ids'), g.get('items'), g.get('positions'), 1, layout, 2, 4, cols)).toThrow(
      /sequence 0's length in 0\.\.4, got 5/,
    );
    ops().freeGroup(g);
  });
});
