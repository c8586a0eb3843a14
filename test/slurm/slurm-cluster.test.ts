/**
 * `grid slurm` against a real single-node Slurm (slurm-cluster.ts), where one can be started: the
 * header is accepted by sbatch, the job runs a worker per node on the GPUs Slurm allocated, with the
 * store's URL from the environment, and the SIGTERM before the time limit reaches the worker through
 * srun. `grid worker` itself is not exercised here (it needs a PostgreSQL server): the first test
 * only sees it start, the second replaces the node binary with a stand-in that waits for SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { fakeProgram, gridWith } from './helpers.js';
import { slurmUnavailable, startSlurm, type SlurmCluster } from './slurm-cluster.js';

const unavailable = slurmUnavailable();
/** The node's name, as in the test cluster's slurm.conf and the %N of log file names. */
const node = hostname().split('.')[0] ?? 'localhost';
if (unavailable !== null) process.stderr.write(`slurm-cluster tests skipped: ${unavailable}\n`);

/** Waits until `file` exists and matches `pattern`; its text. */
async function fileMatching(file: string, pattern: RegExp, ms = 20_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`${file} did not come to match ${String(pattern)}:\n${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(unavailable !== null)('grid slurm on a real single-node Slurm', () => {
  let cluster: SlurmCluster;
  beforeAll(async () => {
    cluster = await startSlurm();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it('submits with --submit: the job starts one worker on the node with its 2 GPUs and the URL, and ends', async () => {
    const dir = tempDir();
    const run = gridWith(dir, cluster.env, 'slurm', 'stored-sweep', '--gpus-per-node', '2', '--partition', 'debug', '--time', '10', '--db', 'postgres://nobody@127.0.0.1:9/none', '--submit');
    expect(run.stderr).toMatch(/submitted .*grid-stored-sweep\.sbatch: job \d+/);
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^\d+$/);
    // The worker fails: on this branch without a `worker` command, later without a database to reach.
    expect(await cluster.jobEnded(id, 30_000)).toMatch(/^(COMPLETED|FAILED)$/);
    const logs = join(dir, 'slurm', 'logs');
    expect(readFileSync(join(logs, `grid-stored-sweep-${id}-${node}.log`), 'utf8')).toMatch(new RegExp(`^\\S+ grid worker on ${node}, GPUs 0,1$`, 'm'));
    const batch = readFileSync(join(logs, `grid-stored-sweep-${id}.log`), 'utf8');
    expect(batch).toMatch(/starting one worker per node/);
    expect(batch).toMatch(/workers ended \(exit \d+\)/);
  });

  it('passes the SIGTERM Slurm sends before the time limit on to the worker, which stops; the job completes', async () => {
    const dir = tempDir();
    const written = gridWith(dir, cluster.env, 'slurm', 'stored-sweep', '--gpus-per-node', '1', '--time', '10', '--output', 'jobs');
    expect(written.code).toBe(0);
    const script = written.stdout.trim();
    const fake = fakeProgram(dir, 'fake-node', `echo "worker $* GRIDREC_DB=$GRIDREC_DB"\ntrap 'echo "worker: SIGTERM"; kill $sleeper; exit 0' TERM\nsleep 60 & sleeper=$!\nwait\n`);
    writeFileSync(script, readFileSync(script, 'utf8').replace(/^node=.*$/m, `node=${fake}`));
    const sbatch = spawnSync('sbatch', ['--parsable', script], { env: { ...cluster.env, GRIDREC_DB: 'postgres://u@h/d' }, encoding: 'utf8' });
    expect(sbatch.stderr).toBe('');
    const id = sbatch.stdout.trim();
    const nodeLog = join(dir, 'jobs', 'logs', `grid-stored-sweep-${id}-${node}.log`);
    expect(await fileMatching(nodeLog, /^worker .* worker stored-sweep --gpus 0 GRIDREC_DB=postgres:\/\/u@h\/d$/m)).toMatch(/GPUs 0\n/);
    // What --signal=B:TERM@120 does 120 s before the limit.
    spawnSync('scancel', ['--batch', '--signal=TERM', id], { env: cluster.env });
    expect(await cluster.jobEnded(id, 30_000)).toBe('COMPLETED');
    expect(readFileSync(nodeLog, 'utf8')).toMatch(/^worker: SIGTERM$/m);
    expect(readFileSync(join(dir, 'jobs', 'logs', `grid-stored-sweep-${id}.log`), 'utf8')).toMatch(/SIGTERM: stopping the workers\n(.*\n)*.*workers ended \(exit 0\)/);
  });
});
