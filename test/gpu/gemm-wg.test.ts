import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { CudaTensor, CudaTensorGroup } from '../../src/backend/cuda/cuda-tensor.js';
import {
  GEMM_KERNELS_ENV, GEMM_TILE_COUNTERS, gemmKernelsFromEnv, gemmPlanFor, matmul, wgmmaPays,
} from '../../src/backend/cuda/gemm-kernels.js';
import {
  wgGemm, wgGemmEligible, wgGemmIneligibility, wgGemmPlanFor, wgmmaAvailable, type WgLayout, type WgTileN,
} from '../../src/backend/cuda/gemm-wg-kernels.js';
import { multiprocessors } from '../../src/backend/cuda/launch.js';
import type { DType } from '../../src/backend/memory-plan.js';
import type { DropoutSpec, MatmulEpilogue, MatmulOptions, Tensor } from '../../src/backend/ops.js';
import { Stream } from '../../src/cuda/stream.js';
import { deviceGroup, get, put, relError, representable, toBf16, useOracle } from './device-tensors.js';
import { paddingIds, randomOperands, sameBits, useGemmScratch, withGemmKernels } from './gemm-setup.js';
import { announceSkip, MODULE_JIT_TIMEOUT_MS, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/gemm-wg.test.ts');

/** One bf16 rounding of every output element: at most 2^-9 relative each, so at most that in norm. */
const BF16_OUT = 2 ** -9;

/**
 * Bound of the relative error against the float64 oracle fed the bf16 operands the device holds: the
 * products are exact in fp32 (8-bit mantissas), the fp32 sums of k ≤ 5,000 terms carry ~√k · 2^-24 in norm:
 * 1e-5; a bf16 out adds its rounding, 2^-9.
 */
function bound(out: DType): number {
  return 1e-5 + (out === 'bf16' ? BF16_OUT : 0);
}

/** Both operands bf16 (the plan's dtypes). */
const BF16 = { a: 'bf16', b: 'bf16' } as const;

/** f32 floats of the wgmma scratch: room for 64 splits of 256 × 256 (the ML-20M weight gradient's 62). */
const WG_SCRATCH_FLOATS = 1 << 22;

interface Case {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly layout: WgLayout;
  /** a's dtype (an f32 a is rounded to bf16 as it is staged). @default 'bf16' */
  readonly a?: 'f32' | 'bf16';
  /** b's dtype. @default 'bf16' */
  readonly b?: 'f32' | 'bf16';
  readonly out: DType;
  readonly accumulate?: boolean;
  /** @default 1 */
  readonly alpha?: number;
  /** Pass a bias (f32 [n]) scaled like the product (by √k), so that one missing or added twice shows. @default false */
  readonly bias?: boolean;
  /** @default the launcher's (WG_DEFAULT_TILE_N) */
  readonly tileN?: WgTileN;
}

const trans = (layout: WgLayout): Pick<MatmulOptions, 'transA' | 'transB'> => ({ transA: layout === 'tn', transB: layout === 'nt' });

function label(c: Case): string {
  const acc = c.accumulate ? ` += alpha ${c.alpha ?? 1}` : c.alpha !== undefined ? ` alpha ${c.alpha}` : '';
  return `${c.layout} m=${c.m} n=${c.n} k=${c.k} a ${c.a ?? 'bf16'} b ${c.b ?? 'bf16'} out ${c.out}${acc}${c.bias ? ' + bias' : ''} tile ${c.tileN ?? 'default'}`;
}

/**
 * The rows of out compared with the oracle: all of them, or for a large m (the ML-20M shapes; each row of
 * nt and nn depends on its own row of a only) the first and last 256 and 128 rows across a tile boundary in
 * the middle, so that the float64 oracle stays fast.
 */
function checkedRows(c: Case): [number, number][] {
  if (c.layout === 'tn' || c.m < 4096) return [[0, c.m]];
  const mid = 128 * Math.floor(c.m / 256) - 64;
  return [[0, 256], [mid, mid + 128], [c.m - 256, c.m]];
}

/** Runs `launch` on `stream` twice and reads `out` back after each: both results (to hold the same bits). */
function twice(stream: Stream, out: CudaTensor, launch: () => void): [Float32Array, Float32Array] {
  const run = (): Float32Array => {
    launch();
    stream.synchronize();
    return get(out);
  };
  return [run(), run()];
}

/**
 * On a fresh stream: `launch` (wgGemm into io's out) twice, then `reference` (matmul into io's ref); frees io.
 * Both of wgGemm's results (to hold the same bits) and the reference's.
 */
function twiceAgainst(io: CudaTensorGroup, launch: (stream: Stream) => void, reference: (stream: Stream) => void): { runs: [Float32Array, Float32Array]; want: Float32Array } {
  const stream = Stream.create();
  const runs = twice(stream, io.get('out'), () => launch(stream));
  reference(stream);
  stream.synchronize();
  stream.destroy();
  const want = get(io.get('ref'));
  io.free();
  return { runs, want };
}

// The ML-20M linear layers (N = 27,648 packed rows, d = 256): the forward (nt, bf16 out + bias) and the input
// gradient (nn, f32 out +=); 1,000 rows (a partial last row tile); odd m (777) with
// n = 200 and 64 (masked columns: partial tiles, pairs past n) and k = 72 (a partial k step); alpha, bias and
// accumulate at both out dtypes; the weight gradient (tn, split-K with a partial last split, reduced by
// gemm_splitk_reduce; 256 × 200 with masked columns) and an unsplit tn (k = 300: 4 steps and a partial one);
// k = 0 (the bias alone).
// The host's work (random operands, bf16 rounding, the oracle) bounds the file's time: the ML-20M shapes
// run three times (the forward on both tiles, the input gradient +=), the rest on both tiles.
const CASES: Case[] = [
  { m: 27_648, n: 256, k: 256, layout: 'nt', out: 'bf16', bias: true, tileN: 128 },
  { m: 27_648, n: 256, k: 256, layout: 'nt', out: 'bf16', bias: true, tileN: 256 },
  { m: 27_648, n: 256, k: 256, layout: 'nn', out: 'f32', accumulate: true },
];
for (const tileN of [128, 256] as const) {
  CASES.push(
    { m: 1000, n: 256, k: 256, layout: 'nt', out: 'f32', tileN },
    { m: 1000, n: 256, k: 256, layout: 'nn', out: 'bf16', bias: true, tileN },
    { m: 777, n: 200, k: 72, layout: 'nt', out: 'f32', accumulate: true, alpha: 0.5, bias: true, tileN },
    { m: 777, n: 200, k: 72, layout: 'nn', out: 'bf16', accumulate: true, alpha: -1.5, tileN },
    { m: 777, n: 64, k: 256, layout: 'nt', out: 'bf16', alpha: 2, tileN },
    { m: 777, n: 64, k: 72, layout: 'nn', out: 'f32', bias: true, tileN },
    { m: 256, n: 256, k: 2051, layout: 'tn', out: 'f32', accumulate: true, tileN },
    { m: 200, n: 64, k: 300, layout: 'tn', out: 'bf16', alpha: 0.75, bias: true, tileN },
    { m: 256, n: 200, k: 1001, layout: 'tn', out: 'f32', accumulate: true, alpha: -0.5, bias: true, tileN },
    // Odd n (nt only needs k aligned): every pair of columns is not a pair, so the tile is stored one element
    // at a time (store_tile_elements), unsplit and into a split's partials (256 × 201 × 2048: 8 splits).
    { m: 777, n: 201, k: 72, layout: 'nt', out: 'bf16', accumulate: true, alpha: 0.5, bias: true, tileN },
    { m: 256, n: 201, k: 2048, layout: 'nt', out: 'f32', accumulate: true, alpha: -0.5, bias: true, tileN },
  );
}
// f32 operands (each alone and both, every layout, both tiles): the same masking, k tails and splits; the
// ML-20M forward with the model's dtypes (x and W f32) on the default tile.
CASES.push({ m: 27_648, n: 256, k: 256, layout: 'nt', a: 'f32', b: 'f32', out: 'bf16', bias: true });
for (const tileN of [128, 256] as const) {
  CASES.push(
    { m: 777, n: 200, k: 72, layout: 'nt', a: 'f32', out: 'f32', accumulate: true, alpha: 0.5, bias: true, tileN },
    { m: 777, n: 200, k: 72, layout: 'nt', b: 'f32', out: 'bf16', tileN },
    { m: 1000, n: 256, k: 256, layout: 'nt', a: 'f32', b: 'f32', out: 'f32', tileN },
    { m: 777, n: 200, k: 72, layout: 'nn', a: 'f32', out: 'bf16', accumulate: true, alpha: -1.5, tileN },
    { m: 777, n: 64, k: 72, layout: 'nn', b: 'f32', out: 'f32', bias: true, tileN },
    { m: 1000, n: 256, k: 256, layout: 'nn', a: 'f32', b: 'f32', out: 'f32', accumulate: true, tileN },
    { m: 256, n: 200, k: 1001, layout: 'tn', a: 'f32', out: 'f32', accumulate: true, alpha: -0.5, bias: true, tileN },
    { m: 200, n: 64, k: 300, layout: 'tn', b: 'f32', out: 'bf16', alpha: 0.75, bias: true, tileN },
    { m: 256, n: 256, k: 2051, layout: 'tn', a: 'f32', b: 'f32', out: 'f32', accumulate: true, tileN },
  );
}
CASES.push(
  { m: 37, n: 33, k: 0, layout: 'nt', out: 'f32', bias: true },
  { m: 37, n: 33, k: 0, layout: 'nt', out: 'bf16', accumulate: true, bias: true },
);

describe('wgGemmPlanFor and wgGemmIneligibility (no GPU needed)', () => {
  it('runs the ML-20M linear layers unsplit: 432 CTAs of 128 × 128 (99,328 shared bytes) or 216 of 128 × 256 (197,632)', () => {
    for (const layout of ['nt', 'nn'] as const) {
      expect(wgGemmPlanFor(27_648, 256, 256, layout, BF16, 132, WG_SCRATCH_FLOATS)).toEqual(
        { kernel: `gemm_wg_${layout}_128_bf16_bf16`, tileN: 128, tiles: 432, splits: 1, kPerSplit: 256, sharedBytes: 99_328 });
      expect(wgGemmPlanFor(27_648, 256, 256, layout, BF16, 132, WG_SCRATCH_FLOATS, 256)).toEqual(
        { kernel: `gemm_wg_${layout}_256_bf16_bf16`, tileN: 256, tiles: 216, splits: 1, kPerSplit: 256, sharedBytes: 197_632 });
      // An f32 operand: the wide tile by default (one CTA an SM either way).
      expect(wgGemmPlanFor(27_648, 256, 256, layout, { a: 'f32', b: 'f32' }, 132, WG_SCRATCH_FLOATS)).toEqual(
        { kernel: `gemm_wg_${layout}_256_f32_f32`, tileN: 256, tiles: 216, splits: 1, kPerSplit: 256, sharedBytes: 197_632 });
      expect(wgGemmPlanFor(27_648, 256, 256, layout, { a: 'bf16', b: 'f32' }, 132, WG_SCRATCH_FLOATS, 128).kernel).toBe(`gemm_wg_${layout}_128_bf16_f32`);
    }
  });

  it('splits the ML-20M weight gradient within the scratch, covering k exactly', () => {
    // 4 tiles of 128 × 128, 64 splits wanted (the scratch holds 64 × 256 × 256 floats): 7 k steps each, 62 splits.
    const full = wgGemmPlanFor(256, 256, 27_648, 'tn', BF16, 132, WG_SCRATCH_FLOATS);
    expect(full).toEqual({ kernel: 'gemm_wg_tn_128_bf16_bf16', tileN: 128, tiles: 4, splits: 62, kPerSplit: 448, sharedBytes: 99_328 });
    // f32 operands: the same 128-column tile (a weight gradient's default), one CTA an SM: 33 splits wanted
    // for 132 SMs, 31 of 14 steps.
    expect(wgGemmPlanFor(256, 256, 27_648, 'tn', { a: 'f32', b: 'f32' }, 132, WG_SCRATCH_FLOATS)).toEqual(
      { kernel: 'gemm_wg_tn_128_f32_f32', tileN: 128, tiles: 4, splits: 31, kPerSplit: 896, sharedBytes: 99_328 });
    for (const [m, n, k, floats] of [[256, 256, 27_648, 1 << 21], [256, 256, 2051, WG_SCRATCH_FLOATS], [200, 64, 300, WG_SCRATCH_FLOATS], [64, 64, 100_000, 1 << 20]] as const) {
      const p = wgGemmPlanFor(m, n, k, 'tn', BF16, 132, floats);
      expect(p.splits * m * n, `${m}×${n}×${k} partials within ${floats}`).toBeLessThanOrEqual(floats);
      expect(p.kPerSplit % 64, `${m}×${n}×${k} whole k steps`).toBe(0);
      expect((p.splits - 1) * p.kPerSplit, `${m}×${n}×${k} last split not empty`).toBeLessThan(k);
      expect(p.splits * p.kPerSplit, `${m}×${n}×${k} covered`).toBeGreaterThanOrEqual(k);
    }
    expect(wgGemmPlanFor(256, 256, 2051, 'tn', BF16, 132, WG_SCRATCH_FLOATS).splits, 'the test case splits').toBeGreaterThan(1);
    expect(wgGemmPlanFor(256, 200, 1001, 'tn', BF16, 132, WG_SCRATCH_FLOATS).splits, 'the test case splits').toBeGreaterThan(1);
    expect(wgGemmPlanFor(200, 64, 300, 'tn', BF16, 132, WG_SCRATCH_FLOATS).splits, 'the test case does not split').toBe(1);
    expect(wgGemmPlanFor(37, 33, 0, 'nt', BF16, 132, WG_SCRATCH_FLOATS)).toMatchObject({ tiles: 1, splits: 1 });
  });

  it('takes f32 or bf16 operands of 16-byte rows, with or without an epilogue, on the sm_90a module only, and says why not', () => {
    const bf16 = { out: 'f32', a: 'bf16', b: 'bf16' } as const;
    expect(wgGemmEligible(27_648, 256, 256, { transB: true }, bf16, true)).toBe(true);
    expect(wgGemmEligible(27_648, 256, 256, {}, { ...bf16, out: 'bf16' }, true)).toBe(true);
    expect(wgGemmEligible(256, 256, 27_651, { transA: true, accumulate: true }, bf16, true)).toBe(true);
    expect(wgGemmEligible(777, 37, 72, { transB: true }, bf16, true), 'nt: any n').toBe(true);
    const why = (m: number, n: number, k: number, options: MatmulOptions, dtypes = bf16 as { out: DType; a: DType; b: DType }, wgmma = true) =>
      wgGemmIneligibility(m, n, k, options, dtypes, wgmma);
    expect(why(1000, 256, 256, { transB: true }, bf16, false)).toMatch(/sm_90a/);
    expect(wgGemmEligible(1000, 256, 256, { transB: true }, { ...bf16, a: 'f32', b: 'f32' }, true), 'f32 operands').toBe(true);
    expect(why(1000, 256, 256, { transB: true }, { ...bf16, b: 'i32' })).toMatch(/f32 or bf16/);
    expect(why(1000, 256, 256, { transA: true, transB: true })).toMatch(/transA with transB/);
    expect(why(1000, 256, 250, { transB: true })).toMatch(/k = 250/);
    expect(why(1000, 250, 256, {})).toMatch(/n = 250/);
    expect(why(777, 256, 1000, { transA: true })).toMatch(/m = 777/);
    expect(why(1000, 256, 256, { transB: true, epilogue: { relu: true } }), 'an epilogue is taken').toBeUndefined();
    expect(why(1000, 256, 250, { transB: true, epilogue: { relu: true } }), 'but not off 16-byte rows').toMatch(/k = 250/);
  });

  it('GRID_GEMM_KERNELS accepts wgmma and mixed (auto is the default) and rejects unknown names', async () => {
    expect(gemmKernelsFromEnv('wgmma')).toBe('wgmma');
    expect(gemmKernelsFromEnv('mixed')).toBe('mixed');
    expect(gemmKernelsFromEnv(undefined)).toBe('auto');
    expect(gemmKernelsFromEnv('')).toBe('auto');
    expect(() => gemmKernelsFromEnv('hopper')).toThrow(/async, tiled, mixed, legacy, wgmma, auto, got "hopper"/);
    // Read once, when gemm-kernels.ts loads.
    vi.stubEnv(GEMM_KERNELS_ENV, 'wgmma');
    vi.resetModules();
    try {
      const fresh = await import('../../src/backend/cuda/gemm-kernels.js');
      expect(fresh.gemmKernels()).toBe('wgmma');
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });

  it("plans what 'wgmma' and 'auto' leave to gemm.cu as 'mixed' does", () => {
    for (const [m, n, k] of [[27_648, 256, 256], [256, 256, 27_648], [1000, 64, 64], [37, 33, 5]] as const) {
      expect(gemmPlanFor(m, n, k, 'bf16', 132, 'wgmma')).toEqual(gemmPlanFor(m, n, k, 'bf16', 132, 'mixed'));
      expect(gemmPlanFor(m, n, k, 'bf16', 132, 'auto')).toEqual(gemmPlanFor(m, n, k, 'bf16', 132, 'mixed'));
    }
  });

  it("sends to wgmma under 'auto' the weight gradients at d ≥ 128 of many rows and ce's catalogue-sized products (at ML-1M only dH), nothing else", () => {
    // ML-20M (N = 27,648 rows, d = 256, V = 15,406 columns with the padding id): dW, then the logits, dH and the table gradient.
    expect(wgmmaPays(256, 256, 27_648, true)).toBe(true);
    expect(wgmmaPays(27_648, 15_406, 256, false)).toBe(true);
    expect(wgmmaPays(27_648, 256, 15_406, false)).toBe(true);
    expect(wgmmaPays(15_406, 256, 27_648, true)).toBe(true);
    // Its linear layers' forward and input gradient (slower on wgmma inside the step).
    expect(wgmmaPays(27_648, 256, 256, false)).toBe(false);
    // ML-1M (N = 17,152, d = 64, V + 1 = 3,707 padded to 3,712): every product but dH, the product deep over the catalogue.
    expect(wgmmaPays(64, 64, 17_152, true)).toBe(false);
    expect(wgmmaPays(17_152, 3712, 64, false)).toBe(false);
    expect(wgmmaPays(17_152, 64, 3712, false)).toBe(true);
    expect(wgmmaPays(3712, 64, 17_152, true)).toBe(false);
    // Batch 32 × L 32 at d = 256: its weight gradient (67 M multiply-adds).
    expect(wgmmaPays(256, 256, 1024, true)).toBe(false);
  });
});

describe.skipIf(noGpu)('wgmma GEMM against the float64 CPU reference', () => {
  const context = useContext();
  const oracle = useOracle();
  const scratch = useGemmScratch(WG_SCRATCH_FLOATS);
  let skipReason: string | undefined;
  beforeAll(() => {
    skipReason = wgmmaAvailable() ? undefined : `this GPU loads the ${context().modules.variantOf('gemm_wg')} module of gemm_wg, which has no kernels (they need compute capability 9.0)`;
    if (skipReason !== undefined) console.log(`[skip] test/gpu/gemm-wg.test.ts: ${skipReason}`);
    // The module's first load is a JIT of a large PTX (most of a minute on a fresh machine, longer beside
    // other test files compiling theirs): paid here, under the hook's timeout, not by the first case's.
    else context().modules.load('gemm_wg');
  }, MODULE_JIT_TIMEOUT_MS);

  for (const c of CASES) {
    it(label(c), async (ctx) => {
      if (skipReason !== undefined) return ctx.skip(skipReason);
      const cpu = oracle();
      const { m, n, k } = c;
      const options = { ...trans(c.layout), accumulate: c.accumulate ?? false, alpha: c.alpha ?? 1 };
      const held = randomOperands(m, n, k, { a: c.a ?? 'bf16', b: c.b ?? 'bf16' }, [
        { name: 'out', shape: [m * n], dtype: c.out },
        { name: 'bias', shape: [n], dtype: 'f32' },
      ]);
      const io = held.io;
      // What the kernels multiply: the values as stored, an f32 operand rounded to bf16 (nearest even).
      const a = toBf16(held.a).values;
      const b = toBf16(held.b).values;
      const old = options.accumulate ? put(io.get('out'), randomFloats(m * n)) : null;
      const bias = c.bias ? put(io.get('bias'), randomFloats(n).map((v) => v * Math.max(1, Math.sqrt(k)))) : null;
      const stream = Stream.create();
      const withBias = bias !== null ? { bias: io.get('bias') } : {};
      wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, { ...options, ...withBias }, scratch.wg(),
        c.tileN === undefined ? {} : { tileN: c.tileN });
      stream.synchronize();
      stream.destroy();
      const got = get(io.get('out'));
      io.free();

      expect(got.every(Number.isFinite), 'out fully written').toBe(true);
      if (k === 0) {
        // (old +) bias, one float32 add, at out's dtype: exactly.
        const want = representable({ dtype: c.out }, Array.from({ length: m * n }, (_, i) => Math.fround((old?.[i] ?? 0) + (bias?.[i % n] ?? 0))));
        expect(got).toEqual(want);
        return;
      }
      // The oracle: the product itself for overwrites and f32 increments; old + product for a bf16 out (whose
      // increment its rounding hides). Rows [r0, r1) of out need rows [r0, r1) of a (nt, nn; tn checks all rows).
      const wholeSum = old !== null && c.out === 'bf16';
      for (const [r0, r1] of checkedRows(c)) {
        const rows = r1 - r0;
        const ref = cpu.allocGroup('ref', [
          { name: 'a', shape: [rows * k], dtype: 'f32' },
          { name: 'b', shape: [k * n], dtype: 'f32' },
          { name: 'out', shape: [rows * n], dtype: 'f32' },
          { name: 'bias', shape: [n], dtype: 'f32' },
        ]);
        cpu.write(ref.get('a'), c.layout === 'tn' ? a : a.subarray(r0 * k, r1 * k));
        cpu.write(ref.get('b'), b);
        cpu.write(ref.get('out'), wholeSum ? old.subarray(r0 * n, r1 * n) : new Float32Array(rows * n));
        if (bias !== null) cpu.write(ref.get('bias'), bias);
        const refBias = bias !== null ? { bias: ref.get('bias') } : {};
        cpu.matmul(ref.get('out'), ref.get('a'), ref.get('b'), rows, n, k, { ...options, accumulate: wholeSum, ...refBias });
        const want = await cpu.readF32(ref.get('out'));
        cpu.freeGroup(ref);
        const part = got.subarray(r0 * n, r1 * n);
        const result = old !== null && !wholeSum ? part.map((v, i) => v - old[r0 * n + i]!) : part;
        expect(relError(result, want), `rows ${r0}..${r1} ${old !== null && !wholeSum ? 'increment' : 'out'}`).toBeLessThanOrEqual(bound(c.out));
      }
    });
  }

  it('matches gemm.cu on the ML-20M weight gradient (tn 256 × 256 × 27,648, 62 splits) and is bit-identical run to run', (ctx) => {
    if (skipReason !== undefined) return ctx.skip(skipReason);
    const [m, n, k] = [256, 256, 27_648];
    const { io } = randomOperands(m, n, k, BF16, [
      { name: 'out', shape: [m * n], dtype: 'f32' },
      { name: 'ref', shape: [m * n], dtype: 'f32' },
    ]);
    const { runs, want } = twiceAgainst(io,
      (stream) => wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, { transA: true }, scratch.wg()),
      (stream) => matmul(stream, io.get('ref'), io.get('a'), io.get('b'), m, n, k, { transA: true }, 'bf16', scratch.gemm()));
    expect(sameBits(runs[1], runs[0]), 'bit-identical').toBe(true);
    // Both exact products summed in fp32, in different orders: 1e-5 (the bound against the oracle) each.
    expect(relError(runs[0], want)).toBeLessThanOrEqual(2e-5);
  });

  it('is bit-identical run to run on the ML-20M forward (nt 27,648 × 256 × 256, bf16 out + bias), on both tiles', (ctx) => {
    if (skipReason !== undefined) return ctx.skip(skipReason);
    const [m, n, k] = [27_648, 256, 256];
    const { io } = randomOperands(m, n, k, BF16, [
      { name: 'out', shape: [m * n], dtype: 'bf16' },
      { name: 'bias', shape: [n], dtype: 'f32' },
    ]);
    put(io.get('bias'), randomFloats(n));
    const stream = Stream.create();
    for (const tileN of [128, 256] as const) {
      const runs = twice(stream, io.get('out'), () =>
        wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, { transB: true, bias: io.get('bias') }, scratch.wg(), { tileN }));
      expect(sameBits(runs[1], runs[0]), `tile ${tileN}`).toBe(true);
    }
    stream.destroy();
    io.free();
  });

  // f32 operands: wgGemm and matmul ('mixed', bf16 math) round them to bf16 alike and multiply the same exact
  // products; only the order of the fp32 sums differs, 1e-5 (the oracle's bound) each: 2e-5. Each product
  // also twice on wgGemm: the same bits.
  for (const [layout, m, n, k] of [['nt', 1000, 256, 256], ['nn', 1000, 256, 256], ['tn', 256, 256, 5000]] as const) {
    it(`with f32 operands equals matmul ('mixed') within 2e-5 and is bit-identical run to run: ${layout} ${m} × ${n} × ${k}`, (ctx) => {
      if (skipReason !== undefined) return ctx.skip(skipReason);
      const { io } = randomOperands(m, n, k, { a: 'f32', b: 'f32' }, [
        { name: 'out', shape: [m * n], dtype: 'f32' },
        { name: 'ref', shape: [m * n], dtype: 'f32' },
      ]);
      const options = trans(layout);
      const { runs, want } = twiceAgainst(io,
        (stream) => wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, options, scratch.wg()),
        (stream) => withGemmKernels('mixed', () => matmul(stream, io.get('ref'), io.get('a'), io.get('b'), m, n, k, options, 'bf16', scratch.gemm())));
      expect(sameBits(runs[1], runs[0]), 'bit-identical').toBe(true);
      expect(relError(runs[0], want)).toBeLessThanOrEqual(2e-5);
    });
  }

  it("matmul under 'wgmma' runs wgGemm on what it takes (the same bits, an epilogue's too) and 'mixed' on the rest ('fp32' math)", (ctx) => {
    if (skipReason !== undefined) return ctx.skip(skipReason);
    const [m, n, k] = [1000, 256, 256];
    const { io } = randomOperands(m, n, k, { a: 'f32', b: 'f32' }, [
      { name: 'bias', shape: [n], dtype: 'f32' },
      { name: 'out', shape: [m * n], dtype: 'bf16' },
    ]);
    put(io.get('bias'), randomFloats(n));
    const stream = Stream.create();
    const bits = (run: () => void): Buffer => {
      run();
      stream.synchronize();
      return Buffer.from(new Uint32Array(get(io.get('out')).buffer).buffer);
    };
    const plain: MatmulOptions = { transB: true, bias: io.get('bias') };
    const relu: MatmulOptions = { ...plain, epilogue: { relu: true } };
    const under = (kernels: 'wgmma' | 'mixed', options: MatmulOptions, math: 'bf16' | 'fp32' = 'bf16') => () =>
      withGemmKernels(kernels, () => matmul(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, options, math, scratch.gemm()));
    const direct = bits(() => wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, plain, scratch.wg()));
    expect(bits(under('wgmma', plain)).equals(direct), 'eligible: wgGemm').toBe(true);
    const directRelu = bits(() => wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, relu, scratch.wg()));
    expect(bits(under('wgmma', relu)).equals(directRelu), 'an epilogue: wgGemm').toBe(true);
    expect(bits(under('wgmma', plain, 'fp32')).equals(bits(under('mixed', plain, 'fp32'))), "'fp32' math: gemm.cu").toBe(true);
    stream.destroy();
    io.free();
  });

  it("matmul under 'auto' runs a large weight gradient on wgGemm (the same bits) and a linear layer's forward as 'mixed'", (ctx) => {
    if (skipReason !== undefined) return ctx.skip(skipReason);
    // dW (tn) 256 × 256 over 16,384 rows: 2^30 multiply-adds, the least wgmmaPays takes; the forward 1000 × 256 × 256.
    const [d, rows, fwdRows] = [256, 16_384, 1000];
    const io = deviceGroup('io', [
      { name: 'dy', shape: [rows * d], dtype: 'f32' },
      { name: 'x', shape: [rows * d], dtype: 'f32' },
      { name: 'dW', shape: [d * d], dtype: 'f32' },
      { name: 'y', shape: [fwdRows * d], dtype: 'bf16' },
    ]);
    put(io.get('dy'), randomFloats(rows * d));
    put(io.get('x'), randomFloats(rows * d));
    const stream = Stream.create();
    const bits = (out: string, run: () => void): Buffer => {
      run();
      stream.synchronize();
      return Buffer.from(new Uint8Array(get(io.get(out)).buffer));
    };
    const under = (kernels: 'auto' | 'mixed', run: () => void) => () => withGemmKernels(kernels, run);
    const g = scratch.gemm();
    const dW = () => matmul(stream, io.get('dW'), io.get('dy'), io.get('x'), d, d, rows, { transA: true }, 'bf16', g);
    // matmul gives wgGemm the scratch's partials region: all but the tile counters.
    const direct = bits('dW', () => wgGemm(stream, io.get('dW'), io.get('dy'), io.get('x'), d, d, rows, { transA: true }, g,
      { partialFloats: g.size - GEMM_TILE_COUNTERS }));
    expect(bits('dW', under('auto', dW)).equals(direct), 'the weight gradient: wgGemm').toBe(true);
    expect(bits('dW', under('mixed', dW)).equals(direct), "'mixed' sums in another order").toBe(false);
    const fwd = () => matmul(stream, io.get('y'), io.get('x'), io.get('dy'), fwdRows, d, d, { transB: true }, 'bf16', g);
    expect(bits('y', under('auto', fwd)).equals(bits('y', under('mixed', fwd))), 'the forward: mixed').toBe(true);
    stream.destroy();
    io.free();
  });
});

