/**
 * The `dataset` section of a trial config: which interaction log to load and how to prepare and split
 * it. Resolution fills every default (a registered data set's own, else the generic ones) and drops
 * keys the chosen format or split does not use, so that two spellings of one data set hash to one
 * trial id. It reads no files: the sweep layer calls it to canonicalise configs.
 */
import { ConfigError, shown } from '../util/config-error.js';
import { REGISTRY, registeredNames } from './registry.js';

/** Split protocols (README, "Data"). */
export const SPLITS = ['leave-one-out', 'seed'] as const;
export type SplitName = (typeof SPLITS)[number];

/**
 * File formats. `csv`/`tsv`: a delimited interaction log with a header (or column indices);
 * `movielens-dat`: MovieLens `user::item::rating::timestamp`; `sequences`: `user item1 item2 …` per
 * line (order = time order); `pairs`: `user item` per line (order = time order); `parquet`.
 */
export const FORMATS = ['csv', 'tsv', 'movielens-dat', 'sequences', 'pairs', 'parquet'] as const;
export type FormatName = (typeof FORMATS)[number];

/** Formats whose columns are named by `dataset.columns`. */
export const TABULAR_FORMATS: ReadonlySet<FormatName> = new Set<FormatName>(['csv', 'tsv', 'parquet']);

/**
 * Deduplication: `none` keeps every interaction; `consecutive` drops an interaction whose item equals
 * the user's previous one (repeated plays); `all` keeps only each user's first interaction with an item.
 */
export const DEDUPS = ['none', 'consecutive', 'all'] as const;
export type DedupMode = (typeof DEDUPS)[number];

/** A column by header name, or by 0-based index (files without a header). */
export type ColumnRef = string | number;

/** Where the fields of an interaction are, for tabular formats. */
export interface ColumnMap {
  readonly user: ColumnRef;
  readonly item: ColumnRef;
  /** Timestamp (numbers, or ISO 8601 text); without it, file order is time order. */
  readonly time?: ColumnRef;
  /** Rating or weight, needed by `rating_above`. */
  readonly rating?: ColumnRef;
  /** Event type, needed by `event_values`. */
  readonly event?: ColumnRef;
}

/** A resolved data set spec: every preparation parameter explicit. */
export interface DatasetSpec {
  /** A registered data set name (`grid data list`); gives defaults for everything below. */
  readonly name?: string;
  /** A local file; with `name`, replaces the registered data set's downloaded file. */
  readonly path?: string;
  readonly format: FormatName;
  /** Tabular formats only. @default {user: "user_id", item: "item_id", time: "timestamp"} */
  readonly columns?: ColumnMap;
  /** `csv`/`tsv` only: whether the first line names the columns. @default true */
  readonly header?: boolean;
  /** Keep only interactions whose rating is strictly greater (the seed keeps rating > 3). Absent: no filter. */
  readonly rating_above?: number;
  /** Keep only interactions whose event column is one of these (compared as text). Absent: no filter. */
  readonly event_values?: readonly string[];
  /** @default "none" */
  readonly dedup: DedupMode;
  /** Drop items with fewer interactions (after the rating/event filters and dedup). @default 1 */
  readonly min_item_count: number;
  /** Then drop users with fewer interactions. @default 1 */
  readonly min_user_count: number;
  /** Repeat the item and user passes until nothing changes (an iterative k-core) instead of once. @default false */
  readonly kcore: boolean;
  /** @default "leave-one-out" */
  readonly split: SplitName;
  /** `seed` split only: timestamp quantile where the test period starts. @default 0.9 */
  readonly test_quantile?: number;
  /** `seed` split only: fraction of the earlier period's users held out for validation. @default 0.05 */
  readonly validation_fraction?: number;
  /** `seed` split only: seed of the validation users' draw. @default 42 */
  readonly split_seed?: number;
}

/** The preparation keys (everything that shapes the prepared sequences, not the split). */
export const PREPARATION_KEYS = [
  'format',
  'columns',
  'header',
  'rating_above',
  'event_values',
  'dedup',
  'min_item_count',
  'min_user_count',
  'kcore',
] as const;

