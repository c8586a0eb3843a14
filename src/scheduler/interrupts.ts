/**
 * Signals during a sweep. Ctrl-C once: no new trial starts, running ones finish. Twice: running
 * trials' process groups are killed and end interrupted. SIGTERM and SIGHUP act like the second
 * Ctrl-C at once. Nothing recorded is lost either way; `grid resume` continues.
 */
import type { Scheduler } from './scheduler.js';

/** Installs the handlers for one run; returns the function that removes them. */
export function handleInterrupts(scheduler: Scheduler, say: (message: string) => void): () => void {
  let presses = 0;
  const onInt = (): void => {
    presses++;
    if (presses === 1) {
      scheduler.drain();
      say(`Ctrl-C: no new trials will start; waiting for ${scheduler.runningCount} running to finish (Ctrl-C again kills them)`);
    } else {
      scheduler.abort();
      say('Ctrl-C again: killing the running trials; they end interrupted and `grid resume` runs them again');
    }
  };
  const onTerm = (signal: NodeJS.Signals): void => {
    scheduler.abort();
    say(`${signal}: killing the running trials; they end interrupted and \`grid resume\` runs them again`);
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onTerm);
  };
}
