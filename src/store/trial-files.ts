/**
 * Files kept next to runs.db for each attempt: `runs.db` → `runs.logs/<trial>/<attempt>.log` (the
 * child's stdout and stderr), `<attempt>.trial.json` (its GRID_TRIAL file) and `work/` (its scratch
 * directory, shared by attempts so a trainer may resume from its own checkpoints). With a PostgreSQL
 * store they live on the machine that ran the attempt, under $GRIDREC_LOGS, else `./runs.logs`.
 */
import { closeSync, constants, lstatSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { isPostgresUrl } from './db-location.js';
import { StoreError } from './store-error.js';

/** The environment variable naming the logs directory of a PostgreSQL store. */
export const LOGS_ENV = 'GRIDREC_LOGS';

/** The directory of trial logs for a database file or server (absolute). */
export function logsDir(dbPath: string): string {
  if (isPostgresUrl(dbPath)) return resolve(process.env[LOGS_ENV] || 'runs.logs');
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

/**
 * Creates the directories of an attempt's files (`<db>.logs/`, its trial's, `work/`) safely and
 * writes its trial file. Trial ids are predictable, so in a folder others can write to, someone could
 * plant a symbolic link at one of these paths and have `grid run` write into a file of their choosing:
 * each directory must be a real directory (not a link) owned by this user, and files are opened
 * without following links. Throws `StoreError` naming the path otherwise.
 */
export function prepareAttemptFiles(files: AttemptFiles, trialFileText: string): void {
  ensureOwnDirectory(dirname(files.dir));
  ensureOwnDirectory(files.dir);
  ensureOwnDirectory(files.workdir);
  const fd = openNoFollow(files.trialFile, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC);
  try {
    writeSync(fd, trialFileText);
  } finally {
    closeSync(fd);
  }
}

/** Opens an attempt's log for appending, creating it, without following a link planted at its path. */
export function openLogForAppend(path: string): number {
  return openNoFollow(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND);
}

function openNoFollow(path: string, flags: number): number {
  try {
    return openSync(path, flags | constants.O_NOFOLLOW, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'it is a symbolic link' : (code ?? String(err));
    throw new StoreError(`refusing to write ${path}: ${why}`, { cause: err });
  }
}

/** Makes `dir` (its parent must exist) or checks the one there: a directory, not a link, ours. */
function ensureOwnDirectory(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StoreError(`cannot create ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) throw new StoreError(`refusing to use ${dir}: it is a symbolic link`);
  if (!st.isDirectory()) throw new StoreError(`refusing to use ${dir}: it is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new StoreError(`refusing to use ${dir}: it belongs to another user (uid ${st.uid})`);
}

/**
 * Deletes a trial's attempt files (`<db>.logs/<trial>/`), when there are any. The logs directory must
 * be a real directory: through a link planted in its place, removal would reach someone else's files.
 * Returns whether a directory was removed.
 */
export function removeTrialFiles(dbPath: string, trialId: string): boolean {
  const logs = logsDir(dbPath);
  const dir = join(logs, trialId);
  for (const path of [logs, dir]) {
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new StoreError(`cannot inspect ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (!st.isDirectory()) throw new StoreError(`refusing to remove ${dir}: ${path} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}`);
  }
  // rmSync does not follow links inside the tree: it deletes the links themselves.
  rmSync(dir, { recursive: true, force: true });
  return true;
}