// ---------------------------------------------------------------------------------------------------
// The epilogue (ops.ts MatmulEpilogue, kernels/gemm_epilogue.cuh) on wgGemm against gemm.cu's matmul under
// 'mixed' on the same inputs.

const DROP: DropoutSpec = { p: 0.3, key: { seed: 7, step: 11, site: 3 } };
/** The gate's factor: blockBackward's 1 / (1 - p) of the FFN's dropout (another p than DROP's). */
const GATE_SCALE = 1 / (1 - 0.1);
/** The layer norm's epsilon (the model's is 1e-8; a larger one keeps zero rows' rstd moderate). */
const LN_EPS = 1e-5;

interface EpiCase {
  readonly layout: WgLayout;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: 'f32' | 'bf16';
  readonly b: 'f32' | 'bf16';
  readonly out: 'f32' | 'bf16';
  /** @default wgDefaultTileN of the operands */
  readonly tileN?: WgTileN;
  /** @default 1 */
  readonly alpha?: number;
  /** Pass a bias (f32 [n], scaled like the product). @default true */
  readonly bias?: boolean;
  readonly relu?: boolean;
  readonly dropout?: boolean;
  /** The dropout's step read from the step counters on the device (a recorded step's), not the argument. */
  readonly counters?: boolean;
  /** The gate's tensor's dtype, or none. */
  readonly gate?: 'f32' | 'bf16';
  /** The residual's dtype, or none. */
  readonly residual?: 'f32' | 'bf16';
  readonly padding?: boolean;
  /** The layer norm's output dtype, or none. */
  readonly ln?: 'f32' | 'bf16';
  /** The norm's own ids (the padding ids; the final norm has none). */
  readonly lnIds?: boolean;
}

