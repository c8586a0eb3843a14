/**
 * matmul's epilogue on the GPU (ops.ts MatmulEpilogue, kernels/gemm.cu EPILOGUE): ReLU, dropout, the
 * gate, a residual sum and zeroed padding rows after the product and bias, on every path that writes out (an
 * unsplit tile's epilogue_tile on the small, legacy, wide and fp32 kernels; the split-K reduction inside
 * the GEMM; gemm_splitk_reduce), against the float64 CPU backend, which applies the ops themselves. Then
 * the layer norm after it (MatmulEpilogue.layerNorm, kernels/gemm.cu LAYER NORM) on both of its paths: in
 * the tile (epilogue_tile_norm: d ≤ the tile's n, unsplit, no transA) and layer_norm_forward launched after
 * the GEMM (wider rows, split plans, transA): the same bits as layer_norm_forward over the GEMM's out, and
 * within bounds of the oracle.
 */
import { describe, expect, it } from 'vitest';
import { gemmPlanFor, matmul, type GemmKernels, type GemmMath } from '../../src/backend/cuda/gemm-kernels.js';
import { layerNormForward } from '../../src/backend/cuda/layernorm-kernels.js';
import type { DType } from '../../src/backend/memory-plan.js';
import type { DropoutSpec, MatmulEpilogue, MatmulLayerNorm, MatmulOptions, Tensor } from '../../src/backend/ops.js';
import { Stream } from '../../src/cuda/stream.js';
import { deviceGroup, get, put, relError, representable, useOracle } from './device-tensors.js';
import { paddingIds, randomOperands, sameBits, useGemmScratch, withGemmKernels } from './gemm-setup.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/gemm-epilogue.test.ts');

const DROP: DropoutSpec = { p: 0.3, key: { seed: 7, step: 11, site: 3 } };
/** The gate's factor: a dropout's 1 / (1 - p) at another p than DROP's. */
const GATE_SCALE = 1 / (1 - 0.1);

interface Case {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transA?: boolean;
  readonly a: DType;
  readonly out: DType;
  readonly math: GemmMath;
  /** @default 'tiled' */
  readonly kernels?: GemmKernels;
  readonly relu: boolean;
  readonly dropout: boolean;
  /** The residual's dtype, or none. */
  readonly residual: DType | null;
  /** The gate's tensor's dtype, or none. @default none */
  readonly gate?: DType;
  readonly padding: boolean;
  /** The path the plan must take (checked, so that each case tests what it names). */
  readonly path: 'tile' | 'gemm' | 'kernel';
}

