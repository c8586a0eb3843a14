/** What the grid slurm tests share: running the CLI with a chosen environment, and fake programs. */
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, fakeGrid } from '../helpers/fixture.js';

/** Runs `grid ...args` in `cwd` with exactly `env` (no shell); its exit code, stdout and stderr. */
export function gridWith(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { cwd, env, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The environment of this process without GRIDREC_DB (a developer's own must not leak into a test). */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('GRIDREC_DB' in extra)) delete env.GRIDREC_DB;
  return env;
}

/** Writes an executable bash script `name` into `dir`; returns its path. */
export function fakeProgram(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/bash\n${body}`);
  chmodSync(path, 0o755);
  return path;
}

/** A valid grid file `name`.yaml (fake trainer) in `dir`; returns its file name. */
export function gridFile(dir: string, name: string): string {
  writeFileSync(join(dir, `${name}.yaml`), fakeGrid(name, 'grid:\n  fixture.score: [0.1, 0.2]\n'));
  return `${name}.yaml`;
}
