/**
 * Opening a PostgreSQL store: the pool, the schema version checked (a newer one is one clear error),
 * and the migrations it lacks run in one transaction under an advisory lock, so that workers starting
 * together migrate once. Table `gridrec_schema` holds the version (SQLite's `PRAGMA user_version`).
 */
import { POSTGRES_MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { PgConnection, type RetryOptions } from './pg-connection.js';
import { redactUrl, translatePg } from './pg-errors.js';
import { StoreError } from './store-error.js';

/** The advisory lock that serialises migrations of one database (any number: it only has to be ours). */
const MIGRATION_LOCK = 0x67726964; // "grid"

/**
 * Connects to the database at `url` and brings its schema to `SCHEMA_VERSION`. Read mode opens
 * read-only sessions (a migration still runs, in its own read-write transaction, as SQLite's readers
 * migrate too). The first connection is not retried: an unreachable server or bad credentials are
 * reported at once.
 */
export async function openPostgres(url: string, mode: 'write' | 'read', options: RetryOptions = {}): Promise<PgConnection> {
  const db = new PgConnection(url, mode === 'read', options);
  try {
    const version = await currentVersion(db, url);
    if (version !== SCHEMA_VERSION) await migrate(db, url);
    db.retryFromNow();
    return db;
  } catch (err) {
    await db.close().catch(() => undefined);
    throw translatePg(url, err);
  }
}

/** The schema version of the database (0 for one gridrec never used), checked against this build's. */
async function currentVersion(db: PgConnection, url: string): Promise<number> {
  const exists = await db.get<{ t: string | null }>(`SELECT to_regclass('gridrec_schema')::text AS t`);
  if (exists?.t == null) {
    // Our table names are common words: refuse a database that holds such tables of another program.
    const other = await db.get<{ t: string | null }>(`SELECT to_regclass('trials')::text AS t`);
    if (other?.t != null) throw new StoreError(`${redactUrl(url)}: not a gridrec database (it has a table "trials" but no gridrec_schema); name another database`);
    return 0;
  }
  const row = await db.get<{ version: number }>('SELECT version FROM gridrec_schema');
  return checked(row?.version ?? 0, url);
}

function checked(version: number, url: string): number {
  if (version > SCHEMA_VERSION) {
    throw new StoreError(`${redactUrl(url)}: schema version ${version} is newer than this gridrec understands (${SCHEMA_VERSION}); upgrade gridrec`);
  }
  return version;
}

/** Runs the migrations the database lacks, in one transaction; re-reads the version under the lock. */
async function migrate(db: PgConnection, url: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.run('SET TRANSACTION READ WRITE');
    await tx.run(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.run('CREATE TABLE IF NOT EXISTS gridrec_schema (version integer NOT NULL)');
    const row = await tx.get<{ version: number }>('SELECT version FROM gridrec_schema');
    if (row === undefined) await tx.run('INSERT INTO gridrec_schema (version) VALUES (0)');
    const from = checked(row?.version ?? 0, url);
    for (let v = from; v < SCHEMA_VERSION; v++) await tx.run(POSTGRES_MIGRATIONS[v] as string);
    await tx.run('UPDATE gridrec_schema SET version = ?', [SCHEMA_VERSION]);
  });
}
