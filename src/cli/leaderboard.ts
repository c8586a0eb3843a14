/** `grid leaderboard`: completed trials ranked by a metric, as a table, JSON or CSV. */
import type { Command } from 'commander';
import { displayKey, getPath, varyingPaths } from '../sweep/config-paths.js';
import type { LeaderboardRow } from '../sweep/leaderboard.js';
import { action, intAtLeast, oneOf, print, reading, withDb } from './common.js';
import { formatBytes, formatValue, FORMATS, renderCsv, renderTable, shortId, type Column, type Format } from './format.js';
import { printSeedGroups } from './leaderboard-seeds.js';
import { rank, withRankFlags, type RankFlags } from './ranking.js';

/** Registers `grid leaderboard`. */
export function registerLeaderboard(program: Command): void {
  withRankFlags(withDb(program.command('leaderboard')))
    .description('rank completed trials by their best epoch (read-only; safe while a sweep runs)')
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
            rank: r.rank, trial: r.trial.id, [metric]: r.value, best_epoch: r.bestEpoch, last_epoch: r.lastEpoch, metrics: r.metrics,
            test: r.test, peak_bytes: r.peakBytes, seconds_per_epoch: r.secondsPerEpoch, config: r.trial.config, trainer: r.trial.trainer,
          })), null, 2));
          return;
        }
        const paths = varyingPaths(rows.map((r) => r.trial.config));
        const csv = flags.format === 'csv';
        const columns: Column<LeaderboardRow>[] = [
          { header: 'rank', value: (r) => r.rank },
          { header: 'trial', value: (r) => (csv ? r.trial.id : shortId(r.trial.id)) },
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
        print(`${what}: ${rows.length} completed trial(s) by ${metric} (${ranking.direction})`);
        if (rows.length > 0) print(renderTable(rows, columns));
      }),
    );
}
