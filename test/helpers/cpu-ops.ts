/** CpuOps instances for a test file, created before its tests and closed after them. */
import { afterAll, beforeAll } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';

/** A CpuOps on `threads` worker threads for the calling file's tests: call the result inside a test. */
export function useCpuOps(threads: number): () => CpuOps {
  let ops: CpuOps | undefined;
  beforeAll(async () => {
    ops = await CpuOps.create({ threads });
  });
  afterAll(() => {
    ops?.close();
  });
  return () => {
    if (ops === undefined) throw new Error('useCpuOps: the CpuOps exists only inside the tests');
    return ops;
  };
}
