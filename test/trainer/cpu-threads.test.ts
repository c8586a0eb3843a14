import { describe, expect, it } from 'vitest';
import { cpuThreads } from '../../src/trainer/backend.js';
import { CPU_THREADS_ENV } from '../../src/trainer/protocol.js';

describe('cpuThreads', () => {
  it("reads the protocol's variable: unset is the backend's default, a bad value an error naming it", () => {
    expect(cpuThreads({})).toBeUndefined();
    expect(cpuThreads({ [CPU_THREADS_ENV]: '' })).toBeUndefined();
    expect(cpuThreads({ [CPU_THREADS_ENV]: '3' })).toBe(3);
    expect(() => cpuThreads({ [CPU_THREADS_ENV]: '0' })).toThrow('GRID_CPU_THREADS: expected an integer in [1, 64], got "0"');
    expect(() => cpuThreads({ [CPU_THREADS_ENV]: 'many' })).toThrow(/GRID_CPU_THREADS/);
  });
});
