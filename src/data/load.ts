/**
 * Loading a data set for training: read → prepare → split, with the prepared log kept in the binary
 * cache so later loads skip reading and preparation.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { defaultCacheDir, missingSource, sourceFile } from './locations.js';
import { prepareLog, type PreparedLog } from './prepare.js';
import { readLog } from './read-log.js';
import type { DatasetSpec } from './spec.js';
import { splitLeaveOneOut } from './split-leave-one-out.js';
import { splitSeed } from './split-seed.js';
import type { PreparedDataset } from './types.js';

/** Options of `loadDataset` and `loadPrepared`. */
export interface LoadOptions {
  /** Cache directory (downloads and prepared logs). @default defaultCacheDir() */
  readonly cacheDir?: string;
}

/** The data set's display name: its registered name, else its file name. */
export function datasetName(spec: DatasetSpec): string {
  return spec.name ?? basename(spec.path ?? 'dataset');
}

/** Reads and prepares the spec's interactions (before the split). */
export async function loadPrepared(spec: DatasetSpec, opts: LoadOptions = {}): Promise<PreparedLog> {
  const file = sourceFile(spec, opts.cacheDir ?? defaultCacheDir());
  if (!existsSync(file)) throw missingSource(spec, file);
  const raw = await readLog(file, spec);
  return prepareLog(raw, {
    dedup: spec.dedup,
    minItemCount: spec.min_item_count,
    minUserCount: spec.min_user_count,
    kcore: spec.kcore,
  });
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
