/** The one-line errors a user meets with a PostgreSQL store. */
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isServerRestart, isTransient, translatePg } from '../src/store/pg-errors.js';
import { gridDone } from './helpers/cli.js';
import { CLI } from './helpers/fixture.js';
import { freshPostgres } from './helpers/stores.js';
import { tempDir } from './helpers/tmp.js';

/** One `grid: …` line, no stack. */
const oneLine = (output: string): void => {
  expect(output).toMatch(/^grid: .*\n$/);
  expect(output).not.toMatch(/\n\s+at /);
};

describe('PostgreSQL errors', () => {
  it('waits for a restarting server even on the first connection, but never for a wrong URL or password', () => {
    for (const code of ['57P01', '57P02', '57P03']) expect(isServerRestart({ code }), code).toBe(true);
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', '28P01', '3D000', '40001', '08006', undefined]) expect(isServerRestart({ code }), String(code)).toBe(false);
    // A restart is transient as well, so it is retried after the store's first connection too.
    expect(isTransient({ code: '57P01' })).toBe(true);
  });

  it('an unreachable server, a missing database and a newer schema are one line each, exit 1, no password shown', async (ctx) => {
    const dir = tempDir();
    const refused = await gridDone(dir, 'status', '--db', 'postgres://me:s3cret@127.0.0.1:1/runs');
    expect(refused.code).toBe(1);
    oneLine(refused.output);
    expect(refused.output).toMatch(/^grid: postgres:\/\/me@127\.0\.0\.1:1\/runs: cannot reach the PostgreSQL server at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    expect(refused.output).not.toMatch(/s3cret/);

    const url = await freshPostgres(ctx);
    const missing = await gridDone(dir, 'status', '--db', url.replace(/\/\w+$/, '/nosuchdb'));
    expect(missing.code).toBe(1);
    oneLine(missing.output);
    expect(missing.output).toMatch(/database "nosuchdb" does not exist \(createdb makes it\)/);

    expect((await gridDone(dir, 'status', '--db', url)).code).toBe(0); // creates the schema
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('UPDATE gridrec_schema SET version = 99');
    await client.end();
    const newer = await gridDone(dir, 'status', '--db', url);
    expect(newer.code).toBe(1);
    oneLine(newer.output);
    expect(newer.output).toMatch(/schema version 99 is newer than this gridrec understands \(\d+\); upgrade gridrec/);
  });

  it('takes the database from GRIDREC_DB where --db is not given', async (ctx) => {
    const url = await freshPostgres(ctx);
    const r = spawnSync(process.execPath, [CLI, 'status'], { cwd: tempDir(), env: { ...process.env, GRIDREC_DB: url }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/no sweeps yet/);
    expect(r.stdout).not.toMatch(/runs\.db/);
  });

  it('says what to check for bad credentials and privileges', () => {
    const err = (code: string, message: string): Error => Object.assign(new Error(message), { code });
    expect((translatePg('postgres://u:pw@db:5433/x', err('28P01', 'password authentication failed for user "u"')) as Error).message).toBe(
      'postgres://u@db:5433/x: password authentication failed for user "u": check the password (in the URL, GRIDREC_DB or PGPASSWORD)',
    );
    expect((translatePg('postgres://u@db/x', err('42501', 'permission denied for schema public')) as Error).message).toMatch(/^postgres:\/\/u@db\/x: permission denied .*lacks a privilege/);
  });
});
