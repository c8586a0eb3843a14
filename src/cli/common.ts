/** What every `grid` command shares: the --db option, the action wrapper (errors and exit codes), number options. */
import { existsSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { isPostgresUrl, openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { toCliError, UsageError } from './cli-error.js';
import { sanitise } from './format.js';

export { CliError, EXIT, UsageError } from './cli-error.js';

/** The database used when neither --db nor GRIDREC_DB is given. */
export const DEFAULT_DB = 'runs.db';

/** The environment variable that names the database where --db does not (keeps passwords out of shell history). */
export const DB_ENV = 'GRIDREC_DB';

/**
 * Adds the --db option: a SQLite file or a postgres:// URL. An empty path or `:memory:` would
 * silently use a temporary database whose results vanish at exit: both are refused. The default
 * comes from $GRIDREC_DB; help shows its name, never its value (it may hold a password).
 */
export function withDb(cmd: Command): Command {
  const fromEnv = process.env[DB_ENV];
  return cmd.addOption(
    new Option('--db <path>', 'the runs database: a SQLite file or postgres://user@host/database')
      .argParser(dbPath)
      .default(fromEnv !== undefined && fromEnv !== '' ? dbPath(fromEnv) : DEFAULT_DB, `$${DB_ENV}, else ${DEFAULT_DB}`),
  );
}

/** Whether the database is there to read: a file that exists, or any server (connecting tells). */
export function dbExists(db: string): boolean {
  return isPostgresUrl(db) || existsSync(db);
}

/** Opens the store `db` names; a lost server connection is noted on stderr while it is retried. */
export function openDb(db: string, mode: 'write' | 'read'): Promise<Store> {
  return openStore(db, mode, { onRetry: (message) => note(`warning: ${message}`) });
}

function dbPath(value: string): string {
  if (value.trim() === '' || value === ':memory:') {
    throw new InvalidArgumentError(`expected the path of a database file, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Wraps a command action: its return value becomes the exit code, and errors `toCliError` knows are
 * printed as one line without a stack, with their exit code. Anything else is a bug and keeps its stack.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      const known = toCliError(err);
      if (known === undefined) throw err;
      process.stderr.write(`grid: ${sanitise(known.message)}\n`);
      process.exitCode = known.exitCode;
    }
  };
}

/** A commander parser for integers ≥ `min`. */
export function intAtLeast(min: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** A commander parser accepting one of `allowed`. */
export function oneOf<T extends string>(allowed: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    return value as T;
  };
}

/** A commander parser collecting a repeated option into a list. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Opens the database read-only for `fn` and closes it after, whatever happens. A missing file is a usage error. */
export async function reading<T>(db: string, fn: (store: Store) => T | Promise<T>): Promise<T> {
  if (!dbExists(db)) throw new UsageError(`${db}: no such database (\`grid run\` creates it; --db names another)`);
  const store = await openDb(db, 'read');
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Writes a note or warning for people to stderr, so that stdout carries only the command's output. */
export function note(text: string): void {
  process.stderr.write(`${sanitise(text.endsWith('\n') ? text : `${text}\n`)}`);
}

/** Writes lines to stdout. */
export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
