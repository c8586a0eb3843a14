import { describe, expect, it } from 'vitest';
import { resolveDatasetSpec } from '../../src/data/spec.js';

describe('resolveDatasetSpec', () => {
  it('fills a registered data set defaults; explicit defaults resolve the same', () => {
    const short = resolveDatasetSpec('movielens-20m');
    expect(short).toEqual({
      name: 'movielens-20m',
      format: 'csv',
      columns: { user: 'userId', item: 'movieId', time: 'timestamp', rating: 'rating' },
      header: true,
      rating_above: 3,
      dedup: 'none',
      min_item_count: 5,
      min_user_count: 3,
      kcore: false,
      split: 'seed',
      test_quantile: 0.9,
      validation_fraction: 0.05,
      split_seed: 42,
    });
    expect(resolveDatasetSpec({ name: 'movielens-20m', split: 'seed', split_seed: 42, min_item_count: 5, dedup: 'none' })).toEqual(short);
  });

  it('infers the format of a path from its extension and drops keys the format does not use', () => {
    expect(resolveDatasetSpec({ path: 'x/log.txt' })).toEqual({
      path: 'x/log.txt',
      format: 'sequences',
      dedup: 'none',
      min_item_count: 1,
      min_user_count: 1,
      kcore: false,
      split: 'leave-one-out',
    });
    expect(resolveDatasetSpec({ path: 'a.tsv.gz', columns: { time: null } }).columns).toEqual({ user: 'user_id', item: 'item_id' });
  });

  it('normalises event values to sorted unique text', () => {
    expect(resolveDatasetSpec('megamarket').event_values).toEqual(['2']);
    const s = resolveDatasetSpec({ path: 'e.parquet', columns: { event: 'kind' }, event_values: ['view', 2, 'view'] });
    expect(s.event_values).toEqual(['2', 'view']);
  });

  it('names the key of a bad value', () => {
    expect(() => resolveDatasetSpec('nope')).toThrow(/^dataset\.name: unknown data set "nope"; registered: ml-latest-small/);
    expect(() => resolveDatasetSpec({ path: 'a.bin' })).toThrow(/^dataset\.format: cannot tell the format/);
    expect(() => resolveDatasetSpec({ path: 'a.csv', min_item_count: 0 })).toThrow(/^dataset\.min_item_count: expected an integer/);
    expect(() => resolveDatasetSpec({ path: 'a.csv', rating_above: 3 })).toThrow(/^dataset\.rating_above: needs a rating column/);
    expect(() => resolveDatasetSpec({ path: 'a.txt', split: 'seed' })).toThrow(/^dataset\.split: the seed split needs timestamps/);
    expect(() => resolveDatasetSpec({ path: 'a.csv', split_seed: 1 })).toThrow(/^dataset\.split_seed: only for the seed split/);
    expect(() => resolveDatasetSpec({ path: 'a.txt', columns: { user: 0 } })).toThrow(/^dataset\.columns: only for the csv, tsv, parquet formats/);
    expect(() => resolveDatasetSpec({ path: 'a.csv', header: false })).toThrow(/^dataset\.columns\.user: a file without a header needs 0-based column indices/);
    expect(() => resolveDatasetSpec({ path: 'a.csv', columns: { weight: 'w' } })).toThrow(/^dataset\.columns\.weight: unknown key/);
    expect(() => resolveDatasetSpec({ path: 'a.csv', dedup: 'yes' })).toThrow(/^dataset\.dedup: expected one of none, consecutive, all/);
    expect(() => resolveDatasetSpec({ name: 'beauty', split: 'seed', test_quantile: 1 })).toThrow(/^dataset\.test_quantile: expected a number in \(0, 1\)/);
    expect(() => resolveDatasetSpec(3)).toThrow(/^dataset: expected a data set name/);
  });
});
