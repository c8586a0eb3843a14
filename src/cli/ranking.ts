/** The ranking flags shared by `grid leaderboard` and `grid export`, and the ranking they select. */
import type { Command } from 'commander';
import type { Store, SweepRecord } from '../store/store.js';
import { defaultDirection, filterableKeys, parseFilter, rankTrials, reportedMetrics, type LeaderboardRow } from '../sweep/leaderboard.js';
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
}

/** Adds --sweep, --all, --metric, --direction and --where. */
export function withRankFlags(cmd: Command): Command {
  return cmd
    .option('--sweep <name>', 'the sweep to rank (default: the sweep run last)')
    .option('--all', 'rank every trial in the database, whatever its sweep')
    .option('--metric <name>', "metric to rank by (default: the sweep's objective, e.g. ndcg@10, hr@10, loss)")
    .option('--direction <dir>', 'max or min (default: the objective\'s, or min for loss)', oneOf(['max', 'min'] as const))
    .option('--where <key=value>', 'keep trials whose config has this value (repeatable), e.g. loss=cce or model.hidden=64', collect, []);
}

/** A ranking and what it ranked. */
export interface Ranking {
  /** The sweep ranked (undefined with --all). */
  readonly sweep: SweepRecord | undefined;
  readonly metric: string;
  readonly direction: 'max' | 'min';
  readonly rows: LeaderboardRow[];
}

/** Ranks the completed trials the flags select; an unknown --metric or --where key is a usage error listing the known ones. */
export function rank(store: Store, flags: RankFlags): Ranking {
  let sweep: SweepRecord | undefined;
  if (flags.all !== true) {
    sweep = findSweep(store, flags.sweep);
    if (sweep === undefined) throw new UsageError(flags.sweep === undefined ? `${store.path}: no sweeps yet` : `${store.path}: no sweep named ${JSON.stringify(flags.sweep)}`);
  }
  const metric = flags.metric ?? sweep?.objective.metric ?? 'ndcg@10';
  const direction = flags.direction ?? (metric === sweep?.objective.metric ? sweep.objective.direction : defaultDirection(metric));
  let where;
  try {
    where = flags.where.map(parseFilter);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const filter = sweep === undefined ? {} : { sweep: sweep.name };
  const trials = store.listTrials({ ...filter, states: ['completed'] });
  const completed = store.completedAttempts(filter, metric, direction);
  if (completed.length > 0) {
    const metrics = reportedMetrics(completed);
    if (flags.metric !== undefined && !metrics.includes(metric)) {
      throw new UsageError(`--metric ${JSON.stringify(metric)}: no completed trial reported it; known: ${metrics.join(', ')}`);
    }
    const keys = filterableKeys(trials);
    for (const [i, f] of where.entries()) {
      if (!keys.includes(f.path)) throw new UsageError(`--where ${JSON.stringify(flags.where[i])}: no trial has the key ${f.path}; known: ${keys.join(', ')}`);
    }
  }
  const rows = rankTrials(trials, completed, { metric, direction, where, ...(flags.top !== undefined ? { top: flags.top } : {}) });
  return { sweep, metric, direction, rows };
}
