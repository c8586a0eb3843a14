/**
 * What the store needs of a database engine: statements with `?` placeholders, one transaction helper,
 * and the few SQL fragments that differ between SQLite and PostgreSQL (`Dialect`). sql-store.ts writes
 * its SQL once over this; sqlite-connection.ts and pg-connection.ts are the two engines.
 */

/** The SQL that differs between the engines, side by side in `SQLITE` and `POSTGRES`. */
export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** The database clock now, in seconds since the epoch (a float). */
  readonly now: string;
  /**
   * Written after the `LIMIT` of a claim's select: PostgreSQL locks the row it picked and skips rows
   * other claimers hold; SQLite has one writer at a time, so the transaction alone serialises claims.
   */
  readonly skipLocked: string;
  /**
   * Written after the select of a fence (the attempt still running): PostgreSQL holds the attempt's
   * row until the write commits, so a reclaim of its lease waits for it instead of racing it.
   */
  readonly lockShared: string;
  /**
   * A number read from a JSON object in a text column at key `key` (a metric name: bound, never
   * written into the SQL); NULL where it is missing or not a number. `params` bind its `?`s in order.
   */
  jsonNumber(column: string, key: string): { readonly sql: string; readonly params: readonly SqlValue[] };
}

/** A parameter value: what both engines bind. */
export type SqlValue = string | number | null;

/** A connection (SQLite) or a pool of them (PostgreSQL). Every method may throw `StoreError`. */
export interface SqlConnection {
  readonly dialect: Dialect;
  /** The rows of a query. */
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row of a query, if any. */
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Runs a statement; returns the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /**
   * Runs `fn` in one transaction that takes the write lock at once (SQLite: BEGIN IMMEDIATE) and
   * returns its value; rolls back on a throw. Inside, use only the connection `fn` is given. A
   * transaction that failed because the connection broke is run again (PostgreSQL), so `fn` must be
   * safe to repeat from the start.
   */
  transaction<T>(fn: (tx: SqlConnection) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
