#!/usr/bin/env node
/** The `grid` command: a commander program with one sub-command per file in this folder. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerData } from './data.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('grid')
  .description('Grid-search hyperparameters of sequential recommenders trained with memory-efficient losses')
  .version(pkg.version);

registerData(program);

await program.parseAsync(process.argv);
