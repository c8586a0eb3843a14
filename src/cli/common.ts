/** What every `grid` command shares: the --db option, error reporting and exit codes, number options. */
import { InvalidArgumentError, type Command } from 'commander';
import { GridFileError } from '../sweep/grid-error.js';
import { StoreError } from '../store/database.js';
import { openStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { ConfigError } from '../util/config-error.js';

/** The database used when --db is not given. */
export const DEFAULT_DB = 'runs.db';

/** Exit codes: 1 for a sweep that did not finish well, 2 for bad input, 130 after an interrupt. */
export const EXIT = { failed: 1, usage: 2, interrupted: 130 } as const;

/** A mistake in the command line (unknown sweep, ambiguous trial id, bad flag value). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Adds the --db option. */
export function withDb(cmd: Command): Command {
  return cmd.option('--db <path>', 'the runs database', DEFAULT_DB);
}

/**
 * Wraps a command action: its return value becomes the exit code, and known errors (bad grid file,
 * bad config, unusable database, usage) are printed as one line without a stack, exit code 2.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      if (err instanceof GridFileError || err instanceof ConfigError || err instanceof StoreError || err instanceof UsageError) {
        process.stderr.write(`grid: ${err.message}\n`);
        process.exitCode = err instanceof StoreError ? EXIT.failed : EXIT.usage;
        return;
      }
      throw err;
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

/** Opens the database read-only for `fn` and closes it after, whatever happens. */
export function reading<T>(db: string, fn: (store: Store) => T): T {
  const store = openStore(db, 'read');
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** Writes lines to stdout. */
export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