// Each epilogue alone on each layout (nt and nn: unsplit, the epilogue in registers on both tiles, the
// post-pass epilogue_tile_pass where the norm is in the tile; tn: split k, the epilogue in gemm_splitk_reduce,
// and unsplit 200 × 64 × 300, the post-pass), f32 and bf16 operands and outs, awkward m
// (777, 1000, 1500: a partial last row tile), n = 200 and 64 (masked columns), k = 72 (a partial k step); the
// layer norm in the tile (n ≤ BN) and after it (n > BN, tn, split). Then the model's combinations at d = 256
// with its dtypes (bf16 activations att and ffn_drop, f32 weights, residual stream and norms): attn_out
// (residual + padding + layer norm), ffn1 (ReLU + dropout + padding, the dropout's step from the device's
// counters), ffn2 (dropout + residual + padding + layer norm, the last block's norm without ids), and ffn2's
// input gradient (nn, the gate by the saved bf16 ffn_drop), on the default tile and the other one.
const EPI_CASES: EpiCase[] = [
  { layout: 'nt', m: 1000, n: 256, k: 256, a: 'bf16', b: 'f32', out: 'bf16', relu: true },
  { layout: 'nt', m: 777, n: 200, k: 72, a: 'f32', b: 'bf16', out: 'f32', tileN: 128, dropout: true },
  { layout: 'nt', m: 1000, n: 256, k: 256, a: 'bf16', b: 'bf16', out: 'bf16', gate: 'bf16' },
  { layout: 'nt', m: 777, n: 200, k: 72, a: 'f32', b: 'f32', out: 'f32', residual: 'bf16' },
  { layout: 'nt', m: 1000, n: 64, k: 256, a: 'bf16', b: 'f32', out: 'f32', tileN: 128, padding: true },
  { layout: 'nt', m: 777, n: 200, k: 72, a: 'bf16', b: 'f32', out: 'f32', tileN: 256, ln: 'f32', lnIds: true },
  { layout: 'nt', m: 1000, n: 256, k: 256, a: 'bf16', b: 'bf16', out: 'bf16', tileN: 128, ln: 'bf16' },
  { layout: 'nn', m: 1000, n: 256, k: 256, a: 'f32', b: 'f32', out: 'f32', relu: true },
  { layout: 'nn', m: 777, n: 200, k: 72, a: 'bf16', b: 'bf16', out: 'bf16', tileN: 256, dropout: true },
  { layout: 'nn', m: 1000, n: 256, k: 64, a: 'bf16', b: 'f32', out: 'bf16', tileN: 128, gate: 'f32' },
  { layout: 'nn', m: 777, n: 64, k: 72, a: 'bf16', b: 'f32', out: 'bf16', residual: 'f32' },
  { layout: 'nn', m: 1000, n: 200, k: 256, a: 'f32', b: 'bf16', out: 'f32', padding: true },
  { layout: 'nn', m: 777, n: 64, k: 72, a: 'f32', b: 'f32', out: 'bf16', tileN: 128, ln: 'f32', lnIds: true },
  { layout: 'tn', m: 256, n: 256, k: 2051, a: 'f32', b: 'f32', out: 'f32', relu: true },
  { layout: 'tn', m: 256, n: 200, k: 1001, a: 'bf16', b: 'bf16', out: 'f32', dropout: true },
  { layout: 'tn', m: 200, n: 64, k: 300, a: 'bf16', b: 'f32', out: 'bf16', gate: 'f32' },
  { layout: 'tn', m: 256, n: 256, k: 2051, a: 'bf16', b: 'bf16', out: 'bf16', residual: 'f32' },
  { layout: 'tn', m: 200, n: 64, k: 300, a: 'f32', b: 'f32', out: 'f32', padding: true },
  { layout: 'tn', m: 256, n: 200, k: 1001, a: 'f32', b: 'bf16', out: 'f32', ln: 'f32', lnIds: true },
  { layout: 'tn', m: 200, n: 64, k: 300, a: 'bf16', b: 'bf16', out: 'f32', dropout: true, ln: 'bf16' },
];
// The model's operands (an f32 weight) take the 256 tile by default (the norm in the tile); then the 128 one
// (the norm after the GEMM).
for (const tileN of [undefined, 128] as const) {
  const tile = tileN === undefined ? {} : { tileN };
  EPI_CASES.push(
    { layout: 'nt', m: 1500, n: 256, k: 256, a: 'bf16', b: 'f32', out: 'f32', ...tile, residual: 'f32', padding: true, ln: 'f32', lnIds: true },
    { layout: 'nt', m: 1500, n: 256, k: 256, a: 'f32', b: 'f32', out: 'bf16', ...tile, relu: true, dropout: true, counters: true, padding: true },
    { layout: 'nt', m: 1500, n: 256, k: 256, a: 'bf16', b: 'f32', out: 'f32', ...tile, dropout: true, residual: 'f32', padding: true, ln: 'f32', lnIds: tileN === undefined },
    { layout: 'nn', m: 1500, n: 256, k: 256, a: 'f32', b: 'f32', out: tileN === 128 ? 'bf16' : 'f32', ...tile, gate: 'bf16' },
  );
}
// The model's combinations with narrow operands (two bf16: its linear layers' forward products on Hopper) on
// their default tile, 128: gemm_wg_nt_128_bf16_bf16, the kernel of the ML-20M step, whose epilogue is in
// registers (the norm runs after the GEMM: n = 256 > 128) in rounds of 4 chunks (its 128 registers): attn_out,
// ffn1, ffn2, and the gate of an input gradient (no bias). Then the register epilogue's own hazards: a bf16
// residual with masked columns (n = 200: the second column tile has 72) and a partial row tile; a residual
// alone after a product without bias and alpha ≠ 1, where ptxas would fuse alpha's multiply into a plain add
// of the residual (the kernel's __fadd_rn prevents it; alpha = 1 would hide it), on the 128 tile, the 256
// one (rounds of 8) and with f32 operands (one round of 16). Last, the post-pass where the register epilogue
// does not apply: n not a multiple of 4 (nt takes any n: pairs of columns, Philox groups across a pair) and
// a gate with a residual.
EPI_CASES.push(
  { layout: 'nt', m: 1500, n: 256, k: 256, a: 'bf16', b: 'bf16', out: 'f32', residual: 'f32', padding: true, ln: 'f32', lnIds: true },
  { layout: 'nt', m: 1500, n: 256, k: 256, a: 'bf16', b: 'bf16', out: 'bf16', relu: true, dropout: true, counters: true, padding: true },
  { layout: 'nt', m: 1500, n: 256, k: 256, a: 'bf16', b: 'bf16', out: 'f32', dropout: true, residual: 'f32', padding: true, ln: 'f32', lnIds: true },
  { layout: 'nn', m: 1500, n: 256, k: 256, a: 'bf16', b: 'bf16', out: 'bf16', bias: false, gate: 'bf16' },
  { layout: 'nt', m: 777, n: 200, k: 72, a: 'bf16', b: 'bf16', out: 'bf16', alpha: 0.75, residual: 'bf16', padding: true },
  { layout: 'nt', m: 1000, n: 256, k: 256, a: 'bf16', b: 'bf16', out: 'f32', alpha: 0.7, bias: false, residual: 'f32' },
  { layout: 'nn', m: 1000, n: 256, k: 256, a: 'bf16', b: 'bf16', out: 'f32', tileN: 256, alpha: -1.25, bias: false, residual: 'f32', padding: true },
  { layout: 'nt', m: 1000, n: 200, k: 64, a: 'f32', b: 'f32', out: 'f32', tileN: 128, alpha: 1.5, bias: false, residual: 'f32' },
  { layout: 'nt', m: 777, n: 202, k: 72, a: 'bf16', b: 'bf16', out: 'f32', dropout: true, residual: 'f32', padding: true },
  { layout: 'nt', m: 777, n: 37, k: 72, a: 'bf16', b: 'bf16', out: 'bf16', relu: true, dropout: true },
  { layout: 'nt', m: 1000, n: 256, k: 64, a: 'bf16', b: 'bf16', out: 'f32', gate: 'f32', residual: 'f32' },
);

