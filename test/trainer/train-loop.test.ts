/**
 * The training loop on a small synthetic log with a learnable sequential rule: it reports every epoch
 * and a result, is reproducible from its seed, learns (beats popularity), and its peak memory shows
 * that ce holds the logits while cce does not.
 */
import { describe, expect, it } from 'vitest';
import { planGroup } from '../../src/backend/memory-plan.js';
import { evaluatePopularity } from '../../src/metrics/popularity-baseline.js';
import { resolveTrialConfig, type TrialConfig } from '../../src/trainer/config.js';
import { checkAgainstData } from '../../src/trainer/trial-checks.js';
import { ConfigError } from '../../src/util/config-error.js';
import { useTrialBench } from '../helpers/synthetic-trial.js';

const bench = useTrialBench(
  'gridrec-train-',
  { users: 300, items: 40, interactions: 6000, sequential: 0.9, successors: 2, format: 'sequences', seed: 5 },
  () => config('ce').dataset,
);

function config(loss: string, train: Record<string, unknown> = {}): TrialConfig {
  return resolveTrialConfig({
    dataset: { path: bench.file, format: 'sequences', min_item_count: 1, min_user_count: 3 },
    model: { hidden: 16, blocks: 1, heads: 2, max_seq_len: 12, dropout: 0.1 },
    train: { loss, batch_size: 32, epochs: 4, patience: 4, lr: 0.01, ...train },
    eval: { k: [5, 10] },
  });
}


describe('training loop', () => {
  it('reports each epoch and a result, learns beyond popularity, and is reproducible from its seed', async () => {
    const a = await bench.train(config('ce'));
    expect(a.epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
    for (const e of a.epochs) {
      expect(e.metrics['ndcg@10']).toBeGreaterThanOrEqual(0);
      expect(e.peak_bytes).toBeGreaterThan(0);
      expect(e.tokens_per_second).toBeGreaterThan(0);
    }
    expect(a.epochs[3]!.train_loss).toBeLessThan(a.epochs[0]!.train_loss);
    expect(Object.keys(a.result.test).sort()).toEqual(['coverage@10', 'coverage@5', 'hr@10', 'hr@5', 'mrr@10', 'mrr@5', 'ndcg@10', 'ndcg@5', 'surprisal@10', 'surprisal@5']);
    const pop = evaluatePopularity(bench.data.validation, bench.data.itemCounts, [10]);
    expect(a.result.validation['ndcg@10']).toBeGreaterThan(1.5 * pop['ndcg@10']!);
    // The planned peak is exactly what the allocator saw (every group lives for the whole fit).
    expect(a.result.peak_bytes).toBe(a.planned);

    const b = await bench.train(config('ce'));
    expect(b.epochs.map((e) => e.train_loss)).toEqual(a.epochs.map((e) => e.train_loss));
    expect(b.result.test).toEqual(a.result.test);
    const c = await bench.train(config('ce', { seed: 7 }));
    expect(c.epochs.map((e) => e.train_loss)).not.toEqual(a.epochs.map((e) => e.train_loss));
  });

  it('restores the best epoch for the test and stops after `patience` epochs without improvement', async () => {
    // lr so large that training degrades after the first epochs.
    const r = await bench.train(config('ce', { lr: 0.5, epochs: 8, patience: 2 }));
    const best = r.result.best_epoch;
    const values = r.epochs.map((e) => e.metrics['ndcg@10']!);
    expect(values[best - 1]).toBe(Math.max(...values));
    expect(r.result.validation).toEqual(r.epochs[best - 1]!.metrics);
    expect(r.epochs.length).toBeLessThanOrEqual(Math.min(8, best + 2));
  });

  it('peak bytes: ce holds [N × V] float32 logits, cce does not; ce- holds [N × n] where cce- does not', async () => {
    const one = { epochs: 1 };
    const peak = async (cfg: TrialConfig): Promise<number> => (await bench.train(cfg)).result.peak_bytes;
    const ce = await peak(config('ce', one));
    const cce = await peak(config('cce', one));
    const ceMinus = await peak(config('ce-', { ...one, negatives: 20 }));
    const cceMinus = await peak(config('cce-', { ...one, negatives: 20 }));
    const N = 32 * 12;
    const V = bench.data.numItems;
    const ws = (kind: 'ce' | 'cce' | 'ce-' | 'cce-'): number =>
      planGroup('ws', bench.ops.lossWorkspace({ kind, negatives: { count: 20, sampling: 'uniform', seed: 42, step: 0 } }, { rows: N, items: V, hidden: 16 })).bytes;
    // The whole difference of the peaks is the loss workspace, and ce's holds the logits.
    expect(ce - cce).toBe(ws('ce') - ws('cce'));
    expect(ws('ce')).toBeGreaterThanOrEqual(N * V * 4);
    expect(ws('cce')).toBeLessThan((N * V * 4) / 4);
    expect(ceMinus - cceMinus).toBe(ws('ce-') - ws('cce-'));
    expect(ws('ce-')).toBeGreaterThanOrEqual(N * 20 * 4 + N * 21 * 4);
    expect(ws('cce-')).toBeLessThan(N * 20 * 4);
  });

  it('rejects negatives ≥ the catalogue size before any work, naming the key', () => {
    expect(() => checkAgainstData(config('ce-', { negatives: bench.data.numItems }), bench.data)).toThrow(ConfigError);
    expect(() => checkAgainstData(config('ce-', { negatives: bench.data.numItems }), bench.data)).toThrow(/train\.negatives: must be below the catalogue size/);
    expect(() => checkAgainstData(config('ce-', { negatives: bench.data.numItems - 1 }), bench.data)).not.toThrow();
  });
});
