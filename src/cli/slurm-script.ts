/**
 * The batch script of `grid slurm`: an sbatch header (nodes, one task per node, GPUs per node,
 * requeue, appended per-node logs, SIGTERM before the time limit) and a body that stores the grid
 * files once (`grid add`, one task) and then starts one `grid worker` per node on the GPUs Slurm gave
 * that node. The store's URL is never written here: the job reads it from the environment.
 */
import { VISIBLE_DEVICES_ENV } from '../trainer/protocol.js';
import { DB_ENV, STOP_SIGNAL_LEAD_SECONDS, type SbatchOption } from './slurm-options.js';

/** What the job asks Slurm for, as `grid slurm`'s flags of the same names give it (checked there). */
export interface SlurmResources {
  /** @default 1 */
  readonly nodes: number;
  /** GPUs of each node, one worker using all of them. */
  readonly gpusPerNode: number;
  readonly partition?: string;
  readonly time?: string;
  readonly account?: string;
  readonly constraint?: string;
}

/** Everything the script says, resolved (absolute paths) and checked by the caller. */
export interface SlurmJob extends SlurmResources {
  readonly jobName: string;
  /** Further sbatch options, written after the others. */
  readonly extra: readonly SbatchOption[];
  /** The folder the job runs in (`--chdir`): where `grid slurm` was run. */
  readonly workdir: string;
  /** The folder of the logs: the script's own and one per node. */
  readonly logDir: string;
  /** Where the script is written, for the line that says how to submit it. */
  readonly scriptPath: string;
  /** The node binary and the `grid` entry point (dist/cli/main.js) the job runs. */
  readonly node: string;
  readonly cli: string;
  /** Grid files stored into the database before the workers start (none: only sweeps already stored). */
  readonly gridFiles: readonly string[];
  /** The sweeps the workers run. */
  readonly sweeps: readonly string[];
}

/** A word for a POSIX shell: single-quoted unless it is plainly safe; a `'` inside becomes `'\''`. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A value of an `#SBATCH` line: double-quoted where it holds white space (the caller refused `"`). */
function sbatchValue(value: string): string {
  return /\s/.test(value) ? `"${value}"` : value;
}

/**
 * What each srun task runs on its node: find the node's GPUs in the allocation, say so in the node's
 * log, and become `grid worker … --gpus LIST`. CUDA_VISIBLE_DEVICES comes first: where Slurm confines
 * devices with cgroups it numbers them from 0, as NVML inside the job does; SLURM_STEP_GPUS and
 * SLURM_JOB_GPUS hold the machine's numbering. `NoDevFiles` is Slurm's value for GPUs without device files.
 * Single-quoted in the script, so it holds no single quote.
 */
const WORKER_WRAPPER = [
  `gpus="\${${VISIBLE_DEVICES_ENV}:-\${SLURM_STEP_GPUS:-\${SLURM_JOB_GPUS:-}}}"`,
  'if [ -z "$gpus" ] || [ "$gpus" = NoDevFiles ]; then',
  `  echo "grid slurm: \${SLURMD_NODENAME:-$(hostname)} has no GPUs in this allocation (${VISIBLE_DEVICES_ENV}, SLURM_STEP_GPUS and SLURM_JOB_GPUS are empty)" >&2`,
  '  exit 2',
  'fi',
  'echo "$(date -Is) grid worker on ${SLURMD_NODENAME:-$(hostname)}, GPUs $gpus"',
  'exec "$@" --gpus "$gpus"',
].join('\n');

/** The sbatch header's lines, in the order sbatch reads them. */
function headerLines(job: SlurmJob): string[] {
  const options: [string, string | undefined][] = [
    ['job-name', job.jobName],
    ['nodes', String(job.nodes)],
    ['ntasks-per-node', '1'],
    ['gres', `gpu:${job.gpusPerNode}`],
    ['partition', job.partition],
    ['time', job.time],
    ['account', job.account],
    ['constraint', job.constraint],
    ['requeue', undefined],
    ['open-mode', 'append'],
    ['signal', `B:TERM@${STOP_SIGNAL_LEAD_SECONDS}`],
    ['chdir', sbatchValue(job.workdir)],
    ['output', sbatchValue(`${job.logDir}/%x-%j.log`)],
  ];
  const lines = options
    // Unset optional values are left out; `requeue` is a flag without a value.
    .filter(([key, value]) => value !== undefined || key === 'requeue')
    .map(([key, value]) => `#SBATCH --${key}${value === undefined ? '' : `=${value}`}`);
  for (const o of job.extra) lines.push(`#SBATCH --${o.key}${o.value === undefined ? '' : `=${o.value}`}`);
  return lines;
}

