/**
 * The backend a trial runs on, from its trial file's device. The CPU reference backend is always
 * here; the CUDA backend plugs in at this one seam when its ops implementation lands.
 */
import { CpuOps } from '../backend/cpu/cpu-ops.js';
import type { Ops } from '../backend/ops.js';
import { BUILTIN_BACKENDS, BUILTIN_NO_CUDA_REASON } from './capabilities.js';
import type { TrialDevice } from './protocol.js';

/** Starts the backend of `device`. */
export async function createBackend(device: TrialDevice): Promise<Ops> {
  if (device.backend === 'cpu') return CpuOps.create();
  if (!BUILTIN_BACKENDS.includes(device.backend)) throw new Error(`${BUILTIN_NO_CUDA_REASON}: run the sweep on the CPU (grid run --cpu)`);
  throw new Error(`no ${device.backend} backend is wired into trainer/backend.ts`);
}
