import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shellWord, slurmScript, type SlurmJob } from '../../src/cli/slurm-script.js';
import { tempDir } from '../helpers/tmp.js';

const base: SlurmJob = {
  jobName: 'grid-losses',
  nodes: 4,
  gpusPerNode: 8,
  extra: [],
  workdir: '/home/me/project',
  logDir: '/home/me/project/slurm/logs',
  scriptPath: '/home/me/project/slurm/grid-losses.sbatch',
  node: '/opt/node-20/bin/node',
  cli: '/home/me/project/node_modules/gridrec/dist/cli/main.js',
  gridFiles: ['/home/me/project/grids/losses.yaml'],
  sweeps: ['losses'],
};

/** The `#SBATCH` lines of a script, without the prefix. */
const header = (script: string): string[] => script.split('\n').filter((l) => l.startsWith('#SBATCH ')).map((l) => l.slice('#SBATCH '.length));

describe('the batch script of grid slurm', () => {
  it('asks for the nodes, one task per node, the GPUs, requeue, appended logs and SIGTERM before the limit', () => {
    const script = slurmScript({ ...base, partition: 'gpu', time: '2-00:00:00', account: 'proj', constraint: 'a100|h100', extra: [{ key: 'mem', value: '0' }, { key: 'exclusive' }] });
    expect(script.startsWith('#!/bin/bash\n#SBATCH ')).toBe(true);
    expect(header(script)).toEqual([
      '--job-name=grid-losses',
      '--nodes=4',
      '--ntasks-per-node=1',
      '--gres=gpu:8',
      '--partition=gpu',
      '--time=2-00:00:00',
      '--account=proj',
      '--constraint=a100|h100',
      '--requeue',
      '--open-mode=append',
      '--signal=B:TERM@120',
      '--chdir=/home/me/project',
      '--output=/home/me/project/slurm/logs/%x-%j.log',
      '--mem=0',
      '--exclusive',
    ]);
    // sbatch stops reading #SBATCH lines at the first command: every one comes before `set`.
    expect(script.lastIndexOf('#SBATCH ')).toBeLessThan(script.indexOf('\nset -euo pipefail'));
  });

  it('leaves out the options not given', () => {
    const lines = header(slurmScript(base));
    expect(lines.some((l) => /^--(partition|time|account|constraint)=/.test(l))).toBe(false);
    expect(lines).toContain('--gres=gpu:8');
  });

  it('stores the grid files in one task, then starts one worker per node with its GPUs from the allocation', () => {
    const script = slurmScript({ ...base, gridFiles: ['/p/grids/losses.yaml', "/p/it's here/b.yaml"], sweeps: ['losses', 'b'] });
    expect(script).toContain("node=/opt/node-20/bin/node\ngrid=/home/me/project/node_modules/gridrec/dist/cli/main.js\n");
    expect(script).toContain(`srun --nodes=1 --ntasks=1 --gres=none "$node" "$grid" add /p/grids/losses.yaml '/p/it'\\''s here/b.yaml'\n`);
    expect(script).toMatch(/srun --nodes="\$SLURM_JOB_NUM_NODES" --ntasks="\$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --kill-on-bad-exit=0 \\\n {2}--output=\/home\/me\/project\/slurm\/logs\/%x-%j-%N\.log --open-mode=append \\\n/);
    expect(script).toContain('gpus="${CUDA_VISIBLE_DEVICES:-${SLURM_STEP_GPUS:-${SLURM_JOB_GPUS:-}}}"');
    expect(script).toContain(`exec "$@" --gpus "$gpus"' grid-worker "$node" "$grid" worker losses b &\n`);
    expect(script.indexOf('" add ')).toBeLessThan(script.indexOf('" worker '));
  });

  it('has no add step when every sweep is already stored', () => {
    const script = slurmScript({ ...base, gridFiles: [] });
    expect(script).not.toMatch(/" add /);
    expect(script).toContain('worker losses &');
  });

  it('reads the database URL from GRIDREC_DB, says so, and stops at once without it', () => {
    const script = slurmScript(base);
    expect(script).toMatch(/^# The database: the job reads its PostgreSQL URL from the environment variable GRIDREC_DB/m);
    expect(script).toContain('if [ -z "${GRIDREC_DB:-}" ]; then');
    // The only URL in it is the placeholder of the instructions.
    expect(new Set(script.match(/postgres(ql)?:\/\/\S+/g))).toEqual(new Set(['postgres://USER@HOST/DB']));
    expect(script).not.toMatch(/--db/);
  });

  it('passes SIGTERM on to the workers with scancel, not to srun', () => {
    const script = slurmScript(base);
    expect(script).toContain('trap stop TERM INT');
    expect(script).toContain('scancel --signal=TERM "$SLURM_JOB_ID"');
    expect(script).not.toMatch(/kill -TERM/);
  });

  it('quotes paths with white space in #SBATCH lines and the body', () => {
    const script = slurmScript({ ...base, workdir: '/home/me/my project', logDir: '/home/me/my project/slurm/logs', node: '/opt/my node/node' });
    expect(header(script)).toContain('--chdir="/home/me/my project"');
    expect(header(script)).toContain('--output="/home/me/my project/slurm/logs/%x-%j.log"');
    expect(script).toContain("node='/opt/my node/node'\n");
    expect(script).toContain("--output='/home/me/my project/slurm/logs/%x-%j-%N.log'");
  });

  it('is valid bash', () => {
    const dir = tempDir();
    const file = join(dir, 'job.sbatch');
    writeFileSync(file, slurmScript({ ...base, gridFiles: ['/a b/$(x)`y`.yaml'], partition: 'gpu', time: '90', extra: [{ key: 'exclusive' }] }));
    const check = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('quotes any word so that the shell reads it back unchanged', () => {
    const words = ['plain', 'a b', "it's", '$HOME', '`x`', 'a\\b', '"q"', '*', '', 'tab\there', 'new\nline'];
    const echo = spawnSync('bash', ['-c', `printf '%s\\0' ${words.map(shellWord).join(' ')}`], { encoding: 'utf8' });
    expect(echo.stdout.split('\0').slice(0, -1)).toEqual(words);
  });
});
