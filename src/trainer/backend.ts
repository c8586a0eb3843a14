/**
 * The backend a trial runs on, from its trial file's device: the CUDA backend (our kernels) on the GPU
 * the orchestrator gave the child, or the CPU reference backend. The CUDA side is imported only when a
 * trial runs there, so CPU trials never load the driver bindings.
 */
import { CpuOps } from '../backend/cpu/cpu-ops.js';
import type { Ops } from '../backend/ops.js';
import type { TrialDevice } from './protocol.js';

/** Starts the backend of `device`. */
export async function createBackend(device: TrialDevice): Promise<Ops> {
  if (device.backend === 'cpu') return CpuOps.create();
  const { CudaOps } = await import('../backend/cuda/cuda-ops.js');
  return CudaOps.create({ ordinal: device.ordinal });
}
