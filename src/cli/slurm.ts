/**
 * `grid slurm SWEEP_OR_GRID_FILE…`: writes a Slurm batch script that stores the grid files into a
 * PostgreSQL database and starts one `grid worker` per node on that node's GPUs; with `--submit`,
 * submits it with sbatch. The database's URL travels in the environment (GRIDREC_DB), never in the script.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { expandGrid } from '../sweep/expand.js';
import { loadGridFile } from '../sweep/grid-file.js';
import { action, collect, intAtLeast, note, print, UsageError } from './common.js';
import { submitBatch } from './sbatch.js';
import {
  constraint,
  DB_ENV,
  dbSource,
  extraSbatch,
  partition,
  postgresUrlProblem,
  sbatchPathProblem,
  slurmName,
  SWEEP_NAME,
  timeLimit,
  type DbSource,
  type SbatchOption,
} from './slurm-options.js';
import { slurmScript, type SlurmJob, type SlurmResources } from './slurm-script.js';

interface SlurmFlags extends SlurmResources {
  readonly jobName?: string;
  /** `env` or a URL, checked by `dbSource`. @default env */
  readonly db?: string;
  readonly output: string;
  readonly submit?: boolean;
  readonly extraSbatch: SbatchOption[];
}

/** The folder of the script and its logs when --output is not given. */
const DEFAULT_OUTPUT = 'slurm';

/** Registers `grid slurm`. */
export function registerSlurm(program: Command): void {
  program
    .command('slurm')
    .argument('<sweeps...>', 'grid files (stored into the database by the job) or names of sweeps already stored')
    .description('write (and with --submit, submit) a Slurm batch script that runs sweeps with one grid worker per node')
    .option('--nodes <n>', 'nodes, one worker each', intAtLeast(1), 1)
    .option('--gpus-per-node <g>', 'GPUs of each node (--gres=gpu:G), all used by its worker', intAtLeast(1), 1)
    .option('--partition <p>', 'Slurm partition (several: comma-separated)', partition)
    .option('--time <t>', 'time limit in Slurm form: 90, 12:00:00, 2-00:00:00 (default: the partition\'s)', timeLimit)
    .option('--account <a>', 'account charged for the job', slurmName)
    .option('--constraint <c>', 'node features, such as a100 or "a100|h100"', constraint)
    .option('--job-name <name>', 'job name (default: grid-SWEEP)', slurmName)
    .option('--db <url|env>', `PostgreSQL URL without a password, passed to the job in ${DB_ENV} with --submit; or env (the default): ${DB_ENV} of the submitting shell`)
    .option('--output <dir>', 'folder of the script and, under logs/, its logs', DEFAULT_OUTPUT)
    .option('--submit', 'submit the script with sbatch and print the job id')
    .addOption(new Option('--extra-sbatch <k=v>', 'a further sbatch option, such as mem=64G or exclusive (repeatable)').argParser(extraSbatch).default([], 'none'))
    .action(
      action(async (args: string[], flags: SlurmFlags) => {
        const { gridFiles, sweeps } = sweepsOf(args);
        const db = dbSource(flags.db);
        const env = jobEnvironment(db, flags.submit === true);
        const output = resolve(flags.output);
        const workdir = process.cwd();
        for (const [option, path] of [['--output', output], ['the current folder', workdir]] as const) {
          const problem = sbatchPathProblem(path);
          if (problem !== null) throw new UsageError(`${option}: ${problem}`);
        }
        const jobName = flags.jobName ?? `grid-${sweeps[0] ?? 'sweep'}`;
        const scriptPath = join(output, `${jobName}.sbatch`);
        const job: SlurmJob = {
          jobName,
          nodes: flags.nodes,
          gpusPerNode: flags.gpusPerNode,
          ...(flags.partition !== undefined ? { partition: flags.partition } : {}),
          ...(flags.time !== undefined ? { time: flags.time } : {}),
          ...(flags.account !== undefined ? { account: flags.account } : {}),
          ...(flags.constraint !== undefined ? { constraint: flags.constraint } : {}),
          extra: flags.extraSbatch,
          workdir,
          logDir: join(output, 'logs'),
          scriptPath,
          node: process.execPath,
          cli: fileURLToPath(new URL('./main.js', import.meta.url)),
          gridFiles,
          sweeps,
        };
        // Slurm opens the log files but does not create their folder: without it a job's output is lost.
        mkdirSync(job.logDir, { recursive: true });
        writeFileSync(scriptPath, slurmScript(job), { mode: 0o755 });
        if (flags.submit !== true) {
          print(scriptPath);
          note(
            db.kind === 'url'
              ? `submit it with: ${DB_ENV}=${db.url} sbatch ${scriptPath}`
              : `submit it with: sbatch ${scriptPath}   (the job reads the database's URL from ${DB_ENV} in the submitting shell)`,
          );
          return;
        }
        const id = await submitBatch(scriptPath, env);
        note(`submitted ${scriptPath}: job ${id}; logs in ${job.logDir}/`);
        print(id);
      }),
    );
}

/**
 * Splits the arguments into grid files (checked now, as `grid run` would, so a mistake is found before
 * the job waits in the queue) and sweep names; the sweeps the workers run are both, each once.
 */
function sweepsOf(args: readonly string[]): { gridFiles: string[]; sweeps: string[] } {
  const gridFiles: string[] = [];
  const sweeps = new Set<string>();
  for (const arg of args) {
    const isFile = existsSync(arg) && statSync(arg).isFile();
    if (isFile) {
      const grid = loadGridFile(arg);
      expandGrid(grid);
      gridFiles.push(isAbsolute(arg) ? arg : resolve(arg));
      sweeps.add(grid.name);
    } else if (/\.ya?ml$/i.test(arg) || arg.includes('/')) {
      throw new UsageError(`${arg}: no such grid file`);
    } else if (!SWEEP_NAME.test(arg)) {
      throw new UsageError(`${JSON.stringify(arg)}: neither a grid file nor a sweep name (letters, digits, '.', '_', '-')`);
    } else {
      sweeps.add(arg);
    }
  }
  return { gridFiles, sweeps: [...sweeps] };
}

/**
 * The environment sbatch runs with: this process's, with the URL of `--db` as GRIDREC_DB (sbatch hands
 * its environment to the job). Submitting without any URL is a usage error: the job would fail at once.
 */
function jobEnvironment(db: DbSource, submit: boolean): NodeJS.ProcessEnv {
  if (db.kind === 'url') return { ...process.env, [DB_ENV]: db.url };
  const url = process.env[DB_ENV];
  if (url === undefined || url === '') {
    if (submit) throw new UsageError(`--submit: the job reads the database's URL from ${DB_ENV}: export ${DB_ENV}=postgres://USER@HOST/DB, or give --db postgres://USER@HOST/DB`);
    return process.env;
  }
  // A password is fine here: the environment is where it belongs.
  const problem = postgresUrlProblem(url, true);
  if (problem !== null) throw new UsageError(`${DB_ENV}: ${problem}`);
  return process.env;
}
