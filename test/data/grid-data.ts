/** Runs `grid data …` in-process for the data tests, and resets the exit code after each test. */
import { Command } from 'commander';
import { afterEach, vi } from 'vitest';
import { registerData } from '../../src/cli/data.js';

afterEach(() => {
  process.exitCode = undefined;
});

/** What `grid data …` wrote to stdout and stderr, and the exit code it set. */
export interface GridDataRun {
  readonly out: string;
  readonly err: string;
  readonly code: number | string | undefined;
}

/** Runs `grid data <args>` in this process, capturing its output. */
export async function gridData(...args: string[]): Promise<GridDataRun> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const program = new Command('grid').exitOverride();
  registerData(program);
  try {
    await program.parseAsync(['node', 'grid', 'data', ...args]);
  } finally {
    vi.restoreAllMocks();
  }
  return { out, err, code: process.exitCode };
}
