/**
 * Regression tests of the faults an adversarial tester found (issue "Hardening"), one `describe` per
 * numbered fault: each fails on the code before its fix.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { renderCsv, renderTable } from '../../src/cli/format.js';
import { pidAlive } from '../../src/scheduler/stale.js';
import { openStore } from '../../src/store/open-store.js';
import { parseDuration } from '../../src/sweep/duration.js';
import { GridFileError } from '../../src/sweep/grid-error.js';
import { parseGridFile } from '../../src/sweep/grid-file.js';
import { setLongTimeout } from '../../src/util/long-timeout.js';
import { grid, gridDone } from '../helpers/cli.js';
import { dbIn, integrity } from '../helpers/fixture.js';
import { tempDir } from '../helpers/tmp.js';
import { outcomes, project, runSweep } from './helpers.js';

const byRaw = (c: Readonly<Record<string, unknown>>): string => JSON.stringify((c.fixture as { raw?: unknown }).raw ?? (c.fixture as { mode?: string }).mode ?? '');
/** No stack trace: one `grid: …` line. */
const oneLine = (output: string): void => {
  expect(output).toMatch(/^grid: .*\n$/);
  expect(output).not.toMatch(/\n\s+at /);
};

describe('1: a bad number from a trainer fails that trial only', () => {
  it('epoch 1.5, epoch 1e300, peak_bytes 1e300 and planned_peak_bytes 1e30 are protocol violations; the sweep goes on', async () => {
    const epoch = (n: string, peak: string): string => `{type: epoch, epoch: ${n}, train_loss: 1, metrics: {}, epoch_seconds: 1, peak_bytes: ${peak}}`;
    const { store, db } = await runSweep(
      `fixture: {epochs: 2, epoch_ms: 4}\nlimits: {max_attempts: 1}\ngrid:\n  fixture.raw:\n` +
        `    - []\n    - [${epoch('1.5', '1')}]\n    - [${epoch('1e300', '1')}]\n    - [${epoch('1', '1e300')}]\n` +
        `    - [{type: hello, protocol: 1, trainer: x, backend: cpu, planned_peak_bytes: 1e30}]\n`,
      3,
    );
    const got = await outcomes(store, byRaw);
    expect(got['[]']).toEqual({ state: 'completed', error: null });
    const bad = Object.entries(got).filter(([k]) => k !== '[]');
    expect(bad).toHaveLength(4);
    for (const [, o] of bad) {
      expect(o.state).toBe('failed');
      expect(o.error).toMatch(/^protocol violation: (epoch|hello) event: `(epoch|peak_bytes|planned_peak_bytes)` must be/);
    }
    expect(await store.runningAttempts()).toEqual([]);
    await store.close();
    expect(integrity(db)).toBe('ok');
  });
});

