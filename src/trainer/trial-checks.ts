/**
 * What the trainer child checks and how it names failures: config checks that need the data set
 * (they run before any training work), and the protocol's error kind of an exception.
 */
import { isOutOfMemory } from '../cuda/cuda-error.js';
import { DataError } from '../data/data-error.js';
import type { PreparedDataset } from '../data/types.js';
import { ConfigError } from '../util/config-error.js';
import { SAMPLED_LOSSES, type TrialConfig } from './config.js';
import type { ErrorKind } from './protocol.js';

/** Checks what the config can only be checked against once the data set is known. */
export function checkAgainstData(cfg: TrialConfig, data: PreparedDataset): void {
  const V = data.numItems;
  if (V < 2) throw new ConfigError('dataset', `the prepared data set has ${V} item(s); training needs at least 2`);
  const n = cfg.train.negatives;
  if (SAMPLED_LOSSES.has(cfg.train.loss) && n !== undefined && n >= V) {
    throw new ConfigError('train.negatives', `must be below the catalogue size (${V} items), got ${n}`);
  }
}

/** The protocol's error kind of a failure. */
export function errorKind(e: unknown): ErrorKind {
  if (e instanceof ConfigError) return 'invalid_config';
  if (e instanceof DataError) return 'data';
  // A device allocation or launch that ran out of memory, anywhere in the trial.
  if (isOutOfMemory(e)) return 'oom';
  if (e instanceof RangeError && /allocation failed|Invalid array length|Array buffer/i.test(e.message)) return 'oom';
  return 'internal';
}
