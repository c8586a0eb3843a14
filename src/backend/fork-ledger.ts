/**
 * The bookkeeping of Ops.fork and Ops.join that every backend shares: which forks are still pending,
 * so that a fork joined twice, one of another backend, or one left unjoined at a recording's end or a
 * host read is an error where it happens rather than a race or a failed capture later.
 */
import type { Forked } from './ops.js';

/** Pending forks of one backend, each with what its join needs (a CUDA event; nothing on the CPU). */
export class ForkLedger<T> {
  readonly #pending = new Map<number, T>();
  #next = 0;
  #inFork = false;

  /** Runs `work` as fork body (forks do not nest), then files `done()`'s result under a new fork. */
  open(work: () => void, done: () => T): Forked {
    if (this.#inFork) throw new Error('Ops.fork: work inside a fork cannot fork');
    this.#inFork = true;
    try {
      work();
    } finally {
      this.#inFork = false;
    }
    const forked: Forked = { id: this.#next++ };
    this.#pending.set(forked.id, done());
    return forked;
  }

  /** Whether a fork's work is being queued now. */
  get inFork(): boolean {
    return this.#inFork;
  }

  /** Removes a pending fork and returns what its join needs; throws for one not pending. */
  close(forked: Forked): T {
    if (!this.#pending.has(forked.id)) throw new Error(`Ops.join: fork ${forked.id} is not pending (joined already, or not this backend's)`);
    const value = this.#pending.get(forked.id) as T;
    this.#pending.delete(forked.id);
    return value;
  }

  /**
   * Throws, naming `what`, where forks are pending or one is being queued (after `joinAll` has joined the
   * pending ones, so that the device stays consistent).
   */
  requireJoined(what: string, joinAll: (values: T[]) => void): void {
    if (this.#inFork) throw new Error(`${what}: not allowed inside Ops.fork's work`);
    if (this.#pending.size === 0) return;
    const ids = [...this.#pending.keys()];
    const values = [...this.#pending.values()];
    this.#pending.clear();
    joinAll(values);
    throw new Error(`${what}: fork${ids.length === 1 ? '' : 's'} ${ids.join(', ')} not joined (Ops.join each fork before)`);
  }
}
