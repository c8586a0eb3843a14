/**
 * GPU memory admission by planned peaks. The built-in trainer says its planned peak in its hello,
 * before it allocates; the scheduler asks here whether that trial fits its GPU next to the trials
 * already running there. A trial that can never fit ends oom at once; one that does not fit now is
 * deferred until a trial on that GPU ends. Trials without a prediction, and CPU slots, always fit.
 */
import type { Slot } from './devices.js';

/** What to do with a trial that has just said its planned peak. */
export type Admission =
  | { readonly verdict: 'fits' }
  | { readonly verdict: 'never' | 'later'; readonly reason: string };

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** Planned peaks of the running trials, per GPU. */
export class GpuMemoryBook {
  /** Attempt key → the GPU and the bytes it planned. */
  readonly #planned = new Map<string, { readonly gpu: string; readonly bytes: number }>();
  /** GPU → callbacks waiting for a trial there to end. */
  readonly #waiters = new Map<string, (() => void)[]>();

  /** Decides for the attempt `key` on `slot` planning `planned` bytes, and books them when it fits. */
  admit(key: string, slot: Slot, planned: number | undefined): Admission {
    if (planned === undefined || slot.gpu === undefined || slot.memoryBytes === undefined) return { verdict: 'fits' };
    if (planned > slot.memoryBytes) return { verdict: 'never', reason: `planned peak ${gib(planned)} exceeds the ${gib(slot.memoryBytes)} of ${slot.label}` };
    const others = this.#bookedOn(slot.gpu);
    if (others > 0 && others + planned > slot.memoryBytes) {
      return { verdict: 'later', reason: `deferred: planned peak ${gib(planned)} does not fit next to the ${gib(others)} planned on ${slot.label} (${gib(slot.memoryBytes)})` };
    }
    this.#planned.set(key, { gpu: slot.gpu, bytes: planned });
    return { verdict: 'fits' };
  }

  /** Frees what the attempt `key` booked (when it ends) and wakes those waiting for its GPU. */
  release(key: string): void {
    const booked = this.#planned.get(key);
    if (booked === undefined) return;
    this.#planned.delete(key);
    const waiting = this.#waiters.get(booked.gpu) ?? [];
    this.#waiters.delete(booked.gpu);
    for (const wake of waiting) wake();
  }

  /** Resolves when a trial with booked memory on `gpu` ends (at once when there is none). */
  freed(gpu: string): Promise<void> {
    if (this.#bookedOn(gpu) === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.set(gpu, [...(this.#waiters.get(gpu) ?? []), resolve]));
  }

  #bookedOn(gpu: string): number {
    let sum = 0;
    for (const b of this.#planned.values()) if (b.gpu === gpu) sum += b.bytes;
    return sum;
  }
}
