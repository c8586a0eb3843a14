/**
 * Opening the store `--db` names: a SQLite file (the default, `runs.db`) or a PostgreSQL server
 * (`postgres://user@host:port/database`; the password from the URL, `PGPASSWORD` or `~/.pgpass`).
 */
import { openForReading } from './database.js';
import { isPostgresUrl } from './db-location.js';
import type { RetryOptions } from './pg-connection.js';
import { SqliteConnection } from './sqlite-connection.js';
import { openSharedForWriting } from './sqlite-shared.js';
import { SqlStore } from './sql-store.js';
import type { Store } from './store.js';

export { isPostgresUrl } from './db-location.js';

/** Options of `openStore`. */
export type OpenOptions = RetryOptions;

/**
 * Opens the store at `location` (a SQLite path or a postgres:// URL) read-write (creating and
 * migrating it) or read-only. The store's `path` is the file, or the URL without its password.
 * Stores opened for writing on one SQLite file in one process share one connection, closed with the last.
 */
export async function openStore(location: string, mode: 'write' | 'read', options: OpenOptions = {}): Promise<Store> {
  if (isPostgresUrl(location)) {
    // Loaded only for a server: commands on a SQLite file start without node-postgres.
    const [{ openPostgres }, { redactUrl }] = await Promise.all([import('./pg-database.js'), import('./pg-errors.js')]);
    return new SqlStore(redactUrl(location), await openPostgres(location, mode, options), mode === 'read');
  }
  // Stores written from one process share its one connection to the file (sqlite-shared.ts says why).
  if (mode === 'write') return new SqlStore(location, openSharedForWriting(location), false);
  return new SqlStore(location, new SqliteConnection(location, openForReading(location)), true);
}
