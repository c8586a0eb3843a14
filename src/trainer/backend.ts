/**
 * The backend a trial runs on, from its trial file's device. The CPU reference backend is always
 * here; the CUDA backend plugs in at this one seam when its ops implementation lands.
 */
import { CpuOps } from '../backend/cpu/cpu-ops.js';
import type { Ops } from '../backend/ops.js';
import type { TrialDevice } from './protocol.js';

/** Starts the backend of `device`. */
export async function createBackend(device: TrialDevice): Promise<Ops> {
  if (device.backend === 'cpu') return CpuOps.create();
  throw new Error('the built-in trainer has no CUDA ops backend in this build yet: run the sweep on the CPU (grid run --cpu)');
}
