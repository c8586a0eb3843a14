/**
 * The `dataset` section of a trial config: which interaction log to load and how to prepare and split
 * it. Resolution fills defaults so that two spellings of one data set hash to one trial id.
 */
import { ConfigError, shown } from '../util/config-error.js';

/** Split protocols (SEED-NOTES.md, "Data preparation and split"). */
export const SPLITS = ['leave-one-out', 'seed'] as const;
export type SplitName = (typeof SPLITS)[number];

/** A resolved data set spec. */
export interface DatasetSpec {
  /** A registered data set name (e.g. `ml-latest-small`); exactly one of `name` and `path`. */
  readonly name?: string;
  /** A local file of interactions; exactly one of `name` and `path`. */
  readonly path?: string;
  /** @default "leave-one-out" */
  readonly split: SplitName;
}

/** Fills defaults and checks a raw `dataset` value (a name string or an object). */
export function resolveDatasetSpec(raw: unknown, at = 'dataset'): DatasetSpec {
  const obj: Record<string, unknown> =
    typeof raw === 'string' ? { name: raw } : typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { ...raw } : {};
  if (typeof raw !== 'string' && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    throw new ConfigError(at, `expected a data set name or an object with \`name\` or \`path\`, got ${shown(raw)}`);
  }
  const known = new Set(['name', 'path', 'split']);
  for (const k of Object.keys(obj)) {
    if (!known.has(k)) throw new ConfigError(`${at}.${k}`, `unknown key; allowed: ${[...known].join(', ')}`);
  }
  const { name, path } = obj;
  if ((name === undefined) === (path === undefined)) {
    throw new ConfigError(at, 'give exactly one of `name` and `path`');
  }
  if (name !== undefined && (typeof name !== 'string' || name === '')) {
    throw new ConfigError(`${at}.name`, `expected a non-empty string, got ${shown(name)}`);
  }
  if (path !== undefined && (typeof path !== 'string' || path === '')) {
    throw new ConfigError(`${at}.path`, `expected a non-empty string, got ${shown(path)}`);
  }
  const split = obj.split ?? 'leave-one-out';
  if (typeof split !== 'string' || !(SPLITS as readonly string[]).includes(split)) {
    throw new ConfigError(`${at}.split`, `expected one of ${SPLITS.join(', ')}, got ${shown(split)}`);
  }
  return {
    ...(name !== undefined ? { name: name as string } : {}),
    ...(path !== undefined ? { path: path as string } : {}),
    split: split as SplitName,
  };
}
