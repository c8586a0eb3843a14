/** Early stopping and the best epoch follow the sweep's objective (`train.monitor`), not always NDCG@10. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { loadDataset } from '../../src/data/load.js';
import { writeSynthetic } from '../../src/data/synth.js';
import type { PreparedDataset } from '../../src/data/types.js';
import { resolveTrialConfig, type TrialConfig } from '../../src/trainer/config.js';
import { MemoryEventSink } from '../../src/trainer/events.js';
import type { EpochEvent, ResultEvent } from '../../src/trainer/protocol.js';
import { prepareTrial } from '../../src/trainer/train-loop.js';
import { ConfigError } from '../../src/util/config-error.js';

let ops: CpuOps;
let data: PreparedDataset;
let dir: string;

function config(train: Record<string, unknown>): TrialConfig {
  return resolveTrialConfig({
    dataset: { path: join(dir, 'log.txt'), format: 'sequences', min_item_count: 1, min_user_count: 3 },
    model: { hidden: 8, blocks: 1, heads: 1, max_seq_len: 8 },
    train: { loss: 'ce', batch_size: 64, epochs: 6, patience: 1, lr: 0.05, ...train },
    eval: { k: [5, 10] },
  });
}

beforeAll(async () => {
  ops = await CpuOps.create({ threads: 1 });
  dir = mkdtempSync(join(tmpdir(), 'gridrec-monitor-'));
  writeSynthetic(join(dir, 'log.txt'), { users: 120, items: 30, interactions: 1500, sequential: 0.5, successors: 2, format: 'sequences', seed: 3 });
  data = await loadDataset(config({}).dataset, { cache: false });
});
afterAll(() => {
  ops.close();
  rmSync(dir, { recursive: true, force: true });
});

async function train(cfg: TrialConfig): Promise<{ epochs: EpochEvent[]; result: ResultEvent }> {
  const sink = new MemoryEventSink();
  const result = await prepareTrial(ops, cfg, data).run(sink);
  return { epochs: sink.events.filter((e): e is EpochEvent => e.type === 'epoch'), result };
}

/** The epoch early stopping with this patience picks, and how many epochs it runs, from the values reported. */
function expected(values: readonly number[], sign: number, patience: number): { best: number; ran: number } {
  let best = 0;
  for (let i = 0; i < values.length; i++) {
    if (best === 0 || sign * (values[i] as number) > sign * (values[best - 1] as number)) best = i + 1;
    else if (i + 1 - best >= patience) return { best, ran: i + 1 };
  }
  return { best, ran: values.length };
}

describe('train.monitor', () => {
  it('is dropped where it is the default and checked against eval.k', () => {
    expect(config({ monitor: 'ndcg@10' }).train.monitor).toBeUndefined();
    expect(config({ monitor: 'hr@5' }).train.monitor).toBe('hr@5');
    expect(() => config({ monitor: 'hr@20' })).toThrow(/eval\.k: must include 20 for the objective hr@20/);
    expect(() => config({ monitor: 'recall@5' })).toThrow(ConfigError);
  });

  it('chooses the best epoch and stops by the monitored metric (coverage@5 stops where NDCG would go on)', async () => {
    for (const [monitor, sign] of [['loss', -1], ['coverage@5', 1], ['ndcg@10', 1]] as const) {
      const { epochs, result } = await train(config({ monitor }));
      const values = epochs.map((e) => (monitor === 'loss' ? e.train_loss : (e.metrics[monitor] as number)));
      const want = expected(values, sign, 1);
      expect({ monitor, best: result.best_epoch, ran: epochs.length }).toEqual({ monitor, ...want });
    }
  });
});
