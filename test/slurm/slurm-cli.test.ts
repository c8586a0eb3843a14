import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/fixture.js';
import { tempDir } from '../helpers/tmp.js';
import { cleanEnv, fakeProgram, gridFile, gridWith } from './helpers.js';

/** Every file under `dir`, read as text, joined. */
function allText(dir: string): string {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
}

describe('grid slurm', () => {
  it('writes the script and its log folder, and prints where', () => {
    const dir = tempDir();
    const file = gridFile(dir, 'losses');
    const run = gridWith(dir, cleanEnv(), 'slurm', file, 'older', '--nodes', '3', '--gpus-per-node', '4', '--partition', 'gpu', '--time', '12:00:00', '--account', 'proj', '--constraint', 'a100', '--extra-sbatch', 'mem=0', '--output', 'jobs');
    expect(run.stderr).toMatch(/submit it with: sbatch .*jobs\/grid-losses\.sbatch/);
    expect(run.code).toBe(0);
    const path = join(dir, 'jobs', 'grid-losses.sbatch');
    expect(run.stdout).toBe(`${path}\n`);
    expect(statSync(join(dir, 'jobs', 'logs')).isDirectory()).toBe(true);
    const script = readFileSync(path, 'utf8');
    for (const line of ['--nodes=3', '--gres=gpu:4', '--partition=gpu', '--time=12:00:00', '--account=proj', '--constraint=a100', '--mem=0', `--chdir=${dir}`, `--output=${dir}/jobs/logs/%x-%j.log`]) {
      expect(script).toContain(`#SBATCH ${line}\n`);
    }
    // The paths are those of this very installation, made absolute at write time.
    expect(script).toContain(`node=${process.execPath}\ngrid=${CLI}\n`);
    expect(script).toContain(`"$node" "$grid" add ${dir}/losses.yaml\n`);
    expect(script).toContain('worker losses older &\n');

    // A password-free --db URL is not secret: the hint to submit by hand carries it.
    const withUrl = gridWith(dir, cleanEnv(), 'slurm', file, '--db', 'postgres://grid@db.example/runs');
    expect(withUrl.stderr).toMatch(/^submit it with: GRIDREC_DB=postgres:\/\/grid@db\.example\/runs sbatch .*\/slurm\/grid-losses\.sbatch$/m);
    expect(readFileSync(join(dir, 'slurm', 'grid-losses.sbatch'), 'utf8')).not.toContain('db.example');
  });

  // Every value check is in slurm-options.test.ts; here, that each kind of check ends the command alike.
  it('refuses bad values with exit code 2, naming the option, and writes nothing', () => {
    const dir = tempDir();
    const file = gridFile(dir, 'g');
    const cases: [string[], RegExp][] = [
      [['--nodes', '0'], /option '--nodes <n>' argument '0' is invalid\. expected an integer ≥ 1/],
      [['--time', '1 day'], /'--time <t>' argument '1 day' is invalid\. expected minutes/],
      [['--extra-sbatch', 'nodes=2'], /'--extra-sbatch <k=v>' argument 'nodes=2' is invalid\. nodes is written by grid slurm; use --nodes/],
      [['--db', 'runs.db'], /^grid: --db: expected a PostgreSQL URL/],
      [['--output', '100%'], /--output: ".*100%": sbatch cannot read a path with .*'%'/],
    ];
    for (const [flags, message] of cases) {
      const run = gridWith(dir, cleanEnv(), 'slurm', file, ...flags);
      expect(run.stderr, flags.join(' ')).toMatch(message);
      expect(run.code, flags.join(' ')).toBe(2);
    }
    expect(existsSync(join(dir, 'slurm'))).toBe(false);
  });

  it('refuses a missing grid file and a word that is no sweep name', () => {
    const dir = tempDir();
    const missing = gridWith(dir, cleanEnv(), 'slurm', 'nope.yaml');
    expect(missing.stderr).toBe('grid: nope.yaml: no such grid file\n');
    expect(missing.code).toBe(2);
    const odd = gridWith(dir, cleanEnv(), 'slurm', 'a;b');
    expect(odd.stderr).toMatch(/"a;b": neither a grid file nor a sweep name/);
    expect(odd.code).toBe(2);
    writeFileSync(join(dir, 'bad.yaml'), 'name: bad\ndataset: ml-latest-small\ngrid: {loss: [mse]}\n');
    const bad = gridWith(dir, cleanEnv(), 'slurm', 'bad.yaml');
    expect(bad.stderr).toMatch(/bad\.yaml: grid\.loss\[0\]: expected one of/);
    expect(bad.code).toBe(2);
  });

  it('refuses a password on the command line and keeps it out of every file and message', () => {
    const dir = tempDir();
    const file = gridFile(dir, 'g');
    const run = gridWith(dir, cleanEnv(), 'slurm', file, '--db', 'postgres://grid:hunter2@db.example/runs', '--submit');
    expect(run.stderr).toMatch(/holds a password, which would stay in your shell history: put the whole URL in GRIDREC_DB/);
    expect(run.stderr).not.toContain('hunter2');
    expect(run.code).toBe(2);
    expect(existsSync(join(dir, 'slurm'))).toBe(false);
  });

  it('submits with sbatch: the URL reaches it in the environment, never in the script; prints the job id', () => {
    const dir = tempDir();
    const bin = tempDir();
    const file = gridFile(dir, 'g');
    fakeProgram(bin, 'sbatch', `printf '%s\\n' "$@" > ${bin}/args\nprintf '%s' "$GRIDREC_DB" > ${bin}/db\necho "4242;cluster1"\n`);
    const url = 'postgres://grid:hunter2@db.example:5432/runs';
    const env = cleanEnv({ PATH: `${bin}:${process.env.PATH ?? ''}`, GRIDREC_DB: url });
    const run = gridWith(dir, env, 'slurm', file, '--submit');
    expect(run.stderr).toMatch(/submitted .*grid-g\.sbatch: job 4242/);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('4242\n');
    const script = join(dir, 'slurm', 'grid-g.sbatch');
    expect(readFileSync(join(bin, 'args'), 'utf8')).toBe(`--parsable\n${script}\n`);
    expect(readFileSync(join(bin, 'db'), 'utf8')).toBe(url);
    expect(allText(dir)).not.toContain('hunter2');
    expect(allText(dir)).not.toContain('db.example');

    // A password-free --db URL is handed to sbatch the same way, and wins over the shell's.
    const other = 'postgres://grid@other.example/runs';
    expect(gridWith(dir, env, 'slurm', file, '--submit', '--db', other).code).toBe(0);
    expect(readFileSync(join(bin, 'db'), 'utf8')).toBe(other);
    expect(allText(dir)).not.toContain('other.example');
  });

  it('says what is wrong when it cannot submit', () => {
    const dir = tempDir();
    const bin = tempDir();
    const file = gridFile(dir, 'g');
    const noUrl = gridWith(dir, cleanEnv(), 'slurm', file, '--submit');
    expect(noUrl.stderr).toMatch(/--submit: the job reads the database's URL from GRIDREC_DB: export GRIDREC_DB=postgres:/);
    expect(noUrl.code).toBe(2);

    const sqlite = gridWith(dir, cleanEnv({ GRIDREC_DB: 'runs.db' }), 'slurm', file, '--submit');
    expect(sqlite.stderr).toMatch(/GRIDREC_DB: expected a PostgreSQL URL/);
    expect(sqlite.code).toBe(2);

    // No sbatch on the PATH: not a Slurm machine (a PATH of one empty folder keeps a real sbatch out).
    const db = { GRIDREC_DB: 'postgres://grid@db/runs' };
    const noSbatch = gridWith(dir, cleanEnv({ ...db, PATH: bin }), 'slurm', file, '--submit');
    expect(noSbatch.stderr).toMatch(/--submit: sbatch is not on the PATH \(run grid slurm on a Slurm login node, or submit .*grid-g\.sbatch there with sbatch\)/);
    expect(noSbatch.code).toBe(2);

    fakeProgram(bin, 'sbatch', 'echo "sbatch: error: invalid partition specified: gpu" >&2\nexit 1\n');
    const refused = gridWith(dir, cleanEnv({ ...db, PATH: bin }), 'slurm', file, '--submit');
    expect(refused.stderr).toMatch(/--submit: sbatch refused .*grid-g\.sbatch: sbatch: error: invalid partition specified: gpu/);
    expect(refused.code).toBe(1);
  });
});
