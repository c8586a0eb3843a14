/**
 * The device allocator every buffer of a trainer goes through, with the accounting the README describes
 * ("Memory accounting").
 *
 * Definitions (all in bytes):
 * - a buffer of `n` requested bytes occupies a block of `blockBytes(n)`: n rounded up to a multiple
 *   of 512, as PyTorch's caching allocator rounds (and 0 for n = 0, which holds no memory);
 * - `allocatedBytes`: the blocks of live buffers; `peakAllocatedBytes`: its maximum since the
 *   allocator was made or `resetPeak()` was last called. This is the meaning of
 *   `torch.cuda.memory_allocated()` / `max_memory_allocated()`, so trials compare with the seed's
 *   tables; `requestedBytes` / `peakRequestedBytes` are the same without rounding;
 * - `reservedBytes`: blocks obtained from the driver, live or cached; `cachedBytes` =
 *   reserved − allocated, the slack, reported apart from the peak;
 * - the CUDA context's own memory is outside the allocator (see CudaContext.memoryReport()).
 *
 * Freed blocks are cached by exact block size and reused for requests of that size, which is what a
 * training loop repeats every step. When the driver is out of memory, the cache is returned to the
 * driver and the allocation tried once more before a `DeviceOutOfMemoryError` is thrown; the
 * allocator and its live buffers stay usable after it.
 */
import { DeviceOutOfMemoryError, isOutOfMemory } from './cuda-error.js';
import type { DevicePointer } from './driver-api.js';
import type { DeviceAddressable } from './kernel-signature.js';

/** The driver operations the allocator stands on (the real one is in memory.ts). */
export interface DeviceMemory {
  /** A new device block; throws a CudaError with code CUDA_ERROR_OUT_OF_MEMORY when it does not fit. */
  allocate(bytes: number): DevicePointer;
  release(pointer: DevicePointer): void;
  /** Free and total device memory now. */
  info(): { readonly freeBytes: number; readonly totalBytes: number };
}

/** Block granularity: requests are rounded up to a multiple of this. */
export const BLOCK_GRANULARITY = 512;

/** The block a request of `bytes` occupies: a multiple of 512, 0 for 0. */
export function blockBytes(bytes: number): number {
  return Math.ceil(bytes / BLOCK_GRANULARITY) * BLOCK_GRANULARITY;
}

/** A snapshot of the allocator's counters (see the module comment for their meaning). */
export interface AllocatorStats {
  readonly allocatedBytes: number;
  readonly peakAllocatedBytes: number;
  readonly requestedBytes: number;
  readonly peakRequestedBytes: number;
  readonly reservedBytes: number;
  readonly peakReservedBytes: number;
  readonly cachedBytes: number;
  readonly liveBuffers: number;
  /** Blocks obtained from the driver so far (cache misses). */
  readonly deviceAllocations: number;
  /** Requests served from the cache. */
  readonly cacheHits: number;
}

/** A device buffer from the allocator. Its address stays valid until `free()`. */
export class DeviceBuffer implements DeviceAddressable {
  /** Requested size. */
  readonly bytes: number;
  /** Size of the block it occupies (what the peak counts). */
  readonly blockBytes: number;
  /** What it holds, for reports and leak messages. */
  readonly label: string;
  #ptr: DevicePointer;
  #release: ((buffer: DeviceBuffer, ptr: DevicePointer) => void) | undefined;

  /** @internal Made by DeviceAllocator.alloc only. */
  constructor(
    ptr: DevicePointer,
    bytes: number,
    label: string,
    release: (buffer: DeviceBuffer, ptr: DevicePointer) => void,
  ) {
    this.#ptr = ptr;
    this.bytes = bytes;
    this.blockBytes = blockBytes(bytes);
    this.label = label;
    this.#release = release;
  }

