/**
 * Pruning across real sweeps of the fixture trainer, whose curves are known (fake-trainer.mjs):
 * ndcg@10 at epoch e = score/2 + 0.01·min(e, peak_epoch) − 0.005·max(0, e − peak_epoch), so a trial's
 * best so far is score/2 + 0.01·min(e, peak_epoch). One slot runs the trials in file order, so every
 * decision is known in advance.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planSlots } from '../src/scheduler/devices.js';
import { Pruner } from '../src/scheduler/pruner.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { trainerArgv } from '../src/scheduler/trainer-command.js';
import { openStore } from '../src/store/open-store.js';
import type { Store, TrialRecord } from '../src/store/store.js';
import { attemptFiles } from '../src/store/trial-files.js';
import { parseGridFile, type GridFile } from '../src/sweep/grid-file.js';
import { planSweep, prepareRun } from '../src/sweep/sweep-service.js';
import { dbIn, fakeGrid, integrity } from './helpers/fixture.js';
import { tempDir } from './helpers/tmp.js';

/** A sweep of configs, stored; `run` runs some of its pending trials with a pruner read from the store now. */
async function prepare(body: string): Promise<{ store: Store; db: string; grid: GridFile; pending: readonly TrialRecord[]; run: (trials: readonly TrialRecord[]) => Promise<Pruner> }> {
  const db = dbIn(tempDir());
  const grid = parseGridFile(fakeGrid('s', body), 's.yaml');
  const store = await openStore(db, 'write');
  const { pending } = await prepareRun(store, await planSweep(grid, store));
  const run = async (trials: readonly TrialRecord[]): Promise<Pruner> => {
    const pruner = Pruner.create({ sweep: 's', spec: grid.pruner, objective: grid.objective, trials: await store.listTrials({ sweep: 's' }), epochs: await store.listEpochs({ sweep: 's' }) });
    if (pruner === null) throw new Error('no pruner');
    await new Scheduler({ store, dbPath: db, slots: planSlots([], { parallel: 1 }), limits: grid.limits, trainerArgv, pruner }).run(trials);
    return pruner;
  };
  return { store, db, grid, pending, run };
}

/** score → "state: epochs stored" of every trial's latest attempt. */
async function outcomes(store: Store): Promise<Record<string, string>> {
  const epochs = await store.listEpochs({});
  return Object.fromEntries(
    (await store.listTrials()).map((t) => {
      const stored = epochs.filter((e) => e.trialId === t.id && e.attempt === t.attempts).map((e) => e.epoch);
      return [String((t.config.fixture as { score: number }).score), `${t.state}: ${stored.join(',')}`];
    }),
  );
}

const configs = (scores: readonly (number | string)[]): string => `configs:\n${scores.map((s) => `  - {fixture.score: ${s}}\n`).join('')}`;

// Best so far at epoch e: 0.25+0.01e (0.5), 0.30+0.01e (0.6), 0.20+0.01e (0.4), 0.40+0.01e (0.8),
// 0.32 from epoch 1 on (0.62, peaking at 1), 0.15+0.01e (0.3).
const MEDIAN = 'fixture: {epochs: 4, epoch_ms: 20}\npruner: {rule: median, warmup_epochs: 1, min_trials: 2}\n' +
  'configs:\n  - {fixture.score: 0.5}\n  - {fixture.score: 0.6}\n  - {fixture.score: 0.4}\n  - {fixture.score: 0.8}\n  - {fixture.score: 0.62, fixture.peak_epoch: 1}\n  - {fixture.score: 0.3}\n';
const MEDIAN_OUTCOMES = {
  0.5: 'completed: 1,2,3,4', // no other trial yet
  0.6: 'completed: 1,2,3,4', // one other: fewer than min_trials
  0.4: 'pruned: 1,2', // epoch 2: 0.22 < median(0.27, 0.32)
  0.8: 'completed: 1,2,3,4',
  0.62: 'pruned: 1,2,3', // epoch 2: 0.32 ≥ median(0.22, 0.27, 0.32, 0.42) = 0.295; epoch 3: 0.32 < median(0.28, 0.33, 0.43)
  0.3: 'pruned: 1,2', // epoch 2: 0.17 < 0.32
};

