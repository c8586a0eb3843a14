import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const requireCache = createRequire(import.meta.url).cache;
const koffiLoaded = (): boolean => Object.keys(requireCache).some((file) => file.includes('/node_modules/koffi/'));

describe('nvml without a driver', () => {
  it('loads no native code at import time', async () => {
    expect(koffiLoaded()).toBe(false);
    await import('../../src/cuda/nvml.js');
    expect(koffiLoaded()).toBe(false);
  });

  it('reports a missing library as unavailable, lists no GPUs and does not throw', async () => {
    const { openNvml } = await import('../../src/cuda/nvml.js');
    const nvml = openNvml('/nonexistent/libnvidia-ml.so.1');
    const status = nvml.status();
    expect(status.available).toBe(false);
    if (!status.available) expect(status.reason).toContain('/nonexistent/libnvidia-ml.so.1');
    expect(nvml.listGpus()).toEqual([]);
    expect(nvml.listComputeProcesses(0)).toEqual([]);
  });

  it('agrees with itself on the system library: unavailable means no GPUs', async () => {
    const { listGpus, nvmlStatus } = await import('../../src/cuda/nvml.js');
    const status = nvmlStatus();
    if (!status.available) {
      console.log(`[nvml] system NVML unavailable here: ${status.reason}`);
      expect(listGpus()).toEqual([]);
    } else {
      expect(listGpus().length).toBeGreaterThan(0);
    }
  });
});
