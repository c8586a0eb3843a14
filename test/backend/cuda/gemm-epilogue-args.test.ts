/**
 * The GEMM epilogue's kernel arguments (src/backend/cuda/gemm-epilogue-args.ts), which both GEMM families
 * pass after the bias, and wgGemm's rules for where an epilogue runs (gemm-wg-kernels.ts wgNormInTile,
 * wgGemmIneligibility): no GPU, device tensors carved from fake device memory (never dereferenced).
 */
import { describe, expect, it } from 'vitest';
import { allocCudaGroup } from '../../../src/backend/cuda/cuda-tensor.js';
import {
  EPILOGUE_SIGNATURE, epilogueArgs, NO_EPILOGUE, NO_NORM, NORM_SIGNATURE, normArgs,
} from '../../../src/backend/cuda/gemm-epilogue-args.js';
import { wgGemmIneligibility, wgGemmPlanFor, wgNormInTile } from '../../../src/backend/cuda/gemm-wg-kernels.js';
import { NULL_PTR } from '../../../src/backend/cuda/launch.js';
import type { MatmulLayerNorm } from '../../../src/backend/ops.js';
import { dropoutThreshold } from '../../../src/backend/philox.js';
import { DeviceAllocator } from '../../../src/cuda/allocator.js';
import { fakeDeviceMemory } from '../../helpers/fake-device-memory.js';

const [m, n] = [37, 24];

function tensors() {
  return allocCudaGroup(new DeviceAllocator(fakeDeviceMemory()), 'io', [
    { name: 'gate', shape: [m * n], dtype: 'bf16' },
    { name: 'res', shape: [m * n], dtype: 'f32' },
    { name: 'ids', shape: [m], dtype: 'i32' },
    { name: 'counters', shape: [2], dtype: 'i32' },
    { name: 'short', shape: [m * n - 1], dtype: 'f32' },
    { name: 'ln', shape: [m * n], dtype: 'bf16' },
    { name: 'mean', shape: [m], dtype: 'f32' },
    { name: 'rstd', shape: [m], dtype: 'f32' },
    { name: 'w', shape: [n], dtype: 'f32' },
    { name: 'b', shape: [n], dtype: 'f32' },
  ]);
}

describe('GEMM epilogue arguments', () => {
  it('have one value per parameter of EPILOGUE_PARAMS and NORM_PARAMS', () => {
    expect(NO_EPILOGUE).toHaveLength(EPILOGUE_SIGNATURE.length);
    expect(NO_NORM).toHaveLength(NORM_SIGNATURE.length);
    expect(epilogueArgs(undefined, m, n, 'wgGemm')).toBe(NO_EPILOGUE);
  });

  it('carry every field in EPILOGUE_PARAMS order, the Philox key words as uint32 bits', () => {
    const g = tensors();
    const p = 0.1;
    const args = epilogueArgs({
      relu: true,
      dropout: { p, key: { seed: -1, step: 2 ** 32 + 5, site: 3, counters: g.get('counters') } },
      gate: { by: g.get('gate'), scale: 1.25 },
      residual: g.get('res'),
      padding: g.get('ids'),
    }, m, n, 'wgGemm');
    expect(args).toEqual([
      1, dropoutThreshold(p), 1 / (1 - p), 0xffff_ffff, 5, 3, g.get('counters'), g.get('gate'), 1, 1.25, g.get('res'), 0, g.get('ids'),
    ]);
    const named = Object.fromEntries(EPILOGUE_SIGNATURE.map((s, i) => [s.split(':')[0], args[i]]));
    expect(named).toMatchObject({ relu: 1, drop_seed: 0xffff_ffff, gate_bf16: 1, residual_bf16: 0, out_ids: g.get('ids') });
    g.free();
  });

  it('ask for nothing where a field is absent or p = 0', () => {
    const g = tensors();
    expect(epilogueArgs({ dropout: { p: 0, key: { seed: 1, step: 2, site: 3 } } }, m, n, 'matmul')).toEqual(NO_EPILOGUE);
    expect(epilogueArgs({ padding: g.get('ids') }, m, n, 'matmul')).toEqual([...NO_EPILOGUE.slice(0, 12), g.get('ids')]);
    g.free();
  });

  it('check the tensors, naming the launcher', () => {
    const g = tensors();
    expect(() => epilogueArgs({ residual: g.get('short') }, m, n, 'wgGemm')).toThrow(/wgGemm\.epilogue\.residual: expected at least 888 elements/);
    expect(() => epilogueArgs({ gate: { by: g.get('ids'), scale: 1 } }, m, n, 'matmul')).toThrow(/matmul\.epilogue\.gate\.by: expected f32 or bf16/);
    expect(() => epilogueArgs({ padding: g.get('res') }, m, n, 'wgGemm')).toThrow(/wgGemm\.epilogue\.padding: expected i32/);
    g.free();
  });

  it("carry the layer norm in NORM_PARAMS order (layer_norm_forward's), ids optional", () => {
    const g = tensors();
    const ln: MatmulLayerNorm = { out: g.get('ln'), mean: g.get('mean'), rstd: g.get('rstd'), weight: g.get('w'), bias: g.get('b'), eps: 1e-8 };
    expect(normArgs(ln, m, n, 'wgGemm')).toEqual([g.get('ln'), 1, g.get('mean'), g.get('rstd'), g.get('w'), g.get('b'), 1e-8, NULL_PTR]);
    expect(normArgs({ ...ln, ids: g.get('ids') }, m, n, 'wgGemm')[7]).toBe(g.get('ids'));
    expect(() => normArgs({ ...ln, mean: g.get('ids') }, m, n, 'wgGemm')).toThrow(/wgGemm\.epilogue\.layerNorm\.mean: expected f32/);
    expect(() => normArgs(ln, m, n + 1, 'wgGemm')).toThrow(/wgGemm\.epilogue\.layerNorm\.out: expected at least/);
    g.free();
  });
});

