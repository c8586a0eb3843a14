/** `grid status [sweep]`: trials by state for each sweep, or one sweep's running, pruned and unsuccessful trials. */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { staleReason } from '../scheduler/stale.js';
import type { AttemptRecord, PruneDecision, RunningAttempt, Store, SweepRecord, TrialRecord } from '../store/store.js';
import { TRIAL_STATES, UNSUCCESSFUL_STATES, type TrialState } from '../store/trial-state.js';
import { rankTrials } from '../sweep/leaderboard.js';
import { action, oneOf, print, reading, UsageError, withDb } from './common.js';
import { renderTable, shortId, type Column } from './format.js';

interface StatusFlags {
  readonly db: string;
  readonly format: 'table' | 'json';
}

/** Registers `grid status`. */
export function registerStatus(program: Command): void {
  withDb(program.command('status'))
    .argument('[sweep]', 'one sweep to detail')
    .description('count trials by state per sweep; with a sweep, list its running, pruned and unsuccessful trials')
    .option('--format <format>', 'table or json', oneOf(['table', 'json'] as const), 'table')
    .action(
      action(async (name: string | undefined, flags: StatusFlags) => {
        await reading(flags.db, async (store) => {
          const sweeps = name === undefined ? await store.listSweeps() : [await store.getSweep(name)].filter((s) => s !== undefined);
          if (name !== undefined && sweeps.length === 0) throw new UsageError(`${flags.db}: no sweep named ${JSON.stringify(name)}`);
          const summaries = await Promise.all(sweeps.map((s) => summarise(store, s)));
          const detail = name === undefined ? undefined : await details(store, sweeps[0] as SweepRecord);
          if (flags.format === 'json') {
            print(JSON.stringify({ sweeps: summaries.map(summaryJson), ...(detail === undefined ? {} : detailJson(detail)) }, null, 2));
            return;
          }
          if (sweeps.length === 0) {
            print(`${flags.db}: no sweeps yet`);
            return;
          }
          print(renderTable(summaries, summaryColumns));
          if (detail !== undefined) printDetail(detail);
        });
      }),
    );
}

interface Summary {
  readonly sweep: SweepRecord;
  readonly counts: Partial<Record<TrialState, number>>;
  readonly total: number;
  readonly best: number | null;
  readonly bestTrial: string | null;
}

/** One sweep's counts and best trial, aggregated by the database (no epoch rows are loaded). */
async function summarise(store: Store, sweep: SweepRecord): Promise<Summary> {
  const counts = await store.countByState(sweep.name);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const { metric, direction } = sweep.objective;
  const completed = await store.rankedAttempts({ sweep: sweep.name }, metric, direction);
  const [top] = rankTrials(await store.listTrials({ sweep: sweep.name, states: ['completed'] }), completed, { metric, direction, top: 1 });
  const best = top === undefined || Number.isNaN(top.value) ? null : top.value;
  return { sweep, counts, total, best, bestTrial: best === null ? null : (top?.trial.id ?? null) };
}

const summaryColumns: Column<Summary>[] = [
  { header: 'sweep', value: (s) => s.sweep.name },
  { header: 'trials', value: (s) => s.total },
  ...TRIAL_STATES.map((state): Column<Summary> => ({ header: state, value: (s) => s.counts[state] ?? 0 })),
  { header: 'best', value: (s) => s.best },
  { header: 'objective', value: (s) => `${s.sweep.objective.metric} ${s.sweep.objective.direction}` },
];

function summaryJson(s: Summary): Record<string, unknown> {
  return {
    sweep: s.sweep.name,
    file: s.sweep.file,
    trials: s.total,
    states: Object.fromEntries(TRIAL_STATES.map((state) => [state, s.counts[state] ?? 0])),
    objective: s.sweep.objective,
    best: s.best,
    best_trial: s.bestTrial,
  };
}

interface Detail {
  readonly running: readonly (RunningAttempt & { readonly stale: string | null })[];
  readonly pruned: readonly TrialRecord[];
  /** The decision that stopped each pruned trial, by trial id. */
  readonly stops: ReadonlyMap<string, PruneDecision>;
  readonly unsuccessful: readonly TrialRecord[];
  readonly lastError: ReadonlyMap<string, string | null>;
}

async function details(store: Store, sweep: SweepRecord): Promise<Detail> {
  const host = hostname();
  const running = (await store.runningAttempts(sweep.name)).map((a) => ({ ...a, stale: staleReason(a, host) }));
  const pruned = await store.listTrials({ sweep: sweep.name, states: ['pruned'] });
  const stops = new Map(pruned.length === 0 ? [] : (await store.listDecisions({ sweep: sweep.name })).filter((d) => d.action === 'prune').map((d) => [d.trialId, d]));
  const unsuccessful = await store.listTrials({ sweep: sweep.name, states: UNSUCCESSFUL_STATES });
  const lastError = new Map(unsuccessful.length === 0 ? [] : (await store.listAttempts({ sweep: sweep.name })).map((a: AttemptRecord) => [a.trialId, a.error]));
  return { running, pruned, stops, unsuccessful, lastError };
}

function detailJson(d: Detail): Record<string, unknown> {
  return {
    running: d.running.map((a) => ({
      trial: a.trialId, attempt: a.attempt, epoch: a.lastEpoch, host: a.host, pid: a.pid, child_pid: a.childPid,
      heartbeat_age_s: a.heartbeatAgeS, stale: a.stale,
    })),
    pruned: d.pruned.map((t) => ({ trial: t.id, epoch: d.stops.get(t.id)?.epoch ?? null, why: d.stops.get(t.id)?.reason ?? null })),
    not_completed: d.unsuccessful.map((t) => ({ trial: t.id, state: t.state, attempts: t.attempts, last_error: d.lastError.get(t.id) ?? null })),
  };
}

function printDetail(d: Detail): void {
  if (d.running.length > 0) {
    print('\nrunning:');
    print(
      renderTable(d.running, [
        { header: 'trial', value: (a) => shortId(a.trialId) },
        { header: '#', value: (a) => a.attempt },
        { header: 'epoch', value: (a) => a.lastEpoch },
        { header: 'host', value: (a) => `${a.host}:${a.pid}` },
        { header: 'heartbeat', value: (a) => `${Math.round(a.heartbeatAgeS)} s ago` },
        { header: 'stale', value: (a) => a.stale ?? 'no' },
      ]),
    );
  }
  if (d.pruned.length > 0) {
    print('\npruned:');
    print(
      renderTable(d.pruned, [
        { header: 'trial', value: (t: TrialRecord) => shortId(t.id) },
        { header: 'epoch', value: (t) => d.stops.get(t.id)?.epoch ?? null },
        { header: 'why', value: (t) => d.stops.get(t.id)?.reason ?? null },
      ]),
    );
  }
  if (d.unsuccessful.length > 0) {
    print('\nnot completed:');
    print(
      renderTable(d.unsuccessful, [
        { header: 'trial', value: (t: TrialRecord) => shortId(t.id) },
        { header: 'state', value: (t) => t.state },
        { header: 'attempts', value: (t) => t.attempts },
        { header: 'last error', value: (t) => d.lastError.get(t.id) ?? null },
      ]),
    );
  }
}
