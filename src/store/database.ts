/**
 * Opening runs.db: WAL journal (readers never block the writer nor each other), a busy timeout, the
 * schema version checked and migrations run, and the one transaction helper. Database errors are
 * wrapped here into `StoreError`s that say which file and what to do.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { StoreError } from './store-error.js';

/** The better-sqlite3 connection type. */
export type Connection = Database.Database;

export { StoreError };

/** How long a statement waits on another connection's lock before giving up. */
const BUSY_TIMEOUT_MS = 30_000;

/**
 * Opens runs.db for writing, creating it when absent, and migrates it to `SCHEMA_VERSION`.
 * Throws `StoreError` for a database written by a newer gridrec.
 */
export function openForWriting(path: string): Connection {
  const db = wrap(path, () => new Database(path, { timeout: BUSY_TIMEOUT_MS }));
  try {
    checkGridrecDatabase(db, path);
    useWal(db);
    // NORMAL in WAL mode loses at most the last transactions on power loss, never consistency.
    db.pragma('synchronous = NORMAL');
    migrate(db, path);
    db.pragma('foreign_keys = ON');
    return db;
  } catch (err) {
    db.close();
    throw translate(path, err);
  }
}

/**
 * Switches a connection to WAL. Switching needs an exclusive lock and SQLite does not wait on its busy
 * handler for it, so two orchestrators creating one runs.db at once can get SQLITE_BUSY here: wait and
 * try again, up to the busy timeout.
 */
function useWal(db: Connection): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (let delayMs = 5; ; delayMs = Math.min(2 * delayMs, 200)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if (!(err instanceof Database.SqliteError && err.code === 'SQLITE_BUSY') || Date.now() + delayMs > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delayMs);
    }
  }
}

/**
 * Opens runs.db read-only (leaderboard, status, show, export): never takes a write lock, so a running
 * sweep is never disturbed. An older schema is migrated first through a short write connection.
 * Archived results stay readable where nothing can be written: a WAL database in a read-only
 * directory (SQLite cannot create its shared-memory file there), or an older schema that cannot be
 * migrated in place, is read from a private in-memory copy instead.
 */
export function openForReading(path: string): Connection {
  if (!existsSync(path)) throw new StoreError(`${path}: no such database (\`grid run\` creates it; --db names another)`);
  let db: Connection | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    const version = schemaVersion(db);
    checkGridrecDatabase(db, path);
    if (version < SCHEMA_VERSION) {
      db.close();
      db = undefined;
      try {
        openForWriting(path).close();
      } catch (err) {
        if (!cannotWrite(err)) throw err;
        return inMemoryCopy(path);
      }
      db = new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    }
    checkVersion(db, path);
    return db;
  } catch (err) {
    db?.close();
    if (cannotWrite(err)) return inMemoryCopy(path);
    throw translate(path, err);
  }
}

/** Whether a failure is SQLite (or the file system) refusing to write: a read-only file or directory. */
function cannotWrite(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  const inner = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return [code, inner].some((c) => typeof c === 'string' && (c.startsWith('SQLITE_READONLY') || c === 'SQLITE_CANTOPEN' || c === 'EACCES' || c === 'EROFS'));
}

/**
 * A private, writable in-memory copy of runs.db, migrated to the current schema: for reading where
 * the file cannot be opened in place. The WAL flag in the header is cleared (bytes 18 and 19: the
 * in-memory copy has no WAL); a WAL file that was never checkpointed cannot be read this way.
 */
function inMemoryCopy(path: string): Connection {
  try {
    if (existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0) {
      throw new StoreError(`${path}: cannot be read in place (read-only) and its write-ahead log ${path}-wal holds changes not yet in it; open it once where it can be written`);
    }
    const bytes = readFileSync(path);
    if (bytes.length >= 20) bytes.fill(1, 18, 20);
    const db = new Database(bytes);
    checkGridrecDatabase(db, path);
    migrate(db, path);
    return db;
  } catch (err) {
    throw translate(path, err);
  }
}

/**
 * Refuses a SQLite file that some other program made (tables of its own, no schema version of ours):
 * migrating it would write gridrec's tables into someone else's database.
 */
function checkGridrecDatabase(db: Connection, path: string): void {
  if (schemaVersion(db) !== 0) return;
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 3").pluck().all() as string[];
  if (tables.length > 0) {
    throw new StoreError(`${path}: not a gridrec database (it holds other tables: ${tables.join(', ')}); --db names another file`);
  }
}

/** The schema version a connection's file is at (0 for a new, empty file). */
export function schemaVersion(db: Connection): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Runs `fn` in an IMMEDIATE transaction (the write lock is taken at the start, so two writers queue
 * on the busy timeout instead of failing half-way) and returns its value; rolls back on a throw.
 */
export function transaction<T>(db: Connection, fn: () => T): T {
  return db.transaction(fn).immediate();
}

function checkVersion(db: Connection, path: string): void {
  const version = schemaVersion(db);
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new StoreError(`${path}: schema version ${version} is newer than this gridrec understands (${SCHEMA_VERSION}); upgrade gridrec`);
  }
}

/**
 * Runs the migrations the file lacks in one transaction. A migration that rebuilds a table (SQLite
 * cannot change a CHECK in place) drops a table other tables refer to, so, as SQLite's documented
 * procedure for that says, foreign key enforcement is off while the migrations run (it can only change
 * outside a transaction; the caller turns it on after) and every key is checked before committing.
 */
function migrate(db: Connection, path: string): void {
  checkVersion(db, path);
  db.pragma('foreign_keys = OFF');
  transaction(db, () => {
    // Re-read inside the lock: another process may have migrated while we waited for it.
    const from = schemaVersion(db);
    if (from === SCHEMA_VERSION) return;
    for (let v = from; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    }
    const broken = db.pragma('foreign_key_check') as { table: string; parent: string }[];
    const first = broken[0];
    if (first !== undefined) {
      throw new StoreError(`${path}: migration to schema version ${SCHEMA_VERSION} left ${broken.length} row(s) of ${first.table} without their ${first.parent}; nothing was changed`);
    }
  });
}

function wrap<T>(path: string, open: () => T): T {
  try {
    return open();
  } catch (err) {
    throw new StoreError(`${path}: cannot open: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The one translation of database failures: SQLite errors (disk full, locked past the busy timeout,
 * corrupt file) become `StoreError`s naming the file and the SQLite code; anything else passes as is.
 */
export function translate(path: string, err: unknown): unknown {
  if (err instanceof Database.SqliteError) {
    const what = err.code === 'SQLITE_NOTADB' ? 'not a SQLite database' : err.code.startsWith('SQLITE_CORRUPT') ? `damaged (${err.message})` : err.message;
    const rowRefused = err.code.startsWith('SQLITE_CONSTRAINT') || err.code === 'SQLITE_MISMATCH' || err.code === 'SQLITE_TOOBIG';
    return new StoreError(`${path}: ${err.code}: ${what}`, { cause: err, rowRefused });
  }
  return err;
}