// b is always f32 [n × k] (transB) or [k × n] (transA cases: a [k × m]); a bias always.
const CASES: Case[] = [
  { m: 300, n: 64, k: 64, a: 'bf16', out: 'bf16', math: 'bf16', relu: true, dropout: true, residual: null, padding: true, path: 'tile' },
  { m: 300, n: 64, k: 64, a: 'bf16', out: 'bf16', math: 'bf16', kernels: 'async', relu: true, dropout: true, residual: null, padding: true, path: 'tile' },
  { m: 1000, n: 64, k: 64, a: 'bf16', out: 'f32', math: 'bf16', kernels: 'legacy', relu: false, dropout: true, residual: 'f32', padding: true, path: 'tile' },
  { m: 1024, n: 256, k: 256, a: 'bf16', out: 'f32', math: 'bf16', relu: false, dropout: true, residual: 'f32', padding: true, path: 'tile' },
  { m: 150, n: 33, k: 45, a: 'f32', out: 'f32', math: 'bf16', relu: false, dropout: true, residual: null, padding: false, path: 'tile' },
  { m: 150, n: 33, k: 45, a: 'f32', out: 'f32', math: 'fp32', relu: true, dropout: true, residual: 'bf16', padding: true, path: 'tile' },
  { m: 2200, n: 1000, k: 19, a: 'bf16', out: 'bf16', math: 'bf16', relu: true, dropout: false, residual: 'bf16', padding: true, path: 'tile' },
  // epilogue_tile's chunks of 4 columns (n a multiple of 4): the 128 × 128 tile (m > 128 · 66, where the
  // 128 × 64 tile's CTAs would take two waves) with a partial last m tile, with dropout alone (its masks
  // checked exactly) into a bf16 out as ML-20M's ffn1, and with the residual into an f32 out as its ffn2;
  // the fp32 kernels' 64 × 64 tile, whose second column tile is partial (columns 64..99 of 128).
  { m: 8999, n: 256, k: 24, a: 'bf16', out: 'bf16', math: 'bf16', relu: false, dropout: true, residual: null, padding: true, path: 'tile' },
  { m: 8999, n: 256, k: 24, a: 'bf16', out: 'f32', math: 'bf16', relu: false, dropout: true, residual: 'f32', padding: true, path: 'tile' },
  { m: 301, n: 100, k: 40, a: 'f32', out: 'f32', math: 'fp32', relu: false, dropout: true, residual: null, padding: false, path: 'tile' },
  { m: 300, n: 300, k: 700, a: 'bf16', out: 'f32', math: 'bf16', relu: true, dropout: true, residual: 'f32', padding: true, path: 'gemm' },
  { m: 250, n: 250, k: 1001, transA: true, a: 'f32', out: 'bf16', math: 'bf16', relu: false, dropout: true, residual: null, padding: false, path: 'gemm' },
  { m: 64, n: 64, k: 25_601, transA: true, a: 'f32', out: 'f32', math: 'bf16', relu: true, dropout: true, residual: 'f32', padding: true, path: 'kernel' },
  { m: 33, n: 33, k: 5003, transA: true, a: 'f32', out: 'f32', math: 'bf16', relu: false, dropout: true, residual: null, padding: false, path: 'kernel' },
  // The gate (blockBackward's ffn2 dx GEMM: [N × ffn] from k = d, gated by the saved bf16 ffn_drop), alone and
  // after ReLU and dropout, before the residual; n a multiple of 4 and not on the in-GEMM split (both of
  // splitk_tail's loops).
  { m: 300, n: 64, k: 64, a: 'bf16', out: 'bf16', math: 'bf16', relu: false, dropout: false, residual: null, gate: 'bf16', padding: false, path: 'tile' },
  { m: 1000, n: 256, k: 64, a: 'bf16', out: 'bf16', math: 'bf16', relu: false, dropout: false, residual: null, gate: 'bf16', padding: true, path: 'tile' },
  { m: 1000, n: 64, k: 64, a: 'bf16', out: 'f32', math: 'bf16', kernels: 'legacy', relu: true, dropout: true, residual: 'f32', gate: 'f32', padding: true, path: 'tile' },
  { m: 150, n: 33, k: 45, a: 'f32', out: 'f32', math: 'fp32', relu: false, dropout: false, residual: null, gate: 'f32', padding: true, path: 'tile' },
  { m: 300, n: 300, k: 700, a: 'bf16', out: 'f32', math: 'bf16', relu: false, dropout: false, residual: null, gate: 'bf16', padding: false, path: 'gemm' },
  { m: 250, n: 250, k: 1001, transA: true, a: 'f32', out: 'bf16', math: 'bf16', relu: true, dropout: true, residual: 'bf16', gate: 'f32', padding: true, path: 'gemm' },
  { m: 64, n: 64, k: 25_601, transA: true, a: 'f32', out: 'f32', math: 'bf16', relu: false, dropout: false, residual: null, gate: 'f32', padding: false, path: 'kernel' },
  { m: 33, n: 33, k: 5003, transA: true, a: 'f32', out: 'bf16', math: 'bf16', relu: false, dropout: true, residual: 'f32', gate: 'bf16', padding: true, path: 'kernel' },
];

