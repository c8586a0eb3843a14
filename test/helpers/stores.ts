/**
 * The two store engines, for tests that run on both (`describe.each(ENGINES)`): a fresh SQLite file
 * or a fresh database of the shared PostgreSQL cluster (test/global-postgres.ts). Where there is no
 * cluster, PostgreSQL tests skip with the reason.
 */
import { join } from 'node:path';
import pg from 'pg';
import { inject, type TestContext } from 'vitest';
import { tempDir } from './tmp.js';

/** A store engine under test. */
export interface Engine {
  readonly name: 'sqlite' | 'postgres';
  /** A new, empty database's location (for --db): skips the test where the engine is missing. */
  fresh(ctx: TestContext): Promise<string>;
}

let databases = 0;

/** A new database of the shared cluster; skips the test (saying why) where there is none. */
export async function freshPostgres(ctx: TestContext): Promise<string> {
  const shared = inject('postgres');
  if ('reason' in shared) {
    ctx.skip(`no PostgreSQL: ${shared.reason}`);
    throw new Error('unreachable');
  }
  const name = `t${process.pid}_${++databases}`;
  const client = new pg.Client({ connectionString: shared.url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return shared.url.replace(/\/postgres$/, `/${name}`);
}

export const SQLITE_ENGINE: Engine = { name: 'sqlite', fresh: async () => join(tempDir(), 'runs.db') };
export const POSTGRES_ENGINE: Engine = { name: 'postgres', fresh: freshPostgres };
export const ENGINES: readonly Engine[] = [SQLITE_ENGINE, POSTGRES_ENGINE];