/** The batch script's text. */
export function slurmScript(job: SlurmJob): string {
  const sweeps = job.sweeps.join(', ');
  const nodeLog = `${job.logDir}/%x-%j-%N.log`;
  const add = job.gridFiles.length === 0
    ? ['# The sweeps are already in the database: no grid file to store.']
    : [
        'echo "$(date -Is) job ${SLURM_JOB_ID} (start $((${SLURM_RESTART_COUNT:-0} + 1))) on ${SLURM_JOB_NODELIST}: storing the grid files"',
        // Stored again on every start of the job: unchanged files add nothing (trials are content-addressed).
        `srun --nodes=1 --ntasks=1 --gres=none "$node" "$grid" add ${job.gridFiles.map(shellWord).join(' ')}`,
      ];
  return `#!/bin/bash
${headerLines(job).join('\n')}
#
# Written by \`grid slurm\`; submit with: sbatch ${job.scriptPath}
# Runs the sweeps ${sweeps}: ${job.gridFiles.length === 0 ? '' : 'stores the grid files into the database once (`grid add`), then '}starts one
# \`grid worker\` per node on the node's GPUs; the workers claim trials from the database until none is left.
#
# The database: the job reads its PostgreSQL URL from the environment variable ${DB_ENV}, never from this
# file. Export it in the shell that runs sbatch (sbatch passes that environment on to the job):
#   export ${DB_ENV}=postgres://USER@HOST/DB    # the password in the URL, in PGPASSWORD or in ~/.pgpass
#
# Logs (appended to when the job is requeued): this script's in ${job.logDir}/<job name>-<job id>.log,
# each node's worker in ${job.logDir}/<job name>-<job id>-<node>.log.
# Stopping: ${STOP_SIGNAL_LEAD_SECONDS} s before the time limit (and on preemption) Slurm sends SIGTERM; the workers stop, their
# running trials end interrupted, and the next start of a worker (a requeued or new job) runs them again.
set -euo pipefail

if [ -z "\${${DB_ENV}:-}" ]; then
  echo "grid slurm: ${DB_ENV} is not set: export ${DB_ENV}=postgres://USER@HOST/DB in the shell that runs sbatch" >&2
  exit 2
fi
export ${DB_ENV}
# srun does not hand the job's --cpus-per-task on to its steps (Slurm 22.05 and newer) unless told.
if [ -n "\${SLURM_CPUS_PER_TASK:-}" ]; then export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK"; fi

node=${shellWord(job.node)}
grid=${shellWord(job.cli)}
stopping=0
caught=0
# Slurm's SIGTERM before the time limit (--signal=B:…, or scancel --batch --signal=TERM) reaches this
# shell only. It is passed on with scancel to the job's steps, whose workers stop their trials as
# \`grid run\` does on SIGTERM; not to srun itself, which would answer SIGTERM by killing its tasks.
stop() {
  caught=1
  if [ "$stopping" = 1 ]; then return; fi
  stopping=1
  echo "$(date -Is) SIGTERM: stopping the workers"
  scancel --signal=TERM "$SLURM_JOB_ID" || true
}
trap stop TERM INT

${add.join('\n')}
if [ "$stopping" = 1 ]; then echo "$(date -Is) stopped before the workers started"; exit 143; fi

echo "$(date -Is) starting one worker per node on \${SLURM_JOB_NODELIST}; their logs: ${job.logDir}/\${SLURM_JOB_NAME}-\${SLURM_JOB_ID}-<node>.log"
# A worker that fails on one node leaves the others running (--kill-on-bad-exit=0).
srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --kill-on-bad-exit=0 \\
  --output=${shellWord(nodeLog)} --open-mode=append \\
  bash -c '${WORKER_WRAPPER}' grid-worker "$node" "$grid" worker ${job.sweeps.map(shellWord).join(' ')} &
workers=$!
# wait returns early when the trap runs (status 128 + signal): wait again for srun's own status.
status=
while [ -z "$status" ]; do
  caught=0
  wait "$workers" && code=0 || code=$?
  if [ "$caught" = 0 ]; then status=$code; fi
done
echo "$(date -Is) workers ended (exit $status)"
exit "$status"
`;
}
