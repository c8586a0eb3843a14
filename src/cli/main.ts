#!/usr/bin/env node
/** The `grid` command: a commander program with one sub-command per file in this folder. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerData } from './data.js';
import { registerExport } from './export.js';
import { registerLeaderboard } from './leaderboard.js';
import { registerPlan } from './plan.js';
import { registerReport } from './report.js';
import { registerResume } from './resume.js';
import { registerRun } from './run.js';
import { registerShow } from './show.js';
import { registerStatus } from './status.js';

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
  .showHelpAfterError();

registerRun(program);
registerResume(program);
registerPlan(program);
registerStatus(program);
registerLeaderboard(program);
registerExport(program);
registerReport(program);
registerShow(program);
registerData(program);

await program.parseAsync(process.argv);
