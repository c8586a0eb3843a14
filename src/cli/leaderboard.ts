/**
 * `grid leaderboard`: completed trials ranked by a metric, as a table, JSON or CSV. Pruned trials are
 * listed apart under the table (not in JSON or CSV), or ranked with the others with --include-pruned.
 */
import type { Command } from 'commander';
import { displayKey, flatten, getPath, varyingPaths } from '../sweep/config-paths.js';
import type { LeaderboardRow } from '../sweep/leaderboard.js';
import type { Ranking } from './ranking.js';
import { action, intAtLeast, oneOf, print, reading, withDb } from './common.js';
import { formatBytes, formatValue, FORMATS, renderCsv, renderTable, shortId, type Column, type Format } from './format.js';
import { printSeedGroups } from './leaderboard-seeds.js';
import { rank, withRankFlags, type RankFlags } from './ranking.js';

/** Registers `grid leaderboard`. */
export function registerLeaderboard(program: Command): void {
  withRankFlags(withDb(program.command('leaderboard')))
    .description('rank completed trials by their best epoch, pruned ones apart (read-only; safe while a sweep runs)')
    .option('--top <n>', 'show the first n', intAtLeast(1))
    .option('--format <format>', FORMATS.join(', '), oneOf(FORMATS), 'table')
    .option('--aggregate <what>', 'seeds: one row per config over its seeds (mean, std, n of the metric)', oneOf(['seeds'] as const))
    .action(
      action(async (flags: RankFlags & { format: Format; aggregate?: 'seeds' }) => {
        if (flags.aggregate === 'seeds') {
          // --top counts configs here, so every trial is ranked before grouping.
          const ranking = await reading(flags.db, (store) => rank(store, { ...flags, top: undefined }));
          printSeedGroups(ranking, flags.format, flags.top);
          return;
        }
        const ranking = await reading(flags.db, (store) => rank(store, flags));
        const { rows, metric } = ranking;
        if (flags.format === 'json') {
          print(JSON.stringify(rows.map((r) => ({
            rank: r.rank, trial: r.trial.id, state: r.state, [metric]: r.value, best_epoch: r.bestEpoch, last_epoch: r.lastEpoch, metrics: r.metrics,
            test: r.test, peak_bytes: r.peakBytes, seconds_per_epoch: r.secondsPerEpoch, config: r.trial.config, trainer: r.trial.trainer,
          })), null, 2));
          return;
        }
        if (flags.format === 'csv') {
          print(renderCsv(rows, csvColumns(rows, metric, flags.includePruned === true)));
          return;
        }
        const paths = varyingPaths([...rows, ...ranking.pruned.map((p) => p.row)].map((r) => r.trial.config));
        const columns: Column<LeaderboardRow>[] = [
          { header: 'rank', value: (r) => r.rank },
          { header: 'trial', value: (r) => shortId(r.trial.id) },
          ...(flags.includePruned === true ? [{ header: 'state', value: (r: LeaderboardRow) => r.state }] : []),
          ...paths.map((p): Column<LeaderboardRow> => ({ header: displayKey(p), value: (r) => formatValue(getPath(r.trial.config, p)) })),
          { header: metric, value: (r) => r.value },
          { header: 'best epoch', value: (r) => r.bestEpoch },
          { header: 'last epoch', value: (r) => r.lastEpoch },
          { header: `test ${metric}`, value: (r) => r.test?.[metric] ?? null },
          { header: 'peak', value: (r) => formatBytes(r.peakBytes) },
          { header: 's/epoch', value: (r) => r.secondsPerEpoch },
        ];
        const what = ranking.sweep === undefined ? 'all sweeps' : `sweep ${ranking.sweep.name}`;
        const ranked = flags.includePruned === true ? 'completed and pruned' : 'completed';
        print(`${what}: ${rows.length} ${ranked} trial(s) by ${metric} (${ranking.direction})`);
        if (rows.length > 0) print(renderTable(rows, columns));
        if (ranking.pruned.length > 0) {
          print(`\n${ranking.pruned.length} pruned trial(s), not ranked (--include-pruned ranks them on the epochs they had):`);
          print(renderTable(ranking.pruned, prunedColumns(paths, metric)));
        }
      }),
    );
}

/**
 * CSV for programs: the full trial id, every config key (dotted paths, empty where a trial lacks
 * it), plain snake_case headers and raw numbers.
 */
function csvColumns(rows: readonly LeaderboardRow[], metric: string, withState: boolean): Column<LeaderboardRow>[] {
  const paths = new Set<string>();
  for (const r of rows) for (const p of flatten(r.trial.config).keys()) paths.add(p);
  const configValue = (r: LeaderboardRow, p: string): string | number | null => {
    const v = getPath(r.trial.config, p);
    return v === undefined || v === null ? null : typeof v === 'number' || typeof v === 'string' ? v : JSON.stringify(v);
  };
  return [
    { header: 'rank', value: (r) => r.rank },
    { header: 'trial', value: (r) => r.trial.id },
    ...(withState ? [{ header: 'state', value: (r: LeaderboardRow) => r.state }] : []),
    ...[...paths].sort().map((p): Column<LeaderboardRow> => ({ header: p, value: (r) => configValue(r, p) })),
    { header: metric, value: (r) => r.value },
    { header: 'best_epoch', value: (r) => r.bestEpoch },
    { header: 'last_epoch', value: (r) => r.lastEpoch },
    { header: `test_${metric}`, value: (r) => r.test?.[metric] ?? null },
    { header: 'peak_bytes', value: (r) => r.peakBytes },
    { header: 'seconds_per_epoch', value: (r) => r.secondsPerEpoch },
  ];
}

/** The pruned trials' table: their best so far and where and against what they were stopped. */
function prunedColumns(paths: readonly string[], metric: string): Column<Ranking['pruned'][number]>[] {
  return [
    { header: 'trial', value: (p) => shortId(p.row.trial.id) },
    ...paths.map((path): Column<Ranking['pruned'][number]> => ({ header: displayKey(path), value: (p) => formatValue(getPath(p.row.trial.config, path)) })),
    { header: metric, value: (p) => p.row.value },
    { header: 'last epoch', value: (p) => p.row.lastEpoch },
    { header: 'stopped by', value: (p) => (p.decision === undefined ? null : p.decision.rule + (p.decision.rung === null ? '' : ` rung ${p.decision.rung}`)) },
    { header: 'at epoch', value: (p) => p.decision?.epoch ?? null },
    { header: 'threshold', value: (p) => p.decision?.threshold ?? null },
  ];
}
