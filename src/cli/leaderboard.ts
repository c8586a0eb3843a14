/** `grid leaderboard`: completed trials ranked by a metric, as a table, JSON or CSV. */
import type { Command } from 'commander';
import { displayKey, flatten, getPath, varyingPaths } from '../sweep/config-paths.js';
import type { LeaderboardRow } from '../sweep/leaderboard.js';
import { action, intAtLeast, oneOf, print, reading, withDb } from './common.js';
import { formatBytes, formatValue, FORMATS, renderCsv, renderTable, shortId, type Column, type Format } from './format.js';
import { rank, withRankFlags, type RankFlags } from './ranking.js';

/** Registers `grid leaderboard`. */
export function registerLeaderboard(program: Command): void {
  withRankFlags(withDb(program.command('leaderboard')))
    .description('rank completed trials by their best epoch (read-only; safe while a sweep runs)')
    .option('--top <n>', 'show the first n', intAtLeast(1))
    .option('--format <format>', FORMATS.join(', '), oneOf(FORMATS), 'table')
    .action(
      action((flags: RankFlags & { format: Format }) => {
        const ranking = reading(flags.db, (store) => rank(store, flags));
        const { rows, metric } = ranking;
        if (flags.format === 'json') {
          print(JSON.stringify(rows.map((r) => ({
            rank: r.rank, trial: r.trial.id, [metric]: r.value, best_epoch: r.bestEpoch, last_epoch: r.lastEpoch, metrics: r.metrics,
            test: r.test, peak_bytes: r.peakBytes, seconds_per_epoch: r.secondsPerEpoch, config: r.trial.config, trainer: r.trial.trainer,
          })), null, 2));
          return;
        }
        if (flags.format === 'csv') {
          print(renderCsv(rows, csvColumns(rows, metric)));
          return;
        }
        const paths = varyingPaths(rows.map((r) => r.trial.config));
        const columns: Column<LeaderboardRow>[] = [
          { header: 'rank', value: (r) => r.rank },
          { header: 'trial', value: (r) => shortId(r.trial.id) },
          ...paths.map((p): Column<LeaderboardRow> => ({ header: displayKey(p), value: (r) => formatValue(getPath(r.trial.config, p)) })),
          { header: metric, value: (r) => r.value },
          { header: 'best epoch', value: (r) => r.bestEpoch },
          { header: 'last epoch', value: (r) => r.lastEpoch },
          { header: `test ${metric}`, value: (r) => r.test?.[metric] ?? null },
          { header: 'peak', value: (r) => formatBytes(r.peakBytes) },
          { header: 's/epoch', value: (r) => r.secondsPerEpoch },
        ];
        const what = ranking.sweep === undefined ? 'all sweeps' : `sweep ${ranking.sweep.name}`;
        print(`${what}: ${rows.length} completed trial(s) by ${metric} (${ranking.direction})`);
        if (rows.length > 0) print(renderTable(rows, columns));
      }),
    );
}

/**
 * CSV for programs: the full trial id, every config key (dotted paths, empty where a trial lacks
 * it), plain snake_case headers and raw numbers.
 */
function csvColumns(rows: readonly LeaderboardRow[], metric: string): Column<LeaderboardRow>[] {
  const paths = new Set<string>();
  for (const r of rows) for (const p of flatten(r.trial.config).keys()) paths.add(p);
  const configValue = (r: LeaderboardRow, p: string): string | number | null => {
    const v = getPath(r.trial.config, p);
    return v === undefined || v === null ? null : typeof v === 'number' || typeof v === 'string' ? v : JSON.stringify(v);
  };
  return [
    { header: 'rank', value: (r) => r.rank },
    { header: 'trial', value: (r) => r.trial.id },
    ...[...paths].sort().map((p): Column<LeaderboardRow> => ({ header: p, value: (r) => configValue(r, p) })),
    { header: metric, value: (r) => r.value },
    { header: 'best_epoch', value: (r) => r.bestEpoch },
    { header: 'last_epoch', value: (r) => r.lastEpoch },
    { header: `test_${metric}`, value: (r) => r.test?.[metric] ?? null },
    { header: 'peak_bytes', value: (r) => r.peakBytes },
    { header: 'seconds_per_epoch', value: (r) => r.secondsPerEpoch },
  ];
}
