import { afterAll, beforeAll } from 'vitest';
import { readdirSync } from 'node:fs';
import { CudaContext, currentContext } from '../../src/cuda/context.js';
import { kernelsDirectory } from '../../src/cuda/kernel-modules.js';
import { probeCuda } from '../../src/cuda/probe.js';

/** Whether this machine can run the GPU tests; where not, each file says so instead of vanishing. */
export const probe = probeCuda();

/** True where the GPU tests must skip. */
export const noGpu = !probe.available;

/** Prints why a GPU test file skips (vitest lists the tests as skipped; this says why). */
export function announceSkip(file: string): void {
  if (!probe.available) console.log(`[skip] ${file}: no usable CUDA driver here: ${probe.reason}`);
}

/** Fresh uniform random floats in [-1, 1). */
export function randomFloats(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.random() * 2 - 1;
  return out;
}

/** A quiet NaN's bit pattern: outputs are filled with it before a kernel runs. */
export const POISON_WORD = 0x7fc0_0000;

/** Opens a context on GPU 0 for the enclosing describe block and closes it after; returns a getter. */
export function useContext(): () => CudaContext {
  let context: CudaContext | undefined;
  beforeAll(() => {
    context = CudaContext.open(0);
  });
  afterAll(() => context?.close());
  return () => {
    if (context === undefined) throw new Error('the context opens in beforeAll');
    return context;
  };
}

/**
 * The longest a hook that JIT-compiles kernel modules on their first load may take: every family's PTX
 * (gemm_wg's sm_90a module alone ~20 s on an H200, longer beside other test files compiling theirs).
 */
export const MODULE_JIT_TIMEOUT_MS = 300_000;

/**
 * Loads every kernel family of kernels/ptx into the current context, so that a test file whose first case
 * would load them (a whole training step) pays their JIT in its hook, under MODULE_JIT_TIMEOUT_MS.
 */
export function loadEveryModule(): void {
  const families = new Set(readdirSync(kernelsDirectory()).filter((f) => f.endsWith('.ptx')).map((f) => f.slice(0, f.indexOf('.'))));
  const { modules } = currentContext();
  for (const family of families) modules.load(family);
}
