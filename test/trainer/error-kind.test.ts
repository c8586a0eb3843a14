import { describe, expect, it } from 'vitest';
import { CudaError, DeviceOutOfMemoryError } from '../../src/cuda/cuda-error.js';
import { errorKind } from '../../src/trainer/trial-checks.js';

describe('errorKind', () => {
  it('calls a device out-of-memory anywhere an oom, never an internal failure', () => {
    const report = { requestedBytes: 2 ** 30, freeBytes: 2 ** 20, totalBytes: 2 ** 34, allocatedBytes: 2 ** 33 };
    expect(errorKind(new DeviceOutOfMemoryError('cuMemAlloc_v2', report))).toBe('oom');
    // A launch that runs out of resources reports the same driver code.
    expect(errorKind(new CudaError('cuLaunchKernel', 2, 'CUDA_ERROR_OUT_OF_MEMORY', 'out of memory'))).toBe('oom');
    expect(errorKind(new CudaError('cuLaunchKernel', 700, 'CUDA_ERROR_ILLEGAL_ADDRESS', 'illegal address'))).toBe('internal');
  });
});
