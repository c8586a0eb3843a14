/** Submits a batch script with Slurm's `sbatch`, started without a shell. */
import { spawn } from 'node:child_process';
import { CliError, EXIT, UsageError } from './cli-error.js';

/**
 * Runs `sbatch --parsable SCRIPT` with `env` and resolves with the job id it prints. No sbatch on the
 * PATH is a usage error (exit code 2: this is not a Slurm login node); sbatch refusing the job is a
 * failure (exit code 1) with sbatch's own message.
 */
export function submitBatch(script: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sbatch', ['--parsable', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new UsageError(`--submit: sbatch is not on the PATH (run grid slurm on a Slurm login node, or submit ${script} there with sbatch)`, { cause: e })
          : new CliError(`--submit: cannot start sbatch: ${e.message}`, EXIT.failed, { cause: e }),
      );
    });
    child.once('close', (code, signal) => {
      // --parsable prints "JOBID" or "JOBID;CLUSTER".
      const id = /^(\d+)(?:;\S+)?$/m.exec(out.trim())?.[1];
      if (code === 0 && id !== undefined) {
        resolve(id);
        return;
      }
      const said = err.trim().split('\n').filter((l) => l.trim() !== '').join('; ') || out.trim() || `exit ${code ?? signal}`;
      reject(new CliError(`--submit: sbatch refused ${script}: ${said}`, EXIT.failed));
    });
  });
}