function epiLabel(c: EpiCase): string {
  const parts = [
    c.relu && 'relu', c.dropout && `dropout${c.counters ? ' (device step)' : ''}`, c.gate !== undefined && `gate ${c.gate}`,
    c.residual !== undefined && `residual ${c.residual}`, c.padding && 'padding', c.ln !== undefined && `layer norm ${c.ln}${c.lnIds ? ' with ids' : ''}`,
  ].filter(Boolean);
  const product = `${c.alpha !== undefined ? ` alpha ${c.alpha}` : ''}${c.bias === false ? ' no bias' : ''}`;
  return `${c.layout} ${c.m}×${c.n}×${c.k} a ${c.a} b ${c.b} out ${c.out} tile ${c.tileN ?? 'default'}${product}: ${parts.join(', ')}`;
}

/**
 * out's bound against 'mixed': both multiply the same bf16 values exactly and sum them in fp32 in different
 * orders, each within 1e-5 of the exact product (the oracle's bound above): 2e-5 apart; a bf16 out is rounded
 * twice on each side (after the bias and at the end), 2^-9 each: + 4 · 2^-9. The epilogue is the same code on
 * both: ReLU and the gate only zero or scale both alike, the residual adds the same values, a dropout's kept
 * values are scaled by 1/(1 - p) while the dropped ones leave the norm: × 1/(1 - p).
 */
