/**
 * The values `grid slurm` writes into an sbatch header, checked before anything is written. Each
 * parser is a commander argument parser: a bad value ends the command with exit code 2 and a message
 * that names the option. sbatch reads `#SBATCH` lines itself (no shell), splitting at white space, so
 * a value may hold no white space, quote or control character unless it says otherwise.
 */
import { InvalidArgumentError } from 'commander';
import { UsageError } from './cli-error.js';

/** Seconds before the time limit at which Slurm sends the batch shell SIGTERM (`--signal=B:TERM@…`). */
export const STOP_SIGNAL_LEAD_SECONDS = 120;

/** The environment variable the job reads the store's URL from. */
export const DB_ENV = 'GRIDREC_DB';

/** A Slurm name (partition, account, job): letters, digits, `.`, `_`, `-`. */
const SLURM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A sweep's name, as grid files allow it (src/sweep/grid-file.ts). */
export const SWEEP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A partition, or several separated by commas (Slurm then takes the first that can start the job). */
export function partition(value: string): string {
  if (!value.split(',').every((p) => SLURM_NAME.test(p))) {
    throw new InvalidArgumentError(`expected a partition name (letters, digits, '.', '_', '-'; several separated by commas), got ${JSON.stringify(value)}`);
  }
  return value;
}

/** An account or job name. */
export function slurmName(value: string): string {
  if (!SLURM_NAME.test(value)) throw new InvalidArgumentError(`expected letters, digits, '.', '_' or '-', got ${JSON.stringify(value)}`);
  return value;
}

/** A node feature expression: features joined by `&`, `|`, `,`, with `[]`, `()`, `*N` and `!`. */
export function constraint(value: string): string {
  if (!/^[A-Za-z0-9_.,&|*![\]():-]+$/.test(value)) {
    throw new InvalidArgumentError(`expected node features such as a100 or "a100|h100" (no spaces or quotes), got ${JSON.stringify(value)}`);
  }
  return value;
}

const DURATION_FORMS = 'minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, days-hours:minutes:seconds, or UNLIMITED';

/**
 * Slurm's time-limit forms, as written (sbatch reads them itself). A limit must leave the workers
 * more than the stop signal's lead; `0` and `UNLIMITED` mean no limit.
 */
export function timeLimit(value: string): string {
  if (/^(unlimited|infinite)$/i.test(value)) return value;
  const seconds = limitSeconds(value);
  if (seconds === undefined) throw new InvalidArgumentError(`expected ${DURATION_FORMS}, got ${JSON.stringify(value)}`);
  if (seconds !== 0 && seconds <= STOP_SIGNAL_LEAD_SECONDS) {
    throw new InvalidArgumentError(`${JSON.stringify(value)} ends before the workers could do anything: they are told to stop ${STOP_SIGNAL_LEAD_SECONDS} s before the limit`);
  }
  return value;
}

/** The seconds a Slurm time limit stands for, or undefined where it is not one of Slurm's forms. */
export function limitSeconds(value: string): number | undefined {
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(value);
  if (m === null) return undefined;
  const [days, first, second, third] = [m[1], m[2], m[3], m[4]].map((x) => (x === undefined ? undefined : Number(x)));
  const under60 = (n: number | undefined): boolean => n === undefined || n < 60;
  if (days !== undefined) {
    // days-hours[:minutes[:seconds]]
    if (first === undefined || first >= 24 || !under60(second) || !under60(third)) return undefined;
    return days * 86_400 + first * 3600 + (second ?? 0) * 60 + (third ?? 0);
  }
  if (first === undefined) return undefined;
  if (third !== undefined) return under60(second) && under60(third) ? first * 3600 + (second ?? 0) * 60 + third : undefined; // h:m:s
  if (second !== undefined) return under60(second) ? first * 60 + second : undefined; // m:s
  return first * 60; // minutes
}

/**
 * sbatch options that `grid slurm` writes itself (or that would break the job: its environment
 * carries the store's URL): `--extra-sbatch` may not set them, and the message names the flag to use.
 */
