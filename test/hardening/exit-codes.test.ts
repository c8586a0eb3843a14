/** The exit codes of `grid`, in one table: 0 well, 1 a sweep or the machine failed, 2 bad input of any kind. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gridDone } from '../helpers/cli.js';
import { project } from './helpers.js';

describe('grid exit codes', () => {
  it('follow one table, every usage error 2, each reported in words', async () => {
    const dir = project('fixture: {epochs: 1, epoch_ms: 1}\n');
    expect((await gridDone(dir, 'run', 'g.yaml')).code).toBe(0);
    writeFileSync(join(dir, 'bad.yaml'), 'dataset: ml-latest-small\ntrain: {loss: mse}\n');
    writeFileSync(join(dir, 'crash.yaml'), 'name: crash\ntrainer: {command: ["false"]}\n');
    writeFileSync(join(dir, 'text.db'), 'plain text, not a database; long enough to have a header of a hundred bytes or so, anyway\n');
    const table: [string[], number][] = [
      [['--version'], 0],
      [['status'], 0],
      [['leaderboard', '--format', 'csv'], 0],
      [[], 2], // no command
      [['frobnicate'], 2],
      [['status', '--bogus'], 2],
      [['show'], 2], // missing argument
      [['leaderboard', '--top', '0'], 2],
      [['leaderboard', '--format', 'xml'], 2],
      // Sweep g named: `run crash.yaml` below runs at the same time, and a sweep run last with nothing
      // completed cannot tell an unknown metric (an external trainer may report any).
      [['leaderboard', '--sweep', 'g', '--metric', 'ndcg@11'], 2],
      [['leaderboard', '--where', 'model.hiddn=64'], 2],
      [['leaderboard', '--where', 'novalue'], 2],
      [['leaderboard', '--sweep', 'nope'], 2],
      [['status', 'nope'], 2],
      [['show', 'zz'], 2],
      [['show', 'abcdef'], 2],
      [['status', '--db', 'missing.db'], 2],
      [['status', '--db', ''], 2],
      [['run', 'missing.yaml'], 2],
      [['run', 'bad.yaml'], 2],
      [['plan', 'g.yaml', '--memory', '--timeout', 'soon'], 2],
      [['resume', 'nope'], 2],
      [['data', 'stats', '/nonexistent/log.csv'], 2],
      [['data', 'fetch', 'no-such-set'], 2],
      [['data', 'synth', '--users', '0', '--items', '1', '--interactions', '1', '--out', 'x.csv'], 2],
      [['data', 'list', '--format', 'yaml'], 2],
      [['status', '--db', 'text.db'], 1],
      [['run', 'crash.yaml'], 1],
    ];
    const results = await Promise.all(table.map(async ([args]) => gridDone(dir, ...args)));
    for (const [i, [args, code]] of table.entries()) {
      const r = results[i] as { code: number | string; output: string };
      expect(r.code, `grid ${args.join(' ')}:\n${r.output}`).toBe(code);
      if (code !== 0) expect(r.output, `grid ${args.join(' ')}`).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
    }
    expect(results[9]?.output).toMatch(/--metric "ndcg@11": no completed trial reported it; known: hr@10, loss, ndcg@10/);
    expect(results[10]?.output).toMatch(/--where "model.hiddn=64": no trial has the key model\.hiddn; known: fixture\.epoch_ms, fixture\.epochs/);
  });
});
