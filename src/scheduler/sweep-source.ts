/**
 * Trials of one sweep, claimed from the store one at a time (`grid worker`, and `grid run` on a
 * PostgreSQL store): any number of workers on any machines share a sweep this way. When nothing is
 * pending, expired leases are reclaimed and interrupted trials put back, as `grid resume` does, so that
 * the trials of a worker that died are run again by the others.
 */
import { requeueResumable } from '../store/requeue.js';
import type { Claim, Store, TrialRecord } from '../store/store.js';
import type { TrialSource } from './scheduler.js';
import { reclaimStale } from './stale.js';

/** The pending trials of a sweep, claimed in link order. */
export class SweepSource implements TrialSource {
  readonly #store: Store;
  readonly #sweep: string;
  readonly #host: string;

  constructor(store: Store, sweep: string, host: string) {
    this.#store = store;
    this.#sweep = sweep;
    this.#host = host;
  }

  async next(claim: Claim): Promise<{ trial: TrialRecord; attempt: number } | null> {
    const claimed = await this.#store.claimNext([this.#sweep], claim);
    if (claimed !== null) return claimed;
    return (await recoverSweep(this.#store, this.#host, this.#sweep)) > 0 ? this.#store.claimNext([this.#sweep], claim) : null;
  }
}

/**
 * Ends the sweep's attempts whose lease expired (or whose orchestrator on this host is gone) and puts
 * its interrupted trials back to pending (never failed, timed-out, pruned or oom ones: those wait for
 * `grid resume` with its flags). Returns how many trials became pending.
 */
export async function recoverSweep(store: Store, host: string, sweep: string): Promise<number> {
  await reclaimStale(store, host, sweep);
  return (await requeueResumable(store, sweep, new Set())).length;
}
