/**
 * `grid worker [SWEEP…]`: a long-lived process per machine that claims and runs trials of the named
 * sweeps (default: every sweep in the database) on its GPUs or CPU slots, sharing them with any number
 * of other workers through the store, until no trial of them is left to run (or, with --follow, for
 * ever). `grid run` against a PostgreSQL store works the same way on its one sweep.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { SweepSource, recoverSweep } from '../scheduler/sweep-source.js';
import type { Store } from '../store/store.js';
import { isFinished, TRIAL_STATES } from '../store/trial-state.js';
import { parseDuration } from '../sweep/duration.js';
import { storedGrid } from '../sweep/sweep-service.js';
import { action, EXIT, note, openDb, UsageError, withDb } from './common.js';
import { executeTrials } from './execute.js';
import { deviceOptions, withDeviceFlags, type RunFlags } from './run.js';

interface WorkerFlags extends RunFlags {
  readonly follow?: boolean;
  readonly poll: string;
}

/** How a worker goes about its sweeps. */
export interface WorkOptions {
  /** The sweeps to work on, in this order; @default every sweep, in the order they were last run */
  readonly sweeps?: readonly string[];
  /** Keep waiting for trials (of sweeps added later, too) once none is left. @default false */
  readonly follow?: boolean;
  /** How often to look for trials while there are none to claim. */
  readonly pollMs: number;
  readonly device: ReturnType<typeof deviceOptions>;
}

/** Registers `grid worker`. */
export function registerWorker(program: Command): void {
  withDeviceFlags(withDb(program.command('worker')))
    .argument('[sweeps...]', 'sweeps to work on (default: every sweep in the database)')
    .description('claim and run trials of stored sweeps until none is left; start one per machine, on as many machines as you like')
    .option('--follow', 'keep waiting for new trials once none is left (stop with Ctrl-C)')
    .option('--poll <duration>', 'how often to look for trials while there are none to claim', '5s')
    .action(
      action(async (sweeps: string[], flags: WorkerFlags) => {
        const pollMs = parseDuration(flags.poll);
        if (pollMs === undefined || pollMs < 10) throw new UsageError(`--poll: expected a duration such as 5s or 500ms, got ${JSON.stringify(flags.poll)}`);
        const device = deviceOptions(flags);
        const store = await openDb(flags.db, 'write');
        try {
          const code = await workSweeps(store, { ...(sweeps.length > 0 ? { sweeps } : {}), follow: flags.follow === true, pollMs, device });
          // A worker's job is done when no trial is left, whatever the trials' outcomes (`grid status` tells them).
          return code === EXIT.interrupted ? code : EXIT.ok;
        } finally {
          await store.close();
        }
      }),
    );
}

/**
 * Works on the sweeps until none of their trials is pending, running (anywhere: a worker that dies
 * leaves its trials to be reclaimed by those still working) or interrupted; with `follow`, for ever.
 * Returns 130 after an interrupt, else 1 when a trial this worker ran did not complete, else 0.
 */
export async function workSweeps(store: Store, o: WorkOptions): Promise<number> {
  const host = hostname();
  let code: number = EXIT.ok;
  for (;;) {
    const names = o.sweeps ?? (await store.listSweeps()).map((s) => s.name);
    for (const name of names) {
      const sweep = await store.getSweep(name);
      if (sweep === undefined) throw new UsageError(`${store.path}: no sweep named ${JSON.stringify(name)} (\`grid add FILE\` stores one)`);
      await recoverSweep(store, host, name);
      const pending = await store.listTrials({ sweep: name, states: ['pending'] });
      if (pending.length === 0) continue;
      const ended = await executeTrials({ store, sweep, grid: storedGrid(sweep), trials: pending, source: new SweepSource(store, name, host), pollMs: o.pollMs, ...o.device });
      if (ended === EXIT.interrupted) return ended;
      code = Math.max(code, ended);
    }
    if (!o.follow && (await unfinished(store, names)) === 0) return code;
    if (!(await pause(o.pollMs))) {
      note('stopped: no trial was running here');
      return EXIT.interrupted;
    }
  }
}

/** Trials of the sweeps that are not finished (pending, running, or interrupted: to be run again). */
async function unfinished(store: Store, sweeps: readonly string[]): Promise<number> {
  let n = 0;
  for (const sweep of sweeps) {
    const counts = await store.countByState(sweep);
    n += TRIAL_STATES.filter((s) => !isFinished(s)).reduce((sum, s) => sum + (counts[s] ?? 0), 0);
  }
  return n;
}

/** Waits `ms`; false when Ctrl-C or SIGTERM came first. */
function pause(ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (waited: boolean): void => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(waited);
    };
    const stop = (): void => done(false);
    const timer = setTimeout(() => done(true), ms);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
