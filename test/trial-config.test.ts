import { describe, expect, it } from 'vitest';
import { LOSS_PARAM_KEYS, LOSS_PARAMS } from '../src/backend/loss-kinds.js';
import { configWithEveryKey, LOSS_PARAM_SPECS, resolveTrialConfig, SECTION_KEYS } from '../src/trainer/config.js';

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

  it('drops the keys the model or the loss does not use, without checking them', () => {
    const base = { dataset: 'ml-latest-small', train: { loss: 'ce', first_target: 'x', mask_prob: 5, gbce_t: 9, sce_buckets: 0 } };
    const sasrec = resolveTrialConfig({ ...base, train: { ...base.train, first_target: false } });
    expect(sasrec.train).toMatchObject({ first_target: false });
    for (const key of ['mask_prob', 'gbce_t', 'sce_buckets']) expect(Object.hasOwn(sasrec.train, key), key).toBe(false);
    const bert = resolveTrialConfig({ ...base, model: { name: 'bert4rec' }, train: { ...base.train, mask_prob: 0.5 } });
    expect(bert.train.mask_prob).toBe(0.5);
    expect(Object.hasOwn(bert.train, 'first_target')).toBe(false);
  });

  it("takes each loss's own keys' specs from backend/loss-kinds.ts", () => {
    expect(Object.keys(LOSS_PARAM_SPECS)).toEqual(LOSS_PARAM_KEYS);
    for (const key of LOSS_PARAM_KEYS) {
      const spec = LOSS_PARAM_SPECS[key];
      const p: { default: unknown; min?: number; max?: number } = LOSS_PARAMS[key];
      expect(spec.kind, key).toBe({ integer: 'int', number: 'number', boolean: 'bool' }[LOSS_PARAMS[key].type]);
      expect('default' in spec ? spec.default : undefined, key).toBe(p.default);
      if (spec.kind === 'int' || spec.kind === 'number') expect([spec.min, spec.max], key).toEqual([p.min, p.max]);
    }
  });

  it('lists every key of the key tables in configWithEveryKey, and no other', () => {
    const every = configWithEveryKey();
    for (const [section, keys] of Object.entries(SECTION_KEYS)) {
      expect(Object.keys(every[section as keyof typeof SECTION_KEYS]).sort(), section).toEqual(Object.keys(keys).sort());
    }
  });
});
