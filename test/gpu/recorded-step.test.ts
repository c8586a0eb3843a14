/**
 * A training step recorded as a CUDA graph and replayed computes what the same steps compute launched
 * op by op: the replay reads each batch and the step's counters from the device, so its dropout masks,
 * negatives and Adam step follow the step number. ce's, ce-'s and cce's kernels sum in a fixed order, so their parameters
 * after a few steps agree bit for bit; the streamed sampled losses (cce-, bce+) add their table gradient
 * with float atomics whose order varies from run to run, and Adam's normalisation turns those roundings
 * into parameter moves of up to lr on near-zero gradients (measured on an H200: 5e-6 to 5.5e-5 relative
 * after five steps), so 5e-4; a frozen step, the failure this guards against, moves every parameter
 * the replays touch by up to lr per step and lands far above it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ops, RecordedStep } from '../../src/backend/ops.js';
import { trainBatches } from '../../src/data/batches.js';
import { loadDataset } from '../../src/data/load.js';
import { writeSynthetic } from '../../src/data/synth.js';
import type { PreparedDataset } from '../../src/data/types.js';
import { resolveTrialConfig } from '../../src/trainer/config.js';
import { openTrial } from '../../src/trainer/train-loop.js';
import { relError } from './device-tensors.js';
import { announceSkip, noGpu } from './gpu.js';

announceSkip('test/gpu/recorded-step.test.ts');

/** The same backend with recording disabled: every step then runs op by op. */
function eagerOnly(ops: Ops): Ops {
  return new Proxy(ops, {
    get(target, prop) {
      if (prop === 'recordStep') return (): RecordedStep => { throw new Error('recording disabled for the comparison'); };
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe.skipIf(noGpu)('a recorded training step', () => {
  let dir: string;
  let data: PreparedDataset;
  let ops: Ops;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridrec-graph-'));
    writeSynthetic(join(dir, 'log.txt'), { users: 203, items: 57, interactions: 5000, sequential: 0.8, successors: 2, format: 'sequences', seed: 3 });
    data = await loadDataset(resolveTrialConfig({ dataset: { path: join(dir, 'log.txt') }, train: { loss: 'ce' } }).dataset, { cache: false });
    const { CudaOps } = await import('../../src/backend/cuda/cuda-ops.js');
    ops = CudaOps.create();
  });
  afterAll(() => {
    ops?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const atomic: ReadonlySet<string> = new Set(['cce-', 'bce+']);
  for (const loss of ['ce', 'ce-', 'cce', 'cce-', 'bce+'] as const) {
    it(`${loss}: replays equal the same steps launched op by op`, async () => {
      const cfg = resolveTrialConfig({
        dataset: { path: join(dir, 'log.txt') },
        model: { hidden: 24, heads: 2, max_seq_len: 13, dropout: 0.2 },
        train: { loss, batch_size: 17, seed: 1 + Math.floor(Math.random() * 1000), ...(loss === 'ce' || loss === 'cce' ? {} : { negatives: 7 }) },
      });
      const batches = [...trainBatches(data.train, { batchSize: 17, maxLen: 13, seed: 5, epoch: 0 })].slice(0, 5);
      const run = async (backend: Ops): Promise<Float32Array> => {
        const { trial, close } = openTrial(backend, cfg, data);
        for (const b of batches) trial.trainStep(b);
        const params = await trial.parameters();
        close();
        return params;
      };
      const eager = await run(eagerOnly(ops));
      const replayed = await run(ops);
      expect(eager.every(Number.isFinite)).toBe(true);
      // Steps 2-5 were replays: had the graph frozen step 1's dropout or negatives, they would differ.
      if (!atomic.has(loss)) expect(Buffer.from(replayed.buffer).equals(Buffer.from(eager.buffer))).toBe(true);
      else expect(relError(replayed, eager)).toBeLessThanOrEqual(5e-4);
    });
  }
});
