import { describe, expect, it } from 'vitest';
import { allocCudaGroup, deviceTensor } from '../../../src/backend/cuda/cuda-tensor.js';
import { planGroup } from '../../../src/backend/memory-plan.js';
import { DeviceAllocator } from '../../../src/cuda/allocator.js';
import { fakeDeviceMemory } from '../../helpers/fake-device-memory.js';

const SPECS = [
  { name: 'h', shape: [5, 33], dtype: 'bf16' },
  { name: 'targets', shape: [5], dtype: 'i32' },
  { name: 'dh', shape: [5, 33], dtype: 'f32' },
] as const;

describe('CUDA tensor groups', () => {
  it('carve one allocation at the offsets of the shared memory plan', () => {
    const allocator = new DeviceAllocator(fakeDeviceMemory());
    const g = allocCudaGroup(allocator, 'io', SPECS);
    const plan = planGroup('io', SPECS);
    const base = g.get('h').ptr;
    for (const v of plan.views) {
      const t = g.get(v.spec.name);
      expect(t.ptr - base, v.spec.name).toBe(BigInt(v.byteOffset));
      expect([t.size, t.dtype, t.shape]).toEqual([v.size, v.spec.dtype, v.spec.shape]);
    }
    expect(g.get('h').bytes).toBe(5 * 33 * 2);
    expect(allocator.stats().liveBuffers).toBe(1);
    g.free();
    expect(allocator.stats().liveBuffers).toBe(0);
    expect(() => g.get('h').ptr).toThrow(/after free/);
  });

  it('gives a group of bf16 views a bf16 flat tensor over the whole allocation', () => {
    const g = allocCudaGroup(new DeviceAllocator(fakeDeviceMemory()), 'mirror', [
      { name: 'w', shape: [3, 7], dtype: 'bf16' },
      { name: 'b', shape: [300], dtype: 'bf16' },
    ]);
    const flat = g.flat();
    expect([flat.dtype, flat.size]).toEqual(['bf16', (256 + 768) / 2]);
    expect(flat.ptr).toBe(g.get('w').ptr);
  });

  it('names what is missing or mistyped', () => {
    const g = allocCudaGroup(new DeviceAllocator(fakeDeviceMemory()), 'io', SPECS);
    expect(() => g.get('dH')).toThrow(/"io" has no tensor "dH"; it has h, targets, dh/);
    expect(() => g.flat()).toThrow(/needs views of one float dtype, "targets" is i32, not bf16/);
    expect(() => deviceTensor(g.get('h'), 'lossForward.h', ['f32'], 1)).toThrow(/lossForward\.h: expected f32, got bf16 tensor "h"/);
    expect(() => deviceTensor(g.get('dh'), 'lossBackward.dH', ['f32'], 1000)).toThrow(/at least 1000 elements, "dh" has 165/);
    expect(() => deviceTensor({ name: 'x', shape: [1], dtype: 'f32', size: 1 }, 'loss', ['f32'], 1)).toThrow(/expected a CUDA tensor/);
    expect(deviceTensor(g.get('dh'), 'dH', ['f32', 'bf16'], 165).name).toBe('dh');
  });
});
