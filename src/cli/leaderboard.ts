/**
 * `grid leaderboard`: completed trials ranked by a metric, as a table, JSON or CSV. Pruned trials are
 * listed apart under the table (not in JSON or CSV), or ranked with the others with --include-pruned.
 */
import type { Command } from 'commander';
import { displayKey, getPath, varyingPaths } from '../sweep/config-paths.js';
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
      action((flags: RankFlags & { format: Format; aggregate?: 'seeds' }) => {
        if (flags.aggregate === 'seeds') {
          // --top counts configs here, so every trial is ranked before grouping.
          const ranking = reading(flags.db, (store) => rank(store, { ...flags, top: undefined }));
          printSeedGroups(ranking, flags.format, flags.top);
          return;
        }
        const ranking = reading(flags.db, (store) => rank(store, flags));
        const { rows, metric } = ranking;
        if (flags.format === 'json') {
          print(JSON.stringify(rows.map((r) => ({
            rank: r.rank, trial: r.trial.id, state: r.state, [metric]: r.value, best_epoch: r.bestEpoch, last_epoch: r.lastEpoch, metrics: r.metrics,
            test: r.test, peak_bytes: r.peakBytes, seconds_per_epoch: r.secondsPerEpoch, config: r.trial.config, trainer: r.trial.trainer,
          })), null, 2));
          return;
        }
        const paths = varyingPaths([...rows, ...ranking.pruned.map((p) => p.row)].map((r) => r.trial.config));
        const csv = flags.format === 'csv';
        const columns: Column<LeaderboardRow>[] = [
          { header: 'rank', value: (r) => r.rank },
          { header: 'trial', value: (r) => (csv ? r.trial.id : shortId(r.trial.id)) },
          ...(flags.includePruned === true ? [{ header: 'state', value: (r: LeaderboardRow) => r.state }] : []),
          ...paths.map((p): Column<LeaderboardRow> => ({ header: displayKey(p), value: (r) => formatValue(getPath(r.trial.config, p)) })),
          { header: metric, value: (r) => r.value },
          { header: 'best epoch', value: (r) => r.bestEpoch },
          { header: 'last epoch', value: (r) => r.lastEpoch },
          { header: `test ${metric}`, value: (r) => r.test?.[metric] ?? null },
          { header: csv ? 'peak bytes' : 'peak', value: (r) => (csv ? r.peakBytes : formatBytes(r.peakBytes)) },
          { header: 's/epoch', value: (r) => r.secondsPerEpoch },
        ];
        if (csv) {
          print(renderCsv(rows, columns));
          return;
        }
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
