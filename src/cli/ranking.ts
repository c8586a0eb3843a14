/** The ranking flags shared by `grid leaderboard` and `grid export`, and the ranking they select. */
import type { Command } from 'commander';
import type { PruneDecision, Store, SweepRecord } from '../store/store.js';
import { defaultDirection, filterableKeys, parseFilter, rankTrials, reportedMetrics, type ConfigFilter, type LeaderboardRow } from '../sweep/leaderboard.js';
import { findSweep } from '../sweep/sweep-service.js';
import { collect, oneOf, UsageError } from './common.js';

/** Flags of a ranking command. */
export interface RankFlags {
  readonly db: string;
  readonly sweep?: string;
  readonly all?: boolean;
  readonly metric?: string;
  readonly direction?: 'max' | 'min';
  readonly where: string[];
  readonly top?: number;
  readonly includePruned?: boolean;
}

/** Adds --sweep, --all, --metric, --direction and --where. */
export function withRankFlags(cmd: Command): Command {
  return cmd
    .option('--sweep <name>', 'the sweep to rank (default: the sweep run last)')
    .option('--all', 'rank every trial in the database, whatever its sweep')
    .option('--metric <name>', "metric to rank by (default: the sweep's objective, e.g. ndcg@10, hr@10, loss)")
    .option('--direction <dir>', 'max or min (default: the objective\'s, or min for loss)', oneOf(['max', 'min'] as const))
    .option('--where <key=value>', 'keep trials whose config has this value (repeatable), e.g. loss=cce or model.hidden=64', collect, [])
    .option('--include-pruned', 'rank pruned trials too, on the epochs they had (default: listed apart)');
}

/** A ranking and what it ranked. */
export interface Ranking {
  /** The sweep ranked (undefined with --all). */
  readonly sweep: SweepRecord | undefined;
  readonly metric: string;
  readonly direction: 'max' | 'min';
  readonly rows: LeaderboardRow[];
  /** Without --include-pruned: the pruned trials (same filters), best first, with the decision that stopped each. */
  readonly pruned: readonly { readonly row: LeaderboardRow; readonly decision: PruneDecision | undefined }[];
}

/** The sweep (undefined with --all) and the config filters the flags select. */
export async function selection(store: Store, flags: RankFlags): Promise<{ sweep: SweepRecord | undefined; where: ConfigFilter[] }> {
  let sweep: SweepRecord | undefined;
  if (flags.all !== true) {
    sweep = await findSweep(store, flags.sweep);
    if (sweep === undefined) throw new UsageError(flags.sweep === undefined ? `${store.path}: no sweeps yet` : `${store.path}: no sweep named ${JSON.stringify(flags.sweep)}`);
  }
  try {
    return { sweep, where: flags.where.map(parseFilter) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * Ranks the completed (with --include-pruned, also pruned) trials the flags select, from the store's
 * summaries of their attempts. An unknown --metric or --where key is a usage error listing the known ones.
 */
export async function rank(store: Store, flags: RankFlags): Promise<Ranking> {
  const { sweep, where } = await selection(store, flags);
  const metric = flags.metric ?? sweep?.objective.metric ?? 'ndcg@10';
  const direction = flags.direction ?? (metric === sweep?.objective.metric ? sweep.objective.direction : defaultDirection(metric));
  const filter = sweep === undefined ? {} : { sweep: sweep.name };
  const states = flags.includePruned === true ? (['completed', 'pruned'] as const) : (['completed'] as const);
  const trials = await store.listTrials({ ...filter, states: ['completed', 'pruned'] });
  const ranked = await store.rankedAttempts(filter, metric, direction, ['completed', 'pruned']);
  if (ranked.length > 0) {
    const metrics = reportedMetrics(ranked);
    if (flags.metric !== undefined && !metrics.includes(metric)) {
      throw new UsageError(`--metric ${JSON.stringify(metric)}: no completed trial reported it; known: ${metrics.join(', ')}`);
    }
  }
  // Keys are checked against every trial of the selection, whatever its state: a sweep with nothing
  // completed yet still knows its configs.
  const everyTrial = await store.listTrials(filter);
  if (everyTrial.length > 0) {
    const keys = filterableKeys(everyTrial);
    for (const [i, f] of where.entries()) {
      if (!keys.includes(f.path)) throw new UsageError(`--where ${JSON.stringify(flags.where[i])}: no trial has the key ${f.path}; known: ${keys.join(', ')}`);
    }
  }
  const rows = rankTrials(trials, ranked, { metric, direction, where, states, ...(flags.top !== undefined ? { top: flags.top } : {}) });
  let pruned: Ranking['pruned'] = [];
  if (flags.includePruned !== true) {
    const stops = new Map((await store.listDecisions(filter)).filter((d) => d.action === 'prune').map((d) => [`${d.trialId}/${d.attempt}`, d]));
    pruned = rankTrials(trials, ranked, { metric, direction, where, states: ['pruned'] }).map((row) => ({
      row,
      decision: stops.get(`${row.trial.id}/${row.attempt}`),
    }));
  }
  return { sweep, metric, direction, rows, pruned };
}
