import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import { requeueResumable } from '../src/store/requeue.js';
import type { Claim, Store } from '../src/store/store.js';
import {
  AttemptBudget,
  canTransition,
  isClaimed,
  isFinished,
  isUnsuccessful,
  resumedStates,
  RETRY_POLICY,
  TRIAL_STATES,
  type AttemptEnd,
  type TrialState,
} from '../src/store/trial-state.js';
import { ENGINES } from './helpers/stores.js';

const claim: Claim = { host: 'h', pid: process.pid, device: { backend: 'cpu', ordinal: 0 }, heartbeatIntervalS: 5 };
const sweep = { name: 's', file: 's.yaml', document: { name: 's' }, objective: { metric: 'ndcg@10', direction: 'max' as const } };
const ENDS = TRIAL_STATES.filter((s): s is AttemptEnd => s !== 'pending' && s !== 'running');

describe('trial-state rules', () => {
  it('has one transition table: completed is final, a trial is claimed only when pending, an attempt ends only from running', () => {
    const table = Object.fromEntries(TRIAL_STATES.map((from) => [from, TRIAL_STATES.filter((to) => canTransition(from, to))]));
    expect(table).toEqual({
      pending: ['running'],
      running: ['pending', 'completed', 'pruned', 'failed', 'oom', 'timeout', 'interrupted'],
      completed: [],
      pruned: ['pending'],
      failed: ['pending'],
      oom: ['pending'],
      timeout: ['pending'],
      interrupted: ['pending'],
    });
  });

  it('has one retry policy: only failed attempts are retried within a run; resume runs interrupted trials, finished ones with their flag', () => {
    expect(ENDS.filter((s) => RETRY_POLICY[s].inRun)).toEqual(['failed']);
    expect(resumedStates(new Set())).toEqual(['interrupted']);
    expect(resumedStates(new Set(['retry-pruned']))).toEqual(['pruned', 'interrupted']);
    expect(resumedStates(new Set(['retry-failed', 'retry-timeout', 'retry-pruned']))).toEqual(['pruned', 'failed', 'timeout', 'interrupted']);
    expect(resumedStates(new Set(['retry-oom']))).toEqual(['oom', 'interrupted']);
    expect(resumedStates(new Set(['retry-failed', 'retry-timeout', 'retry-pruned', 'retry-oom']))).toEqual(ENDS.filter((s) => s !== 'completed'));
    // What resume may put back to pending, the table lets go back to pending.
    for (const s of ENDS) expect(RETRY_POLICY[s].resume !== 'never').toBe(canTransition(s, 'pending'));
  });

  it('counts only retried outcomes against max_attempts, and never a deferred attempt', () => {
    const failedTwice = new AttemptBudget(3);
    expect([failedTwice.again('failed', false), failedTwice.again('interrupted', true), failedTwice.again('failed', false), failedTwice.again('failed', false)]).toEqual([true, true, true, false]);
    const once = new AttemptBudget(1);
    expect(once.again('failed', false)).toBe(false);
    expect(once.again('interrupted', true)).toBe(true);
    for (const s of ENDS.filter((e) => e !== 'failed')) expect(new AttemptBudget(100).again(s, false)).toBe(false);
  });

  it('says which states are finished, claimed, and fail a sweep', () => {
    expect(TRIAL_STATES.filter(isFinished)).toEqual(['completed', 'pruned', 'failed', 'oom', 'timeout']);
    expect(TRIAL_STATES.filter(isClaimed)).toEqual(['running']);
    expect(TRIAL_STATES.filter(isUnsuccessful)).toEqual(['failed', 'oom', 'timeout', 'interrupted']);
  });
});

/** Stores trial `id` in `state` through the store's own primitives; returns its latest attempt (0: none). */
async function inState(store: Store, id: string, state: TrialState): Promise<number> {
  await store.saveSweep({ ...sweep, name: id }, [{ id, config: { a: id }, trainer: 'builtin' }]);
  if (state === 'pending') return 0;
  const attempt = (await store.claim(id, claim)) as number;
  if (state !== 'running') await store.finishAttempt(id, attempt, { state });
  return attempt;
}

const stateOf = async (store: Store, id: string): Promise<TrialState | undefined> => (await store.listTrials()).find((t) => t.id === id)?.state;

describe.each(ENGINES)('the store follows the trial-state rules ($name)', (engine) => {
  it('changes a trial\'s state exactly where the transition table allows', async (ctx) => {
    const store = await openStore(await engine.fresh(ctx), 'write');
    try {
      for (const from of TRIAL_STATES) {
        const claimed = `claim-${from}`;
        await inState(store, claimed, from);
        expect([from, (await store.claim(claimed, claim)) !== false]).toEqual([from, canTransition(from, 'running')]);

        const requeued = `requeue-${from}`;
        await inState(store, requeued, from);
        expect([from, await store.requeue(requeued, [from])]).toEqual([from, canTransition(from, 'pending')]);
        expect(await stateOf(store, requeued)).toBe(canTransition(from, 'pending') ? 'pending' : from);

        for (const to of ENDS) {
          const ended = `end-${from}-${to}`;
          const attempt = await inState(store, ended, from);
          expect([from, to, await store.finishAttempt(ended, Math.max(attempt, 1), { state: to })]).toEqual([from, to, canTransition(from, to)]);
          expect(await stateOf(store, ended)).toBe(canTransition(from, to) ? to : from);
        }
      }
    } finally {
      await store.close();
    }
  });

  it('leaves a claimed trial\'s config and rows alone', async (ctx) => {
    const store = await openStore(await engine.fresh(ctx), 'write');
    try {
      for (const from of TRIAL_STATES) {
        const id = `t-${from}`;
        await inState(store, id, from);
        await store.saveSweep({ ...sweep, name: id }, [{ id, config: { a: 'respelt' }, trainer: 'builtin' }]);
        const config = (await store.listTrials()).find((t) => t.id === id)?.config;
        expect([from, config]).toEqual([from, { a: isClaimed(from) ? id : 'respelt' }]);
        expect([from, (await store.remove({ trialIds: [id] })).trialIds]).toEqual([from, isClaimed(from) ? [] : [id]]);
      }
    } finally {
      await store.close();
    }
  });

  it('requeues for resume exactly the states the retry policy names', async (ctx) => {
    const store = await openStore(await engine.fresh(ctx), 'write');
    try {
      await store.saveSweep(sweep, TRIAL_STATES.map((s) => ({ id: s, config: { a: s }, trainer: 'builtin' as const })));
      for (const s of ENDS) await store.finishAttempt(s, (await store.claim(s, claim)) as number, { state: s });
      await store.claim('running', claim);
      expect((await requeueResumable(store, 's', new Set(['retry-oom']))).map((t) => t.state)).toEqual(resumedStates(new Set(['retry-oom'])));
      expect(await store.countByState('s')).toEqual({ pending: 3, running: 1, completed: 1, pruned: 1, failed: 1, timeout: 1 });
    } finally {
      await store.close();
    }
  });
});