function label(c: Case): string {
  const parts = [
    c.relu && 'relu', c.dropout && 'dropout', c.gate !== undefined && `gate ${c.gate}`, c.residual !== null && `residual ${c.residual}`,
    c.padding && 'padding',
  ].filter(Boolean);
  return `${c.math}${c.kernels !== undefined ? ` ${c.kernels}` : ''} ${c.transA ? 'tn' : 'nt'} ${c.m}×${c.n}×${c.k} a ${c.a} out ${c.out}: ${parts.join(', ')} (${c.path})`;
}

/**
 * The error bound against the float64 oracle: gemm.test.ts's (1e-2 for bf16 products of f32 or bf16
 * operands that are not exact, 1e-5 for exact ones) plus, for a bf16 out, two roundings of 2^-9 (after the
 * bias, and at the end), scaled by the dropout's 1/(1 - p) where it applies. The gate adds nothing: it
 * scales got and want alike (plus an f32 rounding, 2^-24) and zeroes the same elements of both.
 */
function bound(c: Pick<Case, 'math' | 'out' | 'dropout'>): number {
  const exact = c.math === 'fp32';
  return ((exact ? 1e-5 : 1e-2) + (c.out === 'bf16' ? 2 * 2 ** -9 : 0)) * (c.dropout ? 1 / (1 - DROP.p) : 1);
}

describe.skipIf(noGpu)('CUDA matmul epilogue against the float64 CPU reference', () => {
  useContext();
  const oracle = useOracle();
  const scratch = useGemmScratch();

  for (const c of CASES) {
    it(label(c), async () => {
      const cpu = oracle();
      const { m, n, k } = c;
      const plan = gemmPlanFor(m, n, k, c.math, 132, c.kernels ?? 'tiled');
      expect(plan.reduction === 'none' ? 'tile' : plan.reduction, 'the path this case names (on 132 SMs)').toBe(c.path);
      const transA = c.transA ?? false;
      const options: MatmulOptions = transA ? { transA: true } : { transB: true };
      const { io, a, b } = randomOperands(m, n, k, { a: c.a, b: 'f32' }, [
        { name: 'out', shape: [m * n], dtype: c.out },
        { name: 'bias', shape: [n], dtype: 'f32' },
        { name: 'res', shape: [m * n], dtype: c.residual ?? 'f32' },
        { name: 'ids', shape: [m], dtype: 'i32' },
        { name: 'by', shape: [m * n], dtype: c.gate ?? 'f32' },
      ]);
      // The bias scaled like the product (by √k), so that ReLU cuts about half of the values.
      const bias = put(io.get('bias'), randomFloats(n).map((v) => v * Math.sqrt(k)));
      const res = c.residual !== null ? put(io.get('res'), randomFloats(m * n).map((v) => v * Math.sqrt(k))) : null;
      const ids = paddingIds(m);
      put(io.get('ids'), ids);
      // Half positive, every 7th element exactly 0 (kept nowhere: the gate is by > 0).
      const by = c.gate !== undefined ? put(io.get('by'), randomFloats(m * n).map((v, i) => (i % 7 === 0 ? 0 : v))) : null;
      const epilogueOn = (get: (name: string) => import('../../src/backend/ops.js').Tensor): MatmulEpilogue => ({
        relu: c.relu,
        ...(c.dropout ? { dropout: DROP } : {}),
        ...(c.gate !== undefined ? { gate: { by: get('by'), scale: GATE_SCALE } } : {}),
        ...(c.residual !== null ? { residual: get('res') } : {}),
        ...(c.padding ? { padding: get('ids') } : {}),
      });

      const stream = Stream.create();
      const runOnce = (): Float32Array => {
        matmul(stream, io.get('out'), io.get('a'), io.get('b'), m, n, k,
          { ...options, bias: io.get('bias'), epilogue: epilogueOn((name) => io.get(name)) }, c.math, scratch.gemm());
        stream.synchronize();
        return get(io.get('out'));
      };
      let runs: [Float32Array, Float32Array];
      try {
        runs = withGemmKernels(c.kernels ?? 'tiled', () => [runOnce(), runOnce()]);
      } finally {
        stream.destroy();
        io.free();
      }
      const [got, again] = runs;

      const ref = cpu.allocGroup('ref', [
        { name: 'a', shape: [m * k], dtype: 'f32' },
        { name: 'b', shape: [k * n], dtype: 'f32' },
        { name: 'out', shape: [m * n], dtype: 'f32' },
        { name: 'bias', shape: [n], dtype: 'f32' },
        { name: 'res', shape: [m * n], dtype: 'f32' },
        { name: 'ids', shape: [m], dtype: 'i32' },
        { name: 'by', shape: [m * n], dtype: 'f32' },
      ]);
      cpu.write(ref.get('a'), a);
      cpu.write(ref.get('b'), b);
      cpu.write(ref.get('bias'), bias);
      if (res !== null) cpu.write(ref.get('res'), res);
      if (by !== null) cpu.write(ref.get('by'), by);
      cpu.write(ref.get('ids'), ids);
      cpu.matmul(ref.get('out'), ref.get('a'), ref.get('b'), m, n, k, { ...options, bias: ref.get('bias'), epilogue: epilogueOn((name) => ref.get(name)) });
      const want = await cpu.readF32(ref.get('out'));
      cpu.freeGroup(ref);

      expect(got.every(Number.isFinite), 'out fully written').toBe(true);
      expect(Buffer.from(again.buffer).equals(Buffer.from(got.buffer)), 'the same bits twice').toBe(true);
      if (c.padding) {
        for (let r = 0; r < m; r++) if (ids[r] === 0) expect(got.subarray(r * n, (r + 1) * n).every((v) => v === 0), `padding row ${r}`).toBe(true);
      }
      // Without ReLU and residual, a zero is a dropped element: the masks must agree exactly.
      if (c.dropout && !c.relu && c.residual === null) {
        const mismatches = got.reduce((s, v, i) => s + ((v === 0) !== (want[i] === 0) ? 1 : 0), 0);
        expect(mismatches, 'dropped elements').toBe(0);
      }
      // Without a residual the gate's zeros are exact: 0 wherever by ≤ 0.
      if (by !== null && c.residual === null) {
        const open = got.reduce((s, v, i) => s + (by[i]! <= 0 && v !== 0 ? 1 : 0), 0);
        expect(open, 'gated elements not 0').toBe(0);
      }
      expect(relError(got, want)).toBeLessThanOrEqual(bound(c));
    });
  }
});

