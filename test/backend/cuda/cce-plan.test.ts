import { describe, expect, it } from 'vitest';
import { ccePlanFor, cceWriteGradPlanFor } from '../../../src/backend/cuda/cce-kernels.js';
import { ceThroughCce } from '../../../src/backend/cuda/ce-through-cce.js';
import { cudaLossWorkspace } from '../../../src/backend/cuda/cuda-losses.js';
import { materialisedLossWorkspace } from '../../../src/backend/cuda/materialised-losses.js';

const H200 = { multiprocessorCount: 132, wgmma: true };
const AMPERE = { multiprocessorCount: 108, wgmma: false };

describe('ccePlanFor: the CCE launch plan (mirrors the tile shapes of kernels/cce.cu)', () => {
  it('picks the width and the kernel family', () => {
    expect(ccePlanFor(1000, 5000, 256, H200).suffix).toBe('wg256');
    expect(ccePlanFor(1000, 5000, 256, AMPERE).suffix).toBe('256');
    // d = 33 rounds up to the 64-wide kernels, with element loads (no wgmma: rows are not 16-byte aligned).
    const odd = ccePlanFor(1000, 5000, 33, H200);
    expect([odd.suffix, odd.aligned]).toEqual(['64', false]);
    // d = 512 has no wgmma kernel and accumulates in two column chunks.
    const wide = ccePlanFor(1000, 5000, 512, H200);
    expect([wide.suffix, wide.chunks, wide.threads]).toEqual(['512', 2, 128]);
  });

  it('sizes the shared memory as the kernel lays it out', () => {
    // One warpgroup of 64 rows, two 64-row stream tiles of 256 bf16, side data, 2048 live bits, 1 KB alignment slack.
    expect(ccePlanFor(1000, 5000, 256, H200).sharedBytes).toBe((64 + 128) * 256 * 2 + 128 * 8 + 256 + 1024);
    expect(ccePlanFor(1000, 5000, 256, H200).sharedBytes).toBeLessThanOrEqual(227 * 1024);
    expect(ccePlanFor(1000, 5000, 512, AMPERE).sharedBytes).toBeLessThanOrEqual(227 * 1024);
  });

  it('splits N when V is too small to fill the GPU, with partials bounded by the CTAs it aims for', () => {
    for (const [N, V, d] of [[65536, 3706, 64], [1037, 3001, 64], [1000, 50, 128], [65, 64, 256]] as const) {
      const p = ccePlanFor(N, V, d, H200);
      expect(p.splits, `${N}×${V}×${d}`).toBeGreaterThan(1);
      expect(p.rowsPerSplit % 64, 'shares are whole stream tiles').toBe(0);
      expect(p.splits * p.rowsPerSplit).toBeGreaterThanOrEqual(N);
      expect((p.splits - 1) * p.rowsPerSplit).toBeLessThan(N);
      expect(p.partialElements).toBe(p.splits * V * d);
      // Items per CTA times the CTAs aimed for bound the partials: S·V ≤ 2·SMs·R (+ one tile of slack).
      expect(p.splits * V).toBeLessThanOrEqual(2 * 132 * p.ownRows + V);
    }
  });

  it('does not split a large catalogue, nor fewer rows than one stream tile', () => {
    const p = ccePlanFor(65536, 176450, 256, H200);
    expect([p.splits, p.partialElements]).toEqual([1, 0]);
    expect(ccePlanFor(77, 50, 128, H200).splits).toBe(1);
  });

  it('splits the forward over the catalogue only when its row blocks leave the GPU half empty', () => {
    // Batch 32 × L 32 (issue 10): 16 row blocks of 64 on 132 SMs → 16 shares of 16 item tiles (241 tiles).
    const batch = ccePlanFor(1024, 15405, 256, H200);
    expect([batch.forwardSplits, batch.forwardTilesPerSplit]).toEqual([16, 16]);
    expect(batch.forwardPartialElements).toBe(16 * 1024 * 258 + 1024);
    // ML-1M (400 row blocks) and ML-20M (2048) fill the GPU already: today's single pass, no partials.
    // The one share is every item tile: 27 of 128 items (wgmma d = 64), 241 of 64 (d = 256).
    for (const [N, V, d, tiles] of [[25600, 3416, 64, 27], [131072, 15405, 256, 241]] as const) {
      const p = ccePlanFor(N, V, d, H200);
      expect([p.forwardSplits, p.forwardTilesPerSplit, p.forwardPartialElements], `${N}×${V}×${d}`).toEqual([1, tiles, 0]);
    }
    // ML-20M's packed batch (27,648 rows: 432 row blocks, 1.6 waves of 264 CTAs): two shares, so that the
    // last wave of its real row blocks is fuller.
    const packed = ccePlanFor(27648, 15405, 256, H200);
    expect([packed.forwardSplits, packed.forwardTilesPerSplit, packed.forwardPartialElements]).toEqual([2, 121, 2 * 27648 * 258 + 27648]);
    // One row block: at least 4 tiles a share (241 tiles → 49 shares of 5).
    const few = ccePlanFor(37, 15405, 256, H200);
    expect([few.forwardSplits, few.forwardTilesPerSplit]).toEqual([49, 5]);
    // Too few tiles to share: one pass.
    expect(ccePlanFor(37, 200, 256, H200).forwardSplits).toBe(1);
  });

  it('gives every forward share at least one tile and, splitting to fill the GPU, the CTAs at most two per SM', () => {
    for (const [N, V, d] of [[1024, 15405, 256], [37, 15405, 256], [1024, 3001, 64], [37, 3001, 45], [300, 15405, 45], [1100, 3001, 512], [200, 50, 64]] as const) {
      for (const device of [H200, AMPERE]) {
        const p = ccePlanFor(N, V, d, device);
        const tiles = Math.ceil(p.tileMaxElements / p.rowBlocks);
        const label = `${N}×${V}×${d} on ${device.multiprocessorCount} SMs`;
        expect(p.forwardSplits * p.forwardTilesPerSplit, label).toBeGreaterThanOrEqual(tiles);
        expect((p.forwardSplits - 1) * p.forwardTilesPerSplit, label).toBeLessThan(tiles);
        if (p.forwardSplits > 1) {
          expect(p.forwardSplits * p.rowBlocks * p.chunks, label).toBeLessThanOrEqual(2 * device.multiprocessorCount);
          expect(p.forwardTilesPerSplit, label).toBeGreaterThanOrEqual(4);
        }
      }
    }
  });

  it("sizes the tile skip's bounds by the forward's row blocks and item tiles", () => {
    // wgmma d = 256: 64-row blocks × 64-item tiles; N·V/2048 bytes of bf16 at the largest shape.
    const big = ccePlanFor(32768, 1661327, 256, H200);
    expect([big.rowBlocks, big.tileMaxElements]).toEqual([512, 512 * Math.ceil(1661327 / 64)]);
    // mma.sync d = 64 on Ampere: 128-row blocks × 128-item tiles, odd sizes rounded up.
    const odd = ccePlanFor(1000, 5001, 64, AMPERE);
    expect([odd.rowBlocks, odd.tileMaxElements]).toEqual([8, 8 * 40]);
  });

  it('rejects widths and sizes it has no kernel for, naming the value', () => {
    expect(() => ccePlanFor(10, 10, 513, H200)).toThrow(/d in 1\.\.512.*513/);
    expect(() => ccePlanFor(10, 10, 0, H200)).toThrow(/got 0/);
    expect(() => ccePlanFor(0, 10, 64, H200)).toThrow(/N = 0/);
  });
});

