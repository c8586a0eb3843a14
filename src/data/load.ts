/**
 * Loading a data set for training: read → prepare → split, with the prepared log kept in the binary
 * cache so later loads skip reading and preparation.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fingerprint, type SourceFingerprint } from './fingerprint.js';
import { defaultCacheDir, missingSource, sourceFile } from './locations.js';
import { CACHE_FORMAT_VERSION, readPreparedCache, writePreparedCache } from './prepared-cache.js';
import { prepareLog, type PreparedLog } from './prepare.js';
import { readLog } from './read-log.js';
import { PREPARATION_KEYS, type DatasetSpec } from './spec.js';
import { splitLeaveOneOut } from './split-leave-one-out.js';
import { splitSeed } from './split-seed.js';
import type { PreparedDataset } from './types.js';

/** Options of `loadDataset` and `loadPrepared`. */
export interface LoadOptions {
  /** Cache directory (downloads and prepared logs). @default defaultCacheDir() */
  readonly cacheDir?: string;
  /** Read and write the binary cache of prepared logs. @default true */
  readonly cache?: boolean;
  /** Receives one line about the cache (hit, miss and why, write failure). @default ignore */
  readonly report?: (line: string) => void;
}

/** The preparation parameters of a spec, in a fixed order. */
function preparationParams(spec: DatasetSpec): Record<string, unknown> {
  return Object.fromEntries(PREPARATION_KEYS.map((k) => [k, spec[k] ?? null]));
}

/** The cache key of a prepared log: the format version, the source's fingerprint and the preparation parameters. */
export function preparationKey(source: SourceFingerprint, spec: DatasetSpec): string {
  const material = JSON.stringify({ version: CACHE_FORMAT_VERSION, source, params: preparationParams(spec) });
  return createHash('sha256').update(material).digest('hex').slice(0, 32);
}

/** The data set's display name: its registered name, else its file name. */
export function datasetName(spec: DatasetSpec): string {
  return spec.name ?? basename(spec.path ?? 'dataset');
}

/** Reads and prepares the spec's interactions (before the split), through the binary cache. */
export async function loadPrepared(spec: DatasetSpec, opts: LoadOptions = {}): Promise<PreparedLog> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const file = sourceFile(spec, cacheDir);
  if (!existsSync(file)) throw missingSource(spec, file);
  const report = opts.report ?? ((): void => {});
  const useCache = opts.cache ?? true;
  const key = useCache ? preparationKey(fingerprint(file), spec) : '';
  const cachePath = join(cacheDir, 'prepared', `${key}.bin`);
  if (useCache) {
    const hit = readPreparedCache(cachePath, key);
    if ('log' in hit) {
      report(`prepared cache hit: ${cachePath}`);
      return hit.log;
    }
    report(`prepared cache ${hit.rejected === 'missing' ? 'miss' : `rejected (${hit.rejected})`}: preparing ${file}`);
  }
  const log = prepareLog(await readLog(file, spec), {
    dedup: spec.dedup,
    minItemCount: spec.min_item_count,
    minUserCount: spec.min_user_count,
    kcore: spec.kcore,
  });
  if (useCache) {
    try {
      writePreparedCache(cachePath, key, log, { source: file, params: preparationParams(spec) });
    } catch (err) {
      // A read-only or full cache directory costs speed, not correctness.
      report(`prepared cache not written (${(err as Error).message})`);
    }
  }
  return log;
}

/** Splits a prepared log as the spec says. */
export function splitPrepared(log: PreparedLog, spec: DatasetSpec): PreparedDataset {
  const name = datasetName(spec);
  if (spec.split === 'leave-one-out') return splitLeaveOneOut(log, name);
  return splitSeed(log, name, {
    testQuantile: spec.test_quantile ?? 0.9,
    validationFraction: spec.validation_fraction ?? 0.05,
    seed: spec.split_seed ?? 42,
  });
}

/** Loads a resolved data set spec: the train, validation and test sets the trainer uses. Throws DataError on bad data. */
export async function loadDataset(spec: DatasetSpec, opts: LoadOptions = {}): Promise<PreparedDataset> {
  return splitPrepared(await loadPrepared(spec, opts), spec);
}
