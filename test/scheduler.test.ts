import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planSlots } from '../src/scheduler/devices.js';
import { probePeaks } from '../src/scheduler/peak-probe.js';
import { Scheduler, type SchedulerEvent } from '../src/scheduler/scheduler.js';
import { trainerArgv } from '../src/scheduler/trainer-command.js';
import { TrialProcess } from '../src/scheduler/trial-process.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { expandGrid } from '../src/sweep/expand.js';
import { parseGridFile } from '../src/sweep/grid-file.js';
import { planSweep, prepareRun } from '../src/sweep/sweep-service.js';
import { dbIn, FAKE_TRAINER, fakeGrid, integrity } from './helpers/fixture.js';
import { ENGINES } from './helpers/stores.js';
import { tempDir } from './helpers/tmp.js';

/** Runs a fake-trainer grid through a real scheduler; returns the store (open) and the events. */
async function sweep(body: string, parallel = 2, db = dbIn(tempDir())): Promise<{ store: Store; db: string; events: SchedulerEvent[] }> {
  const grid = parseGridFile(fakeGrid('s', body), 's.yaml');
  const store = await openStore(db, 'write');
  const run = await prepareRun(store, await planSweep(grid, store));
  const events: SchedulerEvent[] = [];
  const scheduler = new Scheduler({ store, dbPath: store.path, slots: planSlots([], { parallel }), limits: grid.limits, trainerArgv, onEvent: (e) => events.push(e) });
  await scheduler.run(run.pending);
  return { store, db, events };
}

const errorsByMode = async (store: Store): Promise<Record<string, string | null>> => {
  const errors = new Map((await store.listAttempts({})).map((a) => [a.trialId, a.error]));
  return Object.fromEntries((await store.listTrials()).map((t) => [(t.config.fixture as { mode: string }).mode, errors.get(t.id) ?? null]));
};
const states = async (store: Store) => Object.fromEntries((await store.listTrials()).map((t) => [(t.config.fixture as { mode: string }).mode, t.state]));

