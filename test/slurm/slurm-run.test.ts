/**
 * The batch script run by bash outside Slurm: fake `srun` (one node, node1) and `scancel` on the PATH,
 * and a fake node binary in place of the real one, which records how it was started. What the
 * script does with real Slurm is in slurm-cluster.test.ts, where a Slurm can be started.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { slurmScript, type SlurmJob } from '../../src/cli/slurm-script.js';
import { tempDir } from '../helpers/tmp.js';
import { fakeProgram } from './helpers.js';

interface Sandbox {
  readonly dir: string;
  readonly script: string;
  readonly env: NodeJS.ProcessEnv;
  /** Lines the fakes wrote: `srun OPTIONS PROGRAM`, `node ARGS | GRIDREC_DB=… SRUN_CPUS_PER_TASK=…`, `scancel ARGS`. */
  calls(): string[];
  /** The worker log of node1. */
  nodeLog(): string;
}

/**
 * A script for `job` with fakes around it. The fake node exits with FAKE_ADD_EXIT for `add`; for
 * `worker` it exits at once, or with FAKE_WORKER=wait runs until SIGTERM.
 */
function sandbox(job: Partial<SlurmJob>, env: NodeJS.ProcessEnv): Sandbox {
  const dir = tempDir();
  const calls = join(dir, 'calls');
  fakeProgram(
    dir,
    'srun',
    // Options (all --k=v here) are recorded with the program and dropped; --output is honoured with node1's name.
    `out=
opts=()
while [ "\${1:-}" != "\${1#--}" ]; do opts+=("$1"); case "$1" in --output=*) out="\${1#--output=}";; esac; shift; done
echo "srun \${opts[*]} $1" >> ${calls}
out="\${out//%x/$SLURM_JOB_NAME}"; out="\${out//%j/$SLURM_JOB_ID}"; out="\${out//%N/node1}"
export SLURMD_NODENAME=node1
if [ -n "$out" ]; then exec "$@" >> "$out" 2>&1; else exec "$@"; fi
`,
  );
  fakeProgram(dir, 'scancel', `echo "scancel $*" >> ${calls}\nkill -TERM "$(cat ${dir}/worker.pid)"\n`);
  const node = fakeProgram(
    dir,
    'node',
    `echo "node \${*:2} | GRIDREC_DB=$GRIDREC_DB SRUN_CPUS_PER_TASK=\${SRUN_CPUS_PER_TASK:-}" >> ${calls}
if [ "$2" = add ]; then exit "\${FAKE_ADD_EXIT:-0}"; fi
if [ "\${FAKE_WORKER:-}" = wait ]; then
  trap 'echo "worker: SIGTERM" >> ${calls}; kill $sleeper; exit 0' TERM
  sleep 30 & sleeper=$!
  echo $$ > ${dir}/worker.pid
  wait
fi
`,
  );
  const script = join(dir, 'job.sbatch');
  const full: SlurmJob = {
    jobName: 'grid-g',
    nodes: 1,
    gpusPerNode: 2,
    extra: [],
    workdir: dir,
    logDir: dir,
    scriptPath: script,
    node,
    cli: '/x/dist/cli/main.js',
    gridFiles: [],
    sweeps: ['g'],
    ...job,
  };
  writeFileSync(script, slurmScript(full));
  return {
    dir,
    script,
    env: { PATH: `${dir}:${process.env.PATH ?? ''}`, SLURM_JOB_ID: '77', SLURM_JOB_NAME: 'grid-g', SLURM_JOB_NUM_NODES: '1', SLURM_JOB_NODELIST: 'node1', ...env },
    calls: () => (existsSync(calls) ? readFileSync(calls, 'utf8').trimEnd().split('\n') : []),
    nodeLog: () => readFileSync(join(dir, 'grid-g-77-node1.log'), 'utf8'),
  };
}

const DB = { GRIDREC_DB: 'postgres://grid:pw@db/runs' };

