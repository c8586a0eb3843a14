import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { reclaimStale } from '../src/scheduler/stale.js';
import { openStore } from '../src/store/sqlite-store.js';
import { dbIn } from './helpers/fixture.js';
import { tempDir } from './helpers/tmp.js';

const cpu = { backend: 'cpu', ordinal: 0 } as const;

describe('reclaimStale', () => {
  it('reclaims claims whose orchestrator died or stopped beating, and leaves live ones alone', async () => {
    const store = openStore(dbIn(tempDir()), 'write');
    const trial = (id: string) => ({ id, config: {}, trainer: 'builtin' as const });
    store.saveSweep({ name: 's', file: null, document: {}, objective: { metric: 'ndcg@10', direction: 'max' } }, ['live', 'dead', 'silent'].map(trial));
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid as number;
    store.claim('live', { host: 'here', pid: process.pid, device: cpu, heartbeatIntervalS: 60 });
    store.claim('dead', { host: 'here', pid: deadPid, device: cpu, heartbeatIntervalS: 60 });
    store.claim('silent', { host: 'elsewhere', pid: process.pid, device: cpu, heartbeatIntervalS: 0.01 });
    await new Promise((r) => setTimeout(r, 50));

    expect(reclaimStale(store, 'here', 's').sort()).toEqual(['dead', 'silent']);
    const errors = Object.fromEntries(store.listAttempts({}).map((a) => [a.trialId, `${a.state}: ${a.error ?? ''}`]));
    expect(errors.dead).toBe(`interrupted: stale: its orchestrator (pid ${deadPid}) is gone`);
    expect(errors.silent).toMatch(/^interrupted: stale: no heartbeat for \d+ s \(grace 0\.02 s\)$/);
    expect(errors.live).toBe('running: ');
    // A second resume finds nothing left to reclaim.
    expect(reclaimStale(store, 'here', 's')).toEqual([]);
    store.close();
  });
});
