/**
 * sce on the CPU (backend/sce.ts defines it): against its definition written the slow way, finite-
 * difference gradients in float64 on odd shapes, equal to ce when its buckets cover every row and item,
 * rows in no bucket, the step's random matrix, and the workspace both backends plan (no GPU needed).
 */
import { describe, expect, it } from 'vitest';
import { referenceLoss, type ReferenceLossInput } from '../../../src/backend/cpu/loss-reference.js';
import { checkSce, sceNormal, sceShape, type SceSettings } from '../../../src/backend/sce.js';
import { expectClose, numericGrad, randArray, rng } from '../../helpers/numeric.js';

// Odd shapes: N = 13 rows (4 padding), V = 17 items, d = 5; 3 buckets of 4 rows and 6 items.
const N = 13, V = 17, d = 5;
const TARGETS = Int32Array.from([3, 0, 17, 1, 1, 0, 7, 0, 5, 12, 0, 9, 3]);
const SMALL: SceSettings = { buckets: 3, bucketRows: 4, bucketItems: 6, mix: true };
const KEY = { seed: 42, step: 3 };

function input(sce: SceSettings, seed = 1, targets = TARGETS): ReferenceLossInput & { h: Float64Array; table: Float64Array } {
  const next = rng(seed);
  return { kind: 'sce', N, V, d, targets, h: randArray(next, N * d), table: randArray(next, (V + 1) * d), sce: { ...sce, ...KEY } };
}

function dotRows(a: Float64Array, ao: number, b: ArrayLike<number>, bo: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += a[ao + c]! * b[bo + c]!;
  return s;
}

/** Indices of the k best of `ids` by score (descending; ties to the lower id), the slow obvious way. */
function topBySort(ids: number[], score: (i: number) => number, k: number): number[] {
  return [...ids].sort((a, b) => score(b) - score(a) || a - b).slice(0, k);
}

/** sce written out from backend/sce.ts's five steps, with plain arrays and sorting. */
function naive(x: ReturnType<typeof input>): number {
  const s = x.sce!;
  const valid = [...Array(N).keys()].filter((r) => x.targets[r] !== 0);
  const rowMax = new Map<number, number>();
  for (let b = 0; b < s.buckets; b++) {
    const omega = new Float64Array(d);
    for (let c = 0; c < d; c++) {
      if (!s.mix) omega[c] = sceNormal(s.seed, s.step, c * s.buckets + b);
      else for (const r of valid) omega[c] = omega[c]! + sceNormal(s.seed, s.step, r * s.buckets + b) * x.h[r * d + c]!;
    }
    const rows = topBySort(valid, (r) => dotRows(x.h, r * d, omega, 0), s.bucketRows);
    const items = topBySort([...Array(V).keys()].map((i) => i + 1), (i) => dotRows(x.table, i * d, omega, 0), s.bucketItems);
    for (const r of rows) {
      const t = x.targets[r]!;
      const logits = [t, ...items.filter((i) => i !== t)].map((i) => dotRows(x.h, r * d, x.table, i * d));
      const lse = Math.log(logits.reduce((z, l) => z + Math.exp(l), 0));
      rowMax.set(r, Math.max(rowMax.get(r) ?? -Infinity, lse - logits[0]!));
    }
  }
  let total = 0;
  for (const l of rowMax.values()) total += l;
  return total / valid.length;
}