describe('cceWriteGradPlanFor: the launch of cce_write_grad (ce under bf16 math)', () => {
  it("takes the forward's kernel shape and splits the columns into shares of at least 4 tiles", () => {
    // ML-1M's packed batch: 268 row blocks of 64 (wgmma d = 64), 29 column tiles of 128 (P = 3712): 4 shares of 8.
    const ml1m = cceWriteGradPlanFor(17152, 3706, 64, 3712, H200);
    expect(ml1m).toEqual({ suffix: 'wg64', aligned: true, threads: 128, rowBlocks: 268, splits: 4, tilesPerSplit: 8, sharedBytes: (64 + 256) * 64 * 2 + 1024 });
    for (const [N, V, d, P] of [[203, 1001, 64, 1008], [517, 4099, 33, 4104], [65, 50, 32, 56], [130, 700, 256, 704], [77, 130, 128, 264], [1100, 3001, 64, 3008]] as const) {
      for (const device of [H200, AMPERE]) {
        const p = cceWriteGradPlanFor(N, V, d, P, device);
        const f = ccePlanFor(N, V, d, device);
        const tiles = Math.ceil(P / f.streamRows);
        const label = `${N}×${V}×${d} P=${P} on ${device.multiprocessorCount} SMs`;
        expect([p.suffix, p.threads, p.rowBlocks], label).toEqual([f.suffix, f.threads, f.rowBlocks]);
        expect(p.splits * p.tilesPerSplit, label).toBeGreaterThanOrEqual(tiles);
        expect((p.splits - 1) * p.tilesPerSplit, label).toBeLessThan(tiles);
        if (p.splits > 1) expect(p.tilesPerSplit, label).toBeGreaterThanOrEqual(4);
        expect(p.sharedBytes, label).toBeLessThanOrEqual(f.sharedBytes);
      }
    }
  });

  it('rejects a width past 256 and a stride that is not a multiple of 8 or shorter than V + 1', () => {
    expect(() => cceWriteGradPlanFor(10, 10, 300, 16, H200)).toThrow(/d ≤ 256.*300/);
    expect(() => cceWriteGradPlanFor(10, 10, 64, 12, H200)).toThrow(/multiple of 8, got 12/);
    expect(() => cceWriteGradPlanFor(10, 20, 64, 16, H200)).toThrow(/P ≥ V \+ 1 = 21/);
  });
});

