/**
 * Can this process use CUDA? A check that never throws, for choosing a backend and for skipping GPU
 * tests with the reason.
 */
import { deviceCount } from './device.js';
import { driverUnavailableReason, driverVersion, formatDriverVersion, MIN_DRIVER_VERSION } from './driver.js';

/** The outcome of probing the driver. */
export type CudaProbe =
  | { readonly available: true; readonly deviceCount: number; readonly driverVersion: number }
  | { readonly available: false; readonly reason: string };

/** Loads the driver if it is there and says whether gridrec's kernels can run; never throws. */
export function probeCuda(): CudaProbe {
  const reason = driverUnavailableReason();
  if (reason !== undefined) return { available: false, reason };
  try {
    const version = driverVersion();
    if (version < MIN_DRIVER_VERSION) {
      return {
        available: false,
        reason:
          `the NVIDIA driver supports CUDA ${formatDriverVersion(version)}; gridrec's PTX needs ` +
          `CUDA ${formatDriverVersion(MIN_DRIVER_VERSION)} (driver r580 or newer): update the NVIDIA driver`,
      };
    }
    const count = deviceCount();
    if (count === 0) return { available: false, reason: 'the NVIDIA driver sees no GPU' };
    return { available: true, deviceCount: count, driverVersion: version };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