describe('sce (float64 reference)', () => {
  for (const mix of [true, false]) {
    const sce = { ...SMALL, mix };

    it(`mix ${mix}: equals its definition`, () => {
      for (const seed of [1, 2, 3]) {
        const x = input(sce, seed);
        expect(referenceLoss(x).loss).toBeCloseTo(naive(x), 12);
      }
    });

    it(`mix ${mix}: gradients match finite differences; padding rows, rows in no bucket and row 0 of E get none`, () => {
      const x = input(sce, 4);
      const out = referenceLoss(x);
      const f = (): number => referenceLoss(x).loss;
      // The buckets are constants of the step; a step of 1e-6 moves no row or item across a top-k boundary here.
      expectClose(out.dH, numericGrad(f, x.h), 1e-7, 'dH');
      expectClose(out.dTable, numericGrad(f, x.table), 1e-7, 'dE');
      for (let c = 0; c < d; c++) expect(out.dTable[c]).toBe(0);
      const best = out.sce!.best;
      let uncovered = 0;
      for (let r = 0; r < N; r++) {
        if (x.targets[r] !== 0 && best[r]! >= 0) continue;
        if (x.targets[r] !== 0) uncovered++;
        for (let c = 0; c < d; c++) expect(out.dH[r * d + c], `row ${r}`).toBe(0);
      }
      // 3 buckets of 4 rows cannot hold all 9 valid rows.
      expect(uncovered).toBeGreaterThan(0);
    });
  }

  it('buckets holding every row and every item make it ce: loss and gradients', () => {
    for (const sce of [
      { buckets: 1, bucketRows: N, bucketItems: V, mix: true },
      { buckets: 3, bucketRows: 1000, bucketItems: 1000, mix: false },
    ]) {
      const x = input(sce, 5);
      const s = referenceLoss(x);
      const ce = referenceLoss({ ...x, kind: 'ce' });
      expect(s.loss).toBeCloseTo(ce.loss, 12);
      expectClose(s.dH, ce.dH, 1e-12, 'dH');
      expectClose(s.dTable, ce.dTable, 1e-12, 'dE');
    }
  });

  it('each bucket keeps the valid rows and the items with the largest projections, best first, without repeats', () => {
    const x = input({ buckets: 4, bucketRows: 20, bucketItems: 5, mix: true }, 6);
    const { rows, items } = referenceLoss(x).sce!;
    const shape = sceShape(x.sce!, N, V);
    expect(shape).toEqual({ buckets: 4, rows: N, items: 5 });
    for (let b = 0; b < 4; b++) {
      const kept = Array.from(rows.subarray(b * N, (b + 1) * N));
      // 9 valid rows, then empty slots.
      expect(kept.slice(9)).toEqual([-1, -1, -1, -1]);
      expect(new Set(kept.slice(0, 9))).toEqual(new Set([...Array(N).keys()].filter((r) => TARGETS[r] !== 0)));
      const its = Array.from(items.subarray(b * 5, (b + 1) * 5));
      expect(new Set(its).size).toBe(5);
      expect(its.every((i) => i >= 1 && i <= V)).toBe(true);
    }
  });

  it('the step draws new buckets; the same (seed, step) the same ones', () => {
    const x = input({ buckets: 6, bucketRows: 3, bucketItems: 4, mix: false }, 7);
    const a = referenceLoss(x).sce!;
    const again = referenceLoss(x).sce!;
    const later = referenceLoss({ ...x, sce: { ...x.sce!, step: 4 } }).sce!;
    expect(Array.from(again.items)).toEqual(Array.from(a.items));
    expect(Array.from(later.items)).not.toEqual(Array.from(a.items));
  });

  it('a batch of padding only has loss 0 and zero gradients', () => {
    const out = referenceLoss(input(SMALL, 8, new Int32Array(N)));
    expect(out.loss).toBe(0);
    expect(out.dH.every((v) => v === 0)).toBe(true);
    expect(out.dTable.every((v) => v === 0)).toBe(true);
  });

  it('its random matrix is centred with variance 1/3, exact float32 values (multiples of 2^-23 below 2)', () => {
    let sum = 0;
    let sq = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const z = sceNormal(9, 1, i);
      expect(Number.isInteger(z * 2 ** 23) && Math.abs(z) < 2 && Math.fround(z) === z).toBe(true);
      sum += z;
      sq += z * z;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.02);
    expect(sq / n).toBeCloseTo(1 / 3, 1);
  });

  it('names a bad setting', () => {
    expect(() => checkSce({ ...SMALL, buckets: 0 })).toThrow(/sce: buckets must be a positive integer, got 0/);
    expect(() => checkSce({ ...SMALL, bucketItems: 2.5 })).toThrow(/bucketItems must be a positive integer, got 2.5/);
    expect(() => referenceLoss({ ...input(SMALL), sce: undefined })).toThrow(/sce is required/);
  });
});

describe('sce workspace (the memory plan)', () => {
  it('holds the buckets, never [N × V], on both backends', async () => {
    const { cpuLossWorkspace } = await import('../../../src/backend/cpu/cpu-losses.js');
    const { sceWorkspace, SCE_SCORE_FLOATS } = await import('../../../src/backend/cuda/sce-kernels.js');
    // ML-20M-like: N = 128 × 200 rows, V = 18,345 items, d = 64, the default buckets.
    const dims = { rows: 25_600, items: 18_345, hidden: 64 };
    const sce = { buckets: 443, bucketRows: 443, bucketItems: 512, mix: true, seed: 1, step: 0 };
    const elements = (specs: readonly { shape: readonly number[] }[]): number[] => specs.map((s) => s.shape.reduce((a, b) => a * b, 1));
    for (const specs of [cpuLossWorkspace({ kind: 'sce', sce }, dims, 2), sceWorkspace(sce, dims)]) {
      const sizes = elements(specs);
      expect(Math.max(...sizes)).toBeLessThan(dims.rows * dims.items / 10);
      expect(sizes.reduce((a, b) => a + b, 0) * 4).toBeLessThan(256 * 2 ** 20);
    }
    // At a catalogue of 1.7 M items the GPU's projection scores stay within their budget.
    const big = sceWorkspace(sce, { ...dims, items: 1_700_000 });
    expect(elements(big.filter((s) => s.name === 'sce_scores'))[0]).toBeLessThanOrEqual(SCE_SCORE_FLOATS);
    expect(() => sceWorkspace(sce, { ...dims, hidden: 513 })).toThrow(/hidden size d in 1\.\.512, got 513/);
  });
});
