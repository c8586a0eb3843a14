/** `grid rm`: a sweep or trials leave runs.db with all their rows and files; shared trials stay unless asked. */
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { logsDir, removeTrialFiles } from '../src/store/trial-files.js';
import { gridDone } from './helpers/cli.js';
import { dbIn, fakeGrid, integrity } from './helpers/fixture.js';
import { tempDir } from './helpers/tmp.js';

/** Rows per table, and the foreign keys SQLite finds broken. */
function tables(db: string): { counts: Record<string, number>; broken: unknown[] } {
  const conn = new Database(db, { readonly: true });
  try {
    const counts = Object.fromEntries(
      ['sweeps', 'trials', 'sweep_trials', 'attempts', 'epochs', 'prune_decisions'].map((t) => [t, (conn.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n]),
    );
    return { counts, broken: conn.pragma('foreign_key_check') as unknown[] };
  } finally {
    conn.close();
  }
}

/** A project with two sweeps over the fake trainer that share the trials with score 0.5 and 0.6, both run. */
async function twoSweeps(): Promise<string> {
  const dir = tempDir();
  const pruner = 'pruner: {rule: asha, min_epochs: 1, reduction_factor: 2}\n';
  writeFileSync(join(dir, 'a.yaml'), fakeGrid('a', `fixture: {epochs: 2, epoch_ms: 1}\n${pruner}grid:\n  fixture.score: [0.1, 0.5, 0.6]\n`));
  writeFileSync(join(dir, 'b.yaml'), fakeGrid('b', `fixture: {epochs: 2, epoch_ms: 1}\n${pruner}grid:\n  fixture.score: [0.5, 0.6, 0.9]\n`));
  for (const f of ['a.yaml', 'b.yaml']) expect((await gridDone(dir, 'run', f, '--parallel', '3')).code).toBe(0);
  return dir;
}

describe('grid rm', () => {
  it('lists without --yes, then deletes a sweep and its own trials, keeping shared ones', async () => {
    const dir = await twoSweeps();
    const db = dbIn(dir);
    const before = tables(db);
    expect(before.counts).toMatchObject({ sweeps: 2, trials: 4, sweep_trials: 6, attempts: 4 });
    expect(readdirSync(logsDir(db))).toHaveLength(4);

    const dry = await gridDone(dir, 'rm', 'a');
    expect(dry.code).toBe(0);
    expect(dry.output).toMatch(/^would delete sweep a and 1 trial\(s\)/m);
    expect(dry.output).toMatch(/kept: also in b/);
    expect(dry.output).toMatch(/nothing deleted: run again with --yes/);
    expect(tables(db).counts).toEqual(before.counts);

    const done = await gridDone(dir, 'rm', 'a', '--yes');
    expect(done.code, done.output).toBe(0);
    const said = /deleted sweep a, 1 trial\(s\), 1 attempt\(s\), (\d+) epoch\(s\), (\d+) pruning decision\(s\)/.exec(done.output);
    expect(said, done.output).not.toBeNull();
    const [epochs, decisions] = [Number(said?.[1]), Number(said?.[2])];
    // The asha pruner of sweep a decided about every trial of a, the shared ones too: those decisions go with a.
    expect(epochs).toBeGreaterThan(0);
    expect(decisions).toBeGreaterThan(epochs);
    const after = tables(db);
    expect(after.broken).toEqual([]);
    expect(after.counts).toEqual({
      sweeps: 1, trials: 3, sweep_trials: 3, attempts: 3,
      epochs: (before.counts.epochs ?? 0) - epochs, prune_decisions: (before.counts.prune_decisions ?? 0) - decisions,
    });
    expect(readdirSync(logsDir(db))).toHaveLength(3);
    expect(integrity(db)).toBe('ok');
    // Sweep b is whole: its leaderboard still ranks its three trials (pruned ones included: which trial
    // ASHA stops depends on the order the parallel trials report in).
    const board = await gridDone(dir, 'leaderboard', '--sweep', 'b', '--include-pruned', '--format', 'json');
    expect((JSON.parse(board.output) as unknown[]).length).toBe(3);
    expect((await gridDone(dir, 'status', 'a')).code).toBe(2);
  });

  it('deletes shared trials with --shared, and single trials by id prefix', async () => {
    const dir = await twoSweeps();
    const db = dbIn(dir);
    const done = await gridDone(dir, 'rm', 'b', '--shared', '--yes');
    expect(done.code, done.output).toBe(0);
    expect(tables(db).counts).toMatchObject({ sweeps: 1, trials: 1, sweep_trials: 1, attempts: 1 });
    const conn = new Database(db, { readonly: true });
    const [last] = conn.prepare('SELECT id FROM trials').all() as { id: string }[];
    conn.close();
    const id = (last as { id: string }).id;
    const one = await gridDone(dir, 'rm', '--trial', id.slice(0, 8), '--yes');
    expect(one.code, one.output).toBe(0);
    expect(tables(db)).toEqual({ counts: { sweeps: 1, trials: 0, sweep_trials: 0, attempts: 0, epochs: 0, prune_decisions: 0 }, broken: [] });
    expect(readdirSync(logsDir(db))).toEqual([]);
  });

  it('refuses bad requests with exit 2 and changes nothing', async () => {
    const dir = await twoSweeps();
    const db = dbIn(dir);
    const before = tables(db).counts;
    const conn = new Database(db);
    conn.prepare(`UPDATE trials SET state = 'running' WHERE json_extract(config, '$.fixture.score') = 0.1`).run();
    conn.close();
    for (const args of [['rm'], ['rm', 'a', '--trial', 'abcd'], ['rm', '--trial', 'abcd', '--shared'], ['rm', 'nope', '--yes'], ['rm', '--trial', 'zz'], ['rm', 'a', '--yes'], ['rm', 'x', '--db', 'missing.db']]) {
      const r = await gridDone(dir, ...args);
      expect(r.code, `grid ${args.join(' ')}: ${r.output}`).toBe(2);
    }
    expect((await gridDone(dir, 'rm', 'a', '--yes')).output).toMatch(/1 trial\(s\) running/);
    expect(tables(db).counts).toEqual(before);
    expect(existsSync(join(dir, 'missing.db'))).toBe(false);
  });

  it('will not remove files through a logs directory that is a link', () => {
    const dir = tempDir();
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(join(elsewhere, 'abc'), { recursive: true });
    symlinkSync(elsewhere, join(dir, 'runs.logs'));
    expect(() => removeTrialFiles(dbIn(dir), 'abc')).toThrow(/runs\.logs is a symbolic link/);
    expect(existsSync(join(elsewhere, 'abc'))).toBe(true);
    expect(removeTrialFiles(dbIn(tempDir()), 'abc')).toBe(false);
  });
});
