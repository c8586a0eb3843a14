/**
 * `grid export`: the best N configs of a sweep as a grid file (YAML, or the same document as JSON,
 * which is YAML too) that `grid run` accepts: its configs canonicalise to the same trial ids, so
 * running it recognises them as done and adds no trial.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import yaml from 'js-yaml';
import { action, intAtLeast, oneOf, print, reading, UsageError, withDb } from './common.js';
import { formatNumber, shortId } from './format.js';
import { rank, withRankFlags, type RankFlags, type Ranking } from './ranking.js';

interface ExportFlags extends RankFlags {
  readonly format: 'yaml' | 'json';
  readonly output?: string;
  readonly name?: string;
}

/** Registers `grid export`. */
export function registerExport(program: Command): void {
  withRankFlags(withDb(program.command('export')))
    .description('write the best configs as a grid file that `grid run` accepts (and knows to be done)')
    .option('--top <n>', 'how many configs', intAtLeast(1), 1)
    .option('--format <format>', 'yaml or json', oneOf(['yaml', 'json'] as const), 'yaml')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--name <name>', 'name of the exported sweep (default: <sweep>-best)')
    .action(
      action((flags: ExportFlags) => {
        const ranking = reading(flags.db, (store) => rank(store, flags));
        if (ranking.rows.length === 0) throw new UsageError('no completed trial to export');
        const document = exportDocument(ranking, flags.name);
        const text =
          flags.format === 'json'
            ? `${JSON.stringify(document, null, 2)}\n`
            : `${header(ranking)}${yaml.dump(document, { noRefs: true, lineWidth: -1, sortKeys: false })}`;
        if (flags.output === undefined) print(text);
        else {
          try {
            writeFileSync(flags.output, text);
          } catch (err) {
            throw new UsageError(`-o ${flags.output}: cannot write: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
          }
          print(`wrote ${ranking.rows.length} config(s) to ${flags.output}`);
        }
      }),
    );
}

/** The grid document of a ranking's configs, in rank order. */
export function exportDocument(ranking: Ranking, name?: string): Record<string, unknown> {
  const trainers = new Set(ranking.rows.map((r) => JSON.stringify(r.trial.trainer)));
  if (trainers.size > 1) throw new UsageError('the ranked trials use different trainers; export one sweep (--sweep) at a time');
  const trainer = ranking.rows[0]?.trial.trainer ?? 'builtin';
  const limits = ranking.sweep?.document.limits;
  return {
    name: name ?? `${ranking.sweep?.name ?? 'all'}-best`,
    ...(trainer === 'builtin' ? {} : { trainer }),
    objective: { metric: ranking.metric, direction: ranking.direction },
    ...(limits !== undefined ? { limits } : {}),
    configs: ranking.rows.map((r) => r.trial.config),
  };
}

function header(ranking: Ranking): string {
  const from = ranking.sweep === undefined ? 'all sweeps' : `sweep ${ranking.sweep.name}`;
  const lines = [
    `# Exported by \`grid export\` from ${from}: best ${ranking.rows.length} by ${ranking.metric} (${ranking.direction}), ${new Date().toISOString()}.`,
    ...ranking.rows.map((r) => `#   ${r.rank}. trial ${shortId(r.trial.id)}  ${ranking.metric} ${formatNumber(r.value)} (epoch ${r.bestEpoch})`),
  ];
  return `${lines.join('\n')}\n`;
}
