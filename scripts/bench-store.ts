/**
 * What sharing a sweep costs, on SQLite and on PostgreSQL, with 1, 4 and 16 workers:
 * - claims per second: K store connections claim (`claimNext`) and end (`finishAttempt`) trials of one
 *   sweep as fast as they can, concurrently, until none is pending (on SQLite, K claimers share this
 *   process's one connection and take turns, as SQLite's writers do anyway);
 * - end-to-end trials per second: K `grid worker` processes run a sweep of fake trials (the
 *   protocol-speaking test fixture, one short epoch each), from start until every worker has exited.
 * PostgreSQL is a throwaway local cluster (test/helpers/postgres.ts): needs Debian's postgresql.
 *
 *   npm run build && npx tsx scripts/bench-store.ts [--claims 2000] [--trials 96]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { startCluster } from '../test/helpers/postgres.js';

const { values } = parseArgs({ options: { claims: { type: 'string', default: '2000' }, trials: { type: 'string', default: '96' } } });
const claimCount = Number(values.claims);
const trialCount = Number(values.trials);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const fixture = fileURLToPath(new URL('../test/fixtures/fake-trainer.mjs', import.meta.url));
const WORKERS = [1, 4, 16];
const device = { backend: 'cpu' as const, ordinal: 0 };

const cluster = await startCluster();
if (typeof cluster === 'string') throw new Error(cluster);
const dir = mkdtempSync(join(tmpdir(), 'gridrec-bench-store-'));
let n = 0;
const fresh = async (engine: 'sqlite' | 'postgres'): Promise<string> => (engine === 'sqlite' ? join(dir, `b${++n}.db`) : cluster.createDatabase());

/** Claims per second with `k` concurrent claimers. */
async function claims(engine: 'sqlite' | 'postgres', k: number): Promise<number> {
  const db = await fresh(engine);
  const setup = await openStore(db, 'write');
  const trials = Array.from({ length: claimCount }, (_, i) => ({ id: `t${String(i).padStart(6, '0')}`, config: { i }, trainer: 'builtin' as const }));
  await setup.saveSweep({ name: 'b', file: null, document: {}, objective: { metric: 'ndcg@10', direction: 'max' } }, trials);
  // PostgreSQL: k connection pools, claiming in parallel on the server. SQLite: k claimers over the one
  // connection of this process (a second connection to the same file in one process would busy-wait,
  // blocking the event loop, while the first holds its write lock across an await).
  const stores: Store[] = [setup];
  for (let i = 1; i < k; i++) stores.push(engine === 'postgres' ? await openStore(db, 'write') : setup);
  const t0 = performance.now();
  let done = 0;
  await Promise.all(
    stores.map(async (store, i) => {
      for (;;) {
        const c = await store.claimNext(['b'], { host: 'bench', pid: i, device, heartbeatIntervalS: 10 });
        if (c === null) return;
        await store.finishAttempt(c.trial.id, c.attempt, { state: 'completed' });
        done++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const s of new Set(stores)) await s.close();
  if (done !== claimCount) throw new Error(`${engine} ×${k}: ${done} claims of ${claimCount}`);
  return done / seconds;
}

/** Trials per second, end to end, with `k` worker processes. */
async function endToEnd(engine: 'sqlite' | 'postgres', k: number): Promise<number> {
  const db = await fresh(engine);
  const file = join(dir, 'e2e.yaml');
  const grid = `name: e2e\ntrainer: {command: ${JSON.stringify([process.execPath, fixture])}}\nfixture: {epochs: 1, epoch_ms: 0}\ngrid:\n  fixture.k: [${Array.from({ length: trialCount }, (_, i) => i).join(', ')}]\n`;
  writeFileSync(file, grid);
  await exec([cli, 'add', file, '--db', db]);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: k }, () => exec([cli, 'worker', '--db', db, '--cpu', '--poll', '100ms'])));
  const seconds = (performance.now() - t0) / 1000;
  const store = await openStore(db, 'read');
  const completed = (await store.countByState('e2e')).completed ?? 0;
  await store.close();
  if (completed !== trialCount) throw new Error(`${engine} ×${k}: ${completed} trials completed of ${trialCount}`);
  return trialCount / seconds;
}

function exec(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.slice(1, 3).join(' ')} exited ${String(code)}`))));
  });
}

try {
  console.log(`${cpus().length} CPU(s), ${cpus()[0]?.model ?? ''}; ${claimCount} claims, ${trialCount} end-to-end trials per cell`);
  console.log('| store | workers | claims/s | trials/s end to end |');
  console.log('|---|---:|---:|---:|');
  for (const engine of ['sqlite', 'postgres'] as const) {
    for (const k of WORKERS) {
      const c = await claims(engine, k);
      const e = await endToEnd(engine, k);
      console.log(`| ${engine} | ${k} | ${c.toFixed(0)} | ${e.toFixed(1)} |`);
    }
  }
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
