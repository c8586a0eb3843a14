/**
 * Preparation speed and memory on a synthetic log: writes one with `writeSynthetic` (into the
 * git-ignored bench-data/, unless it exists), then, each in a fresh child process so peak RSS is
 * that step's own, (1) reads and prepares it without the cache, (2) prepares it and writes the
 * cache, (3) loads it from the cache, and (4) loads from the cache and splits it (both protocols).
 * Prints one markdown table row per step.
 *
 * Run: npx tsx scripts/bench-data-prepare.ts --users 138493 --items 26744 --interactions 20000000 [--delete]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPrepared, splitPrepared } from '../src/data/load.js';
import { resolveDatasetSpec } from '../src/data/spec.js';
import { writeSynthetic } from '../src/data/synth.js';

type Step = 'prepare' | 'prepare+write-cache' | 'cache-hit' | 'cache-hit+splits';

/** Child: runs one step, prints {seconds, maxRssMiB, ...} as JSON. */
async function child(step: Step, file: string, cacheDir: string): Promise<void> {
  const t0 = performance.now();
  const spec = resolveDatasetSpec({ path: file });
  const log = await loadPrepared(spec, { cacheDir, cache: step !== 'prepare' });
  const extra: Record<string, number> = {};
  if (step === 'cache-hit+splits') {
    const t1 = performance.now();
    splitPrepared(log, spec);
    extra.looSeconds = (performance.now() - t1) / 1000;
    const t2 = performance.now();
    splitPrepared(log, resolveDatasetSpec({ path: file, split: 'seed' }));
    extra.seedSeconds = (performance.now() - t2) / 1000;
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, interactions: log.items.length, ...extra }));
}

function arg(name: string, fallback?: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? fallback : Number(process.argv[i + 1]?.replace(/_/g, ''));
  if (v === undefined || !Number.isSafeInteger(v) || v < 1) throw new Error(`--${name} <positive integer> is required`);
  return v;
}

async function main(): Promise<void> {
  const users = arg('users');
  const items = arg('items');
  const interactions = arg('interactions');
  const dir = fileURLToPath(new URL('../bench-data/', import.meta.url));
  const file = join(dir, `synth-u${users}-i${items}-n${interactions}.csv`);
  if (!existsSync(file)) {
    const t = performance.now();
    writeSynthetic(file, { users, items, interactions });
    console.log(`wrote ${file} (${(statSync(file).size / 2 ** 30).toFixed(2)} GiB) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const cacheDir = mkdtempSync(join(dir, 'cache-'));
  console.log(`| step | seconds | peak RSS (MiB) | notes |\n|---|---|---|---|`);
  try {
    for (const step of ['prepare', 'prepare+write-cache', 'cache-hit', 'cache-hit+splits'] as const) {
      const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', step, file, cacheDir], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      if (r.status !== 0) throw new Error(`${step} failed: ${r.stderr}`);
      const m = JSON.parse(r.stdout) as { seconds: number; maxRssMiB: number; interactions: number; looSeconds?: number; seedSeconds?: number };
      const notes = m.looSeconds === undefined ? `${m.interactions} interactions` : `leave-one-out split ${m.looSeconds.toFixed(2)} s, seed split ${m.seedSeconds!.toFixed(2)} s`;
      console.log(`| ${step} | ${m.seconds.toFixed(2)} | ${Math.round(m.maxRssMiB)} | ${notes} |`);
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
    if (process.argv.includes('--delete')) rmSync(file, { force: true });
  }
}

const c = process.argv.indexOf('--child');
if (c >= 0) await child(process.argv[c + 1] as Step, process.argv[c + 2]!, process.argv[c + 3]!);
else await main();
