/**
 * The model's fork and join schedule (transformer-block.ts, sasrec.ts, the trainer's step) against
 * Ops.fork's contract, on the CPU backend behind the checker of test/helpers/hazard-ops.ts: no op of the
 * main sequence, and no fork of another lane, touches what a pending fork reads or writes in a way that
 * would race on the GPU. Training steps (recorded, as the trainer runs them) and an evaluation, SASRec and
 * BERT4Rec, for losses whose table gradient is forked (ce, cce, ce-) and one whose is not (sce).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { trainBatches } from '../../src/data/batches.js';
import { loadDataset } from '../../src/data/load.js';
import { writeSynthetic } from '../../src/data/synth.js';
import type { PreparedDataset } from '../../src/data/types.js';
import { resolveTrialConfig } from '../../src/trainer/config.js';
import { openTrial } from '../../src/trainer/train-loop.js';
import { hazardOps } from '../helpers/hazard-ops.js';
import { withNarrowOperands } from '../helpers/override-ops.js';

describe('the fork and join schedule of a training step and an evaluation', () => {
  let dir: string;
  let data: PreparedDataset;
  let cpu: CpuOps;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridrec-hazards-'));
    writeSynthetic(join(dir, 'log.txt'), { users: 61, items: 43, interactions: 900, sequential: 0.8, successors: 2, format: 'sequences', seed: 7 });
    data = await loadDataset(resolveTrialConfig({ dataset: { path: join(dir, 'log.txt') }, train: { loss: 'ce' } }).dataset, { cache: false });
    cpu = await CpuOps.create({ threads: 1 });
  });
  afterAll(() => {
    cpu?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases = [
    ...(['ce', 'cce', 'ce-', 'sce'] as const).map((loss) => ({ model: 'sasrec' as const, loss, narrow: false })),
    { model: 'bert4rec' as const, loss: 'ce' as const, narrow: false },
    // With narrow operand copies (Ops.narrowOperands): the norms and Adam write them, the GEMMs read them.
    { model: 'sasrec' as const, loss: 'cce' as const, narrow: true },
  ];
  for (const { model, loss, narrow } of cases) {
    it(`${model}, ${loss}${narrow ? ', narrow operand copies' : ''}: no op touches what a pending fork reads or writes`, async () => {
      const cfg = resolveTrialConfig({
        dataset: { path: join(dir, 'log.txt') },
        model: { name: model, hidden: 16, heads: 2, blocks: 2, max_seq_len: 9, dropout: 0.2 },
        train: { loss, batch_size: 7, seed: 3, ...(loss === 'ce-' ? { negatives: 5 } : {}) },
      });
      const { ops, hazards } = hazardOps(cpu);
      const { trial, close } = openTrial(narrow ? withNarrowOperands(ops) : ops, cfg, data);
      try {
        // The first step runs op by op, the next ones replay the recording.
        for (const b of [...trainBatches(data.train, { batchSize: 7, maxLen: 9, seed: 5, epoch: 0 })].slice(0, 3)) trial.trainStep(b);
        await trial.evaluate('validation');
      } finally {
        close();
      }
      expect(hazards).toEqual([]);
    });
  }

  it('reports a main-sequence write to what a pending fork reads, and passes once the fork is joined', () => {
    const { ops, hazards } = hazardOps(cpu);
    const g = ops.allocGroup('t', [{ name: 'a', shape: [4], dtype: 'f32' }, { name: 'b', shape: [4], dtype: 'f32' }]);
    const forked = ops.fork(() => ops.copy(g.get('b'), g.get('a'), 4));
    ops.fill(g.get('a'), 1, 4);
    expect(hazards).toHaveLength(1);
    expect(hazards[0]).toMatch(/fill in the main sequence writes a, which the fork reads/);
    ops.join(forked);
    ops.fill(g.get('a'), 2, 4);
    ops.freeGroup(g);
    expect(hazards).toHaveLength(1);
  });
});
