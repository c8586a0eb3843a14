import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { CudaTensorGroup } from '../../src/backend/cuda/cuda-tensor.js';
import {
  clearGemmCounters, GEMM_KERNELS_ENV, GEMM_SCRATCH_FLOATS, gemmKernels, gemmKernelsFromEnv, gemmPlanFor, matmul, setGemmKernels,
} from '../../src/backend/cuda/gemm-kernels.js';
import {
  wgGemm, wgGemmEligible, wgGemmIneligibility, wgGemmPlanFor, wgmmaAvailable, type WgLayout, type WgTileN,
} from '../../src/backend/cuda/gemm-wg-kernels.js';
import type { DType } from '../../src/backend/memory-plan.js';
import type { MatmulOptions } from '../../src/backend/ops.js';
import { Stream } from '../../src/cuda/stream.js';
import { cpuOracle, deviceGroup, get, put, relError, representable, toBf16 } from './device-tensors.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

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
    // f32 operands: 2 tiles of 128 × 256, 64 splits wanted (the scratch's room): 62 splits of 7 steps again.
    expect(wgGemmPlanFor(256, 256, 27_648, 'tn', { a: 'f32', b: 'f32' }, 132, WG_SCRATCH_FLOATS)).toEqual(
      { kernel: 'gemm_wg_tn_256_f32_f32', tileN: 256, tiles: 2, splits: 62, kPerSplit: 448, sharedBytes: 197_632 });
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

  it('GRID_GEMM_KERNELS accepts wgmma (opt-in; mixed stays the default) and rejects unknown names', async () => {
    expect(gemmKernelsFromEnv('wgmma')).toBe('wgmma');
    expect(gemmKernelsFromEnv(undefined)).toBe('mixed');
    expect(gemmKernelsFromEnv('')).toBe('mixed');
    expect(() => gemmKernelsFromEnv('hopper')).toThrow(/async, tiled, mixed, legacy, wgmma, got "hopper"/);
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

  it("plans what 'wgmma' leaves to gemm.cu as 'mixed' does", () => {
    for (const [m, n, k] of [[27_648, 256, 256], [256, 256, 27_648], [1000, 64, 64], [37, 33, 5]] as const) {
      expect(gemmPlanFor(m, n, k, 'bf16', 132, 'wgmma')).toEqual(gemmPlanFor(m, n, k, 'bf16', 132, 'mixed'));
    }
  });
});

