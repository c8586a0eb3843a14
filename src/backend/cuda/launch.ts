/**
 * What every launcher of backend/cuda shares: the kernel of a family on the current context (its
 * dynamic shared memory limit raised once where it needs more than 48 KiB), grid sizes, the null
 * pointer, and the dtype flag kernels take for operands that may be f32 or bf16. Every launcher takes
 * the backend's stream as its first argument: no work goes to the legacy default stream.
 */
import { currentContext } from '../../cuda/context.js';
import type { KernelFunction } from '../../cuda/kernel-function.js';
import type { KernelSignature, PointerArg } from '../../cuda/kernel-signature.js';
import type { DropoutSpec } from '../ops.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';

/** A null device pointer, for an optional output or input the kernel must not touch. */
export const NULL_PTR: PointerArg = 0n;

/** Dynamic shared memory a kernel may use without opting in. */
const DEFAULT_SHARED_LIMIT = 48 * 1024;

/** Kernels whose dynamic shared memory limit was raised (per loaded function, so per context). */
const raised = new WeakMap<object, number>();

/**
 * The kernel `name` of the PTX family `family` ("elementwise", "gemm", …) on the current context,
 * checked against `signature`; with `sharedBytes` above 48 KiB its dynamic limit is raised first.
 */
export function kernelOf<S extends KernelSignature>(family: string, name: string, signature: S, sharedBytes = 0): KernelFunction<S> {
  const fn = currentContext().modules.load(family).getFunction(name, signature);
  if (sharedBytes > DEFAULT_SHARED_LIMIT && (raised.get(fn) ?? 0) < sharedBytes) {
    fn.setMaxDynamicSharedBytes(sharedBytes);
    raised.set(fn, sharedBytes);
  }
  return fn;
}

/** Multiprocessors of the current context's device. */
export function multiprocessors(): number {
  return currentContext().device.multiprocessorCount;
}

/** Blocks of `threads` for a grid-stride loop over n items: enough to cover n, at most 8 per multiprocessor. */
export function strideGrid(n: number, threads = 256): number {
  return Math.max(1, Math.min(Math.ceil(n / threads), 8 * multiprocessors()));
}

/** The dtype flag of a floating operand, as kernels that take f32 or bf16 read it: 1 for bf16, 0 for f32. */
export function bf16Flag(t: CudaTensor): number {
  if (t.dtype === 'i32') throw new TypeError(`tensor "${t.name}" is i32 where a floating operand (f32 or bf16) is expected`);
  return t.dtype === 'bf16' ? 1 : 0;
}

/** Throws unless n is a whole count ≥ 0 that int32 kernel indices can hold. */
export function checkCount(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** 31) throw new RangeError(`${what}: expected a count in [0, 2^31), got ${n}`);
}

/** The step counters a dropout's kernels read (a replayed step: RngKey.counters), or a null pointer. */
export function stepCounters(drop: DropoutSpec): PointerArg {
  return drop.key.counters === undefined ? NULL_PTR : deviceTensor(drop.key.counters, 'dropout.key.counters', ['i32'], 2);
}
