import { describe, expect, it } from 'vitest';
import {
  GEMM_SCRATCH_FLOATS, GEMM_TILE_COUNTERS, gemmAsyncSharedBytes, gemmPlanFor, matmul, scoreItems, type GemmKernels, type GemmMath,
} from '../../src/backend/cuda/gemm-kernels.js';
import { multiprocessors } from '../../src/backend/cuda/launch.js';
import type { DType } from '../../src/backend/memory-plan.js';
import { download } from '../../src/cuda/memory.js';
import { Stream } from '../../src/cuda/stream.js';
import { deviceGroup, get, put, relError, representable, toBf16, useOracle } from './device-tensors.js';
import { randomOperands, useGemmScratch, withGemmKernels } from './gemm-setup.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/gemm.test.ts');

/** One bf16 rounding of every output element: at most 2^-9 relative each, so at most that in norm. */
const BF16_OUT = 2 ** -9;

interface Case {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transA?: boolean;
  readonly transB?: boolean;
  readonly a: DType;
  readonly b: DType;
  readonly out: DType;
  readonly math: GemmMath;
  readonly accumulate?: boolean;
  /** @default 1 */
  readonly alpha?: number;
  /** Round f32 operands to bf16 values on the host, so that 'bf16' math multiplies them exactly. @default false */
  readonly preRound?: boolean;
  /** The bf16 kernel set. @default 'tiled' (the launchers' default) */
  readonly kernels?: GemmKernels;
  /**
   * Pass ids of a's rows, 0 on every third run of 128 rows (whole tiles and depth steps), whose values
   * are random on the device: they must count as zero rows. @default false
   */
  readonly zeroRows?: boolean;
  /**
   * Pass a bias (f32 [n], the linear layers' fused bias), scaled like the product (by √k) so that a bias
   * missing or added twice (split-K) moves the result by far more than the bound. @default false
   */
  readonly bias?: boolean;
}

/** The ids of a's stored rows of a zeroRows case: 0 on rows 128..255, 512..639, … (every third 128-row run). */
function zeroRowIds(rows: number): Int32Array {
  return Int32Array.from({ length: rows }, (_, r) => (Math.floor(r / 128) % 3 === 1 ? 0 : 1 + (r % 7)));
}

/**
 * The bound of a case's relative error against the float64 oracle (fed what the device tensors hold):
 * - exact products (fp32 math; bf16 math of operands already bf16 values), fp32 sums: 1e-5;
 * - bf16 math of f32 operands that are not bf16 values: each product carries ~2^-8 of rounding, averaging
 *   down over the sum to ~3e-3 in norm: 1e-2;
 * - a bf16 output adds its rounding, 2^-9.
 */
function bound(c: Case): number {
  const exact = c.math === 'fp32' || c.preRound === true || (c.a === 'bf16' && c.b === 'bf16');
  return (exact ? 1e-5 : 1e-2) + (c.out === 'bf16' ? BF16_OUT : 0);
}

function label(c: Case): string {
  const trans = `${c.transA ? 't' : 'n'}${c.transB ? 't' : 'n'}`;
  const acc = c.accumulate ? ` += alpha ${c.alpha ?? 1}` : c.alpha !== undefined ? ` alpha ${c.alpha}` : '';
  const kernels = c.math === 'bf16' && c.kernels !== undefined ? ` ${c.kernels}` : '';
  return `${c.math}${kernels} ${trans} m=${c.m} n=${c.n} k=${c.k} a ${c.a} b ${c.b} out ${c.out}${acc}${c.preRound ? ' pre-rounded' : ''}${c.zeroRows ? ' zero rows' : ''}${c.bias ? ' + bias' : ''}`;
}

