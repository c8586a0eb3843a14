/**
 * gemm-kernels.ts matmul under the 'wgmma' kernel set sends the model's epilogue products to wgGemm
 * (gemm-wg-kernels.ts) with their options untouched, and under 'auto' the large products with two bf16
 * operands (the narrow copies): no GPU, the wgmma launcher replaced by a spy and told that the sm_90a
 * module is loaded, device tensors carved from fake device memory (never dereferenced).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { allocCudaGroup } from '../../../src/backend/cuda/cuda-tensor.js';
import { gemmKernels, matmul, setGemmKernels, wgmmaPays, GEMM_SCRATCH_FLOATS } from '../../../src/backend/cuda/gemm-kernels.js';
import { wgGemm } from '../../../src/backend/cuda/gemm-wg-kernels.js';
import type { MatmulOptions } from '../../../src/backend/ops.js';
import { DeviceAllocator } from '../../../src/cuda/allocator.js';
import { fakeDeviceMemory } from '../../helpers/fake-device-memory.js';
import type { Stream } from '../../../src/cuda/stream.js';

vi.mock('../../../src/backend/cuda/gemm-wg-kernels.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../src/backend/cuda/gemm-wg-kernels.js')>();
  return {
    ...actual,
    // The sm_90a module as if loaded (wgmmaAvailable needs a context); the rest of the rule as it is.
    wgGemmEligible: (...args: Parameters<typeof actual.wgGemmEligible>) => actual.wgGemmEligible(args[0], args[1], args[2], args[3], args[4], true),
    wgGemm: vi.fn(),
  };
});

const [N, d] = [1000, 256];
const stream = {} as Stream;

function model() {
  return allocCudaGroup(new DeviceAllocator(fakeDeviceMemory()), 'io', [
    { name: 'att', shape: [N, d], dtype: 'bf16' },
    { name: 'ffn_drop', shape: [N, d], dtype: 'bf16' },
    { name: 'W', shape: [d, d], dtype: 'f32' },
    { name: 'bias', shape: [d], dtype: 'f32' },
    { name: 'x2', shape: [N, d], dtype: 'f32' },
    { name: 'ln1', shape: [N, d], dtype: 'f32' },
    { name: 'ln2', shape: [N, d], dtype: 'f32' },
    { name: 'g1', shape: [N, d], dtype: 'f32' },
    { name: 'g2', shape: [N, d], dtype: 'f32' },
    { name: 'mean', shape: [N], dtype: 'f32' },
    { name: 'rstd', shape: [N], dtype: 'f32' },
    { name: 'ids', shape: [N], dtype: 'i32' },
    { name: 'scratch', shape: [GEMM_SCRATCH_FLOATS], dtype: 'f32' },
  ]);
}

describe("matmul under 'wgmma'", () => {
  const before = gemmKernels();
  afterEach(() => {
    setGemmKernels(before);
    vi.mocked(wgGemm).mockClear();
  });

  it("sends the block's epilogue products (attn_out, ffn1, ffn2, ffn2's input gradient) to wgGemm with their options", () => {
    const g = model();
    const t = (name: string) => g.get(name);
    const ln = { out: t('ln2'), mean: t('mean'), rstd: t('rstd'), weight: t('bias'), bias: t('bias'), eps: 1e-8, ids: t('ids') };
    const drop = { p: 0.1, key: { seed: 1, step: 2, site: 3 } };
    const products: [string, string, string, MatmulOptions][] = [
      ['x2', 'att', 'W', { transB: true, bias: t('bias'), rowIds: t('ids'), epilogue: { residual: t('ln1'), padding: t('ids'), layerNorm: ln } }],
      ['ffn_drop', 'ln2', 'W', { transB: true, bias: t('bias'), epilogue: { relu: true, dropout: drop, padding: t('ids') } }],
      ['ln1', 'ffn_drop', 'W', { transB: true, bias: t('bias'), epilogue: { dropout: drop, residual: t('ln2'), padding: t('ids'), layerNorm: { ...ln, out: t('x2') } } }],
      ['g2', 'g1', 'W', { epilogue: { gate: { by: t('ffn_drop'), scale: 1 / 0.9 } } }],
    ];
    setGemmKernels('wgmma');
    for (const [out, a, b, options] of products) matmul(stream, t(out), t(a), t(b), N, d, d, options, 'bf16', t('scratch'));
    const calls = vi.mocked(wgGemm).mock.calls;
    expect(calls).toHaveLength(products.length);
    products.forEach(([out, a, b, options], i) => {
      expect(calls[i]!.slice(0, 9)).toEqual([stream, t(out), t(a), t(b), N, d, d, options, t('scratch')]);
      // The partials stay clear of the tile counters at the scratch's tail.
      expect(calls[i]![9]).toEqual({ partialFloats: GEMM_SCRATCH_FLOATS - 1024 });
    });
    g.free();
  });

  it('checks the epilogue before it routes: one that accumulates, or reads out as its residual or gate, throws as on gemm.cu', () => {
    const g = model();
    const t = (name: string) => g.get(name);
    setGemmKernels('wgmma');
    expect(() => matmul(stream, t('x2'), t('att'), t('W'), N, d, d, { transB: true, accumulate: true, epilogue: { relu: true } }, 'bf16', t('scratch')))
      .toThrow(/cannot accumulate/);
    // The tile may read the residual or the gate after storing its product: neither may be out.
    expect(() => matmul(stream, t('x2'), t('att'), t('W'), N, d, d, { transB: true, epilogue: { residual: t('x2') } }, 'bf16', t('scratch')))
      .toThrow(/`epilogue.residual` must not be out itself/);
    expect(() => matmul(stream, t('g2'), t('g1'), t('W'), N, d, d, { epilogue: { gate: { by: t('g2'), scale: 1 } } }, 'bf16', t('scratch')))
      .toThrow(/`epilogue.gate.by` must not be out itself/);
    expect(vi.mocked(wgGemm)).not.toHaveBeenCalled();
    g.free();
  });

  it("under 'auto' sends a forward product to wgGemm where both operands are bf16 and it is large (narrow copies), not otherwise", () => {
    // ML-20M's packed rows at d = 256: 1.8 G multiply-adds; batch 32's and d = 64's stay on gemm.cu.
    expect(wgmmaPays(27_648, 256, 256, false, true)).toBe(true);
    expect(wgmmaPays(27_648, 256, 256, false, false)).toBe(false);
    expect(wgmmaPays(1024, 256, 256, false, true)).toBe(false);
    expect(wgmmaPays(262_144, 64, 64, false, true)).toBe(false);
    const rows = 27_648;
    const g = allocCudaGroup(new DeviceAllocator(fakeDeviceMemory()), 'narrow', [
      { name: 'x_narrow', shape: [rows, d], dtype: 'bf16' }, { name: 'x', shape: [rows, d], dtype: 'f32' },
      { name: 'W_narrow', shape: [d, d], dtype: 'bf16' }, { name: 'bias', shape: [d], dtype: 'f32' },
      { name: 'k', shape: [rows, d], dtype: 'bf16' }, { name: 'scratch', shape: [GEMM_SCRATCH_FLOATS], dtype: 'f32' },
    ]);
    const t = (name: string) => g.get(name);
    setGemmKernels('auto');
    matmul(stream, t('k'), t('x_narrow'), t('W_narrow'), rows, d, d, { transB: true, bias: t('bias') }, 'bf16', t('scratch'));
    expect(vi.mocked(wgGemm)).toHaveBeenCalledTimes(1);
    // An f32 operand goes to gemm.cu, whose launch needs a GPU: here it only shows that wgGemm was not called.
    expect(() => matmul(stream, t('k'), t('x'), t('W_narrow'), rows, d, d, { transB: true, bias: t('bias') }, 'bf16', t('scratch'))).toThrow();
    expect(vi.mocked(wgGemm)).toHaveBeenCalledTimes(1);
    g.free();
  });
});
