/**
 * The evaluation records a full batch once (Ops.recordStep) and replays it for the later ones, the users'
 * first row read on the device (topK's rowStart tensor): its metrics must be those of batches run op by op,
 * over several full batches and a short last one, for validation and test.
 */
import { describe, expect, it } from 'vitest';
import type { Ops } from '../../src/backend/ops.js';
import { resolveTrialConfig, type TrialConfig } from '../../src/trainer/config.js';
import { openTrial } from '../../src/trainer/train-loop.js';
import { overrideOps } from '../helpers/override-ops.js';
import { useTrialBench } from '../helpers/synthetic-trial.js';

const bench = useTrialBench(
  'gridrec-eval-recording-',
  { users: 77, items: 40, interactions: 1000, sequential: 0.5, successors: 2, format: 'sequences', seed: 2 },
  () => config().dataset,
);

/** Batches of `batch` users (training and evaluation); the model's parameters depend on the seed only. */
function config(batch = 16): TrialConfig {
  return resolveTrialConfig({
    dataset: { path: bench.file, format: 'sequences', min_item_count: 1, min_user_count: 3 },
    model: { hidden: 8, blocks: 2, heads: 2, max_seq_len: 8 },
    train: { loss: 'cce', batch_size: batch, seed: 9 },
    eval: { k: [5, 10], batch_size: batch },
  });
}

/** `ops` counting recordStep and replay calls; with `refuse`, recordStep throws (every batch then runs op by op). */
function counting(ops: Ops, refuse: boolean): { ops: Ops; records: number; replays: number } {
  const counts = { ops, records: 0, replays: 0 };
  counts.ops = overrideOps(ops, {
    recordStep: (record: () => void) => {
      counts.records++;
      if (refuse) throw new Error('refused by the test');
      const recorded = ops.recordStep(record);
      return { replay: () => { counts.replays++; recorded.replay(); }, close: () => recorded.close() };
    },
  });
  return counts;
}

describe('the recorded evaluation batch', () => {
  it('gives the metrics of batches run op by op, over full batches and a short last one', async () => {
    const { ops: cpu, data } = bench;
    expect(data.validation.targets.length % 16).not.toBe(0);
    expect(data.validation.targets.length).toBeGreaterThan(3 * 16);
    const results = [];
    for (const refuse of [false, true]) {
      const c = counting(cpu, refuse);
      const { trial, close } = openTrial(c.ops, config(), data);
      try {
        const runs = [await trial.evaluate('validation'), await trial.evaluate('validation'), await trial.evaluate('test')];
        results.push({ runs, records: c.records, replays: c.replays });
      } finally {
        close();
      }
    }
    // The reference: every user in one batch (rows from 0), each row's computation its own.
    const { trial, close } = openTrial(cpu, config(128), data);
    const single = [await trial.evaluate('validation'), await trial.evaluate('validation'), await trial.evaluate('test')];
    close();
    const [recorded, eager] = results;
    expect(recorded!.runs).toEqual(single);
    // Recorded: the second full batch of each set records, every later full batch replays.
    const full = Math.floor(data.validation.targets.length / 16);
    expect(recorded!.records).toBe(2);
    expect(recorded!.replays).toBe(full - 1 + full + Math.floor(data.test.targets.length / 16) - 1);
    expect(eager!.replays).toBe(0);
    expect(recorded!.runs).toEqual(eager!.runs);
    expect(recorded!.runs[0]).toEqual(recorded!.runs[1]);
  });
});
