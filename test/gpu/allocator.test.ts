import { describe, expect, it } from 'vitest';
import { DeviceOutOfMemoryError, isOutOfMemory } from '../../src/cuda/cuda-error.js';
import { fillF32 } from '../../src/cuda/basic-kernels.js';
import { download } from '../../src/cuda/memory.js';
import { announceSkip, noGpu, useContext } from './gpu.js';

announceSkip('test/gpu/allocator.test.ts');

const MiB = 2 ** 20;

describe.skipIf(noGpu)('allocator on the device', () => {
  const context = useContext();

  it('reports the exact peak of a known pattern of allocations and frees', () => {
    const { allocator } = context();
    allocator.resetPeak();
    const base = allocator.stats().allocatedBytes;
    const a = allocator.alloc(100 * MiB + 1, 'a'); // 100 MiB + 512
    const b = allocator.alloc(3, 'b'); // 512
    const c = allocator.alloc(7 * MiB, 'c');
    a.free();
    const d = allocator.alloc(50 * MiB - 100, 'd'); // 50 MiB
    const e = allocator.alloc(60 * MiB, 'e');
    // Peak: a + b + c = 107 MiB + 1024 at the third allocation; later b + c + d + e = 117 MiB + 512.
    const expected = base + 117 * MiB + 512;
    expect(allocator.stats().peakAllocatedBytes).toBe(expected);
    for (const buffer of [b, c, d, e]) buffer.free();
    expect(allocator.stats().allocatedBytes).toBe(base);
    expect(allocator.stats().peakAllocatedBytes).toBe(expected);
  });

  it('hands a freed block back to the next request of its size', () => {
    const first = context().allocator.alloc(12345, 'first');
    const ptr = first.ptr;
    first.free();
    const second = context().allocator.alloc(12300, 'second');
    expect(second.ptr).toBe(ptr);
    second.free();
  });

  it('throws the typed OOM error for more than the card holds, and keeps working', () => {
    const total = context().device.totalMemoryBytes;
    let caught: unknown;
    try {
      context().allocator.alloc(total + 2 ** 30, 'too-big');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DeviceOutOfMemoryError);
    expect(isOutOfMemory(caught)).toBe(true);
    const oom = caught as DeviceOutOfMemoryError;
    expect(oom.requestedBytes).toBe(total + 2 ** 30);
    expect(oom.freeBytes).toBeLessThan(oom.requestedBytes);
    console.log(`[oom] ${oom.message.split('\n')[1]}`);
    // The process and the context carry on.
    const n = 1 << 20;
    const after = context().allocator.alloc(4 * n, 'after-oom');
    fillF32(after, 2.5, n);
    const host = new Float32Array(n);
    download(host, after);
    expect(host.every((v) => v === 2.5)).toBe(true);
    after.free();
  });
});
