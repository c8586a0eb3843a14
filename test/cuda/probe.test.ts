import { describe, expect, it } from 'vitest';
import { probeCuda } from '../../src/cuda/probe.js';
import { CudaContext } from '../../src/cuda/context.js';
import { CudaUnavailableError } from '../../src/cuda/cuda-error.js';

describe('probeCuda', () => {
  it('never throws, and says why CUDA is unavailable', () => {
    const probe = probeCuda();
    if (probe.available) {
      expect(probe.deviceCount).toBeGreaterThan(0);
    } else {
      console.log(`[cuda] unavailable here: ${probe.reason}`);
      expect(probe.reason.length).toBeGreaterThan(0);
      expect(() => CudaContext.open()).toThrow(CudaUnavailableError);
    }
  });
});
