import { describe, expect, it } from 'vitest';
import { machineGpus } from '../src/cli/gpus.js';
import { planSlots, selectGpus } from '../src/scheduler/devices.js';

const gpus = [
  { index: 0, name: 'H200', uuid: 'GPU-aaa', memoryTotalBytes: 141e9 },
  { index: 1, name: 'H200', uuid: 'GPU-bbb', memoryTotalBytes: 141e9 },
];

describe('--gpus', () => {
  it('keeps the GPUs named by index or UUID, in the order given, and reports unknown ids', () => {
    expect(selectGpus(gpus, ['1']).selected.map((g) => g.uuid)).toEqual(['GPU-bbb']);
    expect(selectGpus(gpus, ['GPU-bbb', '0', '1']).selected.map((g) => g.index)).toEqual([1, 0]);
    expect(selectGpus(gpus, ['2', 'GPU-zzz']).unknown).toEqual(['2', 'GPU-zzz']);
  });

  it('gives built-in trials GPU slots on the selected GPUs only', async () => {
    const one = await machineGpus(() => gpus, ['GPU-bbb']);
    const slots = planSlots(one, { parallel: 3 });
    expect(slots.map((s) => [s.device.backend, s.env.CUDA_VISIBLE_DEVICES])).toEqual([['cuda', 'GPU-bbb'], ['cuda', 'GPU-bbb'], ['cuda', 'GPU-bbb']]);
    await expect(machineGpus(() => gpus, ['7'])).rejects.toThrow(/--gpus: no GPU 7 on this machine; its GPUs: 0 \(GPU-aaa\), 1 \(GPU-bbb\)/);
  });
});