describe('scheduler with real child processes', () => {
  it.for(ENGINES)('runs a sweep of 24 trials at parallelism 4, each exactly once, every epoch recorded once ($name)', async (engine, ctx) => {
    const { store, db } = await sweep('fixture: {epochs: 3, epoch_ms: 4}\ngrid:\n  fixture.k: [1, 2, 3, 4, 5, 6]\n  train.batch_size: [1, 2, 3, 4]\n', 4, await engine.fresh(ctx));
    const trials = await store.listTrials();
    expect(trials).toHaveLength(24);
    expect(trials.every((t) => t.state === 'completed' && t.attempts === 1)).toBe(true);
    const attempts = await store.listAttempts({});
    expect(attempts).toHaveLength(24);
    expect(attempts.every((a) => a.state === 'completed' && a.info?.trainer === 'fake-trainer')).toBe(true);
    expect(await store.listEpochs({})).toHaveLength(72);
    await store.close();
    if (engine.name === 'sqlite') expect(integrity(db)).toBe('ok');
  });

  it('ends crash, oom, stderr-oom and bad events each in their own state', async () => {
    const { store, db } = await sweep('fixture: {epochs: 2, epoch_ms: 4}\nlimits: {max_attempts: 1}\ngrid:\n  fixture.mode: [finish, crash, oom, stderr-oom, bad-event]\n', 4);
    expect(await states(store)).toEqual({ finish: 'completed', crash: 'failed', oom: 'oom', 'stderr-oom': 'oom', 'bad-event': 'failed' });
    const byMode = await errorsByMode(store);
    expect(byMode.crash).toBe('exited with code 3');
    expect(byMode.oom).toBe('oom: wanted 80 GB');
    expect(byMode['bad-event']).toMatch(/^protocol violation: event is not an object/);
    expect(byMode['stderr-oom']).toMatch(/CUDA error: out of memory/);
    await store.close();
    expect(integrity(db)).toBe('ok');
  });

  it('ends a hung trial (heartbeats, no progress) and a stalled one (silence) in timeout, each with its reason', async () => {
    // The stall timeout must exceed a child's start-up even on a loaded machine: the hung child beats.
    const { store, db } = await sweep('limits: {trial_timeout: 3s, stall_timeout: 2s, kill_grace: 100ms}\ngrid:\n  fixture.mode: [hang, stall]\n', 2);
    expect(await states(store)).toEqual({ hang: 'timeout', stall: 'timeout' });
    const byMode = await errorsByMode(store);
    expect(byMode.hang).toMatch(/trial timeout \(3s\)/);
    expect(byMode.stall).toMatch(/stalled: no event for 2s/);
    await store.close();
    expect(integrity(db)).toBe('ok');
  });

  it('kills a child that ignores SIGTERM after the grace', async () => {
    const dir = tempDir();
    const trialFile = join(dir, 'trial.json');
    writeFileSync(trialFile, JSON.stringify({ protocol: 1, trial_id: 'ab', attempt: 1, config: { fixture: { mode: 'ignore-term' } }, device: { backend: 'cpu', ordinal: 0 }, workdir: dir }));
    let hello!: () => void;
    const said = new Promise<void>((resolve) => (hello = resolve));
    const proc = TrialProcess.start({
      argv: [process.execPath, FAKE_TRAINER], env: process.env, trialFile, logFile: join(dir, 'log'),
      trialTimeoutMs: undefined, stallTimeoutMs: 60_000, killGraceMs: 150,
      onEvent: (e) => e.type === 'hello' && hello(),
    });
    await said;
    proc.stop('trial_timeout');
    const exit = await proc.exited;
    expect(exit).toMatchObject({ signal: 'SIGKILL', stopReason: 'trial_timeout' });
    expect(readFileSync(join(dir, 'log'), 'utf8')).toMatch(/ignoring SIGTERM/);
  });

  it('retries a failed attempt up to max_attempts and keeps every attempt', async () => {
    const { store, events } = await sweep('fixture: {epochs: 1, epoch_ms: 2}\nlimits: {max_attempts: 3}\ngrid:\n  fixture.mode: [crash-first, crash]\n', 2);
    expect(await states(store)).toEqual({ 'crash-first': 'completed', crash: 'failed' });
    const byTrial = new Map<string, string[]>();
    for (const a of await store.listAttempts({})) byTrial.set(a.trialId, [...(byTrial.get(a.trialId) ?? []), a.state]);
    expect([...byTrial.values()].map((s) => s.join(',')).sort()).toEqual(['failed,completed', 'failed,failed,failed']);
    expect(events.filter((e) => e.type === 'end' && e.retry)).toHaveLength(3);
    await store.close();
  });

  it('fails a trial whose trainer cannot be started, with the reason', async () => {
    const db = dbIn(tempDir());
    const grid = parseGridFile('trainer: {command: [/nonexistent/trainer]}\nx: 1\n', 's.yaml');
    const store = await openStore(db, 'write');
    const run = await prepareRun(store, await planSweep(grid, store));
    await new Scheduler({ store, dbPath: db, slots: planSlots([]), limits: { ...grid.limits, maxAttempts: 1 }, trainerArgv }).run(run.pending);
    expect((await store.listAttempts({}))[0]?.error).toMatch(/^cannot start \/nonexistent\/trainer: .*ENOENT/);
    await store.close();
  });

  it('refuses, as oom, a trial whose planned peak exceeds its GPU, at its hello', async () => {
    const db = dbIn(tempDir());
    const grid = parseGridFile(
      fakeGrid('s', 'fixture: {epochs: 1, epoch_ms: 1}\nconfigs:\n  - fixture: {planned_peak: 2000000000, mode: hang}\n  - fixture: {planned_peak: 100}\n'),
      's.yaml',
    );
    const store = await openStore(db, 'write');
    const run = await prepareRun(store, await planSweep(grid, store));
    const gpu = { index: 0, name: 'Small', uuid: 'GPU-0', memoryTotalBytes: 2 ** 30 };
    await new Scheduler({ store, dbPath: db, slots: planSlots([gpu], { parallel: 2 }), limits: grid.limits, trainerArgv }).run(run.pending);
    const byPeak = Object.fromEntries((await store.listAttempts({})).map((a) => [a.info?.plannedPeakBytes, `${a.state}: ${a.error ?? ''}`]));
    expect(byPeak[2_000_000_000]).toBe('oom: planned peak 1.9 GiB exceeds the 1.0 GiB of gpu0 Small');
    expect(byPeak[100]).toBe('completed: '); // it fits, so it ran
    await store.close();
  });

  it('defers a trial that does not fit next to those running on its GPU until one ends', async () => {
    const db = dbIn(tempDir());
    const grid = parseGridFile(fakeGrid('s', 'fixture: {epochs: 3, epoch_ms: 100, planned_peak: 644245094}\ngrid:\n  fixture.k: [1, 2]\n'), 's.yaml');
    const store = await openStore(db, 'write');
    const run = await prepareRun(store, await planSweep(grid, store));
    const gpu = { index: 0, name: 'Small', uuid: 'GPU-0', memoryTotalBytes: 2 ** 30 };
    await new Scheduler({ store, dbPath: db, slots: planSlots([gpu], { parallel: 2 }), limits: grid.limits, trainerArgv }).run(run.pending);
    expect((await store.listTrials()).map((t) => t.state)).toEqual(['completed', 'completed']);
    const attempts = await store.listAttempts({});
    const deferred = attempts.filter((a) => a.state === 'interrupted');
    expect(deferred).toHaveLength(1);
    expect(deferred[0]?.error).toBe('deferred: planned peak 0.6 GiB does not fit next to the 0.6 GiB planned on gpu0 Small (1.0 GiB)');
    const [first, second] = attempts.filter((a) => a.state === 'completed').sort((a, b) => a.startedAt - b.startedAt);
    expect(second!.startedAt).toBeGreaterThanOrEqual(first!.finishedAt as number); // never both on the GPU at once
    await store.close();
  });

  it('probes planned peaks by stopping each trainer at its hello', async () => {
    const grid = parseGridFile(fakeGrid('s', 'fixture: {mode: hang}\ngrid:\n  fixture.planned_peak: [1000, 2000]\n'), 's.yaml');
    const noPlan = parseGridFile(fakeGrid('t', 'fixture: {mode: hang}\n'), 't.yaml');
    const broken = parseGridFile('trainer: {command: [/nonexistent/trainer]}\nx: 1\n', 'b.yaml');
    const trials = [...expandGrid(grid).trials, ...expandGrid(noPlan).trials, ...expandGrid(broken).trials];
    const probes = await probePeaks(trials, { slots: planSlots([], { parallel: 2 }), trainerArgv, timeoutMs: 30_000 });
    expect(trials.map((t) => probes.get(t.id)?.plannedPeakBytes ?? null)).toEqual([1000, 2000, null, null]);
    expect(probes.get(trials[2]!.id)?.problem).toBeNull();
    expect(probes.get(trials[3]!.id)?.problem).toMatch(/^cannot start \/nonexistent\/trainer/);
  });

  it('places slots on GPUs by UUID, round robin, and falls back to CPU slots', () => {
    const gpu = (index: number) => ({ index, name: 'H100', uuid: `GPU-${index}`, memoryTotalBytes: 1 });
    const slots = planSlots([gpu(0), gpu(1)], { parallel: 3 });
    expect(slots.map((s) => s.env.CUDA_VISIBLE_DEVICES)).toEqual(['GPU-0', 'GPU-1', 'GPU-0']);
    expect(slots.every((s) => s.device.backend === 'cuda' && s.device.ordinal === 0 && s.memoryBytes === 1)).toBe(true);
    expect(planSlots([gpu(0)], { cpu: true, parallel: 2 }).map((s) => s.device.backend)).toEqual(['cpu', 'cpu']);
    expect(planSlots([])).toHaveLength(1);
  });

  it('shares the cores among CPU slots through GRID_CPU_THREADS', () => {
    expect(planSlots([], { parallel: 3, cores: 8 }).map((s) => s.env.GRID_CPU_THREADS)).toEqual(['2', '2', '2']);
    expect(planSlots([], { parallel: 4, cores: 2 })[0]!.env.GRID_CPU_THREADS).toBe('1');
    expect(planSlots([], { cores: 2 })[0]!.env.GRID_CPU_THREADS).toBe('2');
  });
});
