import { InvalidArgumentError } from 'commander';
import { UsageError } from '../../src/cli/cli-error.js';
import { describe, expect, it } from 'vitest';
import {
  constraint,
  dbSource,
  extraSbatch,
  limitSeconds,
  partition,
  postgresUrlProblem,
  redacted,
  sbatchPathProblem,
  slurmName,
  timeLimit,
} from '../../src/cli/slurm-options.js';

/** The message a commander parser throws for `value`. */
function refusal(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('grid slurm option values', () => {
  it('reads every Slurm time-limit form and nothing else', () => {
    expect(limitSeconds('90')).toBe(5400);
    expect(limitSeconds('30:15')).toBe(1815);
    expect(limitSeconds('12:00:00')).toBe(43_200);
    expect(limitSeconds('2-00')).toBe(172_800);
    expect(limitSeconds('1-06:30')).toBe(109_800);
    expect(limitSeconds('1-00:00:10')).toBe(86_410);
    for (const bad of ['', '1h', '1:60', '1:00:60', '1-24', '1-2:3:4:5', '-5', '1.5', ' 90']) expect(limitSeconds(bad), bad).toBeUndefined();
  });

  it('accepts a limit with room to work, and no limit; refuses one the stop signal would eat', () => {
    expect(timeLimit('1-00:00:00')).toBe('1-00:00:00');
    expect(timeLimit('UNLIMITED')).toBe('UNLIMITED');
    expect(timeLimit('0')).toBe('0');
    expect(refusal(() => timeLimit('2'))).toMatch(/told to stop 120 s before the limit/);
    expect(refusal(() => timeLimit('2h'))).toMatch(/expected minutes, minutes:seconds, .* got "2h"/);
  });

  it('takes names and features that sbatch reads as one word', () => {
    expect(partition('gpu,gpu-long')).toBe('gpu,gpu-long');
    expect(refusal(() => partition('gpu long'))).toMatch(/expected a partition name/);
    expect(refusal(() => partition('gpu,'))).toMatch(/got "gpu,"/);
    expect(slurmName('proj_42.a')).toBe('proj_42.a');
    expect(refusal(() => slurmName('a;b'))).toMatch(/got "a;b"/);
    expect(constraint('[a100*2&ib]|h100')).toBe('[a100*2&ib]|h100');
    expect(refusal(() => constraint('a100 h100'))).toMatch(/no spaces/);
  });

  it('collects extra sbatch options and refuses those grid slurm writes itself', () => {
    expect(extraSbatch('exclusive', extraSbatch('mem=64G', []))).toEqual([{ key: 'mem', value: '64G' }, { key: 'exclusive' }]);
    expect(extraSbatch('--cpus-per-task=16', [])).toEqual([{ key: 'cpus-per-task', value: '16' }]);
    expect(refusal(() => extraSbatch('time=10', []))).toBe('time is written by grid slurm; use --time');
    expect(refusal(() => extraSbatch('gres=gpu:2', []))).toBe('gres is written by grid slurm; use --gpus-per-node');
    expect(refusal(() => extraSbatch('export=NONE', []))).toMatch(/carries GRIDREC_DB/);
    expect(refusal(() => extraSbatch('c=4', []))).toMatch(/expected an sbatch long option/);
    expect(refusal(() => extraSbatch('comment=two words', []))).toMatch(/without spaces/);
    expect(refusal(() => extraSbatch('mem=', []))).toMatch(/must be non-empty/);
    expect(refusal(() => extraSbatch('mem=1G\n#SBATCH --x', []))).toMatch(/without spaces/);
  });

  it('takes env or a PostgreSQL URL without a password for --db', () => {
    expect(dbSource('env')).toEqual({ kind: 'env' });
    expect(dbSource('postgres://grid@db.example:5432/runs')).toEqual({ kind: 'url', url: 'postgres://grid@db.example:5432/runs' });
    expect(dbSource('postgresql://grid@db/runs?sslmode=require')).toMatchObject({ kind: 'url' });
    expect(dbSource(undefined)).toEqual({ kind: 'env' });
    expect(() => dbSource('postgres://grid:s3cret@db/runs')).toThrow(/^--db: the URL holds a password.*GRIDREC_DB.*PGPASSWORD or ~\/\.pgpass$/);
    expect(() => dbSource('postgres://grid@db/runs?password=s3cret')).toThrow(UsageError);
    expect(() => dbSource('runs.db')).toThrow(/^--db: expected a PostgreSQL URL .* got "runs.db"; a SQLite file serves one machine only$/);
    // In the environment a password is where it belongs.
    expect(postgresUrlProblem('postgres://grid:s3cret@db/runs', true)).toBeNull();
  });

  it('never repeats a password in a message', () => {
    expect(redacted('mysql://u:s3cret@h/d')).toBe('mysql://u:***@h/d');
    expect(redacted('x://h/d?a=1&password=s3cret')).toBe('x://h/d?a=1&password=***');
    expect(() => dbSource('mysql://u:s3cret@h/d')).toThrow(/got "mysql:\/\/u:\*\*\*@h\/d"/);
  });

  it('refuses paths an #SBATCH line cannot hold', () => {
    expect(sbatchPathProblem('/home/me/my project/slurm')).toBeNull();
    expect(sbatchPathProblem('/tmp/100%')).toMatch(/'%'/);
    expect(sbatchPathProblem('/tmp/a"b')).toMatch(/double quote/);
    expect(sbatchPathProblem('/tmp/a\nb')).toMatch(/control character/);
  });
});
