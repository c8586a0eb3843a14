/**
 * Launchers of kernels/basic.cu (fill, axpy, sum): the proof that a kernel goes from .cu through
 * committed PTX and a typed launch to the right numbers. Same names and argument order as the CPU
 * references in basic-reference.ts: outputs, inputs, dimensions. All run on the open context.
 */
import { currentContext } from './context.js';
import type { KernelFunction } from './kernel-function.js';
import type { KernelSignature, PointerArg } from './kernel-signature.js';
import type { Stream } from './stream.js';

/** Threads a block for every basic kernel (sum_*_f32 are compiled for exactly this). */
const THREADS = 256;
/** Blocks of the first sum pass, at most: also the length of its partials. */
export const SUM_MAX_BLOCKS = 1024;
/** Scratch bytes `sumF32` needs for its partial sums. */
export const SUM_SCRATCH_BYTES = SUM_MAX_BLOCKS * 4;
/** Grid-stride kernels get at most this many blocks per multiprocessor. */
const BLOCKS_PER_SM = 8;

const SIGNATURES = {
  fill_f32: ['out:ptr', 'value:f32', 'n:u64'],
  axpy_f32: ['y:ptr', 'x:ptr', 'a:f32', 'n:u64'],
  sum_partials_f32: ['partials:ptr', 'x:ptr', 'n:u64'],
  sum_final_f32: ['out:ptr', 'partials:ptr', 'count:u32'],
} as const satisfies Record<string, KernelSignature>;

type Name = keyof typeof SIGNATURES;

function kernel<N extends Name>(name: N): KernelFunction<(typeof SIGNATURES)[N]> {
  return currentContext().modules.load('basic').getFunction(name, SIGNATURES[name]);
}

function gridFor(n: number): number {
  const cap = currentContext().device.multiprocessorCount * BLOCKS_PER_SM;
  return Math.max(1, Math.min(Math.ceil(n / THREADS), cap));
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`Expected an element count >= 0, got ${n}`);
}

/**
 * out[0..n) = value.
 * @param stream @default null (legacy default stream)
 */
export function fillF32(out: PointerArg, value: number, n: number, stream: Stream | null = null): void {
  checkCount(n);
  if (n === 0) return;
  kernel('fill_f32').launch({ grid: gridFor(n), block: THREADS, stream }, out, value, n);
}

/**
 * y[i] = fma(a, x[i], y[i]) for i < n.
 * @param stream @default null (legacy default stream)
 */
export function axpyF32(y: PointerArg, x: PointerArg, a: number, n: number, stream: Stream | null = null): void {
  checkCount(n);
  if (n === 0) return;
  kernel('axpy_f32').launch({ grid: gridFor(n), block: THREADS, stream }, y, x, a, n);
}

/**
 * out[0] = x[0] + … + x[n-1], in float32, deterministically for a given n and device;
 * `scratch` holds SUM_SCRATCH_BYTES of partial sums.
 * @param stream @default null (legacy default stream)
 */
export function sumF32(out: PointerArg, x: PointerArg, n: number, scratch: PointerArg, stream: Stream | null = null): void {
  checkCount(n);
  const blocks = Math.max(1, Math.min(Math.ceil(n / THREADS), SUM_MAX_BLOCKS));
  kernel('sum_partials_f32').launch({ grid: blocks, block: THREADS, stream }, scratch, x, n);
  kernel('sum_final_f32').launch({ grid: 1, block: THREADS, stream }, out, scratch, blocks);
}