/** The layer norm's epsilon in these cases (the model's is 1e-8; a larger one keeps zero rows' rstd moderate). */
const LN_EPS = 1e-5;

interface NormCase {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** a stored [k × m] (no transB); else b stored [n × k]. @default false */
  readonly transA?: boolean;
  readonly a: DType;
  readonly out: DType;
  /** The layer norm's output dtype. */
  readonly ln: DType;
  readonly math: GemmMath;
  /** @default 'mixed' */
  readonly kernels?: GemmKernels;
  readonly relu: boolean;
  readonly dropout: boolean;
  readonly residual: DType | null;
  readonly padding: boolean;
  /** The norm's own ids (its padding rows 0), the epilogue's padding ids; else none (as the final norm). */
  readonly lnIds: boolean;
  /** Where the norm runs (checked against the plan): in the GEMM's tile, or by layer_norm_forward after it. */
  readonly path: 'tile' | 'launch';
}

// b is f32; a bias always. The model's case is out f32 (the residual stream), ln f32, d = 64 (ML-1M) or 256.
const NORM_CASES: NormCase[] = [
  // In the tile: the legacy 128 × 64 kernel, the pipelined and register-staged 64 × 64 ones, fp32's 64 × 64,
  // the 128 × 128 one with n = 100 (its lanes' last column group partly outside the row); the norm alone.
  { m: 1000, n: 64, k: 64, a: 'bf16', out: 'f32', ln: 'f32', math: 'bf16', kernels: 'legacy', relu: false, dropout: true, residual: 'f32', padding: true, lnIds: true, path: 'tile' },
  { m: 700, n: 64, k: 64, a: 'bf16', out: 'bf16', ln: 'bf16', math: 'bf16', kernels: 'legacy', relu: true, dropout: false, residual: 'bf16', padding: true, lnIds: true, path: 'tile' },
  { m: 300, n: 64, k: 64, a: 'bf16', out: 'f32', ln: 'bf16', math: 'bf16', relu: false, dropout: true, residual: 'f32', padding: true, lnIds: true, path: 'tile' },
  { m: 500, n: 45, k: 64, a: 'bf16', out: 'bf16', ln: 'f32', math: 'bf16', kernels: 'tiled', relu: true, dropout: true, residual: null, padding: true, lnIds: false, path: 'tile' },
  { m: 150, n: 33, k: 45, a: 'f32', out: 'f32', ln: 'f32', math: 'bf16', relu: false, dropout: false, residual: null, padding: false, lnIds: true, path: 'tile' },
  { m: 150, n: 64, k: 45, a: 'f32', out: 'f32', ln: 'f32', math: 'fp32', relu: false, dropout: true, residual: 'bf16', padding: true, lnIds: true, path: 'tile' },
  { m: 20000, n: 100, k: 64, a: 'bf16', out: 'f32', ln: 'f32', math: 'bf16', relu: false, dropout: true, residual: 'f32', padding: true, lnIds: true, path: 'tile' },
  // After the GEMM: d = 256 (wider than the tile), k split with the reduction in the GEMM and in its own
  // kernel, transA.
  { m: 1024, n: 256, k: 256, a: 'bf16', out: 'f32', ln: 'f32', math: 'bf16', relu: false, dropout: true, residual: 'f32', padding: true, lnIds: true, path: 'launch' },
  { m: 300, n: 64, k: 700, a: 'bf16', out: 'f32', ln: 'bf16', math: 'bf16', relu: true, dropout: true, residual: 'f32', padding: true, lnIds: true, path: 'launch' },
  { m: 77, n: 64, k: 3000, a: 'f32', out: 'bf16', ln: 'f32', math: 'bf16', relu: false, dropout: false, residual: 'f32', padding: true, lnIds: false, path: 'launch' },
  { m: 64, n: 64, k: 100, transA: true, a: 'f32', out: 'f32', ln: 'f32', math: 'bf16', relu: false, dropout: false, residual: 'f32', padding: true, lnIds: true, path: 'launch' },
];