describe('pruning a sweep of the fixture trainer', () => {
  it('median: stops exactly the trials below the median at the epochs they fall below it, keeping their rows and the evidence', async () => {
    const { store, db, pending, run } = await prepare(MEDIAN);
    await run(pending);
    expect(await outcomes(store)).toEqual(MEDIAN_OUTCOMES);
    const decisions = await store.listDecisions({ sweep: 's' });
    expect(decisions).toHaveLength(3 + 3 + 1 + 3 + 2 + 1); // every epoch after the warm-up until stopped
    const byScore = new Map((await store.listTrials()).map((t) => [t.id, (t.config.fixture as { score: number }).score]));
    const stop = decisions.find((d) => byScore.get(d.trialId) === 0.62 && d.action === 'prune');
    expect(stop).toMatchObject({ epoch: 3, rule: 'median', rung: null, metric: 'ndcg@10', direction: 'max' });
    expect(stop?.value).toBeCloseTo(0.32, 12);
    expect(stop?.threshold).toBeCloseTo(0.33, 12);
    expect(stop?.compared.map((c) => byScore.get(c.trialId)).sort()).toEqual([0.5, 0.6, 0.8]);
    const attempt = (await store.listAttempts({})).find((a) => a.trialId === stop?.trialId);
    expect(attempt?.error).toBe(stop?.reason);
    expect(attempt?.error).toMatch(/^median rule at epoch 3: ndcg@10 0\.32 \(best so far\) is worse than the median 0\.33 of 3 other trial\(s\)$/);
    expect(decisions.filter((d) => d.action === 'prune').map((d) => byScore.get(d.trialId)).sort()).toEqual([0.3, 0.4, 0.62]);
    await store.close();
    expect(integrity(db)).toBe('ok');
  });

  it('asha: keeps the top 1/η at each rung r·η^k (at least the best so far), among the trials that reached it', async () => {
    // η = 2, rungs at epochs 1, 2, 4.
    const { store, pending, run } = await prepare(`fixture: {epochs: 4, epoch_ms: 20}\npruner: {rule: asha, min_epochs: 1, reduction_factor: 2}\n${configs([0.5, 0.3, 0.7, 0.6, 0.2, 0.8])}`);
    await run(pending);
    expect(await outcomes(store)).toEqual({
      0.5: 'completed: 1,2,3,4', // alone at every rung
      0.3: 'pruned: 1', // rung 0: 2 trials, the best continues
      0.7: 'completed: 1,2,3,4',
      0.6: 'pruned: 1,2', // rung 0: 2nd of 4, top 2 continue; rung 1: 2nd of 3 (0.5, 0.7, itself), only the best does
      0.2: 'pruned: 1', // rung 0: 5th of 5
      0.8: 'completed: 1,2,3,4',
    });
    const byScore = new Map((await store.listTrials()).map((t) => [t.id, (t.config.fixture as { score: number }).score]));
    const stop = (await store.listDecisions({ sweep: 's' })).find((d) => byScore.get(d.trialId) === 0.6 && d.action === 'prune');
    expect(stop).toMatchObject({ epoch: 2, rung: 1, rule: 'asha' });
    expect(stop?.threshold).toBeCloseTo(0.37, 12); // 0.7's best at epoch 2
    expect(stop?.compared.map((c) => byScore.get(c.trialId)).sort()).toEqual([0.5, 0.7]);
    // Epoch 3 is no rung: nobody is judged there.
    expect((await store.listDecisions({ sweep: 's' })).filter((d) => d.epoch === 3)).toEqual([]);
    await store.close();
  });

  it('group_by: trials compete only within their group', async () => {
    const body = 'fixture: {epochs: 2, epoch_ms: 10}\npruner: {rule: asha, reduction_factor: 2, group_by: fixture.g}\nconfigs:\n' +
      '  - {fixture.score: 0.5, fixture.g: a}\n  - {fixture.score: 0.3, fixture.g: a}\n  - {fixture.score: 0.2, fixture.g: b}\n  - {fixture.score: 0.1, fixture.g: b}\n';
    const { store, pending, run } = await prepare(body);
    await run(pending);
    expect(await outcomes(store)).toEqual({ 0.5: 'completed: 1,2', 0.3: 'pruned: 1', 0.2: 'completed: 1,2', 0.1: 'pruned: 1' });
    expect((await store.listDecisions({ sweep: 's' })).find((d) => d.action === 'prune')?.group).toEqual({ 'fixture.g': 'a' });
    await store.close();
  });

  it('a sweep continued by another orchestrator decides from the epochs already stored, as one run would', async () => {
    const { store, pending, run } = await prepare(MEDIAN);
    await run(pending.slice(0, 3));
    const second = await run(pending.slice(3));
    expect(await outcomes(store)).toEqual(MEDIAN_OUTCOMES);
    expect(second.epochsKnown).toBe(4 + 4 + 2 + 4 + 3 + 2);
    await store.close();
  });

  it('stops a pruned trial with SIGTERM and, when it trains on, SIGKILL after the kill grace; later epochs are not recorded', async () => {
    const body = `fixture: {epochs: 200, epoch_ms: 20, ignore_term: true}\nlimits: {kill_grace: 300ms}\npruner: {rule: asha, min_epochs: 2, reduction_factor: 2}\n${configs([0.5, 0.1])}`;
    const { store, db, grid, pending } = await prepare(body);
    // The first trial as if it had reached rung 0 (epoch 2) already, so that the second is judged against it there.
    const first = pending[0]!.id;
    const attempt1 = await store.claim(first, { host: 'h', pid: process.pid, device: { backend: 'cpu', ordinal: 0 }, heartbeatIntervalS: 5 });
    if (attempt1 === false) throw new Error('not claimed');
    for (const [epoch, ndcg] of [[1, 0.26], [2, 0.27]] as const) {
      await store.recordEpoch({ trialId: first, attempt: attempt1, epoch, trainLoss: 1, metrics: { 'ndcg@10': ndcg }, epochSeconds: 0, peakBytes: 0, tokensPerSecond: 0 });
    }
    await store.finishAttempt(first, attempt1, { state: 'interrupted' });
    const pruner = Pruner.create({ sweep: 's', spec: grid.pruner, objective: grid.objective, trials: await store.listTrials({ sweep: 's' }), epochs: [] });
    await new Scheduler({ store, dbPath: db, slots: planSlots([], { parallel: 1 }), limits: grid.limits, trainerArgv, pruner }).run(pending.slice(1));
    const [attempt] = await store.listAttempts({ trialId: pending[1]!.id });
    expect(attempt).toMatchObject({ state: 'pruned', signal: 'SIGKILL' });
    expect((attempt!.finishedAt as number) - attempt!.startedAt).toBeGreaterThanOrEqual(0.3);
    expect((await store.listEpochs({ trialId: pending[1]!.id })).map((e) => e.epoch)).toEqual([1, 2]);
    expect(readFileSync(attemptFiles(db, pending[1]!.id, 1).log, 'utf8')).toMatch(/ignoring SIGTERM/);
    await store.close();
  });
});
