/** Reads an interaction log of any supported format. */
import { existsSync, statSync } from 'node:fs';
import { DataError } from './data-error.js';
import { readParquetLog } from './read-parquet-log.js';
import { readDelimitedLog, readSequenceLog } from './read-text-log.js';
import type { RawLog } from './raw-log.js';
import type { DatasetSpec } from './spec.js';

/** Reads `file` as `spec.format`, applying the rating and event filters. */
export async function readLog(file: string, spec: DatasetSpec): Promise<RawLog> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new DataError(file, 'no such file');
  switch (spec.format) {
    case 'csv':
    case 'tsv':
    case 'movielens-dat':
      return readDelimitedLog(file, spec);
    case 'sequences':
    case 'pairs':
      return readSequenceLog(file, spec);
    case 'parquet':
      return readParquetLog(file, spec);
  }
}
