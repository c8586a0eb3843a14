/**
 * Builds every kernels/*.cu into PTX under kernels/ptx/: `<family>.sm80.ptx` for compute_80 and,
 * for families that opt in with `// @variants sm80 sm90a`, `<family>.sm90a.ptx` for compute_90a
 * (src/cuda/kernel-variants.ts). The PTX is committed: users need only the NVIDIA driver.
 *
 *   npx tsx scripts/build-kernels.ts            # rebuild kernels/ptx
 *   npx tsx scripts/build-kernels.ts --check    # exit 1 if kernels/ptx is not what the sources give
 *
 * nvcc runs inside kernels/ on relative paths, so the PTX does not depend on where the checkout is.
 * The build also writes kernels/ptx/manifest.json: for each PTX file, a digest of its inputs (the
 * source, every header in kernels/, the target and the flags) and of the PTX itself, with the nvcc
 * release. `npm test` checks those digests in milliseconds, without nvcc: a source changed without a
 * rebuild, or a PTX edited by hand, fails it. `--check` rebuilds everything (tens of seconds).
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { KERNEL_VARIANTS, parseVariants, ptxFileName } from '../src/cuda/kernel-variants.js';

const run = promisify(execFile);

/** nvcc options shared by every variant (fast math stays off: numerics are each kernel's choice). */
export const NVCC_FLAGS = ['-ptx', '-O3', '-std=c++17'] as const;

/** Where the sources are. */
export const KERNELS_DIR = fileURLToPath(new URL('../kernels/', import.meta.url));

/** The committed PTX directory. */
export const PTX_DIR = join(KERNELS_DIR, 'ptx');

