/**
 * One write connection per SQLite file per process, shared by every store opened on it and closed
 * when the last of them closes. Two connections to one file in one process could deadlock: better-sqlite3
 * waits for a lock synchronously (the busy timeout), so a second connection's write transaction would
 * block the only thread while the first connection's open transaction, awaiting between its statements
 * on that same thread, could never commit. One connection queues both stores' transactions instead.
 */
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { openForWriting } from './database.js';
import type { SqlConnection } from './sql-connection.js';
import { SqliteConnection } from './sqlite-connection.js';

/** The open write connections by file (its real path), with how many stores use each. */
const shared = new Map<string, { readonly connection: SqliteConnection; users: number }>();

/**
 * A write connection to the SQLite file at `path` (created and migrated as `openForWriting` does),
 * shared with the other stores of this process on the same file. Its `close` lets go of it; the
 * connection closes when no store holds it any more.
 */
export function openSharedForWriting(path: string): SqlConnection {
  const key = fileKey(path);
  let entry = key === null ? undefined : shared.get(key);
  if (entry === undefined) {
    entry = { connection: new SqliteConnection(path, openForWriting(path)), users: 0 };
    if (key !== null) shared.set(key, entry);
  }
  entry.users++;
  const held = entry;
  let closed = false;
  // A store that closed its handle uses the connection no more, though others may keep it open.
  const open = (): SqliteConnection => {
    if (closed) throw new TypeError(`${path}: the store was closed`);
    return held.connection;
  };
  const { connection } = held;
  return {
    dialect: connection.dialect,
    all: async (sql, params) => open().all(sql, params),
    get: async (sql, params) => open().get(sql, params),
    run: async (sql, params) => open().run(sql, params),
    transaction: async (fn) => open().transaction(fn),
    close: async () => {
      if (closed) return;
      closed = true;
      if (--held.users > 0) return;
      if (key !== null && shared.get(key) === held) shared.delete(key);
      await connection.close();
    },
  };
}

/**
 * What identifies a file however it is named (relative, through a symbolic link): its real path, or
 * for a file not created yet its folder's real path and its name. Null for SQLite's private
 * databases (`:memory:`, ""), which no two connections share.
 */
function fileKey(path: string): string | null {
  if (path === '' || path === ':memory:') return null;
  const absolute = resolve(path);
  try {
    return existsSync(absolute) ? realpathSync(absolute) : resolve(realpathSync(dirname(absolute)), basename(absolute));
  } catch {
    return absolute;
  }
}
