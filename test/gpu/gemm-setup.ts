/**
 * Shared by the GEMM tests (gemm, gemm-epilogue, gemm-wg, gemm-wg-step): matmul's scratch for a describe
 * block, a product's random operands on the device, launches under a chosen kernel set, and the epilogue
 * tests' padding ids and bit comparison.
 */
import { afterAll, beforeAll } from 'vitest';
import type { CudaTensor, CudaTensorGroup } from '../../src/backend/cuda/cuda-tensor.js';
import { clearGemmCounters, GEMM_SCRATCH_FLOATS, gemmKernels, setGemmKernels, type GemmKernels } from '../../src/backend/cuda/gemm-kernels.js';
import type { DType, TensorSpec } from '../../src/backend/memory-plan.js';
import { deviceGroup, put } from './device-tensors.js';
import { randomFloats } from './gpu.js';

/** The scratches useGemmScratch makes: getters. */
export interface GemmScratch {
  /** matmul's: GEMM_SCRATCH_FLOATS f32, the split-K partials, then the tile counters (at 0). */
  readonly gemm: () => CudaTensor;
  /** wgGemm's split-K partials (f32 of `wgFloats`); throws where none was asked for. */
  readonly wg: () => CudaTensor;
}

/**
 * For the enclosing describe block (after useContext): matmul's scratch, and with `wgFloats` wgGemm's, made
 * in beforeAll (poisoned, partials and counters alike; then the counters at 0, as the backend's start:
 * clearGemmCounters) and freed in afterAll.
 */
export function useGemmScratch(wgFloats?: number): GemmScratch {
  let group: CudaTensorGroup | undefined;
  beforeAll(() => {
    group = deviceGroup('scratch', [
      ...(wgFloats !== undefined ? [{ name: 'wg', shape: [wgFloats], dtype: 'f32' as DType }] : []),
      { name: 'gemm', shape: [GEMM_SCRATCH_FLOATS], dtype: 'f32' },
    ]);
    clearGemmCounters(group.get('gemm'));
  });
  afterAll(() => {
    group?.free();
  });
  const view = (name: string): CudaTensor => {
    if (group === undefined) throw new Error('the scratch is allocated in beforeAll');
    return group.get(name);
  };
  return { gemm: () => view('gemm'), wg: () => view('wg') };
}

/** What randomOperands makes: the device group and the operands' values as the device holds them. */
export interface RandomOperands {
  readonly io: CudaTensorGroup;
  readonly a: Float32Array;
  readonly b: Float32Array;
}

/**
 * A product's device tensors: a [m·k] and b [k·n] (at least one element each, so that k = 0 allocates
 * nothing empty) holding fresh random values at their dtypes, then `more`, poisoned (deviceGroup).
 */
export function randomOperands(m: number, n: number, k: number, dtypes: { readonly a: DType; readonly b: DType }, more: readonly TensorSpec[]): RandomOperands {
  const [sizeA, sizeB] = [Math.max(1, m * k), Math.max(1, k * n)];
  const io = deviceGroup('io', [{ name: 'a', shape: [sizeA], dtype: dtypes.a }, { name: 'b', shape: [sizeB], dtype: dtypes.b }, ...more]);
  const a = put(io.get('a'), randomFloats(sizeA));
  const b = put(io.get('b'), randomFloats(sizeB));
  return { io, a, b };
}

/** Runs `run` under the bf16 GEMM kernel set `kernels` (setGemmKernels) and restores the set before, thrown or not. */
export function withGemmKernels<T>(kernels: GemmKernels, run: () => T): T {
  const before = gemmKernels();
  setGemmKernels(kernels);
  try {
    return run();
  } finally {
    setGemmKernels(before);
  }
}

/** Padding ids of out's rows: 0 on rows 3..9 and every 17th, else 1. */
export function paddingIds(m: number): Int32Array {
  return Int32Array.from({ length: m }, (_, r) => ((r >= 3 && r < 10) || r % 17 === 0 ? 0 : 1));
}

/** Whether two float arrays hold the same bits. */
export function sameBits(x: Float32Array, y: Float32Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}
