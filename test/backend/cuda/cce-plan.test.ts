import { describe, expect, it } from 'vitest';
import { ccePlanFor } from '../../../src/backend/cuda/cce-kernels.js';

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
    // One warpgroup of 64 rows, two 64-row stream tiles of 256 bf16, side data, 1 KB alignment slack.
    expect(ccePlanFor(1000, 5000, 256, H200).sharedBytes).toBe((64 + 128) * 256 * 2 + 128 * 8 + 1024);
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

  it('rejects widths and sizes it has no kernel for, naming the value', () => {
    expect(() => ccePlanFor(10, 10, 513, H200)).toThrow(/d in 1\.\.512.*513/);
    expect(() => ccePlanFor(10, 10, 0, H200)).toThrow(/got 0/);
    expect(() => ccePlanFor(0, 10, 64, H200)).toThrow(/N = 0/);
  });
});
