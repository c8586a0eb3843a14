/**
 * The PostgreSQL engine of the store: one node-postgres pool per opened store (so one per process),
 * behind `SqlConnection`. An operation whose connection broke (server restarted, network lost) is
 * repeated with backoff until the retry window closes, so a sweep rides out a restart of the server:
 * a statement is repeated alone, a transaction from its start.
 */
import pg from 'pg';
import { isServerRestart, isTransient, redactUrl, translatePg } from './pg-errors.js';
import type { Dialect, SqlConnection, SqlValue } from './sql-connection.js';

/** PostgreSQL's side of the dialect. */
export const POSTGRES: Dialect = {
  name: 'postgres',
  // The transaction's start: one instant for every statement of a claim or heartbeat.
  now: 'extract(epoch from now())::float8',
  skipLocked: 'FOR UPDATE OF t SKIP LOCKED',
  lockShared: 'FOR SHARE',
  jsonNumber: (column, key) => ({
    sql: `CASE WHEN jsonb_typeof(${column}::jsonb -> ?::text) = 'number' THEN (${column}::jsonb ->> ?::text)::float8 END`,
    params: [key, key],
  }),
};

/** How the pool behaves when the server is lost. */
export interface RetryOptions {
  /** How long an operation is repeated while its connection keeps failing. @default 300 s */
  readonly retryMs?: number;
  /** Told when the connection is lost and when it is back (for a one-line note). */
  readonly onRetry?: (message: string) => void;
}

/** Connections per process: the scheduler's heartbeat, epoch writes of parallel trials and claims. */
const POOL_SIZE = 4;

/**
 * bigint (COUNT, peak bytes) and numeric (AVG of integers) come back as strings by default, so that no
 * precision is lost; every such value of the store fits a double exactly.
 */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** `?` placeholders as PostgreSQL's `$1, $2, …` (the store's SQL holds no `?` inside a literal). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A `SqlConnection` over a node-postgres pool. */
export class PgConnection implements SqlConnection {
  readonly dialect = POSTGRES;
  readonly #url: string;
  readonly #pool: pg.Pool;
  readonly #retryMs: number;
  readonly #onRetry: ((message: string) => void) | undefined;
  /** When the current loss of connection began (Date.now()), or null while connected. */
  #lostSince: number | null = null;
  /** Off while the store opens: an unreachable server is reported at once, not after minutes. */
  #retry = false;

  constructor(url: string, readOnly: boolean, options: RetryOptions = {}) {
    this.#url = url;
    this.#retryMs = options.retryMs ?? 300_000;
    this.#onRetry = options.onRetry;
    this.#pool = new pg.Pool({
      connectionString: url,
      max: POOL_SIZE,
      types: TYPES,
      application_name: 'gridrec',
      connectionTimeoutMillis: 15_000,
      idleTimeoutMillis: 10_000,
      // Read commands cannot write by mistake, even through a bug.
      ...(readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    });
    // An idle connection the server closed (restart, idle timeout) must not crash the process: the
    // pool drops it and the next query opens another.
    this.#pool.on('error', () => undefined);
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.#retrying(async () => (await this.#pool.query(numbered(sql), params as SqlValue[])).rows as T[]);
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#retrying(async () => (await this.#pool.query(numbered(sql), params as SqlValue[])).rowCount ?? 0);
  }

  transaction<T>(fn: (tx: SqlConnection) => Promise<T>): Promise<T> {
    return this.#retrying(async () => {
      const client = await this.#pool.connect();
      let broken = false;
      // The pool listens for errors on idle connections only: one the server closes while this
      // transaction holds it (a restart between two statements) emits 'error' here, which unheard would
      // end the process. The next statement then fails and the whole transaction is retried.
      const onError = (): void => {
        broken = true;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const value = await fn(inside(client));
        await client.query('COMMIT');
        return value;
      } catch (err) {
        broken ||= isTransient(err);
        if (!broken) await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.off('error', onError);
        // A broken connection is closed, not given back to the pool.
        client.release(broken);
      }
    });
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  /** From now on, operations whose connection breaks are repeated (see the module comment). */
  retryFromNow(): void {
    this.#retry = true;
  }

  /**
   * Runs `op`, again after 0.1 s, 0.2 s, … (at most 5 s apart) while it fails transiently, until the
   * retry window closes; any other failure, or the last one, is thrown as a `StoreError`.
   */
  async #retrying<T>(op: () => Promise<T>): Promise<T> {
    const start = Date.now();
    // Set once the server said it is restarting: its being unreachable for a while is expected then.
    let restarting = false;
    for (let delayMs = 100; ; delayMs = Math.min(2 * delayMs, 5000)) {
      try {
        const value = await op();
        if (this.#lostSince !== null) {
          this.#onRetry?.(`${redactUrl(this.#url)}: connection back after ${((Date.now() - this.#lostSince) / 1000).toFixed(1)} s`);
          this.#lostSince = null;
        }
        return value;
      } catch (err) {
        // Before retryFromNow only a server restart is waited for: a wrong URL or password fails at once.
        restarting ||= isServerRestart(err);
        const retried = (this.#retry || restarting) && isTransient(err);
        if (!retried || Date.now() - start + delayMs > this.#retryMs) throw translatePg(this.#url, err);
        if (this.#lostSince === null) {
          this.#lostSince = Date.now();
          this.#onRetry?.(`${(translatePg(this.#url, err) as Error).message}; retrying for up to ${Math.round(this.#retryMs / 1000)} s`);
        }
        await sleep(delayMs);
      }
    }
  }
}

/** The connection of one transaction: statements on its client, unretried (the whole transaction is). */
function inside(client: pg.PoolClient): SqlConnection {
  const tx: SqlConnection = {
    dialect: POSTGRES,
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => (await client.query(numbered(sql), params as SqlValue[])).rows as T[],
    get: async <T>(sql: string, params: readonly SqlValue[] = []) => (await client.query(numbered(sql), params as SqlValue[])).rows[0] as T | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => (await client.query(numbered(sql), params as SqlValue[])).rowCount ?? 0,
    transaction: async <T>(fn: (t: SqlConnection) => Promise<T>) => fn(tx),
    close: () => Promise.reject(new Error('close() inside a transaction')),
  };
  return tx;
}
