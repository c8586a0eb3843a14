/**
 * The backend a trial runs on, from its trial file's device: the CUDA backend (our kernels) on the GPU
 * the orchestrator gave the child, or the CPU reference backend. The CUDA side is imported only when a
 * trial runs there, so CPU trials never load the driver bindings.
 */
import { CpuOps } from '../backend/cpu/cpu-ops.js';
import { MAX_THREADS } from '../backend/cpu/pool.js';
import type { Ops } from '../backend/ops.js';
import { CPU_THREADS_ENV, type TrialDevice } from './protocol.js';

/** The CPU threads the orchestrator (or the user) set for this trial, or undefined for the backend's default. */
export function cpuThreads(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env[CPU_THREADS_ENV];
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) throw new Error(`${CPU_THREADS_ENV}: expected an integer in [1, ${MAX_THREADS}], got "${text}"`);
  return n;
}

/** Starts the backend of `device`. */
export async function createBackend(device: TrialDevice): Promise<Ops> {
  if (device.backend === 'cpu') {
    const threads = cpuThreads();
    return CpuOps.create(threads === undefined ? {} : { threads });
  }
  const { CudaOps } = await import('../backend/cuda/cuda-ops.js');
  return CudaOps.create({ ordinal: device.ordinal });
}
