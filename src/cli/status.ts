/** `grid status [sweep]`: trials by state for each sweep, or one sweep's running, pruned and unsuccessful trials. */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { staleReason } from '../scheduler/stale.js';
import type { RunningAttempt, Store, SweepRecord, TrialRecord } from '../store/store.js';
import { TRIAL_STATES, UNSUCCESSFUL_STATES } from '../store/trial-state.js';
import { rankTrials } from '../sweep/leaderboard.js';
import { action, print, reading, UsageError, withDb } from './common.js';
import { renderTable, shortId, type Column } from './format.js';

/** Registers `grid status`. */
export function registerStatus(program: Command): void {
  withDb(program.command('status'))
    .argument('[sweep]', 'one sweep to detail')
    .description('count trials by state per sweep; with a sweep, list its running, pruned and unsuccessful trials')
    .action(
      action((name: string | undefined, flags: { db: string }) => {
        reading(flags.db, (store) => {
          const sweeps = name === undefined ? store.listSweeps() : [store.getSweep(name)].filter((s) => s !== undefined);
          if (name !== undefined && sweeps.length === 0) throw new UsageError(`${flags.db}: no sweep named ${JSON.stringify(name)}`);
          if (sweeps.length === 0) {
            print(`${flags.db}: no sweeps yet`);
            return;
          }
          print(renderTable(sweeps.map((s) => summarise(store, s)), summaryColumns));
          if (name !== undefined) detail(store, sweeps[0] as SweepRecord);
        });
      }),
    );
}

interface Summary {
  readonly sweep: SweepRecord;
  readonly counts: ReadonlyMap<string, number>;
  readonly total: number;
  readonly best: number | null;
}

function summarise(store: Store, sweep: SweepRecord): Summary {
  const trials = store.listTrials({ sweep: sweep.name });
  const counts = new Map<string, number>();
  for (const t of trials) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  const filter = { sweep: sweep.name };
  const [top] = rankTrials(trials, store.listAttempts(filter), store.listEpochs(filter), { ...sweep.objective, top: 1 });
  return { sweep, counts, total: trials.length, best: top === undefined ? null : top.value };
}

const summaryColumns: Column<Summary>[] = [
  { header: 'sweep', value: (s) => s.sweep.name },
  { header: 'trials', value: (s) => s.total },
  ...TRIAL_STATES.map((state): Column<Summary> => ({ header: state, value: (s) => s.counts.get(state) ?? 0 })),
  { header: 'best', value: (s) => (s.best === null ? null : s.best) },
  { header: 'objective', value: (s) => `${s.sweep.objective.metric} ${s.sweep.objective.direction}` },
];

function detail(store: Store, sweep: SweepRecord): void {
  const host = hostname();
  const running = store.runningAttempts(sweep.name);
  const epochs = store.listEpochs({ sweep: sweep.name });
  const lastEpoch = (a: RunningAttempt): number | null =>
    epochs.filter((e) => e.trialId === a.trialId && e.attempt === a.attempt).at(-1)?.epoch ?? null;
  if (running.length > 0) {
    print('\nrunning:');
    print(
      renderTable(running, [
        { header: 'trial', value: (a) => shortId(a.trialId) },
        { header: '#', value: (a) => a.attempt },
        { header: 'epoch', value: lastEpoch },
        { header: 'host', value: (a) => `${a.host}:${a.pid}` },
        { header: 'heartbeat', value: (a) => `${Math.round(a.heartbeatAgeS)} s ago` },
        { header: 'stale', value: (a) => staleReason(a, host) ?? 'no' },
      ]),
    );
  }
  const pruned = store.listTrials({ sweep: sweep.name, states: ['pruned'] });
  if (pruned.length > 0) {
    const stops = new Map(store.listDecisions({ sweep: sweep.name }).filter((d) => d.action === 'prune').map((d) => [d.trialId, d]));
    print('\npruned:');
    print(
      renderTable(pruned, [
        { header: 'trial', value: (t: TrialRecord) => shortId(t.id) },
        { header: 'epoch', value: (t) => stops.get(t.id)?.epoch ?? null },
        { header: 'why', value: (t) => stops.get(t.id)?.reason ?? null },
      ]),
    );
  }
  const unsuccessful = store.listTrials({ sweep: sweep.name, states: UNSUCCESSFUL_STATES });
  if (unsuccessful.length > 0) {
    const lastError = new Map(store.listAttempts({ sweep: sweep.name }).map((a) => [a.trialId, a.error]));
    print('\nnot completed:');
    print(
      renderTable(unsuccessful, [
        { header: 'trial', value: (t: TrialRecord) => shortId(t.id) },
        { header: 'state', value: (t) => t.state },
        { header: 'attempts', value: (t) => t.attempts },
        { header: 'last error', value: (t) => lastError.get(t.id) ?? null },
      ]),
    );
  }
}
