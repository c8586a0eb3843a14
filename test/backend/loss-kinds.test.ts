import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLossKind, isMaterialised, isSampled, LOSS_KIND_NAMES, LOSS_KINDS, type LossKind } from '../../src/backend/loss-kinds.js';
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
    expect(LOSSES).toEqual(['ce', 'ce-', 'cce', 'cce-', 'bce', 'bce+', 'gbce']);
    expect(LOSSES).toEqual(LOSS_KIND_NAMES);
    expect([...SAMPLED_LOSSES]).toEqual(LOSS_KIND_NAMES.filter((k) => LOSS_KINDS[k].sampled));
    for (const kind of LOSS_KIND_NAMES) {
      const c = resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: kind, negatives: 7 } });
      expect(c.train.loss).toBe(kind);
      expect(c.train.negatives, kind).toBe(isSampled(kind) ? 7 : undefined);
      expect(c.train.sampling, kind).toBe(isSampled(kind) ? 'uniform' : undefined);
      expect(c.train.gbce_t, kind).toBe(kind === 'gbce' ? 0.75 : undefined);
    }
    expect(() => resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'ce+' } })).toThrow(/^train\.loss: expected one of ce, ce-, cce, cce-, bce, bce\+/);
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
    expect(LOSS_KIND_NAMES.filter(isSampled)).toEqual(['ce-', 'cce-', 'bce+', 'gbce']);
    expect(isLossKind('cce-')).toBe(true);
    expect(isLossKind('toString')).toBe(false);
    expect(isLossKind(3)).toBe(false);
  });
});
