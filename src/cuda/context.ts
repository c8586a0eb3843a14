/**
 * The CUDA context of a process: the device's primary context made current on the main thread,
 * with the allocator and the kernel modules that belong to it. A trainer opens one, on one device.
 *
 * Context overhead (the driver's own memory for the context, outside the allocator) is measured at
 * open through NVML: this process's own device memory where NVML reports it by process, else the
 * device's used memory after minus before (exact when nothing else on that GPU allocates meanwhile).
 */
import { DeviceAllocator, type AllocatorStats } from './allocator.js';
import { CudaUnavailableError } from './cuda-error.js';
import { deviceHandle, deviceInfo, type DeviceInfo } from './device.js';
import { check, driver } from './driver.js';
import { KernelModules } from './kernel-modules.js';
import { MIN_COMPUTE_CAPABILITY, supportsComputeCapability } from './kernel-variants.js';
import { deviceMemoryInfo, driverMemory } from './memory.js';
import { listComputeProcesses, listGpus } from './nvml.js';
import { synchronizeDevice } from './stream.js';

/** Where the memory of the device went, in bytes. */
export interface MemoryReport {
  /** The allocator's counters: live buffers, peak, cache. */
  readonly allocator: AllocatorStats;
  /** The context's own memory, measured at open; null where NVML could not tell. */
  readonly contextOverheadBytes: number | null;
  /** All device memory of this process now (NVML, by process); null where NVML does not say. */
  readonly processBytes: number | null;
  readonly deviceFreeBytes: number;
  readonly deviceTotalBytes: number;
}

let current: CudaContext | undefined;

/** The open context; throws where none is. */
export function currentContext(): CudaContext {
  if (current === undefined) throw new Error('no CUDA context is open; call CudaContext.open() first');
  return current;
}

/** A device's primary context, current on this thread, with its allocator and kernel modules. */
export class CudaContext {
  readonly device: DeviceInfo;
  readonly allocator: DeviceAllocator;
  readonly modules: KernelModules;
  readonly contextOverheadBytes: number | null;
  readonly #handle: number;
  readonly #nvmlIndex: number | undefined;
  #open = true;

  private constructor(device: DeviceInfo, handle: number, nvmlIndex: number | undefined, overhead: number | null) {
    this.device = device;
    this.#handle = handle;
    this.#nvmlIndex = nvmlIndex;
    this.contextOverheadBytes = overhead;
    this.allocator = new DeviceAllocator(driverMemory);
    this.modules = new KernelModules(device.computeCapability);
  }

  /**
   * Retains the primary context of device `ordinal` and makes it current. One context at a time.
   * @param ordinal CUDA device ordinal (after CUDA_VISIBLE_DEVICES). @default 0
   */
  static open(ordinal = 0): CudaContext {
    if (current !== undefined) throw new Error(`a CUDA context is already open on device ${current.device.ordinal}`);
    const api = driver();
    const info = deviceInfo(ordinal);
    if (!supportsComputeCapability(info.computeCapability)) {
      const { major, minor } = info.computeCapability;
      throw new CudaUnavailableError(
        `${info.name} has compute capability ${major}.${minor}; gridrec's kernels need ` +
          `${MIN_COMPUTE_CAPABILITY.major}.${MIN_COMPUTE_CAPABILITY.minor} or newer`,
      );
    }
    const nvmlIndex = listGpus().find((gpu) => gpu.uuid === info.uuid)?.index;
    const usedBefore = nvmlUsedBytes(nvmlIndex);
    const handle = deviceHandle(ordinal);
    const out = new BigUint64Array(1);
    check('cuDevicePrimaryCtxRetain', api.cuDevicePrimaryCtxRetain(out, handle));
    try {
      check('cuCtxSetCurrent', api.cuCtxSetCurrent(out[0] ?? 0n));
    } catch (error) {
      api.cuDevicePrimaryCtxRelease_v2(handle);
      throw error;
    }
    const own = processUsedBytes(nvmlIndex);
    const usedAfter = nvmlUsedBytes(nvmlIndex);
    const overhead = own ?? (usedBefore !== null && usedAfter !== null ? Math.max(0, usedAfter - usedBefore) : null);
    current = new CudaContext(info, handle, nvmlIndex, overhead);
    return current;
  }

  /** Waits for all work queued in this context. */
  synchronize(): void {
    synchronizeDevice();
  }

  /** Allocator counters, context overhead and device memory, now. */
  memoryReport(): MemoryReport {
    const { freeBytes, totalBytes } = deviceMemoryInfo();
    return {
      allocator: this.allocator.stats(),
      contextOverheadBytes: this.contextOverheadBytes,
      processBytes: processUsedBytes(this.#nvmlIndex),
      deviceFreeBytes: freeBytes,
      deviceTotalBytes: totalBytes,
    };
  }

  /** Finishes queued work, frees every buffer and module, and releases the primary context. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    try {
      this.synchronize();
      this.modules.unloadAll();
      this.allocator.releaseAll();
    } finally {
      current = undefined;
      const api = driver();
      api.cuCtxSetCurrent(null);
      check('cuDevicePrimaryCtxRelease_v2', api.cuDevicePrimaryCtxRelease_v2(this.#handle));
    }
  }
}

function nvmlUsedBytes(index: number | undefined): number | null {
  if (index === undefined) return null;
  return listGpus().find((gpu) => gpu.index === index)?.memoryUsedBytes ?? null;
}

function processUsedBytes(index: number | undefined): number | null {
  if (index === undefined) return null;
  return listComputeProcesses(index).find((p) => p.pid === process.pid)?.usedMemoryBytes ?? null;
}
