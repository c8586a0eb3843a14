/**
 * Pruning with several workers on one sweep (on both engines): each decision is judged against the
 * epochs in the store at that moment, so a worker sees the epochs another stored after it started,
 * and decides as one machine running both trials would.
 */
import { describe, expect, it } from 'vitest';
import { planSlots } from '../src/scheduler/devices.js';
import { Pruner } from '../src/scheduler/pruner.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { trainerArgv } from '../src/scheduler/trainer-command.js';
import { openStore } from '../src/store/open-store.js';
import type { Store, TrialRecord } from '../src/store/store.js';
import { parseGridFile, type GridFile } from '../src/sweep/grid-file.js';
import { planSweep, prepareRun } from '../src/sweep/sweep-service.js';
import { fakeGrid } from './helpers/fixture.js';
import { ENGINES } from './helpers/stores.js';

/** A worker: its own store, pruner (read from the store now) and scheduler, as `grid worker` makes them. */
async function worker(db: string, grid: GridFile): Promise<{ store: Store; pruner: Pruner; run: (trials: readonly TrialRecord[]) => Promise<unknown> }> {
  const store = await openStore(db, 'write');
  const pruner = Pruner.create({ sweep: 's', spec: grid.pruner, objective: grid.objective, trials: await store.listTrials({ sweep: 's' }), epochs: await store.listEpochs({ sweep: 's' }) });
  if (pruner === null) throw new Error('no pruner');
  const scheduler = new Scheduler({ store, dbPath: db, slots: planSlots([], { parallel: 1 }), limits: grid.limits, trainerArgv, pruner });
  return { store, pruner, run: (trials) => scheduler.run(trials) };
}

const CLAIM = { host: 'h', pid: process.pid, device: { backend: 'cpu' as const, ordinal: 0 }, heartbeatIntervalS: 5 };

/** Runs an attempt of `trialId` that reports these epochs ([epoch, train loss, ndcg@10 or none]) and is interrupted. */
async function attempt(store: Store, trialId: string, epochs: readonly [number, number, number | null][]): Promise<void> {
  await store.requeue(trialId, ['interrupted']);
  const n = await store.claim(trialId, CLAIM);
  if (n === false) throw new Error(`${trialId} not claimed`);
  for (const [epoch, loss, ndcg] of epochs) {
    const metrics: Record<string, number> = ndcg === null ? {} : { 'ndcg@10': ndcg };
    await store.recordEpoch({ trialId, attempt: n, epoch, trainLoss: loss, metrics, epochSeconds: 0, peakBytes: 0, tokensPerSecond: 0 });
  }
  await store.finishAttempt(trialId, n, { state: 'interrupted' });
}

describe.each(ENGINES)('pruning across workers ($name)', (engine) => {
  it('reads the standings at an epoch from the store: trials that reached it, best up to it, the latest attempt winning per epoch', async (ctx) => {
    const store = await openStore(await engine.fresh(ctx), 'write');
    try {
      const objective = { metric: 'ndcg@10', direction: 'max' as const };
      await store.saveSweep({ name: 's', file: null, document: {}, objective }, ['a', 'b', 'c'].map((id) => ({ id, config: { id }, trainer: 'builtin' as const })));
      await attempt(store, 'a', [[1, 3, 0.5], [2, 2, 0.6], [3, 1, 0.2]]);
      await attempt(store, 'a', [[1, 5, 0.1], [2, 4, 0.3]]); // restarted from scratch: its epochs 1 and 2 replace the first's
      await attempt(store, 'b', [[1, Number.NaN, null], [2, 1.5, null], [3, 1.4, null]]);
      await attempt(store, 'c', [[1, 2, 0.9], [2, 1, 0.9]]);
      const at3 = await store.standings({ sweep: 's', ...objective, epoch: 3 });
      expect(at3.map((s) => s.trialId)).toEqual(['a', 'b']); // c never reached epoch 3
      expect(at3[0]?.value).toBeCloseTo(0.3, 12);
      expect(at3[1]?.value).toBeNaN(); // b reported no ndcg@10
      expect(await store.standings({ sweep: 's', metric: 'loss', direction: 'min', epoch: 2 })).toEqual([
        { trialId: 'a', value: 4 },
        { trialId: 'b', value: 1.5 },
        { trialId: 'c', value: 1 },
      ]);
      expect(await store.standings({ sweep: 'other', ...objective, epoch: 1 })).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("judges each epoch against the epochs other workers stored after this one started", async (ctx) => {
    const db = await engine.fresh(ctx);
    // asha at epochs 2 and 4, keeping the top half: 0.1 falls out at epoch 2 as soon as 0.5 is there.
    const grid = parseGridFile(fakeGrid('s', 'fixture: {epochs: 4, epoch_ms: 10}\npruner: {rule: asha, min_epochs: 2, reduction_factor: 2}\nconfigs:\n  - {fixture.score: 0.5}\n  - {fixture.score: 0.1}\n'), 's.yaml');
    const setup = await openStore(db, 'write');
    const { pending } = await prepareRun(setup, await planSweep(grid, setup));
    await setup.close();
    const [good, bad] = pending as [TrialRecord, TrialRecord];
    // Worker B starts on the sweep while nothing is stored; worker A then runs the good trial to the end.
    const b = await worker(db, grid);
    const a = await worker(db, grid);
    try {
      expect(b.pruner.epochsKnown).toBe(0);
      await a.run([good]);
      await b.run([bad]);
      const decisions = await b.store.listDecisions({ trialId: bad.id });
      expect(decisions).toHaveLength(1);
      expect(decisions[0]).toMatchObject({ attempt: 1, epoch: 2, rung: 0, action: 'prune', compared: [{ trialId: good.id }] });
      expect(decisions[0]?.value).toBeCloseTo(0.07, 12);
      expect(decisions[0]?.compared[0]?.value).toBeCloseTo(0.27, 12);
      expect((await b.store.listTrials()).map((t) => [t.id, t.state])).toEqual(
        expect.arrayContaining([
          [good.id, 'completed'],
          [bad.id, 'pruned'],
        ]),
      );
      // The good trial, alone at both rungs when A judged it, continued; each epoch judged once.
      expect((await a.store.listDecisions({ trialId: good.id })).map((d) => [d.epoch, d.action])).toEqual([
        [2, 'continue'],
        [4, 'continue'],
      ]);
    } finally {
      await a.store.close();
      await b.store.close();
    }
  });
});
