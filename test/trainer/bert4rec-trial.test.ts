/**
 * model.name bert4rec end to end on the CPU: its config keys (mask_prob in, first_target out), its
 * trial ids, and a short trial that trains on the masked positions, evaluates from the mask token,
 * and is reproducible from its seed.
 */
import { describe, expect, it } from 'vitest';
import { canonicalConfig, trialId } from '../../src/sweep/canonical.js';
import { resolveTrialConfig, type TrialConfig } from '../../src/trainer/config.js';
import { useTrialBench } from '../helpers/synthetic-trial.js';

describe('bert4rec config', () => {
  const base = { dataset: 'ml-latest-small', model: { name: 'bert4rec' }, train: { loss: 'ce' } };

  it('takes train.mask_prob (default 0.2, in (0, 1)) and drops first_target; sasrec the other way round', () => {
    const cfg = resolveTrialConfig(base);
    expect(cfg.train.mask_prob).toBe(0.2);
    expect(cfg.train).not.toHaveProperty('first_target');
    expect(resolveTrialConfig({ ...base, train: { loss: 'ce', mask_prob: 0.4, first_target: false } }).train).toMatchObject({ mask_prob: 0.4 });
    expect(() => resolveTrialConfig({ ...base, train: { loss: 'ce', mask_prob: 1 } })).toThrow(/^train\.mask_prob: expected a number in \(0, 1\), got 1/);
    const sasrec = resolveTrialConfig({ ...base, model: {}, train: { loss: 'ce', mask_prob: 0.4 } });
    expect(sasrec.train).not.toHaveProperty('mask_prob');
    expect(sasrec.train.first_target).toBe(true);
  });

  it('gives bert4rec its own trial ids, one per mask_prob, and keeps inactive keys from splitting them', () => {
    const id = (raw: Record<string, unknown>): string => trialId('builtin', canonicalConfig('builtin', raw));
    const bert = id(base);
    expect(bert).not.toBe(id({ ...base, model: {} }));
    expect(id({ ...base, train: { loss: 'ce', mask_prob: 0.2, first_target: false } })).toBe(bert);
    expect(id({ ...base, train: { loss: 'ce', mask_prob: 0.3 } })).not.toBe(bert);
  });
});

describe('a bert4rec trial', () => {
  const bench = useTrialBench(
    'gridrec-bert-',
    { users: 200, items: 30, interactions: 3000, sequential: 0.9, successors: 2, format: 'sequences', seed: 5 },
    () => config().dataset,
  );

  function config(train: Record<string, unknown> = {}): TrialConfig {
    return resolveTrialConfig({
      dataset: { path: bench.file, format: 'sequences', min_item_count: 1, min_user_count: 3 },
      model: { name: 'bert4rec', hidden: 16, blocks: 1, heads: 2, max_seq_len: 10 },
      train: { loss: 'ce', batch_size: 32, epochs: 3, patience: 3, lr: 0.01, ...train },
      eval: { k: [10] },
    });
  }


  it('trains on the masked positions, evaluates, plans its memory exactly, and is reproducible from its seed', async () => {
    const a = await bench.train(config());
    expect(a.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(a.epochs[2]!.train_loss).toBeLessThan(a.epochs[0]!.train_loss);
    for (const e of a.epochs) expect(e.metrics['ndcg@10']).toBeGreaterThan(0);
    expect(a.result.peak_bytes).toBe(a.planned);

    const b = await bench.train(config());
    expect(b.epochs.map((e) => e.train_loss)).toEqual(a.epochs.map((e) => e.train_loss));
    expect(b.result.test).toEqual(a.result.test);
    const c = await bench.train(config({ mask_prob: 0.4 }));
    expect(c.epochs.map((e) => e.train_loss)).not.toEqual(a.epochs.map((e) => e.train_loss));
  });

  it('trains untied with a sampled loss', async () => {
    const cfg = resolveTrialConfig({ ...config({ loss: 'bce+', negatives: 8 }), model: { ...config().model, tie_output: false } } as unknown as Record<string, unknown>);
    const r = await bench.train(cfg);
    expect(r.epochs.every((e) => Number.isFinite(e.train_loss))).toBe(true);
    expect(r.result.peak_bytes).toBe(r.planned);
  });
});
