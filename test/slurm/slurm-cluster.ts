/**
 * A throwaway single-node Slurm for tests: Debian's slurm-wlm (slurmctld and slurmd) started in a
 * temporary folder on free localhost ports, without munge (auth/none, cred/none), with one partition
 * `debug` whose node has 2 GPUs that are /dev/null and /dev/zero (Slurm wants character devices; it
 * only hands their indices to jobs). Both daemons run as the user of the tests (SlurmUser and
 * SlurmdUser), who then submits jobs as themselves: no root needed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { findProgram } from '../../src/scheduler/trainer-command.js';
import { freePort } from '../helpers/free-port.js';

const PROGRAMS = ['slurmctld', 'slurmd', 'sbatch', 'scontrol', 'sinfo', 'squeue', 'scancel'];

/** A Slurm program's path: on the PATH, or (the daemons, for users whose PATH has no sbin) in /usr/sbin. */
function program(name: string): string | undefined {
  return findProgram(name) ?? ['/usr/sbin', '/usr/local/sbin'].map((d) => join(d, name)).find((p) => existsSync(p));
}

/** Why no Slurm can be started here, or null where one can. */
export function slurmUnavailable(): string | null {
  if (process.platform !== 'linux') return 'Slurm runs on Linux only';
  const missing = PROGRAMS.filter((p) => program(p) === undefined);
  if (missing.length > 0) return `${missing.join(', ')} not on the PATH (Debian: apt-get install slurm-wlm; .ci/run installs it)`;
  if (!existsSync('/dev/null') || !existsSync('/dev/zero')) return 'no /dev/null and /dev/zero to stand for GPUs';
  return null;
}

/** A running test cluster. */
export interface SlurmCluster {
  /** The environment of Slurm's commands (and of `grid slurm --submit`) for this cluster. */
  readonly env: NodeJS.ProcessEnv;
  readonly dir: string;
  /** A job's JobState (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, …). */
  jobState(id: string): string | undefined;
  /** Resolves with the job's final state once it has one; rejects after `ms`. */
  jobEnded(id: string, ms: number): Promise<string>;
  stop(): Promise<void>;
}

const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE']);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Stops a daemon this helper started: SIGTERM, SIGKILL after 10 s. */
async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Starts slurmctld and slurmd and waits until the node is idle (about 3 s; at most `ms`). */
export async function startSlurm(ms = 45_000): Promise<SlurmCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gridrec-slurm-'));
  const host = hostname().split('.')[0] ?? 'localhost';
  const user = userInfo().username;
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  for (const sub of ['state', 'spool']) mkdirSync(join(dir, sub));
  const conf = join(dir, 'slurm.conf');
  writeFileSync(
    conf,
    `ClusterName=gridrec-test
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${ctldPort}
SlurmdPort=${slurmdPort}
AuthType=auth/none
CredType=cred/none
SlurmUser=${user}
SlurmdUser=${user}
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/slurmctld.log
SlurmdLogFile=${dir}/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
GresTypes=gpu
NodeName=${host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
`,
  );
  writeFileSync(join(dir, 'gres.conf'), `NodeName=${host} Name=gpu File=/dev/null\nNodeName=${host} Name=gpu File=/dev/zero\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf };
  delete env.GRIDREC_DB;
  const daemons = [
    spawn(program('slurmctld') as string, ['-D', '-i', '-f', conf], { env, stdio: 'ignore' }),
    spawn(program('slurmd') as string, ['-D', '-f', conf], { env, stdio: 'ignore' }),
  ];
  const slurm = (program: string, ...args: string[]): string => spawnSync(program, args, { env, encoding: 'utf8' }).stdout ?? '';
  const cluster: SlurmCluster = {
    env,
    dir,
    jobState: (id) => /\bJobState=(\S+)/.exec(slurm('scontrol', 'show', 'job', '-o', id))?.[1],
    async jobEnded(id, limit) {
      const deadline = Date.now() + limit;
      for (;;) {
        const state = cluster.jobState(id);
        if (state !== undefined && ENDED.has(state)) return state;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${state ?? 'unknown'} after ${limit} ms`);
        await sleep(200);
      }
    },
    async stop() {
      const jobs = slurm('squeue', '-h', '-o', '%i').split('\n').filter((l) => l.trim() !== '');
      if (jobs.length > 0) slurm('scancel', ...jobs);
      for (let i = 0; i < 50 && slurm('squeue', '-h', '-o', '%i').trim() !== ''; i++) await sleep(200);
      // slurmd first: slurmctld must not mark the node down while jobs end.
      for (const d of [...daemons].reverse()) await stopDaemon(d);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + ms;
  while (slurm('sinfo', '-h', '-o', '%t').trim() !== 'idle') {
    if (Date.now() > deadline || daemons.some((d) => d.exitCode !== null)) {
      const logs = ['slurmctld.log', 'slurmd.log'].map((f) => (existsSync(join(dir, f)) ? `${f}:\n${readFileSync(join(dir, f), 'utf8').slice(-2000)}` : `${f}: none`));
      await cluster.stop();
      throw new Error(`the test Slurm did not come up within ${ms} ms\n${logs.join('\n')}`);
    }
    await sleep(200);
  }
  return cluster;
}
