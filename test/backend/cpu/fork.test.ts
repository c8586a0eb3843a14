/**
 * Ops.fork and Ops.join on the CPU backend, which has one sequence of ops: a fork's work runs at once,
 * and the bookkeeping every backend shares (fork-ledger.ts) turns a misuse into an error where it happens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';
import type { TensorGroup } from '../../../src/backend/ops.js';

describe('Ops.fork and Ops.join (CPU)', () => {
  let ops: CpuOps;
  let g: TensorGroup;
  beforeAll(async () => {
    ops = await CpuOps.create({ threads: 1 });
    g = ops.allocGroup('fork', [{ name: 'x', shape: [4], dtype: 'f32' }]);
  });
  afterAll(() => ops.close());

  it('runs the work at once; a join completes it', async () => {
    const forked = ops.fork(() => ops.fill(g.get('x'), 5, 4));
    ops.join(forked);
    expect([...(await ops.readF32(g.get('x')))]).toEqual([5, 5, 5, 5]);
  });

  it('a fork joined twice, or a fork inside a fork, is an error', () => {
    const forked = ops.fork(() => ops.fill(g.get('x'), 1, 4));
    ops.join(forked);
    expect(() => ops.join(forked)).toThrow(/fork \d+ is not pending/);
    expect(() => ops.fork(() => ops.fork(() => undefined))).toThrow(/inside a fork cannot fork/);
  });

  it('an unjoined fork fails the next read and the end of a recorded step, naming it', async () => {
    const id = ops.fork(() => ops.fill(g.get('x'), 2, 4)).id;
    await expect(ops.readF32(g.get('x'))).rejects.toThrow(new RegExp(`readF32: fork ${id} not joined`));
    // The failed read joined it: the next read succeeds.
    expect([...(await ops.readF32(g.get('x')))]).toEqual([2, 2, 2, 2]);
    const step = ops.recordStep(() => {
      ops.fork(() => ops.fill(g.get('x'), 3, 4));
    });
    expect(() => step.replay()).toThrow(/recordStep: fork \d+ not joined/);
  });
});
