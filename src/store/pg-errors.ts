/**
 * PostgreSQL failures in words: which are transient (the connection broke, the server is restarting,
 * two transactions deadlocked: try again) and the one line a user reads for the rest. Messages name
 * the server by its URL without the password.
 */
import { StoreError } from './store-error.js';

/** A failure as node-postgres reports it: a socket error (errno code) or a server error (SQLSTATE). */
interface PgFailure {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly severity?: unknown;
}

/** Socket-level codes of a server that cannot be reached or went away. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * SQLSTATEs worth repeating the operation for: the server shutting down or starting up
 * (57P01-57P03), too many connections (53300), and a serialisation failure or deadlock
 * (40001, 40P01) of concurrent transactions. Class 08 (connection exception) is transient as a whole.
 */
const TRANSIENT_STATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);

/** The URL without its password (and without query parameters, which may hold one). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/**
 * Whether the server said it is shutting down, crashed or is starting up (SQLSTATE 57P01-57P03): a
 * restart, never a wrong URL or password, so worth waiting for even on a store's first connection.
 */
export function isServerRestart(err: unknown): boolean {
  const { code } = (err ?? {}) as PgFailure;
  return code === '57P01' || code === '57P02' || code === '57P03';
}

/** Whether an operation that failed this way may succeed if repeated (after a pause). */
export function isTransient(err: unknown): boolean {
  const { code, message } = (err ?? {}) as PgFailure;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || TRANSIENT_STATES.has(code) || code.startsWith('08'))) return true;
  return typeof message === 'string' && /Connection terminated|connection error|timeout exceeded when trying to connect|Connection ended/i.test(message);
}

/** Whether the server refused a row (class 22: data exception, class 23: integrity constraint). */
function isRowRefused(code: unknown): boolean {
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** The `StoreError` a failure stands for, in one line that says what to check. */
export function translatePg(url: string, err: unknown): unknown {
  if (err instanceof StoreError || !(err instanceof Error)) return err;
  const where = redactUrl(url);
  const { code } = err as PgFailure;
  const host = (() => {
    try {
      const u = new URL(url);
      return `${u.hostname || 'localhost'}:${u.port || '5432'}`;
    } catch {
      return 'the server';
    }
  })();
  let text: string;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') text = `cannot resolve the host of ${host} (${err.message})`;
  else if (typeof code === 'string' && NETWORK_CODES.has(code)) text = `cannot reach the PostgreSQL server at ${host} (${code}): is it running and accepting TCP connections there?`;
  else if (code === '28P01') text = `${err.message}: check the password (in the URL, GRIDREC_DB or PGPASSWORD)`;
  else if (code === '28000') text = `the server refused the connection: ${err.message} (its pg_hba.conf decides who may connect)`;
  else if (code === '3D000') text = `${err.message} (createdb makes it)`;
  else if (code === '42501') text = `${err.message}: the user lacks a privilege gridrec needs (CREATE on the schema, or SELECT/INSERT/UPDATE/DELETE on its tables)`;
  else if (isTransient(err)) text = `lost the connection to the PostgreSQL server at ${host}: ${err.message}`;
  else text = `${typeof code === 'string' ? `${code}: ` : ''}${err.message}`;
  return new StoreError(`${where}: ${text}`, { cause: err, rowRefused: isRowRefused(code) });
}
