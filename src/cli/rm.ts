/**
 * `grid rm`: deletes a sweep, or trials by id prefix, from runs.db with everything recorded about them
 * (attempts, epochs, pruning decisions, their files under `<db>.logs/`). Without `--yes` it only lists
 * what it would delete. A sweep's trials that another sweep shares stay unless `--shared` is given.
 */
import type { Command } from 'commander';
import type { Store, TrialRecord } from '../store/store.js';
import { removeTrialFiles } from '../store/trial-files.js';
import { action, collect, dbExists, EXIT, note, openDb, print, UsageError, withDb } from './common.js';
import { trialLabels } from './execute.js';
import { renderTable, shortId, type Column } from './format.js';
import { findTrial } from './show.js';

interface RmFlags {
  readonly db: string;
  readonly trial: string[];
  readonly shared?: boolean;
  readonly yes?: boolean;
}

/** What `grid rm` was asked to delete, resolved against the database. */
export interface Removal {
  /** The sweep to delete (by name), if one was named. */
  readonly sweep?: string;
  /** The trials to delete. */
  readonly trials: readonly TrialRecord[];
  /** The sweep's trials that stay because other sweeps share them, with those sweeps' names. */
  readonly kept: readonly { readonly trial: TrialRecord; readonly sweeps: readonly string[] }[];
}

/** Registers `grid rm`. */
export function registerRm(program: Command): void {
  withDb(program.command('rm'))
    .argument('[sweep]', 'the sweep to delete, with its trials that no other sweep shares')
    .description('delete a sweep or trials and all their records (lists what it would delete unless --yes)')
    .option('--trial <id>', 'delete this trial (id or unique prefix; repeatable) instead of a sweep', collect, [])
    .option('--shared', "with a sweep: also delete its trials that other sweeps share (they leave those sweeps)")
    .option('--yes', 'delete; without it, only list what would be deleted')
    .action(
      action(async (name: string | undefined, flags: RmFlags) => {
        if ((name === undefined) === (flags.trial.length === 0)) throw new UsageError('name a sweep or give --trial ID (not both)');
        if (flags.shared === true && name === undefined) throw new UsageError('--shared goes with a sweep name');
        // Deleting from nothing must not create an empty runs.db.
        if (!dbExists(flags.db)) throw new UsageError(`${flags.db}: no such database (\`grid run\` creates it; --db names another)`);
        const store = await openDb(flags.db, flags.yes === true ? 'write' : 'read');
        try {
          const removal = name === undefined ? await trialsRemoval(store, flags.trial) : await sweepRemoval(store, name, flags.shared === true);
          refuseRunning(removal);
          await describe(store, removal, flags.yes === true);
          return flags.yes === true ? await remove(store, removal) : EXIT.ok;
        } finally {
          await store.close();
        }
      }),
    );
}

/** The removal of a sweep: it, and its trials no other sweep shares (all of them with `shared`). */
export async function sweepRemoval(store: Store, name: string, shared: boolean): Promise<Removal> {
  if ((await store.getSweep(name)) === undefined) throw new UsageError(`${store.path}: no sweep named ${JSON.stringify(name)}`);
  const trials: TrialRecord[] = [];
  const kept: Removal['kept'][number][] = [];
  for (const trial of await store.listTrials({ sweep: name })) {
    const others = (await store.sweepsOf(trial.id)).filter((s) => s !== name);
    if (others.length === 0 || shared) trials.push(trial);
    else kept.push({ trial, sweeps: others });
  }
  return { sweep: name, trials, kept };
}

/** The removal of the trials that `prefixes` name, each exactly one (a usage error otherwise). */
export async function trialsRemoval(store: Store, prefixes: readonly string[]): Promise<Removal> {
  const found: TrialRecord[] = [];
  for (const p of prefixes) found.push(await findTrial(store, p));
  const byId = new Map(found.map((t) => [t.id, t]));
  return { trials: [...byId.values()], kept: [] };
}

/** A running trial belongs to a live orchestrator (or a dead one `grid resume` has not reclaimed yet). */
function refuseRunning(removal: Removal): void {
  const running = removal.trials.filter((t) => t.state === 'running');
  if (running.length === 0) return;
  throw new UsageError(
    `${running.length} trial(s) running (${running.slice(0, 5).map((t) => shortId(t.id)).join(', ')}): stop the sweep first, or let \`grid resume\` reclaim them if their orchestrator died`,
  );
}

const columns: Column<{ trial: TrialRecord; label: string; note: string }>[] = [
  { header: 'trial', value: (r) => shortId(r.trial.id) },
  { header: 'state', value: (r) => r.trial.state },
  { header: 'attempts', value: (r) => r.trial.attempts },
  { header: 'config', value: (r) => r.label },
  { header: '', value: (r) => r.note },
];

async function describe(store: Store, removal: Removal, doing: boolean): Promise<void> {
  const label = trialLabels(removal.sweep === undefined ? removal.trials : await store.listTrials({ sweep: removal.sweep }));
  const what = `${removal.sweep === undefined ? '' : `sweep ${removal.sweep} and `}${removal.trials.length} trial(s)`;
  print(`${doing ? 'deleting' : 'would delete'} ${what} from ${store.path}, with their attempts, epochs, pruning decisions and logs:`);
  const rows = [
    ...removal.trials.map((trial) => ({ trial, label: label(trial.id), note: '' })),
    ...removal.kept.map(({ trial, sweeps }) => ({ trial, label: label(trial.id), note: `kept: also in ${sweeps.join(', ')}` })),
  ];
  if (rows.length > 0) print(renderTable(rows, columns));
  if (removal.kept.length > 0) print(`${removal.kept.length} trial(s) other sweeps share stay (--shared deletes them too)`);
  if (!doing) print('nothing deleted: run again with --yes to delete');
}

async function remove(store: Store, removal: Removal): Promise<number> {
  const removed = await store.remove({ ...(removal.sweep === undefined ? {} : { sweep: removal.sweep }), trialIds: removal.trials.map((t) => t.id) });
  // A trial claimed between the listing and the transaction is kept by the store.
  const skipped = removal.trials.length - removed.trialIds.length;
  let failed = 0;
  for (const id of removed.trialIds) {
    try {
      removeTrialFiles(store.path, id);
    } catch (err) {
      failed += 1;
      note(`warning: ${(err as Error).message}`);
    }
  }
  print(
    `deleted ${removed.sweeps > 0 ? `sweep ${removal.sweep ?? ''}, ` : ''}${removed.trialIds.length} trial(s), ${removed.attempts} attempt(s), ${removed.epochs} epoch(s), ${removed.decisions} pruning decision(s)`,
  );
  if (skipped > 0) note(`${skipped} trial(s) started running meanwhile and were kept`);
  return failed > 0 || skipped > 0 ? EXIT.failed : EXIT.ok;
}
