/**
 * A throwaway PostgreSQL cluster for the tests: initdb into a temporary directory, pg_ctl start on a
 * free localhost port, trust authentication for one user (`gridrec`), stopped and deleted at the end.
 * PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` user (through
 * runuser). Where no server can be started, `startCluster` says why instead, so tests skip with it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';

const run = promisify(execFile);

/** A running cluster. */
export interface Cluster {
  /** The URL of a database of the cluster (`postgres` is always there). */
  url(database: string): string;
  /** Creates an empty database with a fresh name and returns its URL. */
  createDatabase(): Promise<string>;
  /** Restarts the server (fast shutdown: connections are cut, as in a real restart). */
  restart(): Promise<void>;
  /** Stops the server and deletes its directory. */
  stop(): Promise<void>;
}

/** Where Debian puts the server programs when they are not on PATH. */
function findBin(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(root, v, 'bin', name))) return join(root, v, 'bin', name);
  return undefined;
}

let databases = 0;

/** Starts a cluster, or returns why none can be started here. */
export async function startCluster(): Promise<Cluster | string> {
  const initdb = findBin('initdb');
  const pgCtl = findBin('pg_ctl');
  if (initdb === undefined || pgCtl === undefined) return 'no PostgreSQL server programs (initdb, pg_ctl): apt-get install postgresql';
  let asUser: string[] = [];
  let owner: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    // PostgreSQL refuses to run as root: run it as the postgres user where there is one.
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
      owner = { uid, gid };
    } catch {
      return 'running as root and there is no postgres user to run the server as';
    }
    const runuser = findBin('runuser');
    if (runuser === undefined) return 'running as root and there is no runuser to run the server as the postgres user';
    asUser = [runuser, '-u', 'postgres', '--'];
  }
  const dir = mkdtempSync(join(tmpdir(), 'gridrec-pg-'));
  const data = join(dir, 'data');
  if (owner !== undefined) {
    chownSync(dir, owner.uid, owner.gid);
    chmodSync(dir, 0o700);
  }
  const as = async (argv: string[]): Promise<void> => {
    const [file, ...args] = [...asUser, ...argv] as [string, ...string[]];
    await run(file, args, { cwd: dir, timeout: 60_000 });
  };
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  try {
    await as([initdb, '-D', data, '-U', 'gridrec', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    await as([pgCtl, '-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot start a PostgreSQL server: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').at(-1) ?? ''}`;
  }
  const url = (database: string): string => `postgres://gridrec@127.0.0.1:${port}/${database}`;
  return {
    url,
    async createDatabase() {
      const name = `t${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async restart() {
      await as([pgCtl, '-D', data, '-o', options, '-l', join(dir, 'server.log'), '-m', 'fast', '-w', '-t', '60', 'restart']);
    },
    async stop() {
      await as([pgCtl, '-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
