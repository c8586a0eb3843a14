#!/usr/bin/env node
/** The `grid` command: a commander program with one sub-command per file in this folder. */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { EXIT } from './cli-error.js';
import { registerAdd } from './add.js';
import { registerData } from './data.js';
import { registerExport } from './export.js';
import { registerLeaderboard } from './leaderboard.js';
import { registerMerge } from './merge.js';
import { registerPlan } from './plan.js';
import { registerReport } from './report.js';
import { registerResume } from './resume.js';
import { registerRm } from './rm.js';
import { registerRun } from './run.js';
import { registerShow } from './show.js';
import { registerSlurm } from './slurm.js';
import { registerStatus } from './status.js';
import { registerWorker } from './worker.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

// A reader that stops early (`grid leaderboard | head`) closes the pipe: that is not an error. The
// output stops there and the command goes on to its own end: a sweep keeps running and recording.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
  throw err;
});

const program = new Command('grid')
  .description('Grid-search hyperparameters of sequential recommenders trained with memory-efficient losses')
  .version(pkg.version)
  .showHelpAfterError()
  // Commander's own errors (unknown option, missing argument, bad value) are usage errors: they throw
  // here instead of exiting 1, and end with exit code 2 below. Sub-commands inherit the setting.
  .exitOverride();

registerRun(program);
registerAdd(program);
registerWorker(program);
registerResume(program);
registerPlan(program);
registerStatus(program);
registerLeaderboard(program);
registerExport(program);
registerReport(program);
registerShow(program);
registerData(program);
registerRm(program);
registerMerge(program);
registerSlurm(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // Commander has printed the message (and help); --help and --version end well.
  process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
}
