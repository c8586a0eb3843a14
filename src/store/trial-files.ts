/**
 * Files kept next to runs.db for each attempt: `runs.db` → `runs.logs/<trial>/<attempt>.log` (the
 * child's stdout and stderr), `<attempt>.trial.json` (its GRID_TRIAL file) and `work/` (its scratch
 * directory, shared by attempts so a trainer may resume from its own checkpoints).
 */
import { basename, dirname, extname, join, resolve } from 'node:path';

/** The directory of trial logs for a database file (absolute). */
export function logsDir(dbPath: string): string {
  const abs = resolve(dbPath);
  return join(dirname(abs), `${basename(abs, extname(abs))}.logs`);
}

/** Paths of one attempt's files. */
export interface AttemptFiles {
  readonly dir: string;
  readonly log: string;
  readonly trialFile: string;
  readonly workdir: string;
}

/** The files of attempt `attempt` of trial `trialId` in the database at `dbPath`. */
export function attemptFiles(dbPath: string, trialId: string, attempt: number): AttemptFiles {
  const dir = join(logsDir(dbPath), trialId);
  return { dir, log: join(dir, `${attempt}.log`), trialFile: join(dir, `${attempt}.trial.json`), workdir: join(dir, 'work') };
}