/** The nvcc release line ("Cuda compilation tools, release 13.0, V13.0.88"), or undefined without nvcc. */
export function nvccRelease(nvcc = 'nvcc'): string | undefined {
  const result = spawnSync(nvcc, ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  return /Cuda compilation tools.*$/m.exec(result.stdout)?.[0]?.trim();
}

/** The nvcc release line recorded in a PTX file's header, if any. */
export function ptxRelease(ptx: string): string | undefined {
  return /^\/\/\s*(Cuda compilation tools.*)$/m.exec(ptx)?.[1]?.trim();
}

/** The manifest's file name, in the PTX directory. */
export const MANIFEST = 'manifest.json';

/** One PTX file to build. */
export interface PtxJob {
  readonly source: string;
  readonly arch: string;
  readonly output: string;
}

/** What manifest.json records. */
export interface PtxManifest {
  readonly nvcc: string;
  readonly files: Readonly<Record<string, { readonly source: string; readonly arch: string; readonly inputs: string; readonly ptx: string }>>;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Digest of what a PTX file is made from: its source, every header in kernels/, target and flags. */
export function inputDigest(job: PtxJob, kernelsDir = KERNELS_DIR): string {
  const headers = readdirSync(kernelsDir).filter((f) => /\.(cuh|h)$/.test(f)).sort();
  const parts = [job.source, ...headers].map((file) => `${file}\n${readFileSync(join(kernelsDir, file), 'utf8')}`);
  return sha256([job.arch, NVCC_FLAGS.join(' '), ...parts].join('\n\0'));
}

/** Problems between the sources, kernels/ptx and its manifest, found without nvcc. */
export function checkManifest(kernelsDir = KERNELS_DIR, ptxDir = join(kernelsDir, 'ptx')): string[] {
  let manifest: PtxManifest;
  try {
    manifest = JSON.parse(readFileSync(join(ptxDir, MANIFEST), 'utf8')) as PtxManifest;
  } catch (error) {
    return [`${MANIFEST}: unreadable (${(error as Error).message})`];
  }
  const problems: string[] = [];
  const jobs = plannedOutputs(kernelsDir);
  const planned = new Set(jobs.map((j) => j.output));
  for (const job of jobs) {
    const entry = manifest.files[job.output];
    if (entry === undefined) {
      problems.push(`${job.output}: not built (no manifest entry)`);
      continue;
    }
    if (entry.inputs !== inputDigest(job, kernelsDir)) problems.push(`${job.output}: kernels/${job.source} or a header changed since the build`);
    let ptx: string | undefined;
    try {
      ptx = readFileSync(join(ptxDir, job.output), 'utf8');
    } catch {
      problems.push(`${job.output}: missing`);
    }
    if (ptx !== undefined && sha256(ptx) !== entry.ptx) problems.push(`${job.output}: differs from what the build wrote`);
  }
  for (const file of readdirSync(ptxDir)) {
    if (file.endsWith('.ptx') && !planned.has(file)) problems.push(`${file}: no source builds it`);
  }
  return problems.sort();
}

/** The PTX files the sources call for, by file name. */
export function plannedOutputs(kernelsDir = KERNELS_DIR): PtxJob[] {
  const sources = readdirSync(kernelsDir).filter((f) => f.endsWith('.cu')).sort();
  return sources.flatMap((source) => {
    const family = source.slice(0, -'.cu'.length);
    const variants = parseVariants(readFileSync(join(kernelsDir, source), 'utf8'), join('kernels', source));
    return variants.map((variant) => ({ source, arch: KERNEL_VARIANTS[variant].arch, output: ptxFileName(family, variant) }));
  });
}

/**
 * Compiles every planned PTX into `outDir` (two nvcc at a time) and deletes any other .ptx there.
 * @param outDir @default kernels/ptx
 * @param nvcc the compiler to run. @default "nvcc"
 */
export async function buildKernels(outDir = PTX_DIR, nvcc = 'nvcc'): Promise<string[]> {
  const jobs = plannedOutputs();
  const outputs = new Set(jobs.map((j) => j.output));
  const queue = [...jobs];
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
      const args = [...NVCC_FLAGS, `-arch=${job.arch}`, '-o', join(resolve(outDir), job.output), job.source];
      try {
        await run(nvcc, args, { cwd: KERNELS_DIR });
      } catch (error) {
        const { stderr } = error as { stderr?: string };
        throw new Error(`nvcc failed on kernels/${job.source} (${job.arch}):\n${stderr ?? (error as Error).message}`);
      }
    }
  };
  await Promise.all([worker(), worker()]);
  for (const file of readdirSync(outDir)) {
    if (file.endsWith('.ptx') && !outputs.has(file)) rmSync(join(outDir, file));
  }
  const files = Object.fromEntries(
    jobs.map((job) => [
      job.output,
      { source: job.source, arch: job.arch, inputs: inputDigest(job), ptx: sha256(readFileSync(join(outDir, job.output), 'utf8')) },
    ]),
  );
  const manifest: PtxManifest = { nvcc: nvccRelease(nvcc) ?? 'unknown', files };
  writeFileSync(join(outDir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return [...outputs].sort();
}

/** Differences between two PTX directories: missing, extra and differing file names. */
export function comparePtx(expectedDir: string, actualDir: string): string[] {
  const list = (dir: string): Set<string> => new Set(readdirSync(dir).filter((f) => f.endsWith('.ptx')));
  const expected = list(expectedDir);
  const actual = list(actualDir);
  const problems: string[] = [];
  for (const file of expected) {
    if (!actual.has(file)) problems.push(`${file}: missing`);
    else if (readFileSync(join(expectedDir, file), 'utf8') !== readFileSync(join(actualDir, file), 'utf8')) {
      problems.push(`${file}: differs from what its source gives`);
    }
  }
  for (const file of actual) if (!expected.has(file)) problems.push(`${file}: no source builds it`);
  return problems.sort();
}

/** Rebuilds into a temporary directory and compares with kernels/ptx. */
export async function checkKernels(nvcc = 'nvcc'): Promise<string[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'gridrec-ptx-'));
  try {
    await buildKernels(scratch, nvcc);
    return comparePtx(scratch, PTX_DIR);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    process.stderr.write(`build-kernels: unknown argument ${unknown[0]}; usage: build-kernels [--check]\n`);
    return 2;
  }
  const release = nvccRelease();
  if (release === undefined) {
    process.stderr.write('build-kernels: nvcc not found on PATH (install the CUDA toolkit to build kernels)\n');
    return 2;
  }
  if (argv.includes('--check')) {
    const problems = await checkKernels();
    for (const p of problems) process.stderr.write(`stale PTX: kernels/ptx/${p}\n`);
    if (problems.length > 0) process.stderr.write('run npm run build-kernels and commit kernels/ptx\n');
    return problems.length === 0 ? 0 : 1;
  }
  const built = await buildKernels();
  process.stdout.write(`built ${built.length} PTX files with ${release}:\n${built.map((f) => `  kernels/ptx/${f}`).join('\n')}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`build-kernels: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