describe("ce's workspace through CCE's pass", () => {
  const ml1m = { rows: 25600, items: 3706, hidden: 64 };

  it('adds lse and the unscaled row gradient under bf16 math only, for d ≤ 256', () => {
    expect([ceThroughCce('ce', 'bf16', 64), ceThroughCce('ce', 'fp32', 64), ceThroughCce('ce', 'bf16', 300), ceThroughCce('bce', 'bf16', 64)])
      .toEqual([true, false, false, false]);
    const names = (math: 'bf16' | 'fp32', hidden = 64) =>
      materialisedLossWorkspace({ kind: 'ce' }, { ...ml1m, hidden }, math).map((s) => `${s.name} ${s.shape.join('×')} ${s.dtype}`);
    expect(names('bf16')).toEqual([
      'logits 25600×3712 bf16', 'row_loss 25600 f32', 'table_pad 3712×64 bf16', 'dtable_pad 3712×64 f32', 'lse 25600 f32', 'dh_raw 25600×64 f32',
    ]);
    expect(names('fp32')).toEqual(['logits 25600×3712 f32', 'row_loss 25600 f32', 'table_pad 3712×64 f32', 'dtable_pad 3712×64 f32']);
    expect(names('bf16', 300)).toEqual(['logits 25600×3712 bf16', 'row_loss 25600 f32', 'table_pad 3712×300 bf16', 'dtable_pad 3712×300 f32']);
    expect(materialisedLossWorkspace({ kind: 'bce' }, ml1m, 'bf16').map((s) => s.name)).toEqual(['logits', 'row_loss', 'table_pad', 'dtable_pad']);
  });

  it("plans h's bf16 copy where the model hands an f32 h (the CUDA model does), and only then", () => {
    const names = (hDType: 'f32' | 'bf16', math: 'bf16' | 'fp32') => cudaLossWorkspace({ kind: 'ce' }, ml1m, hDType, math).map((s) => s.name);
    expect(names('f32', 'bf16')).toEqual(['logits', 'row_loss', 'table_pad', 'dtable_pad', 'lse', 'dh_raw', 'h_bf16']);
    expect(names('bf16', 'bf16')).toEqual(['logits', 'row_loss', 'table_pad', 'dtable_pad', 'lse', 'dh_raw']);
    expect(names('f32', 'fp32')).toEqual(['logits', 'row_loss', 'table_pad', 'dtable_pad']);
  });
});