const SPLIT_KEYS = ['split', 'test_quantile', 'validation_fraction', 'split_seed'] as const;
const KNOWN_KEYS = ['name', 'path', ...PREPARATION_KEYS, ...SPLIT_KEYS];
const COLUMN_ROLES = ['user', 'item', 'time', 'rating', 'event'] as const;
const DEFAULT_COLUMNS: ColumnMap = { user: 'user_id', item: 'item_id', time: 'timestamp' };

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function formatFromPath(path: string, at: string): FormatName {
  const lower = path.toLowerCase().replace(/\.gz$/, '');
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.tsv')) return 'tsv';
  if (lower.endsWith('.dat')) return 'movielens-dat';
  if (lower.endsWith('.parquet')) return 'parquet';
  if (lower.endsWith('.txt')) return 'sequences';
  throw new ConfigError(`${at}.format`, `cannot tell the format of ${shown(path)} from its extension; give one of ${FORMATS.join(', ')}`);
}

function columnRef(v: unknown, at: string): ColumnRef {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  throw new ConfigError(at, `expected a column name or a 0-based column index, got ${shown(v)}`);
}

function resolveColumns(raw: unknown, base: ColumnMap | undefined, at: string): ColumnMap {
  if (raw !== undefined && !isObject(raw)) throw new ConfigError(at, `expected an object mapping user, item, time, rating, event to columns, got ${shown(raw)}`);
  const given = raw ?? {};
  for (const k of Object.keys(given)) {
    if (!(COLUMN_ROLES as readonly string[]).includes(k)) throw new ConfigError(`${at}.${k}`, `unknown key; allowed: ${COLUMN_ROLES.join(', ')}`);
  }
  const merged: Obj = { ...(base ?? DEFAULT_COLUMNS), ...given };
  const out: Record<string, ColumnRef> = {};
  for (const role of COLUMN_ROLES) {
    const v = merged[role];
    // null removes a column the registered data set maps (e.g. ignore its timestamps).
    if (v === undefined || v === null) {
      if (role === 'user' || role === 'item') throw new ConfigError(`${at}.${role}`, 'required');
      continue;
    }
    out[role] = columnRef(v, `${at}.${role}`);
  }
  return out as unknown as ColumnMap;
}

function intIn(v: unknown, at: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(at, `expected an integer in [${min}, ${max}], got ${shown(v)}`);
  }
  return v;
}

function fractionIn(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v >= 1) throw new ConfigError(at, `expected a number in (0, 1), got ${shown(v)}`);
  return v;
}