describe('the batch script at work (fake srun)', () => {
  it('stops at once without GRIDREC_DB', () => {
    const box = sandbox({ gridFiles: ['/p/g.yaml'] }, { CUDA_VISIBLE_DEVICES: '0,1' });
    const run = spawnSync('bash', [box.script], { env: box.env, encoding: 'utf8' });
    expect(run.stderr).toMatch(/^grid slurm: GRIDREC_DB is not set: export GRIDREC_DB=postgres:\/\/USER@HOST\/DB in the shell that runs sbatch$/m);
    expect(run.status).toBe(2);
    expect(box.calls()).toEqual([]);
  });

  it('stores the grid files, then runs the worker on the allocated GPUs with the job environment', () => {
    const box = sandbox({ gridFiles: ['/p/g.yaml', '/p/h i.yaml'], sweeps: ['g', 'h'] }, { ...DB, CUDA_VISIBLE_DEVICES: '0,1', SLURM_CPUS_PER_TASK: '4' });
    const run = spawnSync('bash', [box.script], { env: box.env, encoding: 'utf8' });
    expect(run.status).toBe(0);
    const calls = box.calls();
    expect(calls[0]).toBe(`srun --nodes=1 --ntasks=1 --gres=none ${join(box.dir, 'node')}`);
    expect(calls[1]).toBe('node add /p/g.yaml /p/h i.yaml | GRIDREC_DB=postgres://grid:pw@db/runs SRUN_CPUS_PER_TASK=4');
    expect(calls[2]).toBe(`srun --nodes=1 --ntasks=1 --ntasks-per-node=1 --kill-on-bad-exit=0 --output=${box.dir}/%x-%j-%N.log --open-mode=append bash`);
    expect(calls[3]).toBe('node worker g h --gpus 0,1 | GRIDREC_DB=postgres://grid:pw@db/runs SRUN_CPUS_PER_TASK=4');
    expect(calls).toHaveLength(4);
    expect(box.nodeLog()).toMatch(/^\S+ grid worker on node1, GPUs 0,1$/m);
    expect(run.stdout).toMatch(/job 77 \(start 1\) on node1: storing the grid files/);
    expect(run.stdout).toMatch(/workers ended \(exit 0\)$/m);
  });

  it('starts no worker when the grid files cannot be stored', () => {
    const box = sandbox({ gridFiles: ['/p/g.yaml'] }, { ...DB, CUDA_VISIBLE_DEVICES: '0', FAKE_ADD_EXIT: '3' });
    const run = spawnSync('bash', [box.script], { env: box.env, encoding: 'utf8' });
    expect(run.status).toBe(3);
    expect(box.calls().filter((c) => c.includes('worker'))).toEqual([]);
  });

  it('takes the GPUs from SLURM_JOB_GPUS where CUDA_VISIBLE_DEVICES is not set, and refuses a node without any', () => {
    const jobGpus = sandbox({}, { ...DB, SLURM_JOB_GPUS: '2,3' });
    expect(spawnSync('bash', [jobGpus.script], { env: jobGpus.env }).status).toBe(0);
    expect(jobGpus.calls()).toContainEqual(expect.stringMatching(/^node worker g --gpus 2,3 \|/));

    const none = sandbox({}, { ...DB, CUDA_VISIBLE_DEVICES: 'NoDevFiles' });
    const run = spawnSync('bash', [none.script], { env: none.env, encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(none.nodeLog()).toMatch(/^grid slurm: node1 has no GPUs in this allocation/m);
    expect(none.calls().filter((c) => c.startsWith('node '))).toEqual([]);
  });

  it('passes SIGTERM on to the worker through scancel and waits for it to stop', async () => {
    const box = sandbox({}, { ...DB, CUDA_VISIBLE_DEVICES: '0', FAKE_WORKER: 'wait' });
    const child = spawn('bash', [box.script], { env: box.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    // The worker's pid file says its trap is set; on a loaded 2-core machine it has taken over 10 s.
    const deadline = Date.now() + 60_000;
    while (!existsSync(join(box.dir, 'worker.pid')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(box.dir, 'worker.pid')), 'the fake worker started').toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(box.calls().slice(-2)).toEqual(['scancel --signal=TERM 77', 'worker: SIGTERM']);
    expect(out).toMatch(/SIGTERM: stopping the workers\n.*workers ended \(exit 0\)\n$/);
  }, 120_000);
});
