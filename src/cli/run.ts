/** `grid run FILE`: store a grid file's trials (each config once, whatever sweep it came from) and run the pending ones. */
import { existsSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { staleReason } from '../scheduler/stale.js';
import { isPostgresUrl } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { expandGrid } from '../sweep/expand.js';
import { loadGridFile } from '../sweep/grid-file.js';
import { planSweep, prepareRun } from '../sweep/sweep-service.js';
import { action, intAtLeast, note, openDb, print, UsageError, withDb } from './common.js';
import { executeTrials } from './execute.js';
import { preflight } from './preflight.js';
import { workSweeps } from './worker.js';

/** How often `grid run` on a PostgreSQL store looks for trials while other workers run the rest. */
const RUN_POLL_MS = 5000;

/** Options shared by `run` and `resume`. */
export interface RunFlags {
  readonly db: string;
  readonly parallel?: number;
  readonly cpu?: boolean;
  /** GPUs to use: NVML indices or UUIDs, comma-separated. */
  readonly gpus?: string;
}

/** Adds the flags that choose where trials run. */
export function withDeviceFlags(cmd: Command): Command {
  return cmd
    .option('--parallel <n>', 'trials at once (default: one per GPU, or 1 on the CPU)', intAtLeast(1))
    .option('--cpu', 'run on the CPU even where GPUs are present')
    .option('--gpus <ids>', 'only these GPUs: indices as nvidia-smi numbers them, or UUIDs, comma-separated (default: all)');
}

/** Registers `grid run`. */
export function registerRun(program: Command): void {
  withDeviceFlags(withDb(program.command('run')))
    .argument('<file>', 'grid file (YAML)')
    .description('run the trials of a grid file that are not done yet')
    .action(
      action(async (file: string, flags: RunFlags) => {
        // Everything that can be wrong with the file or its trials is found before runs.db is touched.
        const grid = loadGridFile(file);
        const expansion = expandGrid(grid);
        preflight(expansion.trials);
        const created = !isPostgresUrl(flags.db) && !existsSync(flags.db);
        let store: Store | undefined;
        let run;
        try {
          store = await openDb(flags.db, 'write');
          const previous = await store.getSweep(grid.name);
          run = await prepareRun(store, await planSweep(grid, store, expansion));
          if (previous?.file != null && resolve(previous.file) !== resolve(file)) {
            note(`warning: sweep ${grid.name} was last run from ${previous.file}; its trials are now those of ${file} (rename one of them to keep both)`);
          }
        } catch (err) {
          await store?.close();
          // A database this command created and could not fill is not left behind, empty.
          if (created) for (const f of [flags.db, `${flags.db}-wal`, `${flags.db}-shm`]) rmSync(f, { force: true });
          throw err;
        }
        try {
          const dropped = [expansion.excluded > 0 ? `${expansion.excluded} excluded` : '', expansion.collapsed > 0 ? `${expansion.collapsed} collapsed` : '']
            .filter((s) => s !== '')
            .join(', ');
          print(`sweep ${grid.name}: ${expansion.trials.length} trial(s)${dropped === '' ? '' : ` (${dropped})`}, ${run.added.length} new, ${run.pending.length} to run`);
          const stale = (await store.runningAttempts(grid.name)).filter((a) => staleReason(a, hostname()) !== null).length;
          const earlier = (run.counts.interrupted ?? 0) + (run.counts.failed ?? 0) + stale;
          if (earlier > 0) {
            note(`${earlier} trial(s) interrupted, failed or left running by a dead orchestrator: \`grid resume ${grid.name}\` (--retry-failed for failed ones) runs them`);
          }
          // Against a PostgreSQL store, this is one worker of the sweep among any number.
          if (isPostgresUrl(flags.db)) return await workSweeps(store, { sweeps: [grid.name], pollMs: RUN_POLL_MS, device: deviceOptions(flags) });
          return await executeTrials({ store, sweep: run.sweep, grid, trials: run.pending, ...deviceOptions(flags) });
        } finally {
          await store.close();
        }
      }),
    );
}

/** The device options of `executeTrials` from the flags given. */
export function deviceOptions(flags: RunFlags): { parallel?: number; cpu?: boolean; gpus?: readonly string[] } {
  if (flags.gpus !== undefined && flags.cpu === true) throw new UsageError('--gpus and --cpu exclude each other');
  const gpus = flags.gpus?.split(',').map((id) => id.trim());
  if (gpus !== undefined && (gpus.length === 0 || gpus.some((id) => id === ''))) {
    throw new UsageError(`--gpus: expected indices or UUIDs separated by commas, got ${JSON.stringify(flags.gpus)}`);
  }
  return {
    ...(flags.parallel !== undefined ? { parallel: flags.parallel } : {}),
    ...(flags.cpu === true ? { cpu: true } : {}),
    ...(gpus !== undefined ? { gpus } : {}),
  };
}