function normLabel(c: NormCase): string {
  const parts = [c.relu && 'relu', c.dropout && 'dropout', c.residual !== null && `residual ${c.residual}`, c.padding && 'padding', c.lnIds && 'norm ids'].filter(Boolean);
  return `${c.math} ${c.kernels ?? 'mixed'} ${c.transA ? 'tn' : 'nt'} ${c.m}×${c.n}×${c.k} a ${c.a} out ${c.out} norm ${c.ln}: ${parts.join(', ') || 'norm only'} (${c.path})`;
}

/** The output tensors a norm case reads back. */
interface NormOutputs {
  readonly out: Float32Array;
  readonly ln: Float32Array;
  readonly mean: Float32Array;
  readonly rstd: Float32Array;
}

describe.skipIf(noGpu)('CUDA matmul epilogue layer norm against layer_norm_forward and the float64 CPU reference', () => {
  useContext();
  const oracle = useOracle();
  const scratch = useGemmScratch();

  for (const c of NORM_CASES) {
    it(normLabel(c), async () => {
      const cpu = oracle();
      const { m, n, k } = c;
      const transA = c.transA ?? false;
      const plan = gemmPlanFor(m, n, k, c.math, 132, c.kernels ?? 'mixed');
      // gemm-kernels.ts normInTile's rule.
      const inTile = plan.reduction === 'none' && plan.tileN >= n && !transA;
      expect(inTile ? 'tile' : 'launch', `the path this case names (on 132 SMs): ${JSON.stringify(plan)}`).toBe(c.path);
      const options: MatmulOptions = transA ? { transA: true } : { transB: true };
      const specs = (f: (d: DType) => DType) => [
        { name: 'a', shape: [m * k], dtype: f(c.a) },
        { name: 'b', shape: [k * n], dtype: 'f32' as DType },
        { name: 'out', shape: [m * n], dtype: f(c.out) },
        { name: 'bias', shape: [n], dtype: 'f32' as DType },
        { name: 'res', shape: [m * n], dtype: f(c.residual ?? 'f32') },
        { name: 'ids', shape: [m], dtype: 'i32' as DType },
        { name: 'ln', shape: [m * n], dtype: f(c.ln) },
        { name: 'mean', shape: [m], dtype: 'f32' as DType },
        { name: 'rstd', shape: [m], dtype: 'f32' as DType },
        { name: 'w', shape: [n], dtype: 'f32' as DType },
        { name: 'lb', shape: [n], dtype: 'f32' as DType },
        // layer_norm_forward over the GEMM's out, on the device: what the norm must equal bit for bit.
        { name: 'ln_sep', shape: [m * n], dtype: f(c.ln) },
        { name: 'mean_sep', shape: [m], dtype: 'f32' as DType },
        { name: 'rstd_sep', shape: [m], dtype: 'f32' as DType },
      ];
      const io = deviceGroup('io', specs((d) => d));
      const a = put(io.get('a'), randomFloats(m * k));
      const b = put(io.get('b'), randomFloats(k * n));
      const bias = put(io.get('bias'), randomFloats(n).map((v) => v * Math.sqrt(k)));
      const res = c.residual !== null ? put(io.get('res'), randomFloats(m * n).map((v) => v * Math.sqrt(k))) : null;
      const ids = paddingIds(m);
      put(io.get('ids'), ids);
      const w = put(io.get('w'), randomFloats(n).map((v) => 1 + v / 2));
      const lb = put(io.get('lb'), randomFloats(n));
      const epilogueOn = (t: (name: string) => Tensor): MatmulEpilogue => {
        const layerNorm: MatmulLayerNorm = {
          out: t('ln'), mean: t('mean'), rstd: t('rstd'), weight: t('w'), bias: t('lb'), eps: LN_EPS, ...(c.lnIds ? { ids: t('ids') } : {}),
        };
        return {
          relu: c.relu,
          ...(c.dropout ? { dropout: DROP } : {}),
          ...(c.residual !== null ? { residual: t('res') } : {}),
          ...(c.padding ? { padding: t('ids') } : {}),
          layerNorm,
        };
      };

      const stream = Stream.create();
      const read = (): NormOutputs => ({ out: get(io.get('out')), ln: get(io.get('ln')), mean: get(io.get('mean')), rstd: get(io.get('rstd')) });
      let runs: { got: NormOutputs; again: NormOutputs; separate: Omit<NormOutputs, 'out'> };
      try {
        runs = withGemmKernels(c.kernels ?? 'mixed', () => {
          const t = (name: string): Tensor => io.get(name);
          matmul(stream, t('out'), t('a'), t('b'), m, n, k, { ...options, bias: t('bias'), epilogue: epilogueOn(t) }, c.math, scratch.gemm());
          layerNormForward(stream, t('ln_sep'), t('mean_sep'), t('rstd_sep'), t('out'), t('w'), t('lb'), m, n, LN_EPS, c.lnIds ? t('ids') : undefined);
          stream.synchronize();
          const got = read();
          const separate = { ln: get(io.get('ln_sep')), mean: get(io.get('mean_sep')), rstd: get(io.get('rstd_sep')) };
          matmul(stream, t('out'), t('a'), t('b'), m, n, k, { ...options, bias: t('bias'), epilogue: epilogueOn(t) }, c.math, scratch.gemm());
          stream.synchronize();
          return { got, again: read(), separate };
        });
      } finally {
        stream.destroy();
        io.free();
      }
      const { got, again, separate } = runs;

      // The oracle twice: the whole op in float64, and the norm alone over the out the device wrote.
      const ref = cpu.allocGroup('ref', specs(() => 'f32'));
      const r = (name: string): Tensor => ref.get(name);
      for (const [name, data] of [['a', a], ['b', b], ['bias', bias], ['w', w], ['lb', lb]] as const) cpu.write(r(name), data);
      if (res !== null) cpu.write(r('res'), res);
      cpu.write(r('ids'), ids);
      cpu.matmul(r('out'), r('a'), r('b'), m, n, k, { ...options, bias: r('bias'), epilogue: epilogueOn(r) });
      const want: NormOutputs = { out: await cpu.readF32(r('out')), ln: await cpu.readF32(r('ln')), mean: await cpu.readF32(r('mean')), rstd: await cpu.readF32(r('rstd')) };
      cpu.write(r('out'), got.out);
      cpu.layerNormForward(r('ln_sep'), r('mean_sep'), r('rstd_sep'), r('out'), r('w'), r('lb'), m, n, LN_EPS, c.lnIds ? r('ids') : undefined);
      const ofGot = { ln: await cpu.readF32(r('ln_sep')), mean: await cpu.readF32(r('mean_sep')), rstd: await cpu.readF32(r('rstd_sep')) };
      cpu.freeGroup(ref);

      for (const [name, x] of Object.entries(got)) expect(x.every(Number.isFinite), `${name} fully written`).toBe(true);
      for (const name of ['out', 'ln', 'mean', 'rstd'] as const) expect(sameBits(again[name], got[name]), `${name}: the same bits twice`).toBe(true);
      // The norm's expressions and order are layer_norm_forward's, over the out as stored: the same bits.
      for (const name of ['ln', 'mean', 'rstd'] as const) expect(sameBits(got[name], separate[name]), `${name}: the bits of layer_norm_forward`).toBe(true);
      for (let row = 0; row < m; row++) {
        if (ids[row] !== 0) continue;
        if (c.padding) expect(got.out.subarray(row * n, (row + 1) * n).every((v) => v === 0), `out padding row ${row}`).toBe(true);
        if (c.lnIds) {
          expect(got.ln.subarray(row * n, (row + 1) * n).every((v) => v === 0), `norm padding row ${row}`).toBe(true);
          expect([got.mean[row], got.rstd[row]], `statistics of padding row ${row}`).toEqual([0, 0]);
        } else if (c.padding) {
          // A zero row's norm is its bias exactly: 0 · rstd · w + b (rounded to the norm's dtype).
          expect(Array.from(got.ln.subarray(row * n, (row + 1) * n)), `norm of zero row ${row}`).toEqual(Array.from(representable({ dtype: c.ln }, lb)));
        }
      }
      // out: the epilogue's bound (bound() above, the same terms).
      const outBound = bound(c);
      expect(relError(got.out, want.out), 'out').toBeLessThanOrEqual(outBound);
      // The norm over the device's out against the oracle's norm of that out: layernorm.test.ts's bounds
      // (fp32 statistics of exact operands 1e-5; out 1e-5, a bf16 one one more rounding: 4e-3).
      expect(relError(got.mean, ofGot.mean), 'mean (of out as written)').toBeLessThanOrEqual(1e-5);
      expect(relError(got.rstd, ofGot.rstd), 'rstd (of out as written)').toBeLessThanOrEqual(1e-5);
      expect(relError(got.ln, ofGot.ln), 'norm (of out as written)').toBeLessThanOrEqual(c.ln === 'bf16' ? 4e-3 : 1e-5);
      // End to end against the float64 op: out's error carried through the norm (x̂ = (x − mean) · rstd
      // scales an error of out by ‖x‖ / σ of its rows, about 1 here: bias and residual add a mean per row
      // far below their spread), bounded by twice out's bound, plus one bf16 rounding of a bf16 norm.
      expect(relError(got.ln, want.ln), 'norm (end to end)').toBeLessThanOrEqual(2 * outBound + (c.ln === 'bf16' ? 4e-3 : 0));
      expect(relError(got.rstd, want.rstd), 'rstd (end to end)').toBeLessThanOrEqual(2 * outBound);
    });
  }
});
