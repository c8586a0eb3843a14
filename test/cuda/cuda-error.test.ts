import { describe, expect, it } from 'vitest';
import { CudaError, formatBytes, hintFor, isOutOfMemory } from '../../src/cuda/cuda-error.js';

describe('CudaError', () => {
  it('names the call and the error, and gives the hint', () => {
    const error = new CudaError('cuModuleLoadDataEx', 222, 'CUDA_ERROR_UNSUPPORTED_PTX_VERSION', 'the provided PTX was compiled with an unsupported toolchain.', 'module basic.sm80');
    expect(error.message).toBe(
      'cuModuleLoadDataEx failed: CUDA_ERROR_UNSUPPORTED_PTX_VERSION (222): the provided PTX was compiled with an unsupported toolchain.\n' +
        'module basic.sm80\n' +
        'hint: the PTX needs an NVIDIA driver supporting CUDA 13.0 (r580 or newer); update the NVIDIA driver',
    );
    expect(isOutOfMemory(error)).toBe(false);
  });

  it('prefers a hint for the call over the one for the error', () => {
    expect(hintFor('cuModuleGetFunction', 'CUDA_ERROR_NOT_FOUND')).toMatch(/extern "C"/);
    expect(hintFor('cuLaunchKernel', 'CUDA_ERROR_INVALID_VALUE')).toMatch(/1024 threads/);
    expect(hintFor('cuMemcpyDtoHAsync_v2', 'CUDA_ERROR_INVALID_VALUE')).toBeUndefined();
  });

  it('classifies any out-of-memory result as oom', () => {
    expect(isOutOfMemory(new CudaError('cuModuleLoadDataEx', 2, 'CUDA_ERROR_OUT_OF_MEMORY', 'out of memory'))).toBe(true);
    expect(isOutOfMemory(new Error('out of memory'))).toBe(false);
  });

  it('formats byte counts', () => {
    expect([512, 1536, 3 * 2 ** 30].map(formatBytes)).toEqual(['512 B', '1.50 KiB', '3.00 GiB']);
  });
});
