import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, type TestContext } from 'vitest';
import { openForReading, openForWriting, schemaVersion, StoreError } from '../src/store/database.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../src/store/migrations.js';
import { openStore } from '../src/store/open-store.js';
import type { Claim, Store } from '../src/store/store.js';
import { TRIAL_STATES } from '../src/store/trial-state.js';
import { ENGINES, SQLITE_ENGINE, type Engine } from './helpers/stores.js';
import { tempDir } from './helpers/tmp.js';

const claim: Claim = { host: 'h', pid: process.pid, device: { backend: 'cpu', ordinal: 0 }, heartbeatIntervalS: 5 };
const sweep = { name: 's', file: 's.yaml', document: { name: 's' }, objective: { metric: 'ndcg@10', direction: 'max' as const } };
const trial = (id: string) => ({ id, config: { a: id }, trainer: 'builtin' as const });
const integrity = (path: string): string => {
  const db = new Database(path, { readonly: true });
  const r = db.pragma('integrity_check', { simple: true }) as string;
  db.close();
  return r;
};

async function fresh(engine: Engine = SQLITE_ENGINE, ctx?: TestContext): Promise<{ store: Store; path: string }> {
  const path = ctx === undefined ? join(tempDir(), 'runs.db') : await engine.fresh(ctx);
  return { store: await openStore(path, 'write'), path };
}

