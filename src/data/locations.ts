/** Where data files live: the package's embedded data, the cache directory, downloads. */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError } from './data-error.js';
import { REGISTRY } from './registry.js';
import type { DatasetSpec } from './spec.js';

/** The package root (holds package.json and datasets/), from this module's location in src/ or dist/. */
export function packageRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

/**
 * The cache directory: `$GRID_CACHE_DIR`, else `$XDG_CACHE_HOME/gridrec`, else `~/.cache/gridrec`.
 * @param env the environment to read. @default process.env
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GRID_CACHE_DIR) return resolve(env.GRID_CACHE_DIR);
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'gridrec');
  return join(homedir(), '.cache', 'gridrec');
}

/** The folder a registered data set's downloads go to. */
export function downloadDir(cacheDir: string, name: string): string {
  return join(cacheDir, 'downloads', name);
}

/** The interactions file a spec reads: its `path`, else the registered data set's embedded or fetched file. */
export function sourceFile(spec: DatasetSpec, cacheDir: string): string {
  if (spec.path !== undefined) return resolve(spec.path);
  const entry = spec.name === undefined ? undefined : REGISTRY.get(spec.name);
  if (entry === undefined) throw new Error(`data set spec without path or registered name: ${JSON.stringify(spec)}`);
  const src = entry.source;
  if (src.kind === 'embedded') return join(packageRoot(), src.file);
  const dir = downloadDir(cacheDir, entry.name);
  if (src.kind === 'http' && src.member !== undefined) return join(dir, src.member.split('/').pop()!);
  return join(dir, src.download);
}

/** Throws a DataError that says how to get a registered data set that is not on disk. */
export function missingSource(spec: DatasetSpec, file: string): DataError {
  const how = spec.name !== undefined && spec.path === undefined ? `run \`grid data fetch ${spec.name}\` or set dataset.path` : 'check dataset.path';
  return new DataError(file, `no such file: ${how}`);
}
