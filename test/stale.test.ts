import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { reclaimStale } from '../src/scheduler/stale.js';
import { openStore } from '../src/store/open-store.js';
import { dbIn } from './helpers/fixture.js';
import { tempDir } from './helpers/tmp.js';

const cpu = { backend: 'cpu', ordinal: 0 } as const;

describe('reclaimStale', () => {
  it('reclaims claims whose orchestrator died or stopped beating, and leaves live ones alone', async () => {
    const store = await openStore(dbIn(tempDir()), 'write');
    const trial = (id: string) => ({ id, config: {}, trainer: 'builtin' as const });
    await store.saveSweep({ name: 's', file: null, document: {}, objective: { metric: 'ndcg@10', direction: 'max' } }, ['live', 'dead', 'silent'].map(trial));
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid as number;
    await store.claim('live', { host: 'here', pid: process.pid, device: cpu, heartbeatIntervalS: 60 });
    await store.claim('dead', { host: 'here', pid: deadPid, device: cpu, heartbeatIntervalS: 60 });
    await store.claim('silent', { host: 'elsewhere', pid: process.pid, device: cpu, heartbeatIntervalS: 0.01 });
    await new Promise((r) => setTimeout(r, 50));

    expect((await reclaimStale(store, 'here', 's')).sort()).toEqual(['dead', 'silent']);
    const errors = Object.fromEntries((await store.listAttempts({})).map((a) => [a.trialId, `${a.state}: ${a.error ?? ''}`]));
    expect(errors.dead).toBe(`interrupted: stale: its orchestrator (pid ${deadPid}) is gone`);
    expect(errors.silent).toMatch(/^interrupted: stale: no heartbeat for \d+ s \(grace 0\.02 s\)$/);
    expect(errors.live).toBe('running: ');
    // A second resume finds nothing left to reclaim.
    expect(await reclaimStale(store, 'here', 's')).toEqual([]);
    await store.close();
  });

  it('ends a stale attempt the pruner had decided to stop as pruned, with the decision\'s reason', async () => {
    const store = await openStore(dbIn(tempDir()), 'write');
    const trial = (id: string) => ({ id, config: {}, trainer: 'builtin' as const });
    await store.saveSweep({ name: 's', file: null, document: {}, objective: { metric: 'ndcg@10', direction: 'max' } }, ['judged', 'kept'].map(trial));
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid as number;
    for (const id of ['judged', 'kept']) await store.claim(id, { host: 'here', pid: deadPid, device: cpu, heartbeatIntervalS: 60 });
    const decision = {
      attempt: 1, epoch: 2, sweep: 's', rule: 'median' as const, metric: 'ndcg@10', direction: 'max' as const,
      value: 0.1, threshold: 0.2, rung: null, group: {}, compared: [], reason: 'median rule at epoch 2: worse',
    };
    await store.recordEpoch({ trialId: 'judged', attempt: 1, epoch: 2, trainLoss: 1, metrics: {}, epochSeconds: 1, peakBytes: 1, tokensPerSecond: 1 });
    await store.recordEpoch({ trialId: 'kept', attempt: 1, epoch: 2, trainLoss: 1, metrics: {}, epochSeconds: 1, peakBytes: 1, tokensPerSecond: 1 });
    await store.recordDecision({ ...decision, trialId: 'judged', action: 'prune' });
    await store.recordDecision({ ...decision, trialId: 'kept', action: 'continue' });
    expect((await reclaimStale(store, 'here', 's')).sort()).toEqual(['judged', 'kept']);
    const states = Object.fromEntries((await store.listAttempts({})).map((a) => [a.trialId, `${a.state}: ${a.error ?? ''}`]));
    expect(states.judged).toBe('pruned: median rule at epoch 2: worse');
    expect(states.kept).toMatch(/^interrupted: stale: its orchestrator/);
    await store.close();
  });
});