  /** The device address; throws once the buffer is freed. */
  get ptr(): DevicePointer {
    if (this.#release === undefined) throw new Error(`device buffer "${this.label}" used after free`);
    return this.#ptr;
  }

  get freed(): boolean {
    return this.#release === undefined;
  }

  /** Returns the block to the allocator's cache; a second call throws. */
  free(): void {
    const release = this.#release;
    if (release === undefined) throw new Error(`device buffer "${this.label}" freed twice`);
    this.#release = undefined;
    release(this, this.#ptr);
  }

  /** A view of `bytes` bytes from `offsetBytes` (bounds checked); invalid once the buffer is freed. */
  view(offsetBytes: number, bytes: number): DeviceView {
    if (!Number.isInteger(offsetBytes) || !Number.isInteger(bytes) || offsetBytes < 0 || bytes < 0 || offsetBytes + bytes > this.bytes) {
      throw new RangeError(
        `view [${offsetBytes}, ${offsetBytes + bytes}) is outside device buffer "${this.label}" of ${this.bytes} bytes`,
      );
    }
    return new DeviceView(this, offsetBytes, bytes);
  }
}

/** A byte range of a DeviceBuffer. */
export class DeviceView implements DeviceAddressable {
  readonly buffer: DeviceBuffer;
  readonly offsetBytes: number;
  readonly bytes: number;

  constructor(buffer: DeviceBuffer, offsetBytes: number, bytes: number) {
    this.buffer = buffer;
    this.offsetBytes = offsetBytes;
    this.bytes = bytes;
  }

  get ptr(): DevicePointer {
    return this.buffer.ptr + BigInt(this.offsetBytes);
  }
}

/** The caching device allocator with peak accounting. */
export class DeviceAllocator {
  readonly #memory: DeviceMemory;
  /** Free blocks by block size. Invariant: cachedBytes = Σ size × count over this map. */
  readonly #cache = new Map<number, DevicePointer[]>();
  readonly #live = new Set<DeviceBuffer>();
  #allocated = 0;
  #peakAllocated = 0;
  #requested = 0;
  #peakRequested = 0;
  #reserved = 0;
  #peakReserved = 0;
  #cached = 0;
  #deviceAllocations = 0;
  #cacheHits = 0;
  readonly #release = (buffer: DeviceBuffer, ptr: DevicePointer): void => this.#free(buffer, ptr);

  constructor(memory: DeviceMemory) {
    this.#memory = memory;
  }

  /**
   * A buffer of `bytes` bytes (contents undefined). Throws `DeviceOutOfMemoryError` when it does not
   * fit even after the cache is returned to the driver; the allocator stays usable.
   * @param label what the buffer holds, for reports. @default "buffer"
   */
  alloc(bytes: number, label = 'buffer'): DeviceBuffer {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`Expected a byte count >= 0 for device buffer "${label}", got ${bytes}`);
    }
    const size = blockBytes(bytes);
    const ptr = size === 0 ? 0n : this.#takeBlock(size, bytes);
    const buffer = new DeviceBuffer(ptr, bytes, label, this.#release);
    this.#live.add(buffer);
    this.#allocated += size;
    this.#requested += bytes;
    this.#peakAllocated = Math.max(this.#peakAllocated, this.#allocated);
    this.#peakRequested = Math.max(this.#peakRequested, this.#requested);
    return buffer;
  }

  /** The counters now. */
  stats(): AllocatorStats {
    return {
      allocatedBytes: this.#allocated,
      peakAllocatedBytes: this.#peakAllocated,
      requestedBytes: this.#requested,
      peakRequestedBytes: this.#peakRequested,
      reservedBytes: this.#reserved,
      peakReservedBytes: this.#peakReserved,
      cachedBytes: this.#cached,
      liveBuffers: this.#live.size,
      deviceAllocations: this.#deviceAllocations,
      cacheHits: this.#cacheHits,
    };
  }

  /** Starts a new peak window: every peak becomes the current value. */
  resetPeak(): void {
    this.#peakAllocated = this.#allocated;
    this.#peakRequested = this.#requested;
    this.#peakReserved = this.#reserved;
  }

  /** Returns every cached block to the driver. */
  emptyCache(): void {
    for (const [size, blocks] of this.#cache) {
      for (const ptr of blocks) {
        this.#memory.release(ptr);
        this.#reserved -= size;
        this.#cached -= size;
      }
    }
    this.#cache.clear();
  }

  /** Live buffers' labels and sizes, largest first: what holds the memory now. */
  liveBuffers(): { readonly label: string; readonly bytes: number }[] {
    return [...this.#live].map((b) => ({ label: b.label, bytes: b.bytes })).sort((a, b) => b.bytes - a.bytes);
  }

  /** Frees every live buffer and returns all blocks to the driver (the context is closing). */
  releaseAll(): void {
    for (const buffer of [...this.#live]) buffer.free();
    this.emptyCache();
  }

  #takeBlock(size: number, requestedBytes: number): DevicePointer {
    const cached = this.#cache.get(size);
    const hit = cached?.pop();
    if (hit !== undefined) {
      this.#cached -= size;
      this.#cacheHits++;
      return hit;
    }
    let ptr: DevicePointer;
    try {
      ptr = this.#memory.allocate(size);
    } catch (error) {
      if (!isOutOfMemory(error)) throw error;
      this.emptyCache();
      try {
        ptr = this.#memory.allocate(size);
      } catch (retryError) {
        if (!isOutOfMemory(retryError)) throw retryError;
        const { freeBytes, totalBytes } = this.#memory.info();
        throw new DeviceOutOfMemoryError('cuMemAlloc_v2', {
          requestedBytes,
          freeBytes,
          totalBytes,
          allocatedBytes: this.#allocated,
        });
      }
    }
    this.#deviceAllocations++;
    this.#reserved += size;
    this.#peakReserved = Math.max(this.#peakReserved, this.#reserved);
    return ptr;
  }

  #free(buffer: DeviceBuffer, ptr: DevicePointer): void {
    this.#live.delete(buffer);
    this.#allocated -= buffer.blockBytes;
    this.#requested -= buffer.bytes;
    if (buffer.blockBytes === 0) return;
    const blocks = this.#cache.get(buffer.blockBytes);
    if (blocks === undefined) this.#cache.set(buffer.blockBytes, [ptr]);
    else blocks.push(ptr);
    this.#cached += buffer.blockBytes;
  }
}
