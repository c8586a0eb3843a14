#!/usr/bin/env node
/** The `grid` command: a commander program with one sub-command per file in this folder. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerData } from './data.js';
import { registerExport } from './export.js';
import { registerLeaderboard } from './leaderboard.js';
import { registerPlan } from './plan.js';
import { registerResume } from './resume.js';
import { registerRun } from './run.js';
import { registerShow } from './show.js';
import { registerStatus } from './status.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

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
registerShow(program);
registerData(program);

await program.parseAsync(process.argv);
