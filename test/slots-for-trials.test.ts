import { describe, expect, it } from 'vitest';
import { slotsForTrials } from '../src/scheduler/devices.js';
import { BUILTIN_BACKENDS } from '../src/trainer/capabilities.js';

const gpu = { index: 0, name: 'H100', uuid: 'GPU-0', memoryTotalBytes: 80e9 };
const external = { trainer: { command: ['python3', 'train.py'] } } as const;

describe('slotsForTrials', () => {
  it('keeps built-in trials off GPUs while the built-in trainer has no CUDA backend, and says so', () => {
    const { slots, note } = slotsForTrials([{ trainer: 'builtin' }], [gpu], { parallel: 2 });
    if (BUILTIN_BACKENDS.includes('cuda')) {
      expect(slots.every((s) => s.device.backend === 'cuda')).toBe(true);
      expect(note).toBeUndefined();
    } else {
      expect(slots.map((s) => s.device.backend)).toEqual(['cpu', 'cpu']);
      expect(note).toMatch(/^GPUs found, but the built-in trainer has no CUDA backend/);
    }
  });

  it('gives external trainers the GPUs, and everyone CPU slots where there is no GPU', () => {
    expect(slotsForTrials([external, { trainer: 'builtin' }], [gpu], {}).slots.map((s) => s.env.CUDA_VISIBLE_DEVICES)).toEqual(['GPU-0']);
    const none = slotsForTrials([{ trainer: 'builtin' }], [], {});
    expect(none.slots.map((s) => s.device.backend)).toEqual(['cpu']);
    expect(none.note).toBeUndefined();
  });
});
