/**
 * Timeouts of any length. Node's timers hold at most 2^31 - 1 ms (24.8 days) and turn a longer delay
 * into 1 ms, so a `trial_timeout: 25d` would fire at once; a long delay is waited in links instead.
 * Each timeout also knows when it was due, so its callback can tell a late firing (the process was
 * paused, e.g. by SIGSTOP or a suspended laptop) from a punctual one.
 */

/** The longest delay one Node timer can hold. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A pending timeout; `cancel` is idempotent. */
export interface LongTimeout {
  cancel(): void;
}

/**
 * Calls `fn` once `ms` milliseconds have passed (by the wall clock), however long that is. `fn` gets
 * how late it fires, in milliseconds (≈ 0 unless the process could not run when it was due).
 */
export function setLongTimeout(fn: (lateMs: number) => void, ms: number): LongTimeout {
  const due = Date.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const wait = (): void => {
    const left = due - Date.now();
    if (left <= 0) {
      timer = undefined;
      fn(-left);
      return;
    }
    timer = setTimeout(wait, Math.min(left, MAX_TIMER_MS));
  };
  timer = setTimeout(wait, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
  return {
    cancel: () => {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
