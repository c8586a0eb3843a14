import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { canonicalConfig, canonicalJson, trialId } from '../src/sweep/canonical.js';
import { expandGrid } from '../src/sweep/expand.js';
import { parseGridFile } from '../src/sweep/grid-file.js';

const expand = (text: string) => expandGrid(parseGridFile(text, 'g.yaml'));
const ids = (text: string) => expand(text).trials.map((t) => t.id);

describe('expandGrid', () => {
  it('crosses every grid list with the seeds', () => {
    const e = expand('dataset: ml-latest-small\ngrid:\n  loss: [ce, cce]\n  batch_size: [64, 128, 256]\nseeds: [1, 2]\n');
    expect(e.points).toBe(12);
    expect(e.trials).toHaveLength(12);
    expect(new Set(e.trials.map((t) => `${String((t.config.train as Record<string, unknown>).seed)}`))).toEqual(new Set(['1', '2']));
  });

  it('collapses configs that differ only in keys their loss does not use', () => {
    const e = expand('dataset: ml-latest-small\ngrid:\n  loss: [ce, cce-]\n  negatives: [64, 256, 1024]\n');
    expect(e.points).toBe(6);
    expect(e.trials).toHaveLength(4); // ce once, cce- three times
    expect(e.collapsed).toBe(2);
  });

  it('drops points an exclude rule matches, by resolved value', () => {
    const e = expand(
      'dataset: ml-latest-small\ngrid:\n  loss: [ce, cce]\n  max_seq_len: [50, 200]\nexclude:\n  - {loss: ce, max_seq_len: 2e2}\n  - train: {loss: cce, negatives: 3}\n',
    );
    expect(e.trials).toHaveLength(3);
    expect(e.excluded).toBe(1);
    expect(e.trials.some((t) => canonicalJson(t.config).includes('"loss":"ce"') && canonicalJson(t.config).includes('"max_seq_len":200'))).toBe(false);
  });

  it('gives the same ids whatever the key order, list order and number spelling', () => {
    const a = ids('dataset: ml-latest-small\ntrain: {lr: 0.001}\ngrid:\n  loss: [ce, ce-]\n  negatives: [1000, 64]\n');
    const b = ids('grid:\n  train.negatives: [64, 1e3]\n  train.loss: [ce-, ce]\ntrain: {lr: 1e-3}\ndataset: {name: ml-latest-small, split: leave-one-out}\n');
    expect(new Set(a)).toEqual(new Set(b));
    expect(a).toHaveLength(3);
    // Defaults written out are the defaults: no new trial.
    expect(ids('dataset: ml-latest-small\ntrain: {loss: ce, batch_size: 128, epochs: 20}\n')).toEqual(ids('dataset: ml-latest-small\ntrain: {loss: ce}\n'));
  });

  it('excludes by data set keys, which the data layer owns', () => {
    const e = expand('dataset: ml-latest-small\ntrain: {loss: ce}\ngrid:\n  dataset.split: [leave-one-out, seed]\nexclude:\n  - {dataset.split: seed}\n');
    expect(e.trials).toHaveLength(1);
    expect(e.excluded).toBe(1);
  });

  it('reads a relative dataset.path from the folder of the grid file, wherever the sweep starts', () => {
    const text = 'dataset: {path: data/log.txt, format: sequences}\ntrain: {loss: ce}\n';
    const here = expandGrid(parseGridFile(text, '/proj/grids/a.yaml')).trials[0]!;
    const there = expandGrid(parseGridFile(text, '/other/b.yaml')).trials[0]!;
    expect((here.config.dataset as { path: string }).path).toBe('/proj/grids/data/log.txt');
    expect(here.id).not.toBe(there.id);
    const absolute = expandGrid(parseGridFile('dataset: {path: /proj/grids/data/log.txt, format: sequences}\ntrain: {loss: ce}\n', '/x/c.yaml'));
    expect(absolute.trials[0]!.id).toBe(here.id);
  });

  it('builds trials from explicit configs crossed with the grid', () => {
    const e = expand('dataset: ml-latest-small\nconfigs:\n  - {loss: ce}\n  - train: {loss: cce-, negatives: 32}\ngrid:\n  hidden: [32, 64]\n');
    expect(e.trials).toHaveLength(4);
  });

  it('maps a resolved config written back as an explicit config to the same trial (export round trip)', () => {
    const first = expand('dataset: {name: ml-latest-small, split: seed}\ngrid:\n  loss: [cce-, bce]\n  hidden: [32]\neval: {k: [20, 10]}\n').trials;
    const doc = yaml.dump({ name: 'back', configs: first.map((t) => t.config) });
    expect(expand(doc).trials.map((t) => t.id)).toEqual(first.map((t) => t.id));
  });

  it('names the grid entry that holds a bad value', () => {
    expect(() => expand('dataset: ml-latest-small\ngrid:\n  loss: [ce, cce, mse]\n')).toThrow(/^g\.yaml: grid\.loss\[2\]: expected one of ce, ce-, cce, cce-, bce, bce\+, gbce, sce, got "mse"/);
    expect(() => expand('dataset: ml-latest-small\ntrain: {loss: ce}\ngrid:\n  hidden: [64, 65]\n  heads: [1, 2]\n')).toThrow(/^g\.yaml: grid\.heads\[1\]: must divide model\.hidden \(65\)/);
    expect(() => expand('dataset: ml-latest-small\ntrain: {loss: ce, lr: -1}\n')).toThrow(/^g\.yaml: train\.lr: expected a number in \(0, 10\]/);
    expect(() => expand('dataset: ml-latest-small\nconfigs:\n  - {loss: ce, train.epochs: 0}\n')).toThrow(/^g\.yaml: configs\[0\]\.train\.epochs: expected an integer/);
    expect(() => expand('dataset: ml-latest-small\ntrain: {loss: ce}\nobjective: {metric: hr@20}\n')).toThrow(/eval\.k: must include 20 for the objective hr@20/);
  });
});

describe('canonicalConfig for external trainers', () => {
  const ext = { command: ['x'] };
  it('sorts keys, normalises numbers and drops sampling keys of full-catalogue losses only', () => {
    const a = canonicalConfig(ext, { train: { negatives: 64, loss: 'ce', lr: 1e-3 }, z: { b: 1, a: -0 } });
    expect(canonicalJson(a)).toBe('{"train":{"loss":"ce","lr":0.001},"z":{"a":0,"b":1}}');
    expect(canonicalConfig(ext, { train: { loss: 'mine', negatives: 64 } })).toEqual({ train: { loss: 'mine', negatives: 64 } });
    expect(() => canonicalConfig(ext, { train: { lr: Number.NaN } })).toThrow(/^train\.lr: expected a finite number/);
  });

  it('makes the trainer part of the identity', () => {
    const c = canonicalConfig(ext, { a: 1 });
    expect(trialId(ext, c)).not.toBe(trialId({ command: ['y'] }, c));
    expect(trialId(ext, c)).toMatch(/^[0-9a-f]{64}$/);
  });
});
