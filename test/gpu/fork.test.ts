/**
 * Ops.fork and Ops.join on the CUDA backend: a fork's ops run on the side stream after what the main
 * stream queued before it, and ops after a join see what the fork wrote, launched op by op and recorded
 * as a graph (where the fork is a parallel branch). A training step whose weight gradients run beside its
 * input gradients (transformer-block.ts) and whose loss's table gradient runs beside the model's backward
 * (Ops.lossBackward's tableBeside) computes, bit for bit, what it computes with the side streams off, and
 * so does the evaluation after it: the kernels of these losses sum in a fixed order, so any difference
 * would be a missing join (a race).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CudaOps } from '../../src/backend/cuda/cuda-ops.js';
import { trainBatches } from '../../src/data/batches.js';
import { loadDataset } from '../../src/data/load.js';
import { writeSynthetic } from '../../src/data/synth.js';
import type { PreparedDataset } from '../../src/data/types.js';
import { resolveTrialConfig } from '../../src/trainer/config.js';
import { openTrial } from '../../src/trainer/train-loop.js';
import { announceSkip, noGpu, randomFloats } from './gpu.js';

announceSkip('test/gpu/fork.test.ts');

/** out = a · bᵀ in float64 on the host, a [m × k], b [n × k]. */
function product(a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t]! * b[j * k + t]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

describe.skipIf(noGpu)('Ops.fork and Ops.join on CUDA', () => {
  let ops: CudaOps;
  beforeAll(async () => {
    const { CudaOps } = await import('../../src/backend/cuda/cuda-ops.js');
    // fp32 math: the products below are checked against float64 sums to a few hundred ulps.
    ops = CudaOps.create({ sideStream: true, precision: 'fp32' });
  });
  afterAll(() => ops?.close());

  // A product large enough to outlast the main stream's few launches, so that a missing order would show.
  const [m, n, k] = [512, 384, 256];
  const specs = [
    { name: 'a', shape: [m, k], dtype: 'f32' },
    { name: 'b', shape: [n, k], dtype: 'f32' },
    { name: 'y', shape: [m, n], dtype: 'f32' },
    { name: 'z', shape: [m, n], dtype: 'f32' },
    { name: 'c', shape: [m], dtype: 'f32' },
  ] as const;

  it('a fork runs after the ops before it; ops after the join see its result', async () => {
    const g = ops.allocGroup('fork', specs);
    try {
      const [a, b] = [randomFloats(m * k), randomFloats(n * k)];
      ops.write(g.get('a'), a);
      ops.write(g.get('b'), b);
      ops.fill(g.get('y'), Number.NaN, m * n);
      // The fork reads b after the main stream scales it by 2 (queued before the fork).
      ops.axpy(g.get('b'), g.get('b'), 1, n * k);
      const forked = ops.fork(() => ops.matmul(g.get('y'), g.get('a'), g.get('b'), m, n, k, { transB: true }));
      ops.fill(g.get('c'), 3, m);
      ops.join(forked);
      ops.copy(g.get('z'), g.get('y'), m * n);
      const want = product(a, b, m, n, k);
      const got = await ops.readF32(g.get('z'));
      // fp32 FMA over k = 256 terms of |x| < 2: 1e-4 absolute is ~100 ulps of the largest sums.
      let worst = 0;
      for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(got[i]! - 2 * want[i]!));
      expect(worst).toBeLessThan(1e-4);
      expect((await ops.readF32(g.get('c'))).every((v) => v === 3)).toBe(true);
    } finally {
      ops.freeGroup(g);
    }
  });

  it('a recorded step keeps the fork as a branch: each replay reads the inputs of its time', async () => {
    const g = ops.allocGroup('fork-graph', specs);
    try {
      const b = randomFloats(n * k);
      ops.write(g.get('b'), b);
      const step = ops.recordStep(() => {
        const forked = ops.fork(() => ops.matmul(g.get('y'), g.get('a'), g.get('b'), m, n, k, { transB: true }));
        ops.join(forked);
        ops.copy(g.get('z'), g.get('y'), m * n);
      });
      try {
        for (let replay = 0; replay < 2; replay++) {
          const a = randomFloats(m * k);
          ops.write(g.get('a'), a);
          ops.fill(g.get('z'), Number.NaN, m * n);
          step.replay();
          const want = product(a, b, m, n, k);
          const got = await ops.readF32(g.get('z'));
          let worst = 0;
          for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
          expect(worst, `replay ${replay}`).toBeLessThan(1e-4);
        }
      } finally {
        step.close();
      }
    } finally {
      ops.freeGroup(g);
    }
  });

  it('a fork left unjoined fails the recording and the next read, by name', async () => {
    const g = ops.allocGroup('fork-unjoined', specs);
    try {
      expect(() => ops.recordStep(() => ops.fork(() => ops.fill(g.get('c'), 1, m)))).toThrow(/recordStep: fork \d+ not joined/);
      ops.fork(() => ops.fill(g.get('c'), 2, m));
      await expect(ops.readF32(g.get('c'))).rejects.toThrow(/readF32: fork \d+ not joined/);
      // The failed read joined it: the backend stays usable and the fork's write landed.
      expect((await ops.readF32(g.get('c'))).every((v) => v === 2)).toBe(true);
    } finally {
      ops.freeGroup(g);
    }
  });
});

describe.skipIf(noGpu)('training steps with the weight gradients forked', () => {
  let dir: string;
  let data: PreparedDataset;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridrec-fork-'));
    writeSynthetic(join(dir, 'log.txt'), { users: 203, items: 57, interactions: 5000, sequential: 0.8, successors: 2, format: 'sequences', seed: 3 });
    data = await loadDataset(resolveTrialConfig({ dataset: { path: join(dir, 'log.txt') }, train: { loss: 'ce' } }).dataset, { cache: false });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // The losses whose kernels all sum in a fixed order (cce- and bce+ add their table gradient with float
  // atomics); sce's two gradients stay in one sequence (its table gradient reads what its dH kernel writes).
  for (const loss of ['ce', 'ce-', 'cce', 'bce', 'sce'] as const) {
    it(`${loss}: parameters after five steps equal those with the side streams off, bit for bit`, async () => {
      const cfg = resolveTrialConfig({
        dataset: { path: join(dir, 'log.txt') },
        model: { hidden: 64, heads: 2, max_seq_len: 29, dropout: 0.2 },
        train: { loss, batch_size: 33, seed: 1 + Math.floor(Math.random() * 1000), ...(loss === 'ce-' ? { negatives: 7 } : {}) },
      });
      const batches = [...trainBatches(data.train, { batchSize: 33, maxLen: 29, seed: 5, epoch: 0 })].slice(0, 5);
      const run = async (sideStream: boolean) => {
        const { CudaOps } = await import('../../src/backend/cuda/cuda-ops.js');
        const backend = CudaOps.create({ sideStream });
        try {
          const { trial, close } = openTrial(backend, cfg, data);
          for (const b of batches) trial.trainStep(b);
          const params = await trial.parameters();
          // Evaluation forks the keys' and values' projections too.
          const metrics = await trial.evaluate('validation');
          close();
          return { params, metrics };
        } finally {
          backend.close();
        }
      };
      const serial = await run(false);
      const forked = await run(true);
      expect(serial.params.every(Number.isFinite)).toBe(true);
      expect(Buffer.from(forked.params.buffer).equals(Buffer.from(serial.params.buffer))).toBe(true);
      expect(forked.metrics).toEqual(serial.metrics);
    });
  }
});