describe("wgGemm's epilogue rules", () => {
  const bf16 = { out: 'f32', a: 'bf16', b: 'bf16' } as const;

  it('takes every epilogue of 16-byte rows on every layout', () => {
    const g = tensors();
    const epilogue = { relu: true, residual: g.get('res'), padding: g.get('ids') };
    expect(wgGemmIneligibility(27_648, 256, 256, { transB: true, bias: g.get('w'), epilogue }, bf16, true)).toBeUndefined();
    expect(wgGemmIneligibility(27_648, 256, 256, { epilogue: { gate: { by: g.get('gate'), scale: 2 } } }, bf16, true)).toBeUndefined();
    expect(wgGemmIneligibility(256, 256, 1000, { transA: true, epilogue }, bf16, true)).toBeUndefined();
    expect(wgGemmIneligibility(1000, 250, 256, { epilogue }, bf16, true)).toMatch(/n = 250/);
    g.free();
  });

  it("norms in the tile exactly where gemm-kernels.ts normInTile would: unsplit, n ≤ BN, not tn", () => {
    const plan = (mm: number, nn: number, k: number, layout: 'nt' | 'nn' | 'tn', tileN?: 128 | 256) =>
      wgGemmPlanFor(mm, nn, k, layout, { a: 'bf16', b: 'f32' }, 132, 1 << 22, tileN);
    // The model's forward at d = 256: an f32 weight takes the 256 tile by default, so the norm is in it.
    expect(wgNormInTile(plan(27_648, 256, 256, 'nt'), 256, 'nt')).toBe(true);
    expect(wgNormInTile(plan(27_648, 256, 256, 'nt', 128), 256, 'nt')).toBe(false);
    expect(wgNormInTile(plan(27_648, 64, 64, 'nt', 128), 64, 'nt')).toBe(true);
    expect(wgNormInTile(plan(1000, 200, 256, 'nn', 256), 200, 'nn')).toBe(true);
    expect(wgNormInTile(plan(1000, 257, 256, 'nn', 256), 257, 'nn')).toBe(false);
    // tn has no norm in its kernels; a split product has none in its tiles.
    expect(wgNormInTile(plan(200, 64, 300, 'tn'), 64, 'tn')).toBe(false);
    const split = plan(256, 256, 27_648, 'tn');
    expect(split.splits).toBeGreaterThan(1);
    expect(wgNormInTile({ ...split, tileN: 256 }, 256, 'nt')).toBe(false);
  });
});