const MANAGED: Readonly<Record<string, string>> = {
  nodes: '--nodes',
  'ntasks-per-node': 'nothing: one worker per node is the design',
  ntasks: 'nothing: one worker per node is the design',
  gres: '--gpus-per-node',
  gpus: '--gpus-per-node',
  'gpus-per-node': '--gpus-per-node',
  'gpus-per-task': '--gpus-per-node',
  partition: '--partition',
  time: '--time',
  account: '--account',
  constraint: '--constraint',
  'job-name': '--job-name',
  output: '--output (the folder of the logs)',
  error: '--output (the folder of the logs)',
  chdir: 'nothing: the job runs where `grid slurm` ran',
  requeue: 'nothing: the script asks for requeue',
  'no-requeue': 'nothing: the script asks for requeue',
  'open-mode': 'nothing: logs are appended to',
  signal: 'nothing: the script asks for SIGTERM before the time limit',
  export: `nothing: the job needs the submitting shell's environment, which carries ${DB_ENV}`,
  'export-file': `nothing: the job needs the submitting shell's environment, which carries ${DB_ENV}`,
};

/** One `--extra-sbatch` option: its long name and value (none for a flag such as `exclusive`). */
export interface SbatchOption {
  readonly key: string;
  readonly value?: string;
}

/** A commander parser collecting `--extra-sbatch K=V` (or a bare flag `K`) into a list. */
export function extraSbatch(text: string, previous: readonly SbatchOption[]): SbatchOption[] {
  const eq = text.indexOf('=');
  const key = (eq < 0 ? text : text.slice(0, eq)).replace(/^--/, '');
  const value = eq < 0 ? undefined : text.slice(eq + 1);
  if (!/^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$|^[a-z][a-z0-9]+$/.test(key)) {
    throw new InvalidArgumentError(`expected an sbatch long option as KEY=VALUE or KEY (such as mem=64G or exclusive), got ${JSON.stringify(text)}`);
  }
  const managed = MANAGED[key];
  if (managed !== undefined) throw new InvalidArgumentError(`${key} is written by grid slurm; use ${managed}`);
  if (value !== undefined && !/^[^\s"'\\]+$/.test(value)) {
    throw new InvalidArgumentError(`the value of ${key} must be non-empty, without spaces, quotes or backslashes, got ${JSON.stringify(value)}`);
  }
  return [...previous, value === undefined ? { key } : { key, value }];
}

/** Where the job's store URL comes from: the environment of the submitting shell, or a password-free URL given to `--db`. */
export type DbSource = { readonly kind: 'env' } | { readonly kind: 'url'; readonly url: string };

/**
 * Checks a store URL: PostgreSQL (every node must reach it; a SQLite file serves one machine). With
 * `allowPassword` false (a URL typed on the command line) a password in it is refused: it would stay
 * in the shell's history and in the process list.
 */
export function postgresUrlProblem(value: string, allowPassword: boolean): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    url = new URL('file:///');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    return `expected a PostgreSQL URL (postgres://USER@HOST/DB) that every node can reach, got ${JSON.stringify(redacted(value))}; a SQLite file serves one machine only`;
  }
  if (!allowPassword && (url.password !== '' || url.searchParams.has('password'))) {
    return `the URL holds a password, which would stay in your shell history: put the whole URL in ${DB_ENV} (export ${DB_ENV}=postgres://USER:PASSWORD@HOST/DB, then leave out --db), or the password in PGPASSWORD or ~/.pgpass`;
  }
  return null;
}

/**
 * Reads `--db`: `env` (the default) or a PostgreSQL URL without a password. Not a commander parser:
 * commander would repeat the value, password and all, in its message. Throws a `UsageError`.
 */
export function dbSource(value: string | undefined): DbSource {
  if (value === undefined || value === 'env') return { kind: 'env' };
  const problem = postgresUrlProblem(value, false);
  if (problem !== null) throw new UsageError(`--db: ${problem}`);
  return { kind: 'url', url: value };
}

/** A URL with any password replaced by `***`, for messages. */
export function redacted(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^@/]*@/i, '$1***@').replace(/([?&]password=)[^&]*/gi, '$1***');
}

/**
 * A folder written into an `#SBATCH` line: sbatch reads a double-quoted value whole, so white space
 * is allowed, but not a double quote, a backslash, a control character, or `%` (Slurm's file-name patterns).
 */
export function sbatchPathProblem(path: string): string | null {
  if (/["\\%\x00-\x1f\x7f]/.test(path)) return `${JSON.stringify(path)}: sbatch cannot read a path with a double quote, backslash, '%' or control character`;
  return null;
}
