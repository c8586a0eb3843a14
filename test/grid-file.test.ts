import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/sweep/duration.js';
import { parseGridFile } from '../src/sweep/grid-file.js';

const parse = (text: string) => parseGridFile(text, 'grids/x.yaml');

describe('parseGridFile', () => {
  it('reads a grid file with defaults filled', () => {
    const g = parse('dataset: ml-latest-small\ngrid:\n  loss: [ce, cce-]\n  model.hidden: [32, 64]\n');
    expect(g.name).toBe('x');
    expect(g.trainer).toBe('builtin');
    expect(g.base).toEqual({ dataset: { name: 'ml-latest-small' } });
    expect(g.grid.map((a) => [a.key, a.path])).toEqual([['loss', 'train.loss'], ['model.hidden', 'model.hidden']]);
    expect(g.objective).toEqual({ metric: 'ndcg@10', direction: 'max' });
    expect(g.limits).toEqual({ trialTimeoutMs: undefined, stallTimeoutMs: 600_000, maxAttempts: 2, killGraceMs: 10_000 });
  });

  it('reads limits, objective and an external trainer', () => {
    const g = parse(
      'trainer: {command: [node, t.mjs]}\nextra: {a: 1}\nobjective: {metric: loss}\nlimits: {trial_timeout: 1h30m, stall_timeout: 90s, max_attempts: 3, kill_grace: 500ms}\n',
    );
    expect(g.trainer).toEqual({ command: ['node', 't.mjs'] });
    expect(g.base).toEqual({ extra: { a: 1 } });
    expect(g.objective).toEqual({ metric: 'loss', direction: 'min' });
    expect(g.limits).toEqual({ trialTimeoutMs: 5_400_000, stallTimeoutMs: 90_000, maxAttempts: 3, killGraceMs: 500 });
  });

  it('names the file and key path of every mistake, with the allowed values', () => {
    expect(() => parse('dataset: ml-latest-small\nfoo: 1\n')).toThrow(/^grids\/x\.yaml: foo: unknown key; allowed: name, description, trainer/);
    expect(() => parse('grid:\n  loss: [ce]\n')).toThrow(/^grids\/x\.yaml: dataset: required/);
    expect(() => parse('dataset: ml-latest-small\ngrid:\n  loss: ce\n')).toThrow(/^grids\/x\.yaml: grid\.loss: expected a non-empty list/);
    expect(() => parse('dataset: ml-latest-small\ngrid:\n  loss: [ce]\n  train.loss: [cce]\n')).toThrow(/grid\.train\.loss: sets train\.loss, as grid\.loss does/);
    expect(() => parse('dataset: ml-latest-small\nobjective: {metric: ndcg@7}\n')).toThrow(/objective\.metric: expected loss or <metric>@<k> .*k one of 1, 5, 10, 20, 100, got "ndcg@7"/);
    expect(() => parse('dataset: ml-latest-small\nobjective: {direction: up}\n')).toThrow(/objective\.direction: expected one of max, min, got "up"/);
    expect(() => parse('dataset: ml-latest-small\nlimits: {stall_timeout: soon}\n')).toThrow(/limits\.stall_timeout: expected a duration/);
    expect(() => parse('dataset: ml-latest-small\nlimits: {max_attempts: 0}\n')).toThrow(/limits\.max_attempts: expected an integer in \[1, 100\], got 0/);
    expect(() => parse('dataset: ml-latest-small\nseeds: [1, -2]\n')).toThrow(/seeds\[1\]: expected an integer/);
    expect(() => parse('dataset: ml-latest-small\ntrain: {seed: 3}\nseeds: [1]\n')).toThrow(/seeds: train\.seed is set too/);
    expect(() => parse('dataset: ml-latest-small\nexclude:\n  - {los: ce}\n')).toThrow(/exclude\[0\]\.los: unknown key; allowed: .*train\.loss/);
    expect(() => parse('trainer: {command: []}\n')).toThrow(/trainer\.command: expected a non-empty list/);
    expect(() => parse('name: "bad name"\ndataset: ml-latest-small\n')).toThrow(/^grids\/x\.yaml: name: expected letters.*, got "bad name"$/);
    expect(() => parseGridFile('dataset: ml-latest-small\n', 'my grid.yaml')).toThrow(/got "my grid" \(from the file name; give a `name`\)$/);
    expect(() => parse('dataset: ml-latest-small\ngrid: [\n')).toThrow(/^grids\/x\.yaml: line \d+, column \d+: /);
  });
});

describe('parseDuration', () => {
  it('reads units and plain seconds, rejects nonsense', () => {
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration(90)).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
    for (const bad of ['', '2 hours', '5x', '0s', -1, '1h junk']) expect(parseDuration(bad)).toBeUndefined();
  });
});
