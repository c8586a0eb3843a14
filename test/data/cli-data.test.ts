import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gridData as grid } from './grid-data.js';
import { tempDir, tempFile } from './helpers.js';

describe('grid data', () => {
  it('stats prints sizes and split sizes of a file, with --set overrides', async () => {
    const file = tempFile('log.txt', '1 10 20 30 40\n2 20 30 40\n3 10\n');
    const { out } = await grid('stats', file, '--json', '--cache-dir', tempDir(), '--set', 'min_user_count=2');
    const s = JSON.parse(out) as { users: number; interactions: number; spec: { min_user_count: number }; split: { test_users: number; train_users: number } };
    expect(s.spec.min_user_count).toBe(2);
    expect(s.users).toBe(2);
    expect(s.interactions).toBe(7);
    expect(s.split.test_users).toBe(2);
    expect(s.split.train_users).toBe(1);
  });

  it('synth writes a file and stats reads it back in text form', async () => {
    const out = join(tempDir(), 'syn.csv');
    const w = await grid('synth', '--users', '50', '--items', '40', '--interactions', '1_000', '--out', out);
    expect(w.out).toMatch(/50 users, 40 items, 1,000 interactions/);
    expect(readFileSync(out, 'utf8').split('\n')[0]).toBe('user_id,item_id,timestamp');
    const { out: text } = await grid('stats', `{path: ${out}, split: seed}`, '--no-cache');
    expect(text).toMatch(/^data set {6}syn\.csv \(csv, split seed\)$/m);
    expect(text).toMatch(/^prepared {6}50 users, \d+ items, 1,000 interactions$/m);
  });

  it('reports bad input on stderr with exit code 2', async () => {
    const { err } = await grid('stats', '/nonexistent/log.csv');
    expect(err).toBe('grid: /nonexistent/log.csv: no such file: check dataset.path\n');
    expect(process.exitCode).toBe(2);
    const bad = await grid('stats', 'ml-latest-small', '--set', 'split=random');
    expect(bad.err).toMatch(/^grid: dataset\.split: expected one of leave-one-out, seed, got "random"/);
  });
});
