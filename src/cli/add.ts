/**
 * `grid add FILE…`: stores (or updates) sweeps without running them, for workers to run (`grid
 * worker`, or the Slurm script `grid slurm` writes, which runs this once before its workers start).
 */
import type { Command } from 'commander';
import { expandGrid } from '../sweep/expand.js';
import { loadGridFile } from '../sweep/grid-file.js';
import { planSweep, prepareRun } from '../sweep/sweep-service.js';
import { action, openDb, print, withDb } from './common.js';
import { preflight } from './preflight.js';

/** Registers `grid add`. */
export function registerAdd(program: Command): void {
  withDb(program.command('add'))
    .argument('<files...>', 'grid files (YAML)')
    .description('store the sweeps of grid files (new trials as pending) without running them; `grid worker` runs them')
    .action(
      action(async (files: string[], flags: { db: string }) => {
        // Every file is checked before the database is touched: all are added, or none.
        const plans = files.map((file) => {
          const grid = loadGridFile(file);
          const expansion = expandGrid(grid);
          preflight(expansion.trials);
          return { grid, expansion };
        });
        const store = await openDb(flags.db, 'write');
        try {
          for (const { grid, expansion } of plans) {
            const run = await prepareRun(store, await planSweep(grid, store, expansion));
            print(`sweep ${grid.name}: ${expansion.trials.length} trial(s), ${run.added.length} new, ${run.pending.length} pending`);
          }
        } finally {
          await store.close();
        }
      }),
    );
}
