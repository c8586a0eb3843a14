/** `grid leaderboard --aggregate seeds`: configs that differ only in their seed, as mean, std and n. */
import { displayKey, getPath, varyingPaths } from '../sweep/config-paths.js';
import { groupSeeds, type SeedGroup } from '../sweep/seed-groups.js';
import { print } from './common.js';
import { formatBytes, formatValue, renderCsv, renderTable, shortId, type Column, type Format } from './format.js';
import type { Ranking } from './ranking.js';

/** Prints a ranking (ranked in full) grouped by seeds; `top` keeps the first groups. */
export function printSeedGroups(ranking: Ranking, format: Format, top: number | undefined): void {
  const { metric } = ranking;
  const groups = groupSeeds(ranking.rows, ranking.direction).slice(0, top);
  if (format === 'json') {
    print(JSON.stringify(groups.map((g) => ({
      rank: g.rank, n: g.value.n, [metric]: { mean: finite(g.value.mean), std: finite(g.value.std) },
      seeds: g.seeds, trials: g.rows.map((r) => r.trial.id), config: g.config,
      peak_bytes: { mean: finite(g.peakBytes.mean), std: finite(g.peakBytes.std) },
      seconds_per_epoch: { mean: finite(g.secondsPerEpoch.mean), std: finite(g.secondsPerEpoch.std) },
    })), null, 2));
    return;
  }
  const csv = format === 'csv';
  const paths = varyingPaths(groups.map((g) => g.config));
  const columns: Column<SeedGroup>[] = [
    { header: 'rank', value: (g) => g.rank },
    ...paths.map((p): Column<SeedGroup> => ({ header: displayKey(p), value: (g) => formatValue(getPath(g.config, p)) })),
    { header: 'n', value: (g) => g.value.n },
    { header: `${metric} mean`, value: (g) => finite(g.value.mean) },
    { header: `${metric} std`, value: (g) => finite(g.value.std) },
    { header: csv ? 'peak bytes' : 'peak', value: (g) => (csv ? finite(g.peakBytes.mean) : formatBytes(g.peakBytes.mean)) },
    { header: 's/epoch', value: (g) => finite(g.secondsPerEpoch.mean) },
    { header: 'seeds', value: (g) => g.seeds.map(formatValue).join(' ') },
    { header: 'trials', value: (g) => g.rows.map((r) => (csv ? r.trial.id : shortId(r.trial.id))).join(' ') },
  ];
  if (csv) {
    print(renderCsv(groups, columns));
    return;
  }
  const what = ranking.sweep === undefined ? 'all sweeps' : `sweep ${ranking.sweep.name}`;
  print(`${what}: ${groups.length} config(s) over ${ranking.rows.length} completed trial(s), seeds aggregated, by mean ${metric} (${ranking.direction})`);
  if (groups.length > 0) print(renderTable(groups, columns));
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
