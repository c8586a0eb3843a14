/**
 * CUDA devices and their attributes, as the driver numbers them (after CUDA_VISIBLE_DEVICES).
 */
import { check, driver } from './driver.js';
import { DeviceAttribute } from './driver-api.js';
import { cString } from './native-library.js';

/** A compute capability, e.g. {major: 9, minor: 0} for Hopper. */
export interface ComputeCapability {
  readonly major: number;
  readonly minor: number;
}

/** What the launchers and the allocator need to know of a device. */
export interface DeviceInfo {
  /** CUDA ordinal (after CUDA_VISIBLE_DEVICES). */
  readonly ordinal: number;
  readonly name: string;
  /** "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", the same string NVML reports. */
  readonly uuid: string;
  readonly computeCapability: ComputeCapability;
  readonly multiprocessorCount: number;
  readonly maxThreadsPerBlock: number;
  readonly warpSize: number;
  /** Shared memory a block gets without opting in. */
  readonly maxSharedMemoryPerBlockBytes: number;
  /** Shared memory a block may get after raising its function's dynamic limit. */
  readonly maxSharedMemoryPerBlockOptinBytes: number;
  readonly maxSharedMemoryPerMultiprocessorBytes: number;
  readonly l2CacheBytes: number;
  readonly totalMemoryBytes: number;
}

/** Number of CUDA devices visible to this process. */
export function deviceCount(): number {
  const out = new Int32Array(1);
  check('cuDeviceGetCount', driver().cuDeviceGetCount(out));
  return out[0] ?? 0;
}

/** The CUdevice of an ordinal; throws with a hint when there is no such device. */
export function deviceHandle(ordinal: number): number {
  if (!Number.isInteger(ordinal) || ordinal < 0) {
    throw new RangeError(`Expected a device ordinal >= 0, got ${ordinal}`);
  }
  const out = new Int32Array(1);
  check('cuDeviceGet', driver().cuDeviceGet(out, ordinal));
  return out[0] ?? 0;
}

/** One attribute of a device (a CU_DEVICE_ATTRIBUTE_* value). */
export function deviceAttribute(device: number, attribute: number): number {
  const out = new Int32Array(1);
  check('cuDeviceGetAttribute', driver().cuDeviceGetAttribute(out, attribute, device));
  return out[0] ?? 0;
}

/** Name, UUID, compute capability and limits of the device of this ordinal. */
export function deviceInfo(ordinal: number): DeviceInfo {
  const api = driver();
  const device = deviceHandle(ordinal);
  const attribute = (id: number): number => deviceAttribute(device, id);

  const name = new Uint8Array(256);
  check('cuDeviceGetName', api.cuDeviceGetName(name, name.length, device));
  const uuid = new Uint8Array(16);
  check('cuDeviceGetUuid_v2', api.cuDeviceGetUuid_v2(uuid, device));
  const total = new BigUint64Array(1);
  check('cuDeviceTotalMem_v2', api.cuDeviceTotalMem_v2(total, device));

  return {
    ordinal,
    name: cString(name),
    uuid: formatUuid(uuid),
    computeCapability: {
      major: attribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR),
      minor: attribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR),
    },
    multiprocessorCount: attribute(DeviceAttribute.MULTIPROCESSOR_COUNT),
    maxThreadsPerBlock: attribute(DeviceAttribute.MAX_THREADS_PER_BLOCK),
    warpSize: attribute(DeviceAttribute.WARP_SIZE),
    maxSharedMemoryPerBlockBytes: attribute(DeviceAttribute.MAX_SHARED_MEMORY_PER_BLOCK),
    maxSharedMemoryPerBlockOptinBytes: attribute(DeviceAttribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
    maxSharedMemoryPerMultiprocessorBytes: attribute(DeviceAttribute.MAX_SHARED_MEMORY_PER_MULTIPROCESSOR),
    l2CacheBytes: attribute(DeviceAttribute.L2_CACHE_SIZE),
    totalMemoryBytes: Number(total[0] ?? 0n),
  };
}

/** Formats 16 UUID bytes as NVML does: "GPU-" then 8-4-4-4-12 hex digits. */
export function formatUuid(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `GPU-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
