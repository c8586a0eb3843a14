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
import { epochTable, renderEpochs } from './export-epochs.js';
import { rank, withRankFlags, type RankFlags, type Ranking } from './ranking.js';

interface ExportFlags extends RankFlags {
  readonly format?: 'yaml' | 'json' | 'csv';
  readonly output?: string;
  readonly name?: string;
  readonly epochs?: boolean;
}

/** Registers `grid export`. */
export function registerExport(program: Command): void {
  withRankFlags(withDb(program.command('export')))
    .description('write the best configs as a grid file that `grid run` accepts (and knows to be done); with --epochs, every epoch as CSV or JSON')
    .option('--top <n>', 'how many configs (default 1; with --epochs: every trial)', intAtLeast(1))
    .option('--epochs', 'write the per-epoch curves in long format (one row per trial, attempt and epoch) instead of configs')
    .option('--format <format>', 'yaml or json (configs, default yaml); csv or json (--epochs, default csv)', oneOf(['yaml', 'json', 'csv'] as const))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--name <name>', 'name of the exported sweep (default: <sweep>-best)')
    .action(
      action(async (flags: ExportFlags) => {
        if (flags.epochs === true) {
          if (flags.format === 'yaml') throw new UsageError('--epochs writes csv or json, not yaml');
          const table = await reading(flags.db, (store) => epochTable(store, flags));
          write(renderEpochs(table, flags.format ?? 'csv'), flags.output, `wrote ${table.rows.length} epoch row(s) to ${flags.output}`);
          return;
        }
        if (flags.format === 'csv') throw new UsageError('configs export as yaml or json; csv needs --epochs');
        const ranking = await reading(flags.db, (store) => rank(store, { ...flags, top: flags.top ?? 1 }));
        if (ranking.rows.length === 0) throw new UsageError('no completed trial to export');
        const document = exportDocument(ranking, flags.name);
        const text =
          flags.format === 'json'
            ? `${JSON.stringify(document, null, 2)}\n`
            : `${header(ranking)}${yaml.dump(document, { noRefs: true, lineWidth: -1, sortKeys: false })}`;
        write(text, flags.output, `wrote ${ranking.rows.length} config(s) to ${flags.output}`);
      }),
    );
}

/** Writes `text` to `output` and says `done`, or prints it when there is no output file. */
function write(text: string, output: string | undefined, done: string): void {
  if (output === undefined) {
    print(text);
    return;
  }
  try {
    writeFileSync(output, text);
  } catch (err) {
    throw new UsageError(`-o ${output}: cannot write: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  print(done);
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
