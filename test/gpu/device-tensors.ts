/**
 * Shared by the GPU op tests: host values in and out of device tensors at the tensor's own dtype (bf16
 * rounded to nearest even, as the kernels round), NaN poisoning of outputs, the float64 CPU oracle, and
 * the relative error every test bounds.
 */
import { afterAll, beforeAll } from 'vitest';
import { fromBf16Bits, toBf16Bits } from '../../src/backend/bf16.js';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { clearReduceCounters, REDUCE_COUNTERS } from '../../src/backend/cuda/elementwise-kernels.js';
import { allocCudaGroup, type CudaTensor, type CudaTensorGroup } from '../../src/backend/cuda/cuda-tensor.js';
import type { TensorSpec } from '../../src/backend/memory-plan.js';
import type { Tensor } from '../../src/backend/ops.js';
import { currentContext } from '../../src/cuda/context.js';
import { download, fillBytes, fillWords, upload } from '../../src/cuda/memory.js';
import { Stream } from '../../src/cuda/stream.js';
import { POISON_WORD } from './gpu.js';

/** Rounds float32 values to bf16 (nearest even): the bits for the device, the exact values for a reference. */
export function toBf16(x: ArrayLike<number>): { bits: Uint16Array; values: Float32Array } {
  const bits = toBf16Bits(Float32Array.from(x));
  return { bits, values: fromBf16Bits(bits) };
}

/** bf16 bits → float32 values. */
export const fromBf16 = fromBf16Bits;

/** Values as the tensor will hold them: rounded to bf16 for a bf16 tensor, to float32 otherwise. */
export function representable(t: Pick<Tensor, 'dtype'>, x: ArrayLike<number>): Float32Array {
  return t.dtype === 'bf16' ? toBf16(x).values : Float32Array.from(x);
}

/** Writes host values into a device tensor at its dtype (i32 tensors take integers); returns what it holds. */
export function put(t: CudaTensor, x: ArrayLike<number>): Float32Array {
  if (t.dtype === 'i32') {
    upload(t, Int32Array.from(x));
    return Float32Array.from(x);
  }
  if (t.dtype === 'bf16') {
    const { bits, values } = toBf16(x);
    upload(t, bits);
    return values;
  }
  const f = Float32Array.from(x);
  upload(t, f);
  return f;
}

/** Reads a device tensor's first n elements (all by default) as float32 (i32 as its integers); synchronizes the context first. */
export function get(t: CudaTensor, n = t.size): Float32Array {
  currentContext().synchronize();
  if (t.dtype === 'bf16') {
    const bits = new Uint16Array(n);
    download(bits, t);
    return fromBf16(bits);
  }
  if (t.dtype === 'i32') {
    const ints = new Int32Array(n);
    download(ints, t);
    return Float32Array.from(ints);
  }
  const f = new Float32Array(n);
  download(f, t);
  return f;
}

/** Fills a tensor with NaN (f32: a quiet NaN word; bf16: 0xffff) or, for i32, with -1 bytes. */
export function poison(t: CudaTensor): void {
  if (t.dtype === 'f32') fillWords(t, POISON_WORD);
  else fillBytes(t, 0xff);
}

/** Allocates a device group on the open context; every view poisoned. */
export function deviceGroup(name: string, specs: readonly TensorSpec[]): CudaTensorGroup {
  const g = allocCudaGroup(currentContext().allocator, name, specs);
  for (const v of g.plan.views) poison(g.get(v.spec.name));
  return g;
}

/** A float64 CPU backend: the oracle every CUDA op is compared with. Close it after use. */
export function cpuOracle(): Promise<CpuOps> {
  return CpuOps.create({ threads: 1, precision: 'f64' });
}

/** For the enclosing describe block: the float64 CPU oracle, started in beforeAll and closed in afterAll; a getter. */
export function useOracle(): () => CpuOps {
  let cpu: CpuOps | undefined;
  beforeAll(async () => {
    cpu = await cpuOracle();
  });
  afterAll(() => {
    cpu?.close();
  });
  return () => {
    if (cpu === undefined) throw new Error('the oracle starts in beforeAll');
    return cpu;
  };
}

/** ‖got − want‖ / ‖want‖ (‖want‖ = 0: the plain norm of got); NaN in got gives Infinity. */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    if (Number.isNaN(g)) return Infinity;
    num += (g - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Runs the launches on a fresh blocking stream (ordered after the legacy-stream uploads) and waits. */
export function onStream(launch: (stream: Stream) => void): void {
  const stream = Stream.create();
  launch(stream);
  stream.synchronize();
  stream.destroy();
}

/**
 * For the enclosing describe block: the float64 CPU oracle, a poisoned f32 device scratch of `floats`
 * (the backend's, for launchers that take one) and the column reductions' counters (REDUCE_COUNTERS,
 * zeroed: clearReduceCounters), made in beforeAll and released in afterAll; getters.
 */
export function useOracleAndScratch(floats: number): { oracle: () => CpuOps; scratch: () => CudaTensor; counters: () => CudaTensor } {
  let cpu: CpuOps | undefined;
  let group: CudaTensorGroup | undefined;
  beforeAll(async () => {
    cpu = await cpuOracle();
    group = deviceGroup('scratch', [
      { name: 'partials', shape: [floats], dtype: 'f32' },
      { name: 'counters', shape: [REDUCE_COUNTERS], dtype: 'i32' },
    ]);
    clearReduceCounters(group.get('counters'));
  });
  afterAll(() => {
    group?.free();
    cpu?.close();
  });
  const scratchGroup = (): CudaTensorGroup => {
    if (group === undefined) throw new Error('the scratch is allocated in beforeAll');
    return group;
  };
  return {
    oracle: () => {
      if (cpu === undefined) throw new Error('the oracle starts in beforeAll');
      return cpu;
    },
    scratch: () => scratchGroup().get('partials'),
    counters: () => scratchGroup().get('counters'),
  };
}

/**
 * The f32 sum of column `column`'s per-chunk partials partial[k · stride + column], k < chunks, in the
 * order of kernels/column_sums.cuh (whichever kernel sums them): phase p < 32 adds chunks p, p + 32, …
 * in order from 0, then phase p < half adds phase p + half for half = 16, 8, 4, 2, 1. Each addition
 * rounded to f32, as the device's.
 */
export function columnSumInOrder(partial: Float32Array, chunks: number, stride: number, column: number): number {
  const phases = new Float32Array(32);
  for (let p = 0; p < 32; p++) {
    for (let k = p; k < chunks; k += 32) phases[p] = phases[p]! + partial[k * stride + column]!;
  }
  for (let half = 16; half > 0; half >>= 1) {
    for (let p = 0; p < half; p++) phases[p] = phases[p]! + phases[p + half]!;
  }
  return phases[0]!;
}
