/**
 * `grid report [SWEEP…] -o report.html`: one self-contained HTML file with the leaderboard and the
 * charts people look at after a sweep. The store is opened read-only for each build, so it is safe
 * while a sweep runs; `--watch` rebuilds the file as trials finish and the page reloads itself.
 */
import { writeSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { writeFileAtomically } from '../data/atomic-file.js';
import { buildReportData } from '../report/report-data.js';
import { renderReport } from '../report/report-html.js';
import type { ReportData } from '../report/report-types.js';
import type { Store, SweepRecord } from '../store/store.js';
import { parseDuration } from '../sweep/duration.js';
import { findSweep } from '../sweep/sweep-service.js';
import { action, intAtLeast, oneOf, print, reading, UsageError, withDb } from './common.js';

interface ReportFlags {
  readonly db: string;
  readonly output: string;
  readonly all?: boolean;
  readonly metric?: string;
  readonly direction?: 'max' | 'min';
  readonly curves: number;
  readonly watch?: boolean;
  readonly interval: number;
}

/** Registers `grid report`. */
export function registerReport(program: Command): void {
  withDb(program.command('report'))
    .argument('[sweeps...]', 'sweeps to report (default: the sweep run last)')
    .description('write one self-contained HTML report (leaderboard, charts, failures) that opens offline (read-only)')
    .option('-o, --output <file>', 'the HTML file to write', 'report.html')
    .option('--all', 'report every sweep in the database')
    .option('--metric <name>', "metric to rank and plot (default: the first sweep's objective)")
    .option('--direction <dir>', "max or min (default: the objective's, or min for loss)", oneOf(['max', 'min'] as const))
    .option('--curves <n>', 'learning curves shown when the page opens: the best n (and every running trial)', intAtLeast(0), 5)
    .option('--watch', 'rebuild the file every --interval until Ctrl-C; while trials are pending or running, the open page reloads itself')
    .addOption(new Option('--interval <duration>', 'with --watch: time between rebuilds and page reloads, e.g. 30s or 1m').argParser(seconds).default(10, '10s'))
    .action(
      action(async (names: string[], flags: ReportFlags) => {
        if (flags.all === true && names.length > 0) throw new UsageError('give sweep names or --all, not both');
        if (flags.watch !== true) {
          const data = await reading(flags.db, (store) => build(store, names, flags));
          writeReport(flags.output, data);
          print(`wrote ${flags.output}: ${describe(data)}`);
          return;
        }
        await watch(names, flags);
      }),
    );
}

/** Builds the report data of the sweeps named (or all, or the last one). */
async function build(store: Store, names: readonly string[], flags: ReportFlags, refreshSeconds: number | null = null): Promise<ReportData> {
  let sweeps: SweepRecord[];
  if (flags.all === true) sweeps = await store.listSweeps();
  else if (names.length === 0) sweeps = [await findSweep(store, undefined)].filter((s) => s !== undefined);
  else {
    sweeps = [];
    for (const name of names) {
      const sweep = await store.getSweep(name);
      if (sweep === undefined) throw new UsageError(`${flags.db}: no sweep named ${JSON.stringify(name)}`);
      sweeps.push(sweep);
    }
  }
  if (sweeps.length === 0) throw new UsageError(`${flags.db}: no sweeps yet`);
  return buildReportData(store, sweeps, {
    ...(flags.metric !== undefined ? { metric: flags.metric } : {}),
    ...(flags.direction !== undefined ? { direction: flags.direction } : {}),
    curves: flags.curves,
    refreshSeconds,
    db: flags.db,
  });
}

function writeReport(path: string, data: ReportData): void {
  const html = renderReport(data);
  // Atomic: a browser reloading during a rebuild reads the old page or the new one, never half of one.
  writeFileAtomically(path, (fd) => writeSync(fd, html));
}

/** Rebuilds every interval while something changes; stops on Ctrl-C or SIGTERM. */
async function watch(names: readonly string[], flags: ReportFlags): Promise<void> {
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = (): void => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let last = '';
    for (;;) {
      const data = await reading(flags.db, (store) => build(store, names, flags, flags.interval));
      // The build time changes every round: compare the rest to see whether anything happened.
      const digest = JSON.stringify({ ...data, generatedAt: '' });
      if (digest !== last) {
        writeReport(flags.output, data);
        print(`${new Date().toLocaleTimeString()} wrote ${flags.output}: ${describe(data)}`);
        last = digest;
      }
      const timer = new Promise<'tick'>((resolve) => setTimeout(() => resolve('tick'), flags.interval * 1000));
      if ((await Promise.race([timer, stopped.then(() => 'stop' as const)])) === 'stop') break;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function describe(data: ReportData): string {
  const counts = new Map<string, number>();
  for (const t of data.trials) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  const states = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  return `${data.trials.length} trial(s)${states === '' ? '' : ` (${states})`}, ${data.curves.epoch.length} epoch row(s), ${data.charts.length} charts`;
}

function seconds(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 1000) throw new InvalidArgumentError(`expected a duration of at least 1s (e.g. 10s, 1m), got ${JSON.stringify(value)}`);
  return ms / 1000;
}
