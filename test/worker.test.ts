/**
 * `grid add` and `grid worker`: several worker processes sharing sweeps through the store, on both
 * engines; and on PostgreSQL, workers killed at random and the server restarted mid-sweep.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { grid, gridDone, type CliRun } from './helpers/cli.js';
import { fakeGrid } from './helpers/fixture.js';
import { startCluster, type Cluster } from './helpers/postgres.js';
import { ENGINES, POSTGRES_ENGINE } from './helpers/stores.js';
import { tempDir } from './helpers/tmp.js';

/** A project folder with sweep `name` of `n` fake trials. */
function project(dir: string, name: string, n: number, body: string): void {
  writeFileSync(join(dir, `${name}.yaml`), fakeGrid(name, `${body}grid:\n  fixture.k: [${Array.from({ length: n }, (_, i) => i).join(', ')}]\n`));
}

/** Every trial completed by exactly one attempt, its epochs 1..epochs each once; attempts numbered 1..n. */
async function expectExactlyOnce(store: Store, trials: number, epochs: number): Promise<void> {
  const all = await store.listTrials();
  expect(all).toHaveLength(trials);
  expect(all.filter((t) => t.state !== 'completed').map((t) => t.state)).toEqual([]);
  const attempts = await store.listAttempts({});
  const completed = attempts.filter((a) => a.state === 'completed');
  expect(completed).toHaveLength(trials);
  expect(new Set(completed.map((a) => a.trialId)).size).toBe(trials);
  for (const t of all) {
    expect(attempts.filter((a) => a.trialId === t.id).map((a) => a.attempt)).toEqual(Array.from({ length: t.attempts }, (_, i) => i + 1));
  }
  const rows = await store.listEpochs({});
  const keys = rows.map((e) => `${e.trialId}/${e.attempt}/${e.epoch}`);
  expect(new Set(keys).size).toBe(keys.length);
  const byAttempt = new Map<string, number[]>();
  for (const e of rows) byAttempt.set(`${e.trialId}/${e.attempt}`, [...(byAttempt.get(`${e.trialId}/${e.attempt}`) ?? []), e.epoch]);
  for (const a of completed) expect(byAttempt.get(`${a.trialId}/${a.attempt}`)).toEqual(Array.from({ length: epochs }, (_, i) => i + 1));
}

describe.each(ENGINES)('grid add and grid worker ($name)', (engine) => {
  it('stores sweeps without running them; three workers share them, each trial run once', async (ctx) => {
    const db = await engine.fresh(ctx);
    const dir = tempDir();
    project(dir, 'a', 8, 'fixture: {epochs: 2, epoch_ms: 5}\n');
    project(dir, 'b', 4, 'fixture: {epochs: 2, epoch_ms: 6}\n');
    const add = await gridDone(dir, 'add', 'a.yaml', 'b.yaml', '--db', db);
    expect(add.code).toBe(0);
    expect(add.output).toMatch(/sweep a: 8 trial\(s\), 8 new, 8 pending\nsweep b: 4 trial\(s\), 4 new, 4 pending/);
    const workers = [grid(dir, 'worker', '--db', db, '--poll', '100ms'), grid(dir, 'worker', 'a', 'b', '--db', db, '--poll', '100ms'), grid(dir, 'worker', '--db', db, '--poll', '100ms')];
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0]);
    const store = await openStore(db, 'read');
    try {
      await expectExactlyOnce(store, 12, 2);
      expect(new Set((await store.listAttempts({})).map((a) => a.pid)).size).toBeGreaterThan(1);
    } finally {
      await store.close();
    }
    const unknown = await gridDone(dir, 'worker', 'nope', '--db', db);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toMatch(/no sweep named "nope"/);
  });
});

describe('grid run on PostgreSQL', () => {
  it('survives SIGKILL of the orchestrator: resume completes every trial exactly once, no epoch lost or doubled', async (ctx) => {
    const db = await POSTGRES_ENGINE.fresh(ctx);
    const dir = tempDir();
    project(dir, 'g', 8, 'fixture: {epochs: 3, epoch_ms: 120}\n');
    const run = grid(dir, 'run', 'g.yaml', '--parallel', '3', '--db', db);
    await run.waitFor(/completed \w+ #1[\s\S]*epoch {5}\w+ 2 /);
    run.child.kill('SIGKILL');
    await run.exited;
    const resume = await gridDone(dir, 'resume', 'g', '--parallel', '3', '--db', db);
    expect(resume.code, resume.output).toBe(0);
    expect(resume.output).toMatch(/[1-3] stale running trial\(s\) reclaimed/);
    const store = await openStore(db, 'read');
    try {
      await expectExactlyOnce(store, 8, 3);
    } finally {
      await store.close();
    }
  });
});

describe('workers on PostgreSQL under faults', () => {
  let cluster: Cluster | string;
  beforeAll(async () => {
    cluster = await startCluster();
  });
  afterAll(async () => {
    if (typeof cluster !== 'string') await cluster.stop();
  });

  it('4 workers, 200 trials, 10 workers SIGKILLed at random and one server restart: every trial completed exactly once', async (ctx) => {
    if (typeof cluster === 'string') return ctx.skip(`no PostgreSQL: ${cluster}`);
    const server = cluster;
    const db = await server.createDatabase();
    const dir = tempDir();
    // A short stall timeout makes short leases (heartbeat every 0.75 s, reclaimed after 1.5 s without).
    project(dir, 'chaos', 200, 'fixture: {epochs: 2, epoch_ms: 30}\nlimits: {stall_timeout: 3s, max_attempts: 3}\n');
    expect((await gridDone(dir, 'add', 'chaos.yaml', '--db', db)).code).toBe(0);
    const start = (): CliRun => grid(dir, 'worker', 'chaos', '--db', db, '--cpu', '--poll', '200ms');
    const workers = new Set<CliRun>();
    for (let i = 0; i < 4; i++) workers.add(start());
    const seed = { x: 12345 };
    const random = (): number => ((seed.x = (seed.x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    let kills = 0;
    for (; kills < 10; kills++) {
      await sleep(600 + random() * 1200);
      if (kills === 5) await server.restart();
      const victims = [...workers];
      const victim = victims[Math.floor(random() * victims.length)] as CliRun;
      victim.child.kill('SIGKILL');
      await victim.exited;
      workers.delete(victim);
      // As Slurm would requeue it: a new worker takes its place.
      workers.add(start());
    }
    const codes = await Promise.all([...workers].map((w) => w.exited));
    expect(codes, [...workers].map((w) => w.output().slice(-2000)).join('\n---\n')).toEqual([0, 0, 0, 0]);
    const store = await openStore(db, 'read');
    try {
      await expectExactlyOnce(store, 200, 2);
      const attempts = await store.listAttempts({});
      // Killed workers left interrupted attempts that others reclaimed and ran again.
      expect(attempts.filter((a) => a.state === 'interrupted').length).toBeGreaterThan(0);
      expect(attempts.filter((a) => a.state === 'running')).toEqual([]);
    } finally {
      await store.close();
    }
  }, 90_000);
});
