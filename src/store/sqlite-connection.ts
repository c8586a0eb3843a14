/**
 * The SQLite engine of the store: one better-sqlite3 connection behind the asynchronous `SqlConnection`.
 * better-sqlite3 answers synchronously, but a transaction's callback awaits between its statements, so
 * every statement and transaction takes a turn in one queue: nothing of another caller runs inside an
 * open transaction.
 */
import type Database from 'better-sqlite3';
import { translate, type Connection } from './database.js';
import type { Dialect, SqlConnection, SqlValue } from './sql-connection.js';

/** SQLite's side of the dialect. */
export const SQLITE: Dialect = {
  name: 'sqlite',
  now: `unixepoch('subsec')`,
  skipLocked: '',
  lockShared: '',
  // Metric names hold no double quote or backslash (the protocol refuses them): the quoted label
  // needs no escaping.
  jsonNumber: (column, key) => ({
    sql: `CASE WHEN json_type(${column}, ?) IN ('integer', 'real') THEN json_extract(${column}, ?) END`,
    params: [`$."${key}"`, `$."${key}"`],
  }),
};

/** A `SqlConnection` over a better-sqlite3 connection (opened by database.ts); `path` names it in errors. */
export class SqliteConnection implements SqlConnection {
  readonly dialect = SQLITE;
  readonly #db: Connection;
  readonly #path: string;
  readonly #statements = new Map<string, Database.Statement>();
  /** The tail of the queue: resolves when the last statement or transaction queued has ended. */
  #turn: Promise<unknown> = Promise.resolve();

  constructor(path: string, db: Connection) {
    this.#path = path;
    this.#db = db;
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.#queued(async () => this.#all<T>(sql, params));
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#queued(async () => this.#run(sql, params));
  }

  transaction<T>(fn: (tx: SqlConnection) => Promise<T>): Promise<T> {
    return this.#queued(async () => {
      this.#exec('BEGIN IMMEDIATE');
      try {
        const value = await fn(this.#inside());
        this.#exec('COMMIT');
        return value;
      } catch (err) {
        if (this.#db.inTransaction) this.#exec('ROLLBACK');
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    await this.#queued(async () => this.#db.close());
  }

  /** The connection a transaction's callback uses: its statements run at once, in the transaction. */
  #inside(): SqlConnection {
    const inside: SqlConnection = {
      dialect: SQLITE,
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => this.#all<T>(sql, params),
      get: async <T>(sql: string, params: readonly SqlValue[] = []) => this.#all<T>(sql, params)[0],
      run: async (sql: string, params: readonly SqlValue[] = []) => this.#run(sql, params),
      // Already inside one: a nested transaction is part of it.
      transaction: async <T>(fn: (tx: SqlConnection) => Promise<T>) => fn(inside),
      close: () => Promise.reject(new Error('close() inside a transaction')),
    };
    return inside;
  }

  /** Runs `fn` when every earlier statement and transaction has ended. */
  #queued<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#turn.then(fn);
    this.#turn = result.catch(() => undefined);
    return result;
  }

  #statement(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.#guard(() => this.#db.prepare(sql));
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  #all<T>(sql: string, params: readonly SqlValue[]): T[] {
    const stmt = this.#statement(sql);
    return this.#guard(() => (stmt.reader ? (stmt.all(...params) as T[]) : (stmt.run(...params), [])));
  }

  #run(sql: string, params: readonly SqlValue[]): number {
    const stmt = this.#statement(sql);
    return this.#guard(() => (stmt.reader ? stmt.all(...params).length : stmt.run(...params).changes));
  }

  #exec(sql: string): void {
    this.#guard(() => this.#db.exec(sql));
  }

  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw translate(this.#path, err);
    }
  }
}
