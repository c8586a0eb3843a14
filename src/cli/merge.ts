/**
 * `grid merge OTHER`: imports another store's sweeps, trials, attempts, epochs and pruning decisions
 * (a SQLite file or a postgres:// URL) into --db, so that results made on a laptop and on a cluster
 * meet. Trials are content-hashed, so a config run in both places is one trial with the attempts of
 * both; merging again imports nothing twice. Attempt logs stay where they were written.
 */
import type { Command } from 'commander';
import { action, dbExists, EXIT, note, openDb, print, UsageError, withDb } from './common.js';

/** Registers `grid merge`. */
export function registerMerge(program: Command): void {
  withDb(program.command('merge'))
    .argument('<other>', 'the store to import from: a SQLite file or postgres://user@host/database')
    .description('import the sweeps, trials, attempts, epochs and pruning decisions of another store into --db, without duplicates')
    .action(
      action(async (other: string, flags: { db: string }) => {
        if (!dbExists(other)) throw new UsageError(`${other}: no such database`);
        if (other === flags.db) throw new UsageError(`${other}: merging a store into itself changes nothing`);
        const source = await openDb(other, 'read');
        try {
          const target = await openDb(flags.db, 'write');
          try {
            const sweeps = await source.listSweeps();
            let newSweeps = 0;
            for (const s of sweeps) if (await target.importSweep(s)) newSweeps++;
            const totals = { trials: 0, attempts: 0, epochs: 0, decisions: 0, skippedRunning: 0 };
            for (const trial of await source.listTrials()) {
              const counts = await target.importTrial({
                trial,
                attempts: await source.listAttempts({ trialId: trial.id }),
                epochs: await source.listEpochs({ trialId: trial.id }),
                decisions: await source.listDecisions({ trialId: trial.id }),
              });
              for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += counts[k];
            }
            for (const s of sweeps) await target.linkTrials(s.name, (await source.listTrials({ sweep: s.name })).map((t) => t.id));
            print(
              `merged ${source.path} into ${target.path}: ${newSweeps} new sweep(s) of ${sweeps.length}, ${totals.trials} new trial(s), ` +
                `${totals.attempts} attempt(s), ${totals.epochs} epoch(s), ${totals.decisions} pruning decision(s)`,
            );
            if (totals.skippedRunning > 0) note(`${totals.skippedRunning} trial(s) running in ${target.path} were left alone: merge again once they end`);
            return totals.skippedRunning > 0 ? EXIT.failed : EXIT.ok;
          } finally {
            await target.close();
          }
        } finally {
          await source.close();
        }
      }),
    );
}
