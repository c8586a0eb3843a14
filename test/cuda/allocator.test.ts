import { describe, expect, it } from 'vitest';
import { blockBytes, DeviceAllocator } from '../../src/cuda/allocator.js';
import { CudaError, DeviceOutOfMemoryError, isOutOfMemory } from '../../src/cuda/cuda-error.js';
import { FakeDeviceMemory } from './fake-device-memory.js';

const MiB = 1 << 20;

describe('blockBytes', () => {
  it('rounds up to 512 bytes, as PyTorch does, and keeps 0 at 0', () => {
    expect([0, 1, 511, 512, 513, 1000, 1024].map(blockBytes)).toEqual([0, 512, 512, 512, 1024, 1024, 1024]);
  });
});

describe('DeviceAllocator accounting', () => {
  it('reports the peak of live blocks exactly, and the requested bytes apart', () => {
    const memory = new FakeDeviceMemory(64 * MiB);
    const allocator = new DeviceAllocator(memory);
    const a = allocator.alloc(1000, 'a'); // block 1024
    const b = allocator.alloc(MiB + 1, 'b'); // block 1 MiB + 512
    const c = allocator.alloc(7, 'c'); // block 512
    a.free();
    const d = allocator.alloc(3 * MiB, 'd');
    // The peak is at d: b + c + d.
    const peak = MiB + 512 + 512 + 3 * MiB;
    const stats = allocator.stats();
    expect(stats.peakAllocatedBytes).toBe(peak);
    expect(stats.peakRequestedBytes).toBe(MiB + 1 + 7 + 3 * MiB);
    expect(stats.allocatedBytes).toBe(peak);
    expect(stats.liveBuffers).toBe(3);
    // a's block stays cached: reserved = live + cached.
    expect(stats.cachedBytes).toBe(1024);
    expect(stats.reservedBytes).toBe(peak + 1024);
    expect(memory.used).toBe(stats.reservedBytes);
    for (const buffer of [b, c, d]) buffer.free();
    expect(allocator.stats().allocatedBytes).toBe(0);
    expect(allocator.stats().peakAllocatedBytes).toBe(peak);
  });

  it('resetPeak starts a new window at the current level', () => {
    const allocator = new DeviceAllocator(new FakeDeviceMemory(64 * MiB));
    const big = allocator.alloc(8 * MiB);
    const keep = allocator.alloc(MiB);
    big.free();
    allocator.resetPeak();
    expect(allocator.stats().peakAllocatedBytes).toBe(MiB);
    const more = allocator.alloc(2 * MiB);
    expect(allocator.stats().peakAllocatedBytes).toBe(3 * MiB);
    more.free();
    keep.free();
  });

  it('reuses a freed block of the same size without asking the driver', () => {
    const memory = new FakeDeviceMemory(64 * MiB);
    const allocator = new DeviceAllocator(memory);
    const first = allocator.alloc(4000);
    const ptr = first.ptr;
    first.free();
    const second = allocator.alloc(3900); // same 4096-byte block
    expect(second.ptr).toBe(ptr);
    expect(memory.allocations).toBe(1);
    expect(allocator.stats().cacheHits).toBe(1);
    allocator.emptyCache();
    second.free();
    allocator.emptyCache();
    expect(memory.used).toBe(0);
    expect(allocator.stats().reservedBytes).toBe(0);
  });

  it('gives zero-byte buffers no memory', () => {
    const memory = new FakeDeviceMemory(MiB);
    const allocator = new DeviceAllocator(memory);
    const empty = allocator.alloc(0);
    expect(empty.ptr).toBe(0n);
    expect(memory.allocations).toBe(0);
    empty.free();
    expect(allocator.stats().liveBuffers).toBe(0);
  });

  it('refuses bad sizes, double frees and views outside the buffer', () => {
    const allocator = new DeviceAllocator(new FakeDeviceMemory(MiB));
    expect(() => allocator.alloc(-1)).toThrow(RangeError);
    expect(() => allocator.alloc(1.5)).toThrow(RangeError);
    const buffer = allocator.alloc(100, 'scores');
    expect(() => buffer.view(96, 8)).toThrow(/outside device buffer "scores"/);
    expect(buffer.view(96, 4).ptr).toBe(buffer.ptr + 96n);
    buffer.free();
    expect(() => buffer.free()).toThrow(/"scores" freed twice/);
  });
});

describe('DeviceAllocator out of memory', () => {
  it('returns its cache to the driver and retries before failing', () => {
    const memory = new FakeDeviceMemory(10 * MiB);
    const allocator = new DeviceAllocator(memory);
    allocator.alloc(6 * MiB).free(); // cached, 6 MiB of the 10 reserved
    const next = allocator.alloc(8 * MiB); // does not fit beside the cache: the cache goes
    expect(memory.releases).toBe(1);
    expect(allocator.stats().cachedBytes).toBe(0);
    next.free();
  });

  it('throws a typed error with the numbers, and keeps working after it', () => {
    const memory = new FakeDeviceMemory(10 * MiB);
    const allocator = new DeviceAllocator(memory);
    const held = allocator.alloc(4 * MiB, 'weights');
    let caught: unknown;
    try {
      allocator.alloc(8 * MiB, 'logits');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DeviceOutOfMemoryError);
    expect(isOutOfMemory(caught)).toBe(true);
    const oom = caught as DeviceOutOfMemoryError;
    expect(oom.requestedBytes).toBe(8 * MiB);
    expect(oom.freeBytes).toBe(6 * MiB);
    expect(oom.totalBytes).toBe(10 * MiB);
    expect(oom.allocatedBytes).toBe(4 * MiB);
    expect(oom.message).toMatch(/cannot allocate 8\.00 MiB: 6\.00 MiB free of 10\.00 MiB/);
    expect(allocator.stats().allocatedBytes).toBe(4 * MiB);
    const small = allocator.alloc(MiB);
    expect(allocator.stats().allocatedBytes).toBe(5 * MiB);
    small.free();
    held.free();
  });

  it('lets other driver errors through unchanged', () => {
    const allocator = new DeviceAllocator({
      allocate() {
        throw new CudaError('cuMemAlloc_v2', 201, 'CUDA_ERROR_INVALID_CONTEXT', 'invalid device context');
      },
      release() {},
      info: () => ({ freeBytes: 0, totalBytes: 0 }),
    });
    expect(() => allocator.alloc(1)).toThrow(/CUDA_ERROR_INVALID_CONTEXT \(201\)[\s\S]*hint: no CUDA context/);
  });
});
