/** `grid resume [sweep]`: reclaim stale and interrupted trials of a sweep and run what is pending. */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { reclaimStale } from '../scheduler/stale.js';
import { findSweep, prepareResume } from '../sweep/sweep-service.js';
import { action, dbExists, openDb, print, UsageError, withDb } from './common.js';
import { executeTrials } from './execute.js';
import { deviceOptions, withDeviceFlags, type RunFlags } from './run.js';

interface ResumeFlags extends RunFlags {
  readonly retryFailed?: boolean;
  readonly retryTimeout?: boolean;
  readonly retryPruned?: boolean;
  readonly retryOom?: boolean;
}

/** Registers `grid resume`. */
export function registerResume(program: Command): void {
  withDeviceFlags(withDb(program.command('resume')))
    .argument('[sweep]', 'sweep name (default: the sweep run last)')
    .description('run a sweep\'s interrupted, stale and pending trials again (completed ones never)')
    .option('--retry-failed', 'also re-run failed trials')
    .option('--retry-timeout', 'also re-run trials that timed out')
    .option('--retry-pruned', 'also re-run pruned trials, to the end this time (the pruner does not stop them again)')
    .option('--retry-oom', 'also re-run trials that ran out of memory (after moving to a bigger GPU)')
    .action(
      action(async (name: string | undefined, flags: ResumeFlags) => {
        // Resuming nothing must not create an empty runs.db.
        if (!dbExists(flags.db)) throw new UsageError(`${flags.db}: no such database (\`grid run\` creates it; --db names another)`);
        const store = await openDb(flags.db, 'write');
        try {
          const sweep = await findSweep(store, name);
          if (sweep === undefined) throw new UsageError(name === undefined ? `${flags.db}: no sweeps yet` : `${flags.db}: no sweep named ${JSON.stringify(name)}`);
          const stale = await reclaimStale(store, hostname(), sweep.name);
          const r = await prepareResume(store, sweep, {
            retryFailed: flags.retryFailed === true,
            retryTimeout: flags.retryTimeout === true,
            retryPruned: flags.retryPruned === true,
            retryOom: flags.retryOom === true,
          });
          const requeued = Object.entries(r.requeued).map(([s, n]) => `${n} ${s}`);
          print(
            `sweep ${sweep.name}: ${stale.length} stale running trial(s) reclaimed; requeued ${requeued.length > 0 ? requeued.join(', ') : 'none'}; ${r.pending.length} to run`,
          );
          return await executeTrials({ store, sweep, grid: r.grid, trials: r.pending, exemptFromPruning: r.requeuedPruned, ...deviceOptions(flags) });
        } finally {
          await store.close();
        }
      }),
    );
}
