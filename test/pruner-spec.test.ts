import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseGridFile } from '../src/sweep/grid-file.js';
import { gridSchema } from '../src/sweep/grid-schema.js';
import { validate } from './helpers/json-schema.js';

const parse = (text: string) => parseGridFile(`dataset: ml-latest-small\n${text}`, 'grids/x.yaml');
const schemaErrors = (text: string) => validate(yaml.load(`dataset: ml-latest-small\n${text}`, { schema: yaml.CORE_SCHEMA }), gridSchema());

describe('the pruner section of grid files', () => {
  it('is none by default and takes a rule by name with its defaults', () => {
    expect(parse('').pruner).toEqual({ rule: 'none' });
    expect(parse('pruner: none\n').pruner).toEqual({ rule: 'none' });
    expect(parse('pruner: median\n').pruner).toEqual({ rule: 'median', warmupEpochs: 1, minTrials: 4, groupBy: [] });
    expect(parse('pruner: asha\n').pruner).toEqual({ rule: 'asha', minEpochs: 1, reductionFactor: 3, groupBy: [] });
  });

  it('reads settings and group_by keys (short names resolved, one key or a list)', () => {
    expect(parse('pruner: {rule: median, warmup_epochs: 0, min_trials: 2, group_by: [loss, dataset]}\n').pruner).toEqual({
      rule: 'median', warmupEpochs: 0, minTrials: 2, groupBy: ['train.loss', 'dataset'],
    });
    expect(parse('pruner: {rule: asha, min_epochs: 2, reduction_factor: 4, group_by: model.hidden}\n').pruner).toEqual({
      rule: 'asha', minEpochs: 2, reductionFactor: 4, groupBy: ['model.hidden'],
    });
    // An external trainer's keys are its own.
    const ext = parseGridFile('trainer: {command: [t]}\npruner: {rule: asha, group_by: [mine.arch]}\n', 'e.yaml');
    expect(ext.pruner).toMatchObject({ groupBy: ['mine.arch'] });
    expect(ext.base).toEqual({}); // `pruner` is not a config section of the external trainer
  });

  it('names the file and key of every mistake, and the schema rejects the same', () => {
    const bad: [string, RegExp][] = [
      ['pruner: hyperband\n', /^grids\/x\.yaml: pruner: expected one of none, median, asha or \{rule: …\}, got "hyperband"/],
      ['pruner: {warmup_epochs: 2}\n', /pruner\.rule: expected one of none, median, asha, got nothing/],
      ['pruner: {rule: median, min_epochs: 2}\n', /pruner\.min_epochs: unknown key for rule median; allowed: rule, warmup_epochs, min_trials, group_by/],
      ['pruner: {rule: asha, reduction_factor: 1}\n', /pruner\.reduction_factor: expected an integer in \[2, 100000\] \(η: .*\), got 1/],
      ['pruner: {rule: median, min_trials: 2.5}\n', /pruner\.min_trials: expected an integer in \[1, 100000\]/],
      ['pruner: {rule: asha, group_by: [los]}\n', /pruner\.group_by\[0\]: unknown key "los"; allowed: dataset, dataset\.\*, .*train\.loss/],
      ['pruner: {rule: asha, group_by: {loss: 1}}\n', /pruner\.group_by: expected a key or a list of keys/],
      ['pruner: {rule: none, min_trials: 3}\n', /pruner\.min_trials: unknown key for rule none; allowed: rule/],
      ['pruner: [asha]\n', /^grids\/x\.yaml: pruner: expected one of/],
      ['pruner: ~\n', /^grids\/x\.yaml: pruner: expected one of none, median, asha or \{rule: …\}, got null/],
    ];
    for (const [text, message] of bad) {
      expect(() => parse(text), text).toThrow(message);
      expect(schemaErrors(text), text).not.toEqual([]);
    }
    // A short name and its path are one key: only the checker knows.
    expect(() => parse('pruner: {rule: asha, group_by: [loss, train.loss]}\n')).toThrow(/pruner\.group_by\[1\]: "train\.loss" is listed twice/);
    for (const text of ['pruner: asha\n', 'pruner: {rule: median, group_by: [loss, dataset.split]}\n', 'pruner: {rule: asha, reduction_factor: 2, group_by: loss}\n']) {
      expect(schemaErrors(text), text).toEqual([]);
    }
  });
});
