/**
 * What `grid resume` puts back to pending, done once for both of its callers: `grid resume` itself
 * (with the flags it was given) and workers recovering a sweep whose other workers died (no flags).
 */
import type { Store, TrialRecord } from './store.js';
import { resumedStates, type RetryFlag } from './trial-state.js';

/**
 * Puts the sweep's trials that `grid resume` runs again (trial-state.ts, `RETRY_POLICY`, given its
 * `flags`) back to pending, each in a compare-and-set: a trial another process moved first is left.
 * Returns the trials put back, as they were (their state the one they left).
 */
export async function requeueResumable(store: Store, sweep: string, flags: ReadonlySet<RetryFlag>): Promise<TrialRecord[]> {
  const requeued: TrialRecord[] = [];
  for (const t of await store.listTrials({ sweep, states: resumedStates(flags) })) {
    if (await store.requeue(t.id, [t.state])) requeued.push(t);
  }
  return requeued;
}
