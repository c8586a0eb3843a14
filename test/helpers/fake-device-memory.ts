/** Device memory for CPU tests of the CUDA launchers' host side: addresses without a GPU, never dereferenced. */
import type { DeviceMemory } from '../../src/cuda/allocator.js';

/** Hands out 256-byte-aligned addresses (as cuMemAlloc does), 4 KiB apart; reports 1 GiB free. */
export function fakeDeviceMemory(): DeviceMemory {
  let next = 0x7f00_0000_0000n;
  return {
    allocate(bytes) {
      const at = next;
      next += BigInt(Math.ceil(bytes / 256) * 256) + 4096n;
      return at;
    },
    release() {},
    info: () => ({ freeBytes: 1 << 30, totalBytes: 1 << 30 }),
  };
}