// Odd shapes (37 × 33 × 19: partial tiles everywhere, depth not a multiple of 16, odd leading dimensions so
// bf16 rows are only 2-byte aligned) and medium ones with accumulate and alpha, in all four transposes and
// both maths; the SASRec shapes (linear forward, split-K weight gradient, aligned vector loads); k = 0.
// On 132 SMs (an H200) the default (tiled) set runs these small products on the 64 × 64 tile (gemmPlanFor
// fills the SMs with small tiles before it splits), 2200 × 1000 on the wide one (the 128 × 64 and 64 × 64
// tiles would take two waves), the deep weight gradients split with gemm_splitk_reduce (64 × 64 × 25,601,
// 33 × 33 × 5003, 33 × 40 × 3001) or with the reduction inside the GEMM (256 × 256 × 1001, 1000 × 256 ×
// 256 in fp32, 250 × 250 × 1001 and 999 × 250 × 300 (fp32) whose n is no multiple of 4, 300 × 300 × 700
// with a bf16 out); the async
// set (the same tiles, pipelined) and the legacy one (128 × 64) repeat a sweep at the end.
const CASES: Case[] = [];
for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
  for (const math of ['bf16', 'fp32'] as const) {
    CASES.push({ m: 37, n: 33, k: 19, transA, transB, a: 'f32', b: 'bf16', out: 'f32', math, preRound: true });
    CASES.push({ m: 200, n: 130, k: 77, transA, transB, a: 'bf16', b: 'f32', out: 'bf16', math, accumulate: true, alpha: -0.5 });
    CASES.push({ m: 150, n: 70, k: 45, transA, transB, a: 'f32', b: 'f32', out: 'f32', math, accumulate: true, alpha: 0.75 });
  }
}
CASES.push(
  // Linear forward y = x · Wᵀ: x bf16 activations, W the f32 master weight.
  { m: 1000, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16' },
  // Weight gradient dW (+=) dyᵀ · x: m = n = d, k = N (split-K), both maths.
  { m: 64, n: 64, k: 25_601, transA: true, a: 'f32', b: 'bf16', out: 'f32', math: 'bf16', accumulate: true },
  { m: 64, n: 64, k: 25_601, transA: true, a: 'f32', b: 'bf16', out: 'f32', math: 'fp32', accumulate: true },
  { m: 33, n: 33, k: 5003, transA: true, a: 'bf16', b: 'bf16', out: 'bf16', math: 'bf16', accumulate: true, alpha: 2 },
  { m: 33, n: 40, k: 3001, transA: true, a: 'f32', b: 'f32', out: 'f32', math: 'fp32', alpha: 0.5 },
  // Input gradient dx = dy · W, f32 operands (16-byte aligned rows: vector loads).
  { m: 513, n: 256, k: 256, a: 'f32', b: 'f32', out: 'f32', math: 'bf16', preRound: true },
  { m: 512, n: 256, k: 256, a: 'bf16', b: 'bf16', out: 'bf16', math: 'bf16' },
  { m: 300, n: 72, k: 40, transA: true, transB: true, a: 'bf16', b: 'bf16', out: 'f32', math: 'bf16' },
  // k = 0: zeros, or out unchanged with accumulate.
  { m: 37, n: 33, k: 0, a: 'f32', b: 'f32', out: 'f32', math: 'bf16' },
  { m: 37, n: 33, k: 0, a: 'f32', b: 'f32', out: 'f32', math: 'fp32', accumulate: true },
  // d = 256 weight gradient, split over k and reduced inside the GEMM (a partial last split: k is not a multiple of 32).
  { m: 256, n: 256, k: 1001, transA: true, a: 'f32', b: 'bf16', out: 'f32', math: 'bf16', accumulate: true },
  // Reduced inside the GEMM: fp32 math; n not a multiple of 4 (the tail sums one column at a time); a bf16 out.
  { m: 1000, n: 256, k: 256, a: 'f32', b: 'f32', out: 'f32', math: 'fp32', accumulate: true, alpha: 0.5 },
  { m: 250, n: 250, k: 1001, transA: true, a: 'bf16', b: 'f32', out: 'f32', math: 'bf16', accumulate: true, alpha: -1.5 },
  { m: 999, n: 250, k: 300, transA: true, a: 'f32', b: 'f32', out: 'bf16', math: 'fp32' },
  { m: 300, n: 300, k: 700, transB: true, a: 'bf16', b: 'bf16', out: 'bf16', math: 'bf16', alpha: 2 },
);
// The wide (128 × 128) tile: 144 tiles, where 128 × 64 and 64 × 64 would take two waves; every transpose.
for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
  CASES.push({ m: 2200, n: 1000, k: 19, transA, transB, a: 'bf16', b: 'f32', out: 'f32', math: 'bf16', accumulate: true, alpha: 0.75 });
}
// Zero rows (padding): the linear forward and input gradient (m tiles skipped, the wide and 128 × 64
// tiles, fp32), the weight gradient (depth steps skipped, split-K, both maths), the pipelined set (m tiles).
CASES.push(
  { m: 1000, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', zeroRows: true },
  { m: 1000, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', zeroRows: true, kernels: 'async' },
  { m: 1000, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', zeroRows: true, kernels: 'legacy' },
  { m: 513, n: 256, k: 256, a: 'f32', b: 'f32', out: 'f32', math: 'bf16', preRound: true, zeroRows: true, accumulate: true },
  { m: 300, n: 40, k: 33, a: 'f32', b: 'f32', out: 'f32', math: 'fp32', zeroRows: true },
  { m: 256, n: 256, k: 5001, transA: true, a: 'f32', b: 'bf16', out: 'f32', math: 'bf16', accumulate: true, zeroRows: true },
  { m: 64, n: 64, k: 25_601, transA: true, a: 'f32', b: 'bf16', out: 'f32', math: 'fp32', accumulate: true, zeroRows: true },
  { m: 33, n: 33, k: 5003, transA: true, a: 'bf16', b: 'bf16', out: 'bf16', math: 'bf16', zeroRows: true, kernels: 'legacy' },
);
// Bias (MatmulOptions.bias, added after alpha in the epilogue; split-K: once, by the reduction): every
// transpose in both maths on the small tile (37 × 33, 250 × 250), = and +=; the linear forward (1000 × 64,
// 1000 × 256) and on the wide tile (2200 × 1000); split-K (= and +=, both maths, both reductions); k = 0
// (the bias alone); zero rows, whose skipped m tiles (the small, wide and fp32 tiles, the 128 × 64 one on
// the legacy set; the last, partial tile of 1000 rows included) must hold exactly the bias
// (or old + bias); the fallback sweep below repeats the bf16 ones on the async and legacy sets.
for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
  for (const math of ['bf16', 'fp32'] as const) {
    CASES.push({ m: 37, n: 33, k: 19, transA, transB, a: 'f32', b: 'bf16', out: 'f32', math, preRound: true, bias: true });
    CASES.push({ m: 250, n: 250, k: 45, transA, transB, a: 'f32', b: 'f32', out: 'bf16', math, accumulate: true, alpha: 0.75, bias: true });
  }
}
CASES.push(
  { m: 1000, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', bias: true },
  { m: 1000, n: 256, k: 256, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', bias: true },
  { m: 64, n: 64, k: 25_601, transA: true, a: 'f32', b: 'bf16', out: 'f32', math: 'bf16', accumulate: true, bias: true },
  { m: 64, n: 64, k: 25_601, transA: true, a: 'f32', b: 'bf16', out: 'f32', math: 'fp32', accumulate: true, bias: true },
  { m: 33, n: 40, k: 3001, transA: true, a: 'f32', b: 'f32', out: 'f32', math: 'fp32', alpha: 0.5, bias: true },
  { m: 33, n: 33, k: 5003, transA: true, a: 'bf16', b: 'bf16', out: 'bf16', math: 'bf16', alpha: -2, bias: true },
  { m: 37, n: 33, k: 0, a: 'f32', b: 'f32', out: 'f32', math: 'bf16', bias: true },
  { m: 37, n: 33, k: 0, a: 'f32', b: 'f32', out: 'f32', math: 'fp32', accumulate: true, bias: true },
  { m: 1000, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', zeroRows: true, bias: true },
  { m: 1000, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', zeroRows: true, bias: true, kernels: 'async' },
  { m: 1000, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', zeroRows: true, bias: true, kernels: 'legacy' },
  { m: 1000, n: 256, k: 256, transB: true, a: 'bf16', b: 'f32', out: 'f32', math: 'bf16', zeroRows: true, bias: true },
  { m: 1000, n: 256, k: 256, transB: true, a: 'bf16', b: 'f32', out: 'f32', math: 'bf16', zeroRows: true, bias: true, kernels: 'async' },
  { m: 513, n: 256, k: 256, a: 'f32', b: 'f32', out: 'f32', math: 'bf16', preRound: true, zeroRows: true, accumulate: true, bias: true },
  { m: 300, n: 40, k: 33, a: 'f32', b: 'f32', out: 'f32', math: 'fp32', zeroRows: true, bias: true },
  { m: 300, n: 40, k: 33, a: 'f32', b: 'f32', out: 'bf16', math: 'fp32', zeroRows: true, accumulate: true, alpha: -1, bias: true },
  { m: 300, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'f32', math: 'bf16', zeroRows: true, bias: true },
  { m: 300, n: 64, k: 64, transB: true, a: 'bf16', b: 'f32', out: 'f32', math: 'bf16', zeroRows: true, bias: true, kernels: 'async' },
  { m: 2200, n: 1000, k: 19, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', bias: true },
  { m: 2200, n: 1000, k: 19, transB: true, a: 'bf16', b: 'f32', out: 'f32', math: 'bf16', zeroRows: true, bias: true },
  { m: 256, n: 256, k: 1001, transA: true, a: 'f32', b: 'bf16', out: 'f32', math: 'bf16', accumulate: true, bias: true },
  { m: 999, n: 250, k: 300, transA: true, a: 'f32', b: 'f32', out: 'f32', math: 'fp32', accumulate: true, bias: true },
  { m: 250, n: 250, k: 1001, transA: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', alpha: 0.5, bias: true },
);
// The fallback bf16 sets: every transpose on odd and medium shapes, split-K products (both reductions); the
// wide tile once more, pipelined (the CPU oracle's costliest cases: 2.2 M outputs).
const FALLBACK_SWEEP = CASES.filter((x) => x.math === 'bf16' && !x.zeroRows && x.m !== 2200 && (x.k < 100 || x.k === 5003 || x.k === 1001 || x.m === 512));
for (const kernels of ['async', 'legacy'] as const) for (const c of FALLBACK_SWEEP) CASES.push({ ...c, kernels });
CASES.push({ m: 2200, n: 1000, k: 19, transB: true, a: 'bf16', b: 'f32', out: 'bf16', math: 'bf16', bias: true, kernels: 'async' });

describe('gemmPlanFor (split-K)', () => {
  it('splits a deep product with few tiles within the scratch, covering k exactly', () => {
    for (const math of ['bf16', 'fp32'] as const) {
      for (const [m, n, k] of [[64, 64, 25_601], [512, 512, 131_072], [33, 33, 5003], [64, 64, 100]] as const) {
        const p = gemmPlanFor(m, n, k, math, 132);
        expect(p.splits * m * n, `${math} ${m}×${n}×${k} scratch`).toBeLessThanOrEqual(GEMM_SCRATCH_FLOATS);
        expect((p.splits - 1) * p.kPerSplit, `${math} ${m}×${n}×${k} last split not empty`).toBeLessThan(k);
        expect(p.splits * p.kPerSplit, `${math} ${m}×${n}×${k} covered`).toBeGreaterThanOrEqual(k);
      }
      // Deep enough to fill the SMs (the reduction reads each element's partials a warp at a time).
      expect(gemmPlanFor(64, 64, 25_601, math, 132).splits).toBeGreaterThan(100);
    }
  });

  it('splits within a smaller scratch where one is given (the side stream\'s share)', () => {
    // ML-20M's weight gradient at d = 256: 64 splits of 256 × 256 partials fill a full scratch, 2 Mi floats hold 32.
    const full = gemmPlanFor(256, 256, 131_072, 'bf16', 132, 'tiled');
    const half = gemmPlanFor(256, 256, 131_072, 'bf16', 132, 'tiled', 1 << 21);
    expect(full.splits * 256 * 256).toBeGreaterThan(1 << 21);
    expect(half.splits * 256 * 256).toBeLessThanOrEqual(1 << 21);
    expect(half.splits * half.kPerSplit).toBeGreaterThanOrEqual(131_072);
  });

  it('keeps the ML-20M plans and ML-1M\'s tiles (N = 131,072, d = 256; N = 25,600, d = 64); legacy keeps 128 × 64', () => {
    for (const kernels of ['async', 'tiled'] as const) {
      const plan = (m: number, n: number, k: number) => gemmPlanFor(m, n, k, 'bf16', 132, kernels);
      expect(plan(131_072, 256, 256)).toEqual({ tileM: 128, tileN: 128, tiles: 1024 * 2, splits: 1, kPerSplit: 256, reduction: 'none' });
      expect(plan(256, 256, 131_072)).toEqual({ tileM: 128, tileN: 128, tiles: 4, splits: 64, kPerSplit: 2048, reduction: 'kernel' });
      expect(plan(25_600, 64, 64)).toEqual({ tileM: 128, tileN: 64, tiles: 200, splits: 1, kPerSplit: 64, reduction: 'none' });
      // The deep split of one 64 × 64 tile: S · 4096 partial floats are too many for one SM to sum, and
      // gemm_splitk_reduce shares an element's S partials among 8 warps: 160 splits of 5 k steps.
      expect(plan(64, 64, 25_600)).toEqual({ tileM: 64, tileN: 64, tiles: 1, splits: 160, kPerSplit: 160, reduction: 'kernel' });
      expect(plan(64, 3001, 64).tiles).toBe(47);
    }
    expect(gemmPlanFor(131_072, 256, 256, 'bf16', 132, 'legacy').tiles).toBe(1024 * 4);
    expect(gemmPlanFor(64, 3001, 64, 'bf16', 132, 'legacy').tiles).toBe(47);
  });

  it('fills the SMs with small tiles before splitting, and reduces small splits inside the GEMM (B = 32, L = 32, d = 256)', () => {
    for (const kernels of ['async', 'tiled'] as const) {
      const plan = (m: number, n: number, k: number) => gemmPlanFor(m, n, k, 'bf16', 132, kernels);
      // The linear layers and input gradients: 64 CTAs of 64 × 64, unsplit (128 × 128 took 16 tiles × 2 splits).
      expect(plan(1024, 256, 256)).toEqual({ tileM: 64, tileN: 64, tiles: 64, splits: 1, kPerSplit: 256, reduction: 'none' });
      // The weight gradients: 16 tiles × 4 splits, summed by the last CTA of each tile.
      expect(plan(256, 256, 1024)).toEqual({ tileM: 64, tileN: 64, tiles: 16, splits: 4, kPerSplit: 256, reduction: 'gemm' });
    }
  });

  it('puts the cases on the plans their comments name', () => {
    for (const kernels of ['async', 'tiled'] as const) {
      const plan = (m: number, n: number, k: number, math: GemmMath = 'bf16') => gemmPlanFor(m, n, k, math, 132, kernels);
      for (const [m, n, k] of [[37, 33, 19], [250, 250, 45], [1000, 64, 64], [1000, 256, 256], [300, 64, 64], [150, 70, 45], [200, 130, 77]] as const) {
        expect(plan(m, n, k), `${m}×${n}×${k}`).toMatchObject({ tileM: 64, tileN: 64, splits: 1 });
      }
      expect(plan(2200, 1000, 19)).toMatchObject({ tileM: 128, tileN: 128, tiles: 18 * 8, splits: 1 });
      for (const [m, n, k, math] of [[64, 64, 25_601, 'bf16'], [64, 64, 25_601, 'fp32'], [33, 33, 5003, 'bf16'], [33, 40, 3001, 'fp32']] as const) {
        expect(plan(m, n, k, math).reduction, `${math} ${m}×${n}×${k}`).toBe('kernel');
      }
      for (const [m, n, k, math] of [[256, 256, 1001, 'bf16'], [1000, 256, 256, 'fp32'], [250, 250, 1001, 'bf16'], [999, 250, 300, 'fp32'], [300, 300, 700, 'bf16']] as const) {
        expect(plan(m, n, k, math).reduction, `${math} ${m}×${n}×${k}`).toBe('gemm');
      }
    }
  });

  it('gives a product with epilogue work at n ≤ 64 the 64 × 64 tile where 128-row tiles ran unsplit (twice the CTAs on its post-pass)', () => {
    for (const kernels of ['mixed', 'auto', 'async', 'tiled'] as const) {
      const plan = (m: number, n: number, k: number, work: boolean) => gemmPlanFor(m, n, k, 'bf16', 132, kernels, undefined, work);
      // ML-1M's packed rows at d = 64: attn_out, ffn1, ffn2 and the gated input gradient.
      expect(plan(17_152, 64, 64, false), kernels).toMatchObject({ tileM: 128, tileN: 64, tiles: 134 });
      expect(plan(17_152, 64, 64, true), kernels).toEqual({ tileM: 64, tileN: 64, tiles: 268, splits: 1, kPerSplit: 64, reduction: 'none' });
      // Wider outputs, split products and what already runs on 64-row tiles keep their plans.
      for (const [m, n, k] of [[131_072, 256, 256], [64, 64, 25_600], [1000, 64, 64], [2200, 1000, 19]] as const) {
        expect(plan(m, n, k, true), `${kernels} ${m}×${n}×${k}`).toEqual(plan(m, n, k, false));
      }
    }
    expect(gemmPlanFor(17_152, 64, 64, 'fp32', 132, 'mixed', undefined, true)).toEqual(gemmPlanFor(17_152, 64, 64, 'fp32', 132, 'mixed'));
    // 'legacy' has no 64 × 64 tile.
    expect(gemmPlanFor(17_152, 64, 64, 'bf16', 132, 'legacy', undefined, true)).toMatchObject({ tileM: 128, tileN: 64, tiles: 134 });
  });

  it('reduces inside the GEMM only what the tile counters cover', () => {
    for (const [m, n, k] of [[1024, 256, 1024], [4096, 4096, 4096], [64, 64, 25_601], [20_000, 64, 1024]] as const) {
      const p = gemmPlanFor(m, n, k, 'bf16', 132);
      if (p.reduction === 'gemm') expect(p.tiles, `${m}×${n}×${k}`).toBeLessThanOrEqual(GEMM_TILE_COUNTERS);
      expect(p.reduction === 'none', `${m}×${n}×${k}`).toBe(p.splits === 1);
    }
  });

  it('sizes the pipelined kernels\' shared memory as kernels/gemm.cu does (gemm_async_smem_bytes)', () => {
    // Figures printed by a host build of gemm_async_smem_bytes<Tile, TA, TB>: nn, nt, tn, tt.
    const want = { wide: [103_424, 106_496, 100_352, 103_424], narrow: [78_848, 79_872, 75_776, 76_800], small: [52_224, 53_248, 51_200, 52_224] };
    for (const [name, m, n] of [['wide', 128, 128], ['narrow', 128, 64], ['small', 64, 64]] as const) {
      const got = ([[false, false], [false, true], [true, false], [true, true]] as const).map(([a, b]) => gemmAsyncSharedBytes({ m, n, k: 32 }, a, b));
      expect(got, name).toEqual(want[name]);
    }
  });

  it('does not split what fills the GPU or what the scratch cannot hold', () => {
    expect(gemmPlanFor(131_072, 256, 256, 'bf16', 132).splits).toBe(1);
    expect(gemmPlanFor(4096, 4096, 1_000_000, 'bf16', 132).splits).toBe(1);
    expect(gemmPlanFor(37, 33, 0, 'fp32', 132)).toEqual({ tileM: 64, tileN: 64, tiles: 1, splits: 1, kPerSplit: 16, reduction: 'none' });
  });
});

describe.skipIf(noGpu)('CUDA GEMM against the float64 CPU reference', () => {
  useContext();
  const oracle = useOracle();
  const scratch = useGemmScratch();

  for (const c of CASES) {
    it(label(c), async () => {
      const cpu = oracle();
      const { m, n, k } = c;
      const options = { transA: c.transA ?? false, transB: c.transB ?? false, accumulate: c.accumulate ?? false, alpha: c.alpha ?? 1 };
      // Operands of at least one element, so that k = 0 allocates nothing empty.
      const [sizeA, sizeB] = [Math.max(1, m * k), Math.max(1, k * n)];
      const aRows = options.transA ? k : m;
      const io = deviceGroup('io', [
        { name: 'a', shape: [sizeA], dtype: c.a },
        { name: 'b', shape: [sizeB], dtype: c.b },
        { name: 'out', shape: [m * n], dtype: c.out },
        { name: 'ids', shape: [Math.max(1, aRows)], dtype: 'i32' },
        { name: 'bias', shape: [n], dtype: 'f32' },
      ]);
      const host = (size: number, dtype: DType): Float32Array => (c.preRound && dtype === 'f32' ? toBf16(randomFloats(size)).values : randomFloats(size));
      const a = put(io.get('a'), host(sizeA, c.a));
      // The oracle multiplies the zero rows as zeros; the device holds random values there.
      const ids = c.zeroRows ? zeroRowIds(aRows) : null;
      if (ids !== null) {
        put(io.get('ids'), ids);
        const width = sizeA / aRows;
        ids.forEach((id, r) => { if (id === 0) a.fill(0, r * width, (r + 1) * width); });
      }
      const b = put(io.get('b'), host(sizeB, c.b));
      const old = options.accumulate ? put(io.get('out'), randomFloats(m * n)) : null;
      const bias = c.bias ? put(io.get('bias'), randomFloats(n).map((v) => v * Math.max(1, Math.sqrt(k)))) : null;

      const stream = Stream.create();
      const rowIds = ids !== null ? { rowIds: io.get('ids') } : {};
      const withBias = bias !== null ? { bias: io.get('bias') } : {};
      withGemmKernels(c.kernels ?? 'tiled', () =>
        matmul(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, { ...options, ...rowIds, ...withBias }, c.math, scratch.gemm()));
      stream.synchronize();
      stream.destroy();
      const got = get(io.get('out'));
      io.free();

      // The oracle: the product itself for overwrites and f32 increments; old + product for a bf16 out
      // (whose increment its rounding hides).
      const wholeSum = old !== null && c.out === 'bf16';
      const ref = cpu.allocGroup('ref', [
        { name: 'a', shape: [sizeA], dtype: 'f32' },
        { name: 'b', shape: [sizeB], dtype: 'f32' },
        { name: 'out', shape: [m * n], dtype: 'f32' },
        { name: 'bias', shape: [n], dtype: 'f32' },
      ]);
      cpu.write(ref.get('a'), a);
      cpu.write(ref.get('b'), b);
      cpu.write(ref.get('out'), wholeSum ? old : new Float32Array(m * n));
      if (bias !== null) cpu.write(ref.get('bias'), bias);
      const refBias = bias !== null ? { bias: ref.get('bias') } : {};
      cpu.matmul(ref.get('out'), ref.get('a'), ref.get('b'), m, n, k, { ...options, accumulate: wholeSum, ...refBias });
      const want = await cpu.readF32(ref.get('out'));
      cpu.freeGroup(ref);

      expect(got.every(Number.isFinite), 'out fully written').toBe(true);
      // What a row of nothing but zeros gets, exactly: (old +) bias, one float32 add, at out's dtype.
      const biasOnly = (r: number): Float32Array =>
        representable({ dtype: c.out }, Array.from({ length: n }, (_, j) => Math.fround((old?.[r * n + j] ?? 0) + (bias?.[j] ?? 0))));
      if (k === 0) {
        for (let r = 0; r < m; r++) expect(got.subarray(r * n, (r + 1) * n), `k = 0, row ${r}`).toEqual(biasOnly(r));
        return;
      }
      // Zero rows of a without transA all lie in m tiles the kernels skip (zeroRowIds: whole runs of 128).
      if (ids !== null && !options.transA && bias !== null) {
        for (let r = 0; r < m; r++) {
          if (ids[r] === 0) expect(got.subarray(r * n, (r + 1) * n), `skipped row ${r}`).toEqual(biasOnly(r));
        }
      }
      const result = old !== null && !wholeSum ? got.map((v, i) => v - old[i]!) : got;
      expect(relError(result, want), old !== null && !wholeSum ? 'increment' : 'out').toBeLessThanOrEqual(bound(c));
    });
  }

  it('is deterministic: a deep split-K product (gemm_splitk_reduce) twice gives the same bits (each math, each bf16 kernel set)', () => {
    const [m, n, k] = [64, 64, 25_601];
    const { io } = randomOperands(m, n, k, { a: 'f32', b: 'bf16' }, [{ name: 'out', shape: [m * n], dtype: 'f32' }]);
    const stream = Stream.create();
    const settings = [['bf16', 'async'], ['bf16', 'tiled'], ['bf16', 'legacy'], ['fp32', 'async']] as const;
    const runs = settings.map(([math, kernels]) =>
      [0, 1].map(() => {
        withGemmKernels(kernels, () => matmul(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, { transA: true }, math, scratch.gemm()));
        stream.synchronize();
        return new Uint32Array(get(io.get('out')).buffer);
      }),
    );
    stream.destroy();
    io.free();
    for (const [first, second] of runs) expect(Buffer.from(second!.buffer).equals(Buffer.from(first!.buffer))).toBe(true);
  });

  // The reduction inside the GEMM: each product twice from the same inputs must give the same bits, and
  // leave every tile counter at 0 (else the next launch, or a CUDA graph's replay, would elect no CTA or
  // the wrong one). The products: bf16 and fp32 math, n a multiple of 4 or not, a bf16 out, and the most
  // CTAs a plan reduced inside the GEMM reaches on 132 SMs (128 tiles × 2 splits, about one wave).
  const IN_GEMM = [
    { m: 256, n: 256, k: 1001, transA: true, transB: false, a: 'f32', b: 'bf16', out: 'f32', math: 'bf16' },
    { m: 999, n: 250, k: 300, transA: true, transB: false, a: 'f32', b: 'f32', out: 'f32', math: 'fp32' },
    { m: 300, n: 300, k: 700, transA: false, transB: true, a: 'bf16', b: 'bf16', out: 'bf16', math: 'bf16' },
    { m: 2000, n: 256, k: 1000, transA: false, transB: false, a: 'f32', b: 'f32', out: 'f32', math: 'fp32' },
  ] as const;
  for (const c of IN_GEMM) {
    it(`reduces ${c.math} ${c.m}×${c.n}×${c.k} inside the GEMM twice with the same bits, the counters back at 0`, () => {
      const { m, n, k } = c;
      const plan = gemmPlanFor(m, n, k, c.math, multiprocessors(), 'tiled');
      expect(plan.reduction, 'the case exercises the reduction inside the GEMM').toBe('gemm');
      const { io } = randomOperands(m, n, k, c, [
        { name: 'out', shape: [m * n], dtype: c.out },
        { name: 'bias', shape: [n], dtype: 'f32' },
      ]);
      put(io.get('bias'), randomFloats(n));
      const counters = new Uint32Array(GEMM_TILE_COUNTERS);
      const stream = Stream.create();
      const runs = [0, 1].map(() => {
        withGemmKernels('tiled', () => matmul(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k,
          { transA: c.transA, transB: c.transB, alpha: 0.5, bias: io.get('bias') }, c.math, scratch.gemm()));
        stream.synchronize();
        download(counters, scratch.gemm(), (GEMM_SCRATCH_FLOATS - GEMM_TILE_COUNTERS) * 4);
        expect(counters.every((x) => x === 0), 'every tile counter back at 0').toBe(true);
        const got = get(io.get('out'));
        expect(got.every(Number.isFinite), 'out fully written').toBe(true);
        return Buffer.from(got.buffer);
      });
      stream.destroy();
      io.free();
      expect(runs[1]!.equals(runs[0]!)).toBe(true);
    });
  }

  // scoreItems: odd B and d (element loads), bf16 or f32 table, both maths.
  const SCORE_CASES = [
    { B: 37, V: 1001, d: 33, h: 'bf16', table: 'f32', math: 'bf16' },
    { B: 64, V: 3000, d: 64, h: 'bf16', table: 'bf16', math: 'bf16' },
    { B: 5, V: 500, d: 40, h: 'f32', table: 'f32', math: 'fp32' },
  ] as const;
  for (const s of SCORE_CASES) {
    it(`scoreItems ${s.math} B=${s.B} V=${s.V} d=${s.d} h ${s.h} table ${s.table}`, async () => {
      const cpu = oracle();
      const { B, V, d } = s;
      const io = deviceGroup('io', [
        { name: 'h', shape: [B, d], dtype: s.h },
        { name: 'table', shape: [V + 1, d], dtype: s.table },
        { name: 'scores', shape: [B, V + 1], dtype: 'f32' },
      ]);
      const h = put(io.get('h'), randomFloats(B * d));
      const table = put(io.get('table'), randomFloats((V + 1) * d));
      const stream = Stream.create();
      scoreItems(stream, io.get('scores'), io.get('h'), io.get('table'), B, V, d, s.math, scratch.gemm());
      stream.synchronize();
      stream.destroy();
      const got = get(io.get('scores'));
      io.free();

      const ref = cpu.allocGroup('ref', [
        { name: 'h', shape: [B, d], dtype: 'f32' },
        { name: 'table', shape: [V + 1, d], dtype: 'f32' },
        { name: 'scores', shape: [B, V + 1], dtype: 'f32' },
      ]);
      cpu.write(ref.get('h'), h);
      cpu.write(ref.get('table'), table);
      cpu.scoreItems(ref.get('scores'), ref.get('h'), ref.get('table'), B, V, d);
      const want = await cpu.readF32(ref.get('scores'));
      cpu.freeGroup(ref);

      const items = (x: Float32Array): Float32Array => x.filter((_, i) => i % (V + 1) !== 0);
      for (let b = 0; b < B; b++) expect(got[b * (V + 1)], `row ${b} column 0`).toBe(-Infinity);
      expect(items(got).every(Number.isFinite), 'scores fully written').toBe(true);
      // Both operands hold exact values, bf16 math rounds an f32 table: 1e-2 there, else exact products: 1e-5.
      const tol = s.math === 'bf16' && s.table === 'f32' ? 1e-2 : 1e-5;
      expect(relError(items(got), items(want))).toBeLessThanOrEqual(tol);
    });
  }
});