describe('2: limits longer than a timer holds', () => {
  it('waits 25 days in links instead of firing at once', () => {
    vi.useFakeTimers();
    try {
      const fired: number[] = [];
      setLongTimeout((late) => fired.push(late), parseDuration('25d') as number);
      vi.advanceTimersByTime(60_000);
      expect(fired).toEqual([]);
      vi.advanceTimersByTime(25 * 86_400_000);
      expect(fired).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('runs a trial with trial_timeout 25d to completion; over 1000d is refused', async () => {
    const { store } = await runSweep('fixture: {epochs: 1, epoch_ms: 4}\nlimits: {trial_timeout: 25d, stall_timeout: 25d}\n', 1);
    expect((await store.listTrials()).map((t) => t.state)).toEqual(['completed']);
    await store.close();
    expect(() => parseGridFile('dataset: x\nlimits: {trial_timeout: 1001d}\n', 'g.yaml')).toThrow(/limits\.trial_timeout: .*at most 1000d/);
  });
});

describe('3: a YAML alias bomb', () => {
  it('is refused at once instead of being expanded', () => {
    let yaml = 'a0: &a0 [x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 12; i++) yaml += `a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(', ')}]\n`;
    const t0 = performance.now();
    expect(() => parseGridFile(`dataset: ml-latest-small\nmodel:\n  ${yaml.replaceAll('\n', '\n  ')}`, 'bomb.yaml')).toThrow(
      /bomb\.yaml: \(document\): holds more than 100000 values once its aliases/,
    );
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('4: a huge event line', () => {
  it('is a protocol violation of that trial; the orchestrator neither crashes nor leaves it running', async () => {
    const { store, db } = await runSweep('fixture: {epochs: 1, epoch_ms: 4}\nlimits: {max_attempts: 1, kill_grace: 1s}\ngrid:\n  fixture.mode: [finish, huge-line]\n');
    const got = await outcomes(store, (c) => (c.fixture as { mode: string }).mode);
    expect(got.finish?.state).toBe('completed');
    expect(got['huge-line']?.state).toBe('failed');
    expect(got['huge-line']?.error).toMatch(/^protocol violation: an event line of more than 1048576 bytes/);
    expect(await store.runningAttempts()).toEqual([]);
    await store.close();
    expect(integrity(db)).toBe('ok');
  });
});

describe('5: --db naming no file', () => {
  it("refuses '' and :memory: with exit code 2", async () => {
    const dir = project('fixture: {epochs: 1}\n');
    for (const db of ['', ':memory:']) {
      const r = await gridDone(dir, 'run', 'g.yaml', '--db', db);
      expect(r.code).toBe(2);
      expect(r.output).toMatch(/--db <path>' argument .* is invalid\. expected the path of a database file/);
    }
    expect(existsSync(dbIn(dir))).toBe(false);
  });
});

describe('6: lists of 100,000+ rows', () => {
  it('renders a table of 200,000 rows', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => i);
    expect(renderTable(rows, [{ header: 'n', value: (r) => r }]).split('\n')).toHaveLength(200_001);
  });

  it('plans a 150,000-trial grid', async () => {
    const dir = project(`grid:\n  fixture.a: [${Array.from({ length: 500 }, (_, i) => i).join(', ')}]\n  fixture.b: [${Array.from({ length: 300 }, (_, i) => i).join(', ')}]\n`);
    const r = await gridDone(dir, 'plan', 'g.yaml');
    expect(r.code).toBe(0);
    expect(r.output.split('\n')).toHaveLength(1 + 1 + 150_000 + 1); // summary, header, trials, final newline
  });

  it('ranks, summarises and exports a trial of 200,000 epochs (aggregated in SQL)', async () => {
    const dir = project('fixture: {epochs: 1, epoch_ms: 1}\n');
    expect((await gridDone(dir, 'run', 'g.yaml')).code).toBe(0);
    const db = new Database(dbIn(dir));
    const { trial_id: id } = db.prepare('SELECT trial_id FROM attempts').get() as { trial_id: string };
    const insert = db.prepare(
      `INSERT INTO epochs (trial_id, attempt, epoch, train_loss, metrics, epoch_seconds, peak_bytes, tokens_per_second, recorded_at) VALUES (?, 1, ?, 1, ?, 0.5, ?, 1, 0)`,
    );
    db.transaction(() => {
      for (let e = 2; e <= 200_000; e++) insert.run(id, e, `{"ndcg@10":${e === 123_456 ? 0.99 : 0.01},"hr@10":0.5}`, e * 10);
    })();
    db.close();
    const board = await gridDone(dir, 'leaderboard', '--format', 'json');
    expect(board.code).toBe(0);
    expect(JSON.parse(board.output)).toMatchObject([{ 'ndcg@10': 0.99, best_epoch: 123_456, last_epoch: 200_000, peak_bytes: 2_000_000 }]);
    expect((await gridDone(dir, 'status', 'g')).output).toMatch(/^g +1 +0 +0 +1 .* 0\.9900 +ndcg@10 max$/m);
    expect((await gridDone(dir, 'export')).output).toMatch(/ndcg@10 0\.9900 \(epoch 123456\)/);
  });
});

describe('7: read commands on unusable databases', () => {
  it('say what is wrong with a non-SQLite, a truncated and a corrupted file in one line', async () => {
    const dir = project('fixture: {epochs: 2, epoch_ms: 1}\n');
    expect((await gridDone(dir, 'run', 'g.yaml')).code).toBe(0);
    writeFileSync(join(dir, 'text.db'), 'not a database at all, just some text that is long enough to be read as a header\n'.repeat(20));
    writeFileSync(join(dir, 'cut.db'), readFileSync(dbIn(dir)));
    truncateSync(join(dir, 'cut.db'), 6000);
    const bytes = readFileSync(dbIn(dir));
    bytes.fill(0x5a, 4096);
    writeFileSync(join(dir, 'mangled.db'), bytes);
    for (const [file, why] of [['text.db', /not a SQLite database/], ['cut.db', /damaged/], ['mangled.db', /damaged|SQLITE_CORRUPT/]] as const) {
      for (const cmd of file === 'text.db' ? [['status'], ['leaderboard'], ['export'], ['show', 'abcd']] : [['status'], ['leaderboard']]) {
        const r = await gridDone(dir, ...cmd, '--db', file);
        expect(r.code, `${cmd[0]} ${file}: ${r.output}`).toBe(1);
        oneLine(r.output);
        expect(r.output).toMatch(why);
      }
    }
  });

  it('reads a healthy WAL database in a read-only directory', async (ctx) => {
    // root ignores permissions: the readers run as nobody then (through setpriv), else as ourselves.
    const asNobody = process.getuid?.() === 0;
    if (asNobody && !['/usr/bin/setpriv', '/bin/setpriv'].some(existsSync)) ctx.skip();
    const dir = project('fixture: {epochs: 2, epoch_ms: 1}\n');
    expect((await gridDone(dir, 'run', 'g.yaml')).code).toBe(0);
    const archive = join(dir, 'archive');
    mkdirSync(archive);
    writeFileSync(join(archive, 'runs.db'), readFileSync(dbIn(dir)));
    chmodSync(join(archive, 'runs.db'), 0o444);
    chmodSync(archive, 0o555);
    chmodSync(dir, 0o755);
    const cli = join(import.meta.dirname, '../../dist/cli/main.js');
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    // A checkout under a private home directory is out of nobody's reach: nothing to test then.
    if (asNobody && spawnSync(nobody[0] as string, [...nobody.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(cli)})`]).status !== 0) ctx.skip();
    const read = (...args: string[]): string => {
      const argv = asNobody ? [...nobody, process.execPath, cli, ...args] : [process.execPath, cli, ...args];
      return execFileSync(argv[0] as string, argv.slice(1), { cwd: archive, encoding: 'utf8' });
    };
    expect(read('status')).toMatch(/^g +1 +0 +0 +1 /m);
    expect(read('leaderboard', '--format', 'csv').split('\n')).toHaveLength(3); // header, one row, final newline
    chmodSync(archive, 0o755);
  });
});

describe('8: attempt files through planted symbolic links', () => {
  it('refuses to write through a link at the log path and leaves the target untouched', async () => {
    const dir = project('fixture: {epochs: 1, epoch_ms: 1}\n');
    const plan = JSON.parse((await gridDone(dir, 'plan', 'g.yaml', '--format', 'json')).output) as { trials: { id: string }[] };
    const id = plan.trials[0]?.id as string;
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    mkdirSync(join(dir, 'runs.logs', id), { recursive: true });
    symlinkSync(victim, join(dir, 'runs.logs', id, '1.log'));
    const r = await gridDone(dir, 'run', 'g.yaml');
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/grid: refusing to write .*1\.log: it is a symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it('refuses a linked trial directory', async () => {
    const dir = project('fixture: {epochs: 1, epoch_ms: 1}\n');
    const plan = JSON.parse((await gridDone(dir, 'plan', 'g.yaml', '--format', 'json')).output) as { trials: { id: string }[] };
    mkdirSync(join(dir, 'elsewhere'));
    mkdirSync(join(dir, 'runs.logs'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'runs.logs', plan.trials[0]?.id as string));
    const r = await gridDone(dir, 'run', 'g.yaml');
    expect(r.output).toMatch(/refusing to use .*: it is a symbolic link/);
    expect(existsSync(join(dir, 'elsewhere', 'work'))).toBe(false);
  });
});

describe('9: smaller faults', () => {
  it('a grid file of two YAML documents is a grid file error', () => {
    expect(() => parseGridFile('dataset: ml-latest-small\n---\nname: x\n', 'two.yaml')).toThrow(GridFileError);
    expect(() => parseGridFile('dataset: ml-latest-small\n---\nname: x\n', 'two.yaml')).toThrow(/two\.yaml: \(document\): expected a single document/);
  });

  it('a detached grandchild holding fd 3 does not keep `grid run` from exiting', async () => {
    const dir = project('fixture: {epochs: 1, epoch_ms: 1, mode: grandchild}\n');
    const t0 = Date.now();
    const r = await gridDone(dir, 'run', 'g.yaml');
    const pid = Number(/grandchild (\d+)/.exec(readFileSync(join(dir, 'runs.logs', readdirOne(join(dir, 'runs.logs')), '1.log'), 'utf8'))?.[1]);
    try {
      expect(r.code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(pidAlive(pid)).toBe(true); // it was still holding the pipe when grid exited
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('export -o DIRECTORY is one line, exit 2', async () => {
    const dir = project('fixture: {epochs: 1, epoch_ms: 1}\n');
    await gridDone(dir, 'run', 'g.yaml');
    const r = await gridDone(dir, 'export', '-o', dir);
    expect(r.code).toBe(2);
    oneLine(r.output);
    expect(r.output).toMatch(/cannot write: EISDIR/);
  });

  it('a paused orchestrator does not kill its trials as stalled when it continues', async () => {
    // Paused for 3 s with a stall timeout of 1 s: the stall timer fires 2 s late, so the orchestrator
    // knows it was not watching (the trainer's heartbeats wait in the pipe) and gives it a fresh period.
    const dir = project('fixture: {epochs: 2, epoch_ms: 800}\nlimits: {stall_timeout: 1s, max_attempts: 1}\n');
    const run = grid(dir, 'run', 'g.yaml');
    await run.waitFor(/running 1 trial/);
    await new Promise((r) => setTimeout(r, 300));
    run.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 3000));
    run.child.kill('SIGCONT');
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/1\/1 done \(1 completed\)/);
  }, 30_000);

  it('errors name the grid key as written and say NaN for .nan', () => {
    expect(() => parseGridFile('dataset: ml-latest-small\ngrid:\n  hiddn: [1]\n', 'g.yaml')).toThrow(/^g\.yaml: grid\.hiddn: unknown key; short keys: /);
    expect(() => parseGridFile('dataset: ml-latest-small\ntrain: {loss: ce, lr: .nan}\n', 'g.yaml')).not.toThrow();
  });

  it('a missing trainer program or data file is exit 2 before anything runs, and no runs.db is left', async () => {
    const dir = project('fixture: {epochs: 1}\n');
    writeFileSync(join(dir, 'p.yaml'), 'name: p\ntrainer: {command: [./no-such-trainer, --x]}\n');
    writeFileSync(join(dir, 'd.yaml'), 'name: d\ndataset: {path: missing.csv}\ntrain: {loss: ce}\n');
    const p = await gridDone(dir, 'run', 'p.yaml');
    expect(p.code).toBe(2);
    expect(p.output).toMatch(/^grid: trainer\.command\[0\]: cannot start "\.\/no-such-trainer": no executable file /);
    const d = await gridDone(dir, 'run', 'd.yaml');
    expect(d.code).toBe(2);
    expect(d.output).toMatch(/^grid: dataset\.path: .*missing\.csv: no such file\n$/);
    expect(existsSync(dbIn(dir))).toBe(false);
  });

  it('terminal escapes and CR from trainers are shown, not obeyed; CSV formulas are defused', async () => {
    const dir = project('fixture: {mode: crash}\nlimits: {max_attempts: 1}\n');
    writeFileSync(join(dir, 'e.yaml'), `${readFileSync(join(dir, 'g.yaml'), 'utf8').replace('mode: crash', 'mode: oom')}`.replace('name: g', 'name: e'));
    const run = await gridDone(dir, 'run', 'g.yaml');
    expect(run.code).toBe(1);
    // The error text of a trial comes from the trainer: an escape in it reaches the terminal escaped.
    const db = new Database(dbIn(dir));
    db.prepare(`UPDATE attempts SET error = ?`).run('boom \x1b[2J\x1b]0;owned\x07 \r hidden');
    db.close();
    const status = await gridDone(dir, 'status', 'g');
    expect(status.output).not.toMatch(/[\x1b\x07\r]/);
    expect(status.output).toMatch(/boom \\x1b\[2J\\x1b\]0;owned\\x07 \\x0d hidden/);
    const csv = renderCsv([{ v: '=HYPERLINK("x")' }, { v: 'a\rb' }, { v: '-1+2' }, { v: 'plain' }], [{ header: 'v', value: (r) => r.v }]);
    expect(csv.split('\n')).toEqual(['v', `"'=HYPERLINK(""x"")"`, '"a\rb"', "'-1+2", 'plain']);
  });

  it('resume on a missing db and a run with a bad grid leave no runs.db', async () => {
    const dir = project('grid:\n  fixture.k: [1]\n');
    writeFileSync(join(dir, 'bad.yaml'), 'dataset: ml-latest-small\ntrain: {loss: mse}\n');
    expect((await gridDone(dir, 'resume')).code).toBe(2);
    expect((await gridDone(dir, 'run', 'bad.yaml')).code).toBe(2);
    expect(existsSync(dbIn(dir))).toBe(false);
  });
});

function readdirOne(dir: string): string {
  const entries = execFileSync('ls', [dir], { encoding: 'utf8' }).trim().split('\n');
  expect(entries).toHaveLength(1);
  return entries[0] as string;
}
