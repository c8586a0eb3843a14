import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLossKind, isMaterialised, isSampled, LOSS_KIND_NAMES, LOSS_KINDS, LOSS_PARAM_KEYS, LOSS_PARAMS, type LossKind } from '../../src/backend/loss-kinds.js';
import { canonicalConfig } from '../../src/sweep/canonical.js';
import { gridSchema } from '../../src/sweep/grid-schema.js';
import { LOSSES, resolveTrialConfig, SAMPLED_LOSSES } from '../../src/trainer/config.js';

const published = JSON.parse(readFileSync(new URL('../../schema/grid.schema.json', import.meta.url), 'utf8')) as unknown;

/** Every `enum` listed under a "loss" key anywhere in a JSON schema. */
function lossEnums(node: unknown, key = ''): unknown[][] {
  if (typeof node !== 'object' || node === null) return [];
  const here = key === 'loss' && Array.isArray((node as { enum?: unknown }).enum) ? [(node as { enum: unknown[] }).enum] : [];
  return [...here, ...Object.entries(node).flatMap(([k, v]) => lossEnums(v, k === 'items' ? key : k))];
}

describe('backend/loss-kinds.ts', () => {
  it('is the list the config accepts, in order, and its sampled kinds are the ones that take negatives', () => {
    expect(LOSSES).toEqual(['ce', 'ce-', 'cce', 'cce-', 'bce', 'bce+', 'gbce', 'sce']);
    expect(LOSSES).toEqual(LOSS_KIND_NAMES);
    expect([...SAMPLED_LOSSES]).toEqual(LOSS_KIND_NAMES.filter((k) => LOSS_KINDS[k].sampled));
    for (const kind of LOSS_KIND_NAMES) {
      const c = resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: kind, negatives: 7 } });
      expect(c.train.loss).toBe(kind);
      expect(c.train.negatives, kind).toBe(isSampled(kind) ? 7 : undefined);
      expect(c.train.sampling, kind).toBe(isSampled(kind) ? 'uniform' : undefined);
      expect(c.train.gbce_t, kind).toBe(kind === 'gbce' ? 0.75 : undefined);
      expect(c.train.sce_buckets, kind).toBe(kind === 'sce' ? 443 : undefined);
    }
    expect(() => resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'ce+' } })).toThrow(/^train\.loss: expected one of ce, ce-, cce, cce-, bce, bce\+/);
  });

  it("lists each loss's own keys: the config fills and checks them for that loss and drops them for the others", () => {
    expect(LOSS_KINDS.gbce.params).toEqual(['gbce_t']);
    expect(LOSS_KINDS.sce.params).toEqual(['sce_buckets', 'sce_bucket_rows', 'sce_bucket_items', 'sce_mix']);
    const sce = resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'sce', sce_bucket_items: 64, sce_mix: false, gbce_t: 0.5 } });
    expect(sce.train).toMatchObject({ sce_buckets: 443, sce_bucket_rows: 443, sce_bucket_items: 64, sce_mix: false });
    expect(sce.train.gbce_t).toBeUndefined();
    // An inactive key does not split one config into two trials, for external trainers either.
    const ext = canonicalConfig({ command: ['x'] }, { train: { loss: 'ce', sce_buckets: 7, gbce_t: 0.1 } });
    expect(ext).toEqual({ train: { loss: 'ce' } });
    expect(() => resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'sce', sce_buckets: 0 } })).toThrow(/^train\.sce_buckets: expected an integer in \[1, 65536\], got 0/);
    expect(() => resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'sce', sce_mix: 'yes' } })).toThrow(/^train\.sce_mix: expected true or false/);
    for (const key of LOSS_PARAM_KEYS) expect(LOSS_KIND_NAMES.some((k) => (LOSS_KINDS[k].params as readonly string[]).includes(key)), key).toBe(true);
    for (const schema of [gridSchema(), published]) {
      // The built-in trainer's sections live under the schema's `then` (trainer builtin).
      const train = (schema as { then: { properties: Record<string, { properties?: Record<string, { type?: string }> }> } }).then.properties.train!.properties!;
      for (const key of LOSS_PARAM_KEYS) expect(train[key]?.type, key).toBe(LOSS_PARAMS[key].type);
    }
  });

  it('is the list the grid schema (derived and published) allows for the loss', () => {
    for (const schema of [gridSchema(), published]) {
      const enums = lossEnums(schema);
      expect(enums.length).toBeGreaterThan(0);
      for (const e of enums) expect(e).toEqual([...LOSS_KIND_NAMES]);
    }
  });

  it('pairs each twin both ways, one materialised and one streamed, computing the same kind of loss', () => {
    for (const kind of LOSS_KIND_NAMES) {
      const twin = LOSS_KINDS[kind].twin;
      if (twin === null) continue;
      expect(isLossKind(twin), `${kind}'s twin`).toBe(true);
      const other = LOSS_KINDS[twin as LossKind];
      expect(other.twin).toBe(kind);
      expect(other.sampled).toBe(LOSS_KINDS[kind].sampled);
      expect(other.link).toBe(LOSS_KINDS[kind].link);
      expect(isMaterialised(twin as LossKind)).toBe(!isMaterialised(kind));
    }
  });

  it('answers its predicates', () => {
    expect(LOSS_KIND_NAMES.filter(isMaterialised)).toEqual(['ce', 'ce-', 'bce']);
    expect(LOSS_KINDS.sce.sampled).toBe(false);
    expect(LOSS_KIND_NAMES.filter(isSampled)).toEqual(['ce-', 'cce-', 'bce+', 'gbce']);
    expect(isLossKind('cce-')).toBe(true);
    expect(isLossKind('toString')).toBe(false);
    expect(isLossKind(3)).toBe(false);
  });
});