function epiBound(c: EpiCase): number {
  return (2e-5 + (c.out === 'bf16' ? 4 * 2 ** -9 : 0)) * (c.dropout ? 1 / (1 - DROP.p) : 1);
}

/** The Euclidean norm of an array. */
function norm2(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! ** 2;
  return Math.sqrt(s);
}

/** What a run writes: out, and the layer norm's out, mean and rstd. */
interface EpiOutputs {
  readonly out: Float32Array;
  readonly ln: Float32Array;
  readonly mean: Float32Array;
  readonly rstd: Float32Array;
}

/** The runs of a case, each into tensors of its own: wgGemm twice, matmul ('mixed'), and the identity check. */
const RUNS = ['wg', 'again', 'mx', 'id'] as const;

describe.skipIf(noGpu)("wgmma GEMM epilogue against gemm.cu's ('mixed') on the same inputs", () => {
  useContext();
  const scratch = useGemmScratch(WG_SCRATCH_FLOATS);
  let skipReason: string | undefined;
  beforeAll(() => {
    skipReason = wgmmaAvailable() ? undefined : 'this GPU does not load the sm_90a module of gemm_wg (compute capability 9.0 has it)';
  });

  for (const c of EPI_CASES) {
    it(epiLabel(c), (ctx) => {
      if (skipReason !== undefined) return ctx.skip(skipReason);
      const { m, n, k } = c;
      const plan = wgGemmPlanFor(m, n, k, c.layout, c, multiprocessors(), WG_SCRATCH_FLOATS, c.tileN);
      const split = plan.splits > 1;
      if (c.layout === 'tn' && (m === 256) !== split) throw new Error(`case ${epiLabel(c)}: expected ${m === 256 ? 'a split' : 'no split'}, got ${JSON.stringify(plan)}`);
      const lnDtype = c.ln ?? 'f32';
      const { io } = randomOperands(m, n, k, c, [
        { name: 'bias', shape: [n], dtype: 'f32' },
        { name: 'res', shape: [m * n], dtype: c.residual ?? 'f32' },
        { name: 'by', shape: [m * n], dtype: c.gate ?? 'f32' },
        { name: 'ids', shape: [m], dtype: 'i32' },
        { name: 'counters', shape: [2], dtype: 'i32' },
        { name: 'w', shape: [n], dtype: 'f32' },
        { name: 'lb', shape: [n], dtype: 'f32' },
        { name: 'eye', shape: [n * n], dtype: 'f32' },
        { name: 'out_pre', shape: [m * n], dtype: c.out },
        ...RUNS.flatMap((run) => [
          { name: `out_${run}`, shape: [m * n], dtype: c.out },
          { name: `ln_${run}`, shape: [m * n], dtype: lnDtype },
          { name: `mean_${run}`, shape: [m], dtype: 'f32' as DType },
          { name: `rstd_${run}`, shape: [m], dtype: 'f32' as DType },
        ]),
      ]);
      const t = (name: string): Tensor => io.get(name);
      // The bias and the residual scaled like the product (by √k), so that ReLU cuts about half of the values.
      put(io.get('bias'), randomFloats(n).map((v) => v * Math.sqrt(k)));
      if (c.residual !== undefined) put(io.get('res'), randomFloats(m * n).map((v) => v * Math.sqrt(k)));
      // Half positive, every 7th element exactly 0 (kept nowhere: the gate is by > 0).
      const by = c.gate !== undefined ? put(io.get('by'), randomFloats(m * n).map((v, i) => (i % 7 === 0 ? 0 : v))) : null;
      const ids = paddingIds(m);
      put(io.get('ids'), ids);
      // The device's step differs from the argument: both families must read it.
      put(io.get('counters'), [DROP.key.step + 2, 1]);
      put(io.get('w'), randomFloats(n).map((v) => 1 + v / 2));
      put(io.get('lb'), randomFloats(n));
      put(io.get('eye'), Float32Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 1 : 0)));

      const drop: DropoutSpec = c.counters ? { ...DROP, key: { ...DROP.key, counters: t('counters') } } : DROP;
      const epilogue = (run: string): MatmulEpilogue => ({
        ...(c.relu ? { relu: true } : {}),
        ...(c.dropout ? { dropout: drop } : {}),
        ...(c.gate !== undefined ? { gate: { by: t('by'), scale: GATE_SCALE } } : {}),
        ...(c.residual !== undefined ? { residual: t('res') } : {}),
        ...(c.padding ? { padding: t('ids') } : {}),
        ...(c.ln !== undefined ? {
          layerNorm: {
            out: t(`ln_${run}`), mean: t(`mean_${run}`), rstd: t(`rstd_${run}`), weight: t('w'), bias: t('lb'), eps: LN_EPS,
            ...(c.lnIds ? { ids: t('ids') } : {}),
          },
        } : {}),
      });
      const product: MatmulOptions = { ...trans(c.layout), alpha: c.alpha ?? 1, ...(c.bias === false ? {} : { bias: t('bias') }) };
      const launch = c.tileN === undefined ? {} : { tileN: c.tileN };
      const stream = Stream.create();
      try {
        withGemmKernels('mixed', () => {
          for (const run of ['wg', 'again'] as const) {
            wgGemm(stream, t(`out_${run}`), t('a'), t('b'), m, n, k, { ...product, epilogue: epilogue(run) }, scratch.wg(), launch);
          }
          matmul(stream, t('out_mx'), t('a'), t('b'), m, n, k, { ...product, epilogue: epilogue('mx') }, 'bf16', scratch.gemm());
          // The identity check: wgGemm's out before the epilogue (alpha · product + bias, as its tiles store it),
          // then gemm.cu's epilogue on exactly those values: pre · I by the fp32 kernels (exact: one product by 1,
          // the rest by 0) with the same epilogue and no bias.
          wgGemm(stream, t('out_pre'), t('a'), t('b'), m, n, k, product, scratch.wg(), launch);
          matmul(stream, t('out_id'), t('out_pre'), t('eye'), m, n, n, { epilogue: epilogue('id') }, 'fp32', scratch.gemm());
          stream.synchronize();
        });
      } finally {
        stream.destroy();
      }
      const read = (run: string): EpiOutputs => ({
        out: get(io.get(`out_${run}`)), ln: get(io.get(`ln_${run}`)), mean: get(io.get(`mean_${run}`)), rstd: get(io.get(`rstd_${run}`)),
      });
      const [got, again, mx, id] = RUNS.map(read) as [EpiOutputs, EpiOutputs, EpiOutputs, EpiOutputs];
      io.free();

      const written: (keyof EpiOutputs)[] = c.ln !== undefined ? ['out', 'ln', 'mean', 'rstd'] : ['out'];
      for (const name of written) {
        expect(got[name].every(Number.isFinite), `${name} fully written`).toBe(true);
        expect(sameBits(again[name], got[name]), `${name}: the same bits twice`).toBe(true);
        // A split product's bf16 out is rounded once by the reduction, not after the bias and again at the
        // end as a tile's: only there is its out before the epilogue not what the reduction adds the epilogue to.
        if (!(split && c.out === 'bf16')) expect(sameBits(got[name], id[name]), `${name}: gemm.cu's epilogue of wgGemm's values, bit for bit`).toBe(true);
      }
      if (c.padding) {
        for (let r = 0; r < m; r++) if (ids[r] === 0) expect(got.out.subarray(r * n, (r + 1) * n).every((v) => v === 0), `padding row ${r}`).toBe(true);
      }
      if (c.dropout && c.residual === undefined) {
        // The masks: where gemm.cu dropped an element wgGemm drops it, and the other way round. Without ReLU
        // every zero is a dropped element (or a padding row); with it, a value the two sums put on either side
        // of 0 may be cut on one side only: such a value is within the sums' difference of 0 (≤ 1e-3 of the
        // rms here), a dropped one is not (but with a chance of 1e-3).
        const rms = norm2(mx.out) / Math.sqrt(m * n);
        const limit = c.relu ? 1e-3 * rms : 0;
        let mismatches = 0;
        let dropped = 0;
        for (let i = 0; i < m * n; i++) {
          const [g, w] = [got.out[i]!, mx.out[i]!];
          if (g === 0) dropped++;
          if ((g === 0) !== (w === 0) && Math.max(Math.abs(g), Math.abs(w)) > limit) mismatches++;
        }
        expect(mismatches, 'elements dropped by one family only').toBe(0);
        expect(dropped / (m * n), 'the fraction dropped (p = 0.3, ReLU and padding rows add zeros)').toBeGreaterThan(0.25);
      }
      if (by !== null && c.residual === undefined) {
        const open = got.out.reduce((s, v, i) => s + (by[i]! <= 0 && v !== 0 ? 1 : 0), 0);
        expect(open, 'gated elements not 0').toBe(0);
      }
      const outBound = epiBound(c);
      expect(relError(got.out, mx.out), 'out').toBeLessThanOrEqual(outBound);
      if (c.ln !== undefined) {
        for (let r = 0; r < m; r++) {
          if (c.lnIds && ids[r] === 0) expect([got.mean[r], got.rstd[r]], `statistics of padding row ${r}`).toEqual([0, 0]);
        }
        // The norm of outs that differ by ‖Δout‖ ≤ outBound · ‖out‖: a row's mean moves by at most its
        // ‖Δout_r‖ / √n, so the means by ‖Δout‖ / √n (twice the bound for the statistics' own fp32 sums);
        // rstd and the normalised rows by about out's relative error (‖x‖ / σ of the rows about 1: gemm-
        // epilogue.test.ts's reasoning): 2 · outBound, plus a bf16 norm's rounding on either side, 2 · 2^-9.
        const meanLimit = (2 * outBound * norm2(mx.out)) / Math.sqrt(n);
        expect(norm2(got.mean.map((v, r) => v - mx.mean[r]!)), 'mean').toBeLessThanOrEqual(meanLimit);
        expect(relError(got.rstd, mx.rstd), 'rstd').toBeLessThanOrEqual(2 * outBound);
        expect(relError(got.ln, mx.ln), 'norm').toBeLessThanOrEqual(2 * outBound + (c.ln === 'bf16' ? 2 * 2 ** -9 : 0));
      }
    });
  }
});
