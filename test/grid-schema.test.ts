import { readdirSync, readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { expandGrid } from '../src/sweep/expand.js';
import { parseGridFile } from '../src/sweep/grid-file.js';
import { gridSchema } from '../src/sweep/grid-schema.js';
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

  it('leaves external trainers\' sections free', () => {
    const text = 'trainer: {command: [t]}\nmine: {anything: [1]}\ngrid:\n  mine.x: [1, 2]\nobjective: {metric: auc}\n';
    expect(validate(load(text), published)).toEqual([]);
    expect(expandGrid(parseGridFile(text, 'x.yaml')).trials).toHaveLength(2);
  });
});