function bool(v: unknown, at: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(at, `expected true or false, got ${shown(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, at: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(at, `expected one of ${allowed.join(', ')}, got ${shown(v)}`);
  }
  return v as T;
}

/** Fills defaults and checks a raw `dataset` value (a registered name, or an object). Throws `ConfigError` naming `dataset.<key>`. */
export function resolveDatasetSpec(raw: unknown, at = 'dataset'): DatasetSpec {
  if (typeof raw !== 'string' && !isObject(raw)) {
    throw new ConfigError(at, `expected a data set name or an object with \`name\` or \`path\`, got ${shown(raw)}`);
  }
  const given: Obj = typeof raw === 'string' ? { name: raw } : raw;
  for (const k of Object.keys(given)) {
    if (!KNOWN_KEYS.includes(k)) throw new ConfigError(`${at}.${k}`, `unknown key; allowed: ${KNOWN_KEYS.join(', ')}`);
  }
  const { name, path } = given;
  if (name === undefined && path === undefined) throw new ConfigError(at, 'give `name` (a registered data set), `path` (a file), or both');
  if (name !== undefined && (typeof name !== 'string' || name === '')) throw new ConfigError(`${at}.name`, `expected a non-empty string, got ${shown(name)}`);
  if (path !== undefined && (typeof path !== 'string' || path === '')) throw new ConfigError(`${at}.path`, `expected a non-empty string, got ${shown(path)}`);
  const entry = name === undefined ? undefined : REGISTRY.get(name as string);
  if (name !== undefined && entry === undefined) {
    throw new ConfigError(`${at}.name`, `unknown data set ${shown(name)}; registered: ${registeredNames().join(', ')}`);
  }
  const obj: Obj = { ...(entry?.defaults ?? {}), ...given };

  const format = obj.format === undefined ? formatFromPath(path as string, at) : oneOf(obj.format, `${at}.format`, FORMATS);
  const tabular = TABULAR_FORMATS.has(format);
  if (!tabular && given.columns !== undefined) throw new ConfigError(`${at}.columns`, `only for the ${[...TABULAR_FORMATS].join(', ')} formats, not ${format}`);
  const columns = tabular ? resolveColumns(given.columns, entry?.defaults.columns, `${at}.columns`) : undefined;
  const delimited = format === 'csv' || format === 'tsv';
  if (!delimited && given.header !== undefined) throw new ConfigError(`${at}.header`, `only for the csv and tsv formats, not ${format}`);
  const header = delimited ? bool(obj.header ?? true, `${at}.header`) : undefined;
  if (header === false && columns !== undefined) {
    for (const [role, ref] of Object.entries(columns)) {
      if (typeof ref !== 'number') throw new ConfigError(`${at}.columns.${role}`, `a file without a header needs 0-based column indices, got ${shown(ref)}`);
    }
  }
  const hasRating = format === 'movielens-dat' || columns?.rating !== undefined;
  const hasTime = format === 'movielens-dat' || columns?.time !== undefined;

  const ratingAbove = obj.rating_above ?? undefined;
  if (ratingAbove !== undefined) {
    if (typeof ratingAbove !== 'number' || !Number.isFinite(ratingAbove)) throw new ConfigError(`${at}.rating_above`, `expected a number, got ${shown(ratingAbove)}`);
    if (!hasRating) throw new ConfigError(`${at}.rating_above`, 'needs a rating column (dataset.columns.rating)');
  }
  const eventRaw = obj.event_values ?? undefined;
  let eventValues: string[] | undefined;
  if (eventRaw !== undefined) {
    const list = Array.isArray(eventRaw) ? eventRaw : [eventRaw];
    eventValues = list.map((v, i) => {
      if ((typeof v !== 'string' && typeof v !== 'number') || v === '') throw new ConfigError(`${at}.event_values[${i}]`, `expected a string or a number, got ${shown(v)}`);
      return String(v);
    });
    if (eventValues.length === 0) throw new ConfigError(`${at}.event_values`, 'expected at least one value');
    if (columns?.event === undefined) throw new ConfigError(`${at}.event_values`, 'needs an event column (dataset.columns.event)');
    eventValues = [...new Set(eventValues)].sort();
  }

  const split = oneOf(obj.split ?? 'leave-one-out', `${at}.split`, SPLITS);
  if (split === 'seed' && !hasTime) {
    throw new ConfigError(`${at}.split`, `the seed split needs timestamps; format ${format} ${tabular ? 'has no dataset.columns.time' : 'has none'}`);
  }
  if (split !== 'seed') {
    for (const k of ['test_quantile', 'validation_fraction', 'split_seed']) {
      if (given[k] !== undefined) throw new ConfigError(`${at}.${k}`, `only for the seed split, not ${split}`);
    }
  }

  return {
    ...(name !== undefined ? { name: name as string } : {}),
    ...(path !== undefined ? { path: path as string } : {}),
    format,
    ...(columns !== undefined ? { columns } : {}),
    ...(header !== undefined ? { header } : {}),
    ...(ratingAbove !== undefined ? { rating_above: ratingAbove } : {}),
    ...(eventValues !== undefined ? { event_values: eventValues } : {}),
    dedup: oneOf(obj.dedup ?? 'none', `${at}.dedup`, DEDUPS),
    min_item_count: intIn(obj.min_item_count ?? 1, `${at}.min_item_count`, 1, 1_000_000),
    min_user_count: intIn(obj.min_user_count ?? 1, `${at}.min_user_count`, 1, 1_000_000),
    kcore: bool(obj.kcore ?? false, `${at}.kcore`),
    split,
    ...(split === 'seed'
      ? {
          test_quantile: fractionIn(obj.test_quantile ?? 0.9, `${at}.test_quantile`),
          validation_fraction: fractionIn(obj.validation_fraction ?? 0.05, `${at}.validation_fraction`),
          split_seed: intIn(obj.split_seed ?? 42, `${at}.split_seed`, 0, 2 ** 32 - 1),
        }
      : {}),
  };
}
