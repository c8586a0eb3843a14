import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CudaContext } from '../../src/cuda/context.js';
import { deviceCount, deviceInfo } from '../../src/cuda/device.js';
import { listComputeProcesses, listGpus, nvmlStatus } from '../../src/cuda/nvml.js';
import { announceSkip, noGpu, useContext } from './gpu.js';

announceSkip('test/gpu/device.test.ts');

const NVML_JS = fileURLToPath(new URL('../../dist/cuda/nvml.js', import.meta.url));

// What an orchestrator-like process sees after using NVML: its GPUs, the processes that hold a
// CUDA context, and which CUDA libraries got mapped into it (for the record).
const CHILD = `
import { readFileSync } from 'node:fs';
const { listGpus, listComputeProcesses } = await import(process.argv[1]);
const gpus = listGpus();
const pids = gpus.flatMap((g) => listComputeProcesses(g.index).map((p) => p.pid));
const mapped = [...new Set(readFileSync('/proc/self/maps', 'utf8').split('\\n')
  .map((line) => line.split(/\\s+/)[5] ?? '').filter((path) => /libcuda|libnvidia/.test(path)))];
console.log(JSON.stringify({ pid: process.pid, count: gpus.length, pids, mapped }));
`;

describe.skipIf(noGpu)('devices', () => {
  it('reports a device gridrec can run on', () => {
    const info = deviceInfo(0);
    expect(info.name.length).toBeGreaterThan(0);
    expect(info.computeCapability.major * 10 + info.computeCapability.minor).toBeGreaterThanOrEqual(80);
    expect(info.multiprocessorCount).toBeGreaterThan(0);
    expect(info.maxSharedMemoryPerBlockOptinBytes).toBeGreaterThan(48 * 1024);
    expect(info.totalMemoryBytes).toBeGreaterThan(2 ** 30);
    expect(info.uuid).toMatch(/^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('NVML sees the same GPUs as the driver', () => {
    expect(nvmlStatus().available).toBe(true);
    const gpus = listGpus();
    for (let ordinal = 0; ordinal < deviceCount(); ordinal++) {
      const info = deviceInfo(ordinal);
      const twin = gpus.find((g) => g.uuid === info.uuid);
      expect(twin, `NVML has ${info.uuid}`).toBeDefined();
      expect(twin?.name).toBe(info.name);
      expect(twin?.memoryTotalBytes).toBeGreaterThanOrEqual(info.totalMemoryBytes);
    }
    if (process.env['CUDA_VISIBLE_DEVICES'] === undefined) expect(gpus.length).toBe(deviceCount());
  });

  it('an orchestrator process using NVML holds no CUDA context', () => {
    expect(existsSync(NVML_JS), `${NVML_JS} (run npm run build first)`).toBe(true);
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, NVML_JS], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    const seen = JSON.parse(child.stdout) as { pid: number; count: number; pids: number[]; mapped: string[] };
    console.log(`[nvml] libraries mapped in an NVML-only process: ${seen.mapped.join(', ')}`);
    expect(seen.count).toBeGreaterThan(0);
    expect(seen.pids).not.toContain(seen.pid);
  });
});

describe.skipIf(noGpu)('context', () => {
  const context = useContext();

  it('shows in NVML as a compute process, with its overhead measured apart from the allocator', () => {
    // The positive control of the test above: NVML does see processes that hold a context.
    const index = listGpus().find((g) => g.uuid === context().device.uuid)?.index ?? -1;
    expect(listComputeProcesses(index).map((p) => p.pid)).toContain(process.pid);
    const report = context().memoryReport();
    console.log(`[context] ${context().device.name}: overhead ${report.contextOverheadBytes} bytes, process ${report.processBytes} bytes`);
    expect(report.contextOverheadBytes).toBeGreaterThan(0);
    expect(report.contextOverheadBytes).toBeLessThan(4 * 2 ** 30);
    expect(report.allocator.allocatedBytes).toBe(0);
    expect(report.deviceFreeBytes).toBeLessThan(report.deviceTotalBytes);
  });

  it('refuses a second context while one is open', () => {
    expect(() => CudaContext.open(0)).toThrow(/already open/);
  });
});
