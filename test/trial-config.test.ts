import { describe, expect, it } from 'vitest';
import { resolveTrialConfig } from '../src/trainer/config.js';

describe('resolveTrialConfig', () => {
  it('fills defaults and drops negatives for full-catalogue losses', () => {
    const c = resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'cce', negatives: 64 } });
    expect(c.train.negatives).toBeUndefined();
    expect(c.train.sampling).toBeUndefined();
    expect(c.model.hidden).toBe(64);
    expect(c.dataset).toMatchObject({ name: 'ml-latest-small', format: 'csv', split: 'leave-one-out', min_item_count: 5 });
    expect(c.eval.k).toEqual([10]);
  });

  it('keeps negatives for sampled losses', () => {
    const c = resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'cce-', negatives: 1e3 } });
    expect(c.train.negatives).toBe(1000);
    expect(c.train.sampling).toBe('uniform');
  });

  it('names the key path of a bad value', () => {
    expect(() => resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'mse' } })).toThrow(/^train\.loss: expected one of ce, ce-/);
    expect(() => resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'ce' }, model: { hidden: 64, heads: 3 } })).toThrow(
      /^model\.heads: must divide model\.hidden \(64\), got 3/,
    );
    expect(() => resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'ce', batchsize: 3 } })).toThrow(/^train\.batchsize: unknown key/);
    expect(() => resolveTrialConfig({ train: { loss: 'ce' } })).toThrow(/^dataset: required/);
  });
});