describe.skipIf(noGpu)('wgmma GEMM against the float64 CPU reference', () => {
  const context = useContext();
  let cpu: CpuOps;
  let scratch: CudaTensorGroup;
  let skipReason: string | undefined;
  beforeAll(async () => {
    cpu = await cpuOracle();
    context();
    skipReason = wgmmaAvailable() ? undefined : `this GPU loads the ${context().modules.variantOf('gemm_wg')} module of gemm_wg, which has no kernels (they need compute capability 9.0)`;
    if (skipReason !== undefined) console.log(`[skip] test/gpu/gemm-wg.test.ts: ${skipReason}`);
    scratch = deviceGroup('scratch', [
      { name: 'wg', shape: [WG_SCRATCH_FLOATS], dtype: 'f32' },
      { name: 'gemm', shape: [GEMM_SCRATCH_FLOATS], dtype: 'f32' },
    ]);
    clearGemmCounters(scratch.get('gemm'));
  });
  afterAll(() => {
    scratch?.free();
    cpu?.close();
  });

  for (const c of CASES) {
    it(label(c), async (ctx) => {
      if (skipReason !== undefined) return ctx.skip(skipReason);
      const { m, n, k } = c;
      const options = { ...trans(c.layout), accumulate: c.accumulate ?? false, alpha: c.alpha ?? 1 };
      const [sizeA, sizeB] = [Math.max(1, m * k), Math.max(1, k * n)];
      const io = deviceGroup('io', [
        { name: 'a', shape: [sizeA], dtype: c.a ?? 'bf16' },
        { name: 'b', shape: [sizeB], dtype: c.b ?? 'bf16' },
        { name: 'out', shape: [m * n], dtype: c.out },
        { name: 'bias', shape: [n], dtype: 'f32' },
      ]);
      // What the kernels multiply: the values as stored, an f32 operand rounded to bf16 (nearest even).
      const a = toBf16(put(io.get('a'), randomFloats(sizeA))).values;
      const b = toBf16(put(io.get('b'), randomFloats(sizeB))).values;
      const old = options.accumulate ? put(io.get('out'), randomFloats(m * n)) : null;
      const bias = c.bias ? put(io.get('bias'), randomFloats(n).map((v) => v * Math.max(1, Math.sqrt(k)))) : null;
      const stream = Stream.create();
      const withBias = bias !== null ? { bias: io.get('bias') } : {};
      wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, { ...options, ...withBias }, scratch.get('wg'),
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
    const io = deviceGroup('io', [
      { name: 'a', shape: [k * m], dtype: 'bf16' },
      { name: 'b', shape: [k * n], dtype: 'bf16' },
      { name: 'out', shape: [m * n], dtype: 'f32' },
      { name: 'ref', shape: [m * n], dtype: 'f32' },
    ]);
    put(io.get('a'), randomFloats(k * m));
    put(io.get('b'), randomFloats(k * n));
    const stream = Stream.create();
    const runs = [0, 1].map(() => {
      wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, { transA: true }, scratch.get('wg'));
      stream.synchronize();
      return new Uint32Array(get(io.get('out')).buffer);
    });
    matmul(stream, io.get('ref'), io.get('a'), io.get('b'), m, n, k, { transA: true }, 'bf16', scratch.get('gemm'));
    stream.synchronize();
    stream.destroy();
    const want = get(io.get('ref'));
    io.free();
    expect(Buffer.from(runs[1]!.buffer).equals(Buffer.from(runs[0]!.buffer)), 'bit-identical').toBe(true);
    // Both exact products summed in fp32, in different orders: 1e-5 (the bound against the oracle) each.
    expect(relError(new Float32Array(runs[0]!.buffer), want)).toBeLessThanOrEqual(2e-5);
  });

  it('is bit-identical run to run on the ML-20M forward (nt 27,648 × 256 × 256, bf16 out + bias), on both tiles', (ctx) => {
    if (skipReason !== undefined) return ctx.skip(skipReason);
    const [m, n, k] = [27_648, 256, 256];
    const io = deviceGroup('io', [
      { name: 'a', shape: [m * k], dtype: 'bf16' },
      { name: 'b', shape: [n * k], dtype: 'bf16' },
      { name: 'out', shape: [m * n], dtype: 'bf16' },
      { name: 'bias', shape: [n], dtype: 'f32' },
    ]);
    put(io.get('a'), randomFloats(m * k));
    put(io.get('b'), randomFloats(n * k));
    put(io.get('bias'), randomFloats(n));
    const stream = Stream.create();
    for (const tileN of [128, 256] as const) {
      const runs = [0, 1].map(() => {
        wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, { transB: true, bias: io.get('bias') }, scratch.get('wg'), { tileN });
        stream.synchronize();
        return new Uint32Array(get(io.get('out')).buffer);
      });
      expect(Buffer.from(runs[1]!.buffer).equals(Buffer.from(runs[0]!.buffer)), `tile ${tileN}`).toBe(true);
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
      const io = deviceGroup('io', [
        { name: 'a', shape: [m * k], dtype: 'f32' },
        { name: 'b', shape: [k * n], dtype: 'f32' },
        { name: 'out', shape: [m * n], dtype: 'f32' },
        { name: 'ref', shape: [m * n], dtype: 'f32' },
      ]);
      put(io.get('a'), randomFloats(m * k));
      put(io.get('b'), randomFloats(k * n));
      const options = trans(layout);
      const stream = Stream.create();
      const runs = [0, 1].map(() => {
        wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, options, scratch.get('wg'));
        stream.synchronize();
        return new Uint32Array(get(io.get('out')).buffer);
      });
      const before = gemmKernels();
      setGemmKernels('mixed');
      try {
        matmul(stream, io.get('ref'), io.get('a'), io.get('b'), m, n, k, options, 'bf16', scratch.get('gemm'));
      } finally {
        setGemmKernels(before);
      }
      stream.synchronize();
      stream.destroy();
      const want = get(io.get('ref'));
      io.free();
      expect(Buffer.from(runs[1]!.buffer).equals(Buffer.from(runs[0]!.buffer)), 'bit-identical').toBe(true);
      expect(relError(new Float32Array(runs[0]!.buffer), want)).toBeLessThanOrEqual(2e-5);
    });
  }

  it("matmul under 'wgmma' runs wgGemm on what it takes (the same bits, an epilogue's too) and 'mixed' on the rest ('fp32' math)", (ctx) => {
    if (skipReason !== undefined) return ctx.skip(skipReason);
    const [m, n, k] = [1000, 256, 256];
    const io = deviceGroup('io', [
      { name: 'a', shape: [m * k], dtype: 'f32' },
      { name: 'b', shape: [k * n], dtype: 'f32' },
      { name: 'bias', shape: [n], dtype: 'f32' },
      { name: 'out', shape: [m * n], dtype: 'bf16' },
    ]);
    put(io.get('a'), randomFloats(m * k));
    put(io.get('b'), randomFloats(k * n));
    put(io.get('bias'), randomFloats(n));
    const stream = Stream.create();
    const bits = (run: () => void): Buffer => {
      run();
      stream.synchronize();
      return Buffer.from(new Uint32Array(get(io.get('out')).buffer).buffer);
    };
    const plain: MatmulOptions = { transB: true, bias: io.get('bias') };
    const relu: MatmulOptions = { ...plain, epilogue: { relu: true } };
    const under = (kernels: 'wgmma' | 'mixed', options: MatmulOptions, math: 'bf16' | 'fp32' = 'bf16') => () => {
      const before = gemmKernels();
      setGemmKernels(kernels);
      try {
        matmul(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, options, math, scratch.get('gemm'));
      } finally {
        setGemmKernels(before);
      }
    };
    const direct = bits(() => wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, plain, scratch.get('wg')));
    expect(bits(under('wgmma', plain)).equals(direct), 'eligible: wgGemm').toBe(true);
    const directRelu = bits(() => wgGemm(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k, relu, scratch.get('wg')));
    expect(bits(under('wgmma', relu)).equals(directRelu), 'an epilogue: wgGemm').toBe(true);
    expect(bits(under('wgmma', plain, 'fp32')).equals(bits(under('mixed', plain, 'fp32'))), "'fp32' math: gemm.cu").toBe(true);
    stream.destroy();
    io.free();
  });
});