describe('runs.db schema', () => {
  it('migrates an empty file to the current version in WAL mode', async () => {
    const { store, path } = await fresh();
    await store.close();
    const db = openForWriting(path);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(integrity(path)).toBe('ok');
  });

  it('waits for a lock another process holds on a new runs.db instead of failing', async () => {
    const path = join(tempDir(), 'runs.db');
    // Another process holds an exclusive lock on the fresh file for a moment, as a second orchestrator
    // creating the same runs.db does. (The race of two WAL switches, where SQLite answers SQLITE_BUSY
    // without waiting, is timing-dependent: the two-orchestrator test in cli.test.ts exercises it.)
    const holder = spawn(process.execPath, ['-e', `
      const db = new (require('better-sqlite3'))(${JSON.stringify(path)});
      db.exec('BEGIN EXCLUSIVE');
      process.stdout.write('locked\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
      db.exec('COMMIT');
    `], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const db = openForWriting(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    db.close();
    await new Promise((resolve) => holder.once('exit', resolve));
  });

  it('migrates a database of the previous version and keeps its rows', async () => {
    const path = join(tempDir(), 'runs.db');
    const old = new Database(path);
    for (const m of MIGRATIONS.slice(0, SCHEMA_VERSION - 1)) old.exec(m);
    old.pragma(`user_version = ${SCHEMA_VERSION - 1}`);
    old.exec(`INSERT INTO trials (id, config, trainer, state, created_at, updated_at) VALUES ('t1', '{}', '"builtin"', 'completed', 0, 0)`);
    old.exec(`INSERT INTO attempts (trial_id, attempt, state, host, pid, device, started_at, heartbeat_at, heartbeat_interval_s)
              VALUES ('t1', 1, 'completed', 'h', 1, '{"backend":"cpu","ordinal":0}', 0, 0, 5)`);
    old.close();
    // A reader migrates it too (through a short write connection).
    const store = await openStore(path, 'read');
    expect((await store.listTrials()).map((t) => [t.id, t.state])).toEqual([['t1', 'completed']]);
    expect((await store.listAttempts({ trialId: 't1' }))[0]?.info).toBeNull();
    await store.close();
    expect(integrity(path)).toBe('ok');
  });

  it('migrates a version 2 database with epochs: rows, keys and indexes kept, and the state pruned allowed', async () => {
    const path = join(tempDir(), 'runs.db');
    const old = new Database(path);
    for (const m of MIGRATIONS.slice(0, 2)) old.exec(m);
    old.pragma('user_version = 2');
    old.exec(`INSERT INTO sweeps (name, document, objective_metric, objective_direction, created_at, updated_at) VALUES ('s', '{}', 'ndcg@10', 'max', 0, 0)`);
    old.exec(`INSERT INTO trials (id, config, trainer, state, attempts, created_at, updated_at) VALUES ('t1', '{}', '"builtin"', 'interrupted', 1, 0, 0)`);
    old.exec(`INSERT INTO sweep_trials VALUES (1, 't1', 0)`);
    old.exec(`INSERT INTO attempts (trial_id, attempt, state, host, pid, device, started_at, heartbeat_at, heartbeat_interval_s, trainer, planned_peak_bytes)
              VALUES ('t1', 1, 'interrupted', 'h', 1, '{"backend":"cpu","ordinal":0}', 0, 0, 5, 'gridrec', 123)`);
    old.exec(`INSERT INTO epochs VALUES ('t1', 1, 1, 0.5, '{"ndcg@10":0.25}', 1, 10, 3, 0)`);
    old.close();

    const store = await openStore(path, 'write');
    expect((await store.listAttempts({ trialId: 't1' }))[0]?.info).toMatchObject({ trainer: 'gridrec', plannedPeakBytes: 123 });
    expect((await store.listEpochs({ sweep: 's' })).map((e) => e.metrics['ndcg@10'])).toEqual([0.25]);
    expect(await store.requeue('t1', ['interrupted'])).toBe(true);
    expect(await store.claim('t1', claim)).toBe(2);
    expect(await store.finishAttempt('t1', 2, { state: 'pruned', error: 'hopeless' })).toBe(true);
    expect((await store.listTrials()).map((t) => t.state)).toEqual(['pruned']);
    // Foreign keys still hold on the rebuilt tables.
    await store.close();
    const raw = new Database(path);
    raw.pragma('foreign_keys = ON');
    expect(() => raw.exec(`INSERT INTO epochs VALUES ('t1', 9, 1, 0.5, '{}', 1, 10, 3, 0)`)).toThrow(/FOREIGN KEY/);
    raw.close();
    const db = new Database(path, { readonly: true });
    const indexes = (db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
    expect(indexes).toEqual(['attempts_state', 'prune_decisions_sweep', 'sweep_trials_trial', 'trials_state']);
    db.close();
    expect(integrity(path)).toBe('ok');
  });

  it('allows exactly the trial states of trial-state.ts in the trials table', async () => {
    const { store, path } = await fresh();
    await store.close();
    const db = new Database(path);
    const insert = db.prepare(`INSERT INTO trials (id, config, trainer, state, created_at, updated_at) VALUES (?, '{}', '"builtin"', ?, 0, 0)`);
    for (const state of TRIAL_STATES) expect(() => insert.run(`t-${state}`, state)).not.toThrow();
    expect(() => insert.run('t-x', 'done')).toThrow(/CHECK constraint/);
    db.close();
  });

  it('refuses a database from a newer gridrec and a missing one for reading', () => {
    const dir = tempDir();
    const path = join(dir, 'runs.db');
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openForWriting(path)).toThrow(/newer than this gridrec understands/);
    expect(() => openForReading(join(dir, 'none.db'))).toThrow(/none\.db: no such database/);
  });

  it('lets a reader read while a writer holds a transaction open', async () => {
    const { store, path } = await fresh();
    await store.saveSweep(sweep, [trial('a')]);
    const writer = new Database(path);
    writer.exec('BEGIN IMMEDIATE');
    writer.exec(`UPDATE trials SET state = 'running'`);
    const reader = await openStore(path, 'read');
    expect((await reader.listTrials())[0]?.state).toBe('pending');
    writer.exec('COMMIT');
    expect((await reader.listTrials())[0]?.state).toBe('running');
    await reader.close();
    writer.close();
    await store.close();
  });
});

describe.each(ENGINES)('store primitives ($name)', (engine) => {
  it('adds a trial once whatever sweeps contain it, and links it to each', async (ctx) => {
    const { store } = await fresh(engine, ctx);
    expect((await store.saveSweep(sweep, [trial('a'), trial('b')])).added).toEqual(['a', 'b']);
    expect((await store.saveSweep(sweep, [trial('b'), trial('a')])).added).toEqual([]);
    expect((await store.saveSweep({ ...sweep, name: 't' }, [trial('b'), trial('c')])).added).toEqual(['c']);
    expect((await store.listTrials({ sweep: 's' })).map((t) => t.id)).toEqual(['b', 'a']); // in the file's latest order
    expect((await store.listTrials({ sweep: 't' })).map((t) => t.id)).toEqual(['b', 'c']);
    expect(await store.listTrials()).toHaveLength(3);
    // An edited file redefines its sweep; the trials it dropped stay stored (and in other sweeps).
    expect((await store.saveSweep(sweep, [trial('c'), trial('a')])).added).toEqual([]);
    expect((await store.listTrials({ sweep: 's' })).map((t) => t.id)).toEqual(['c', 'a']);
    expect(await store.sweepsOf('b')).toEqual(['t']);
    await store.close();
  });

  it('claims a pending trial once: the loser of a race gets false', async (ctx) => {
    const { store, path } = await fresh(engine, ctx);
    await store.saveSweep(sweep, [trial('a')]);
    const other = await openStore(path, 'write');
    expect(await store.claim('a', claim)).toBe(1);
    expect(await other.claim('a', claim)).toBe(false);
    await other.close();
    expect((await store.listTrials())[0]?.state).toBe('running');
    await store.close();
  });

  it('ends attempts through one funnel and never doubles an epoch', async (ctx) => {
    const { store, path } = await fresh(engine, ctx);
    await store.saveSweep(sweep, [trial('a')]);
    const n = await store.claim('a', claim) as number;
    const epoch = { trialId: 'a', attempt: n, epoch: 1, trainLoss: Number.NaN, metrics: { 'ndcg@10': 0.5 }, epochSeconds: 1, peakBytes: 10.4, tokensPerSecond: 3 };
    expect(await store.recordEpoch(epoch)).toBe(true);
    expect(await store.recordEpoch(epoch)).toBe(false);
    expect(await store.finishAttempt('a', n, { state: 'failed', exitCode: 1, error: 'exit code 1' })).toBe(true);
    expect(await store.finishAttempt('a', n, { state: 'completed' })).toBe(false);
    expect((await store.listTrials())[0]?.state).toBe('failed');
    expect(await store.requeue('a', ['interrupted'])).toBe(false);
    expect(await store.requeue('a', ['failed'])).toBe(true);
    expect(await store.claim('a', claim)).toBe(2);
    expect(await store.finishAttempt('a', 2, { state: 'completed', result: { best_epoch: 1, test: {}, validation: {}, peak_bytes: 1, mean_epoch_seconds: 1, total_seconds: 1 } })).toBe(true);
    expect(await store.requeue('a', ['completed', 'failed'])).toBe(false);
    const attempts = await store.listAttempts({ trialId: 'a' });
    expect(attempts.map((a) => a.state)).toEqual(['failed', 'completed']);
    expect(attempts[1]?.result?.best_epoch).toBe(1);
    const epochs = await store.listEpochs({ trialId: 'a' });
    expect(epochs).toHaveLength(1);
    expect(epochs[0]?.trainLoss).toBeNaN();
    expect(epochs[0]?.peakBytes).toBe(10);
    await store.close();
    if (engine.name === 'sqlite') expect(integrity(path)).toBe('ok');
  });

  it('translates database failures into StoreErrors that name the database', async (ctx) => {
    const { store, path } = await fresh(engine, ctx);
    const bad = { ...sweep, objective: { metric: 'ndcg@10', direction: 'up' as 'max' } };
    await expect(store.saveSweep(bad, [])).rejects.toThrow(StoreError);
    await expect(store.saveSweep(bad, [])).rejects.toThrow(
      engine.name === 'sqlite'
        ? `${path}: SQLITE_CONSTRAINT_CHECK: CHECK constraint failed: objective_direction IN ('max', 'min')`
        : /^postgres:\/\/gridrec@127\.0\.0\.1:\d+\/\w+: 23514: new row for relation "sweeps" violates check constraint/,
    );
    await expect(store.saveSweep(bad, [])).rejects.toMatchObject({ rowRefused: true });
    await store.close();
  });

  it('reports heartbeat ages on the database clock', async (ctx) => {
    const { store } = await fresh(engine, ctx);
    await store.saveSweep(sweep, [trial('a'), trial('b')]);
    await store.claim('a', claim);
    await store.claim('b', claim);
    await new Promise((r) => setTimeout(r, 60));
    await store.heartbeat([{ trialId: 'b', attempt: 1 }]);
    const ages = new Map((await store.runningAttempts('s')).map((a) => [a.trialId, a.heartbeatAgeS]));
    expect(ages.get('a')).toBeGreaterThanOrEqual(0.05);
    expect(ages.get('b')).toBeLessThan(ages.get('a') as number);
    await store.close();
  });
});

describe.each(ENGINES)('pruning decisions ($name)', (engine) => {
  it('keeps each decision once with its evidence, NaN as none, by trial or by sweep', async (ctx) => {
    const { store } = await fresh(engine, ctx);
    await store.saveSweep(sweep, [trial('a'), trial('b')]);
    await store.saveSweep({ ...sweep, name: 'other' }, [trial('b')]);
    await store.claim('a', claim);
    await store.claim('b', claim);
    const decision = {
      trialId: 'a', attempt: 1, epoch: 2, sweep: 's', rule: 'median' as const, action: 'prune' as const, metric: 'ndcg@10', direction: 'max' as const,
      value: 0.1, threshold: 0.2, rung: null, group: { loss: 'ce' }, compared: [{ trialId: 'b', value: 0.2 }, { trialId: 'c', value: Number.NaN }], reason: 'worse',
    };
    expect(await store.recordDecision(decision)).toBe(true);
    expect(await store.recordDecision({ ...decision, action: 'continue' })).toBe(false);
    expect(await store.recordDecision({ ...decision, trialId: 'b', sweep: 'other', rule: 'asha', rung: 1, action: 'continue', value: Number.NaN, threshold: Number.NaN })).toBe(true);
    const [a] = await store.listDecisions({ trialId: 'a' });
    expect(a).toMatchObject({ ...decision, compared: [{ trialId: 'b', value: 0.2 }, { trialId: 'c', value: Number.NaN }] });
    expect(a?.decidedAt).toBeGreaterThan(0);
    expect((await store.listDecisions({ sweep: 'other' })).map((d) => [d.trialId, d.rung, d.value])).toEqual([['b', 1, Number.NaN]]);
    expect(await store.listDecisions({})).toHaveLength(2);
    await store.close();
  });

  it('imports a decision of another store as it was recorded there, its time included', async (ctx) => {
    const { store: there } = await fresh();
    await there.saveSweep(sweep, [trial('a')]);
    await there.claim('a', claim);
    const decision = {
      trialId: 'a', attempt: 1, epoch: 2, sweep: 's', rule: 'asha' as const, action: 'prune' as const, metric: 'ndcg@10', direction: 'max' as const,
      value: 0.1, threshold: Number.NaN, rung: 0, group: { loss: 'ce' }, compared: [{ trialId: 'c', value: Number.NaN }], reason: 'worse',
    };
    expect(await there.recordDecision(decision)).toBe(true);
    const { store: here } = await fresh(engine, ctx);
    const [s] = await there.listSweeps();
    const [t] = await there.listTrials();
    if (s === undefined || t === undefined) throw new Error('expected the sweep and trial just saved');
    const decisions = await there.listDecisions({ trialId: 'a' });
    await here.importSweep(s);
    const counts = await here.importTrial({ trial: t, attempts: await there.listAttempts({ trialId: 'a' }), epochs: [], decisions });
    expect(counts.decisions).toBe(1);
    expect(await here.listDecisions({ trialId: 'a' })).toEqual(decisions);
    await there.close();
    await here.close();
  });
});
