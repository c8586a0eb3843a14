import { readdirSync, readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { expandGrid } from '../src/sweep/expand.js';
import { parseGridFile } from '../src/sweep/grid-file.js';
import { gridSchema } from '../src/sweep/grid-schema.js';
import { CROSS_KEY_RULES } from '../src/trainer/config.js';
import { validate } from './helpers/json-schema.js';

const published = JSON.parse(readFileSync(new URL('../schema/grid.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const gridsDir = new URL('../grids/', import.meta.url);
const load = (text: string) => yaml.load(text, { schema: yaml.CORE_SCHEMA });

describe('schema/grid.schema.json', () => {
  it('is the schema derived from the checker\'s definitions (run scripts/write-grid-schema.ts after changing them)', () => {
    expect(published).toEqual(gridSchema());
  });

  it('accepts every example grid, which the checker accepts and expands too', () => {
    const files = readdirSync(gridsDir).filter((f) => f.endsWith('.yaml'));
    expect(files).toContain('quickstart.yaml');
    for (const f of files) {
      const text = readFileSync(new URL(f, gridsDir), 'utf8');
      expect(validate(load(text), published), f).toEqual([]);
      expect(expandGrid(parseGridFile(text, f)).trials.length, f).toBeGreaterThan(0);
    }
  });

  it('rejects what the checker rejects', () => {
    const bad = [
      'dataset: d\nfoo: 1\n',
      'grid:\n  loss: [ce]\n',
      'dataset: d\ngrid:\n  loss: [ce, mse]\n',
      'dataset: d\ngrid:\n  loss: ce\n',
      'dataset: d\nmodel: {hiden: 3}\n',
      'dataset: d\nobjective: {metric: ndcg@7}\n',
      'dataset: d\nlimits: {stall_timeout: soon}\n',
      'dataset: d\nseeds: [-1]\n',
      'trainer: {command: []}\n',
    ];
    for (const text of bad) {
      expect(() => expandGrid(parseGridFile(text, 'x.yaml')), text).toThrow();
      expect(validate(load(text), published), text).not.toEqual([]);
    }
  });

  /** Whether the checker (parsing and expanding: every trial's config resolved) accepts a grid file. */
  const checkerAccepts = (text: string): boolean => {
    try {
      expandGrid(parseGridFile(text, 'x.yaml'));
      return true;
    } catch {
      return false;
    }
  };

  // Each line is a grid file after `dataset: ml-latest-small`; the first part accepted, the second rejected by both.
  const good = [
    'train: {loss: ce, batch_size: 1, lr: 10, beta1: 0}\nmodel: {dropout: 0}',
    'train: {loss: gbce, gbce_t: 0}\nmodel: {dropout: 0.99, heads: 4, hidden: 64}',
    'train: {loss: ce}\neval: {k: 20}\ngrid:\n  eval.k: [[5, 10], 10]',
    'train: {loss: ce-, negatives: 16, sampling: popularity, seed: 4294967295}',
    'grid:\n  loss: [ce, cce]\n  train.batch_size: [1, 1048576]',
    'train: {loss: ce, monitor: hr@10}',
    'train: {loss: ce}\nconfigs:\n  - {lr: 0.01}\n  - {model: {blocks: 3}}\nexclude:\n  - {train.lr: 0.01}',
    'train: {loss: ce}\nmodel: {tie_output: false}',
    'train: {loss: ce}\ngrid:\n  model.tie_output: [true, false]',
    'train: {loss: ce, mask_prob: 0.01}\nmodel: {name: bert4rec}',
    'train: {loss: ce}\nmodel: {name: bert4rec}\ngrid:\n  train.mask_prob: [0.1, 0.99]',
    'train: {loss: sce, sce_buckets: 1, sce_bucket_rows: 1048576, sce_bucket_items: 64, sce_mix: false}',
    'grid:\n  loss: [sce]\n  train.sce_buckets: [1, 65536]\n  train.sce_mix: [true, false]',
  ];
  // [grid file body, the key both must name]
  const bad: [string, string][] = [
    ['train: {loss: ce, batch_size: 0}', 'batch_size'],
    ['train: {loss: ce, lr: -1}', 'lr'],
    ['train: {loss: ce, lr: 0}', 'lr'],
    ['train: {loss: ce, lr: 11}', 'lr'],
    ['train: {loss: ce, beta2: 1}', 'beta2'],
    ['train: {loss: ce, epochs: 0.5}', 'epochs'],
    ['train: {loss: ce, seed: 4294967296}', 'seed'],
    ['train: {loss: ce, first_target: yes}', 'first_target'],
    ['train: {loss: ce-, sampling: zipf}', 'sampling'],
    ['train: {loss: gbce, gbce_t: 1.5}', 'gbce_t'],
    ['train: {loss: gbce, gbce_t: -0.1}', 'gbce_t'],
    ['train: {loss: ce}\nmodel: {tie_output: 1}', 'tie_output'],
    ['train: {loss: ce}\nmodel: {tie_output: yes}', 'tie_output'],
    ['train: {loss: ce, mask_prob: 0}\nmodel: {name: bert4rec}', 'mask_prob'],
    ['train: {loss: ce, mask_prob: 1}\nmodel: {name: bert4rec}', 'mask_prob'],
    ['train: {loss: ce}\nmodel: {name: bert4rec}\ngrid:\n  train.mask_prob: [0.2, 1.5]', 'mask_prob'],
    ['train: {loss: sce, sce_buckets: 0}', 'sce_buckets'],
    ['train: {loss: sce, sce_buckets: 65537}', 'sce_buckets'],
    ['train: {loss: sce, sce_bucket_rows: 0}', 'sce_bucket_rows'],
    ['train: {loss: sce, sce_bucket_items: 1.5}', 'sce_bucket_items'],
    ['train: {loss: sce, sce_mix: yes}', 'sce_mix'],
    ['grid:\n  loss: [sce]\n  train.sce_buckets: [443, 0]', 'sce_buckets'],
    ['train: {loss: ce, monitor: ndcg@7}', 'monitor'],
    ['train: {loss: mse}', 'loss'],
    ['train: {loss: ce}\nmodel: {dropout: 1}', 'dropout'],
    ['train: {loss: ce}\nmodel: {heads: 0}', 'heads'],
    ['train: {loss: ce}\nmodel: {hidden: 8193}', 'hidden'],
    ['train: {loss: ce}\nmodel: {name: bert}', 'name'],
    ['train: {loss: ce}\neval: {k: 7}', 'k'],
    ['train: {loss: ce}\neval: {k: []}', 'k'],
    ['train: {loss: ce}\neval: {batch_size: 0}', 'batch_size'],
    ['grid:\n  loss: [ce]\n  batch_size: [128, 0]', 'batch_size'],
    ['grid:\n  loss: [ce]\n  train.lr: [-1]', 'lr'],
    ['grid:\n  loss: [ce]\n  train.lrr: [1]', 'lrr'],
    ['train: {loss: ce}\nconfigs:\n  - {batch_size: 0}', 'batch_size'],
    ['train: {loss: ce}\nconfigs:\n  - {model: {hidden: 0}}', 'hidden'],
    ['train: {loss: ce}\nexclude:\n  - {train.lrr: 1}', 'lrr'],
    ['train: {loss: ce}\nexclude:\n  - {model: {hiden: 1}}', 'hiden'],
  ];

  it.each(good)('the schema and the checker accept %j', (body) => {
    const text = `dataset: ml-latest-small\n${body}\n`;
    expect(validate(load(text), published)).toEqual([]);
    expect(checkerAccepts(text)).toBe(true);
  });

  it.each(bad)('the schema and the checker reject %j, naming %s', (body, key) => {
    const text = `dataset: ml-latest-small\n${body}\n`;
    // Ajv names the value's path (/train/lr) or, for a key that may not be there, the key itself.
    expect(validate(load(text), published).join('\n')).toMatch(new RegExp(`\\b${key}\\b`));
    expect(() => expandGrid(parseGridFile(text, 'x.yaml'))).toThrow(new RegExp(`\\b${key}\\b`));
  });

  it('states the rules between keys, which only the checker can enforce', () => {
    // Grid values are crossed after the schema checks them: a rule between two keys is no schema's.
    for (const body of ['model: {hidden: 64, heads: 3}', 'train: {monitor: hr@20}', 'grid:\n  hidden: [64, 50]\n  heads: [2, 4]']) {
      const text = `dataset: ml-latest-small\ntrain: {loss: ce}\n${body}\n`.replace('train: {loss: ce}\ntrain: {monitor: hr@20}', 'train: {loss: ce, monitor: hr@20}');
      expect(validate(load(text), published), text).toEqual([]);
      expect(checkerAccepts(text), text).toBe(false);
    }
    for (const rule of CROSS_KEY_RULES) expect(published.description).toContain(rule);
  });

  it('leaves external trainers\' sections free', () => {
    const text = 'trainer: {command: [t]}\nmine: {anything: [1]}\ngrid:\n  mine.x: [1, 2]\nobjective: {metric: auc}\n';
    expect(validate(load(text), published)).toEqual([]);
    expect(expandGrid(parseGridFile(text, 'x.yaml')).trials).toHaveLength(2);
  });
});
