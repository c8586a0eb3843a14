import { CudaError, CUDA_ERROR_OUT_OF_MEMORY } from '../../src/cuda/cuda-error.js';
import type { DeviceMemory } from '../../src/cuda/allocator.js';
import type { DevicePointer } from '../../src/cuda/driver-api.js';

/** Device memory of a fixed capacity for allocator tests: hands out increasing addresses. */
export class FakeDeviceMemory implements DeviceMemory {
  readonly capacity: number;
  readonly blocks = new Map<DevicePointer, number>();
  allocations = 0;
  releases = 0;
  #next = 0x7f00_0000_0000n;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get used(): number {
    let sum = 0;
    for (const bytes of this.blocks.values()) sum += bytes;
    return sum;
  }

  allocate(bytes: number): DevicePointer {
    if (this.used + bytes > this.capacity) {
      throw new CudaError('cuMemAlloc_v2', CUDA_ERROR_OUT_OF_MEMORY, 'CUDA_ERROR_OUT_OF_MEMORY', 'out of memory');
    }
    const ptr = this.#next;
    this.#next += BigInt(bytes) + 4096n;
    this.blocks.set(ptr, bytes);
    this.allocations++;
    return ptr;
  }

  release(pointer: DevicePointer): void {
    if (!this.blocks.delete(pointer)) throw new Error(`release of unknown block ${pointer}`);
    this.releases++;
  }

  info(): { freeBytes: number; totalBytes: number } {
    return { freeBytes: this.capacity - this.used, totalBytes: this.capacity };
  }
}
