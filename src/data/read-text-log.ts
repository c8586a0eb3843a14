/**
 * Readers of text interaction logs: delimited files with a column mapping (csv, tsv, MovieLens
 * `::`), and the SASRec/BERT4Rec papers' `user item1 item2 …` sequence and `user item` pair files.
 * Rating and event filters apply while reading, so dropped rows never take memory.
 */
import { DataError } from './data-error.js';
import { fileChunks } from './file-chunks.js';
import type { IdInterner } from './id-interner.js';
import { LineScanner, canonicalInt, parseNumber, parseTime, type LineFields, type Separator } from './line-scanner.js';
import { RawLogBuilder, type RawLog } from './raw-log.js';
import type { ColumnMap, ColumnRef, DatasetSpec } from './spec.js';

/** MovieLens ratings.dat: `UserID::MovieID::Rating::Timestamp`. */
const MOVIELENS_DAT_COLUMNS: ColumnMap = { user: 0, item: 1, rating: 2, time: 3 };

function intern(ids: IdInterner, f: LineFields, k: number, file: string, role: string): number {
  const s = f.starts[k]!;
  const e = f.ends[k]!;
  if (s === e) throw new DataError(file, `empty ${role} id in field ${k + 1}`, f.line);
  const n = canonicalInt(f.buf, s, e);
  return n >= 0 ? ids.internNumber(n) : ids.internString(f.buf.toString('utf8', s, e));
}

function fieldText(f: LineFields, k: number): string {
  return f.buf.toString('utf8', f.starts[k]!, f.ends[k]!);
}

async function scan(file: string, separator: Separator, onLine: (f: LineFields) => void): Promise<void> {
  const scanner = new LineScanner(file, separator, onLine);
  for await (const chunk of fileChunks(file)) scanner.push(chunk);
  scanner.end();
}

/** Column indices of the roles a delimited reader needs; -1 where unused. */
interface ColumnIndices {
  user: number;
  item: number;
  time: number;
  rating: number;
  event: number;
}

function indicesFromHeader(f: LineFields, spec: DatasetSpec, file: string): ColumnIndices {
  const names = Array.from({ length: f.count }, (_, k) => fieldText(f, k).trim().replace(/^\uFEFF/, ''));
  const find = (ref: ColumnRef | undefined, role: string): number => {
    if (ref === undefined) return -1;
    if (typeof ref === 'number') return ref;
    const k = names.indexOf(ref);
    if (k < 0) throw new DataError(file, `no column ${JSON.stringify(ref)} (dataset.columns.${role}) in the header; columns: ${names.join(', ')}`, f.line);
    return k;
  };
  return indicesFromRefs(spec, find);
}

function indicesFromRefs(spec: DatasetSpec, find: (ref: ColumnRef | undefined, role: string) => number): ColumnIndices {
  const c = spec.format === 'movielens-dat' ? MOVIELENS_DAT_COLUMNS : spec.columns;
  if (c === undefined) throw new Error(`format ${spec.format} has no column mapping`);
  return {
    user: find(c.user, 'user'),
    item: find(c.item, 'item'),
    time: find(c.time, 'time'),
    rating: spec.rating_above === undefined ? -1 : find(c.rating, 'rating'),
    event: spec.event_values === undefined ? -1 : find(c.event, 'event'),
  };
}

/** Reads a csv, tsv or movielens-dat file into a RawLog, applying `rating_above` and `event_values`. */
export async function readDelimitedLog(file: string, spec: DatasetSpec): Promise<RawLog> {
  const separator: Separator = spec.format === 'csv' ? ',' : spec.format === 'tsv' ? '\t' : '::';
  const out = new RawLogBuilder();
  const ratingAbove = spec.rating_above ?? Number.NEGATIVE_INFINITY;
  const events = new Set(spec.event_values ?? []);
  let cols: ColumnIndices | undefined = spec.header === true ? undefined : indicesFromRefs(spec, (ref) => (ref === undefined ? -1 : (ref as number)));
  let needed = cols === undefined ? 0 : Math.max(...Object.values(cols)) + 1;

  await scan(file, separator, (f) => {
    if (cols === undefined) {
      cols = indicesFromHeader(f, spec, file);
      needed = Math.max(...Object.values(cols)) + 1;
      return;
    }
    out.rowsRead++;
    if (f.count < needed) throw new DataError(file, `expected at least ${needed} fields, got ${f.count}`, f.line);
    if (cols.rating >= 0) {
      const r = parseNumber(f.buf, f.starts[cols.rating]!, f.ends[cols.rating]!);
      if (Number.isNaN(r)) throw new DataError(file, `rating ${JSON.stringify(fieldText(f, cols.rating))} is not a number`, f.line);
      if (!(r > ratingAbove)) return;
    }
    if (cols.event >= 0 && !events.has(fieldText(f, cols.event).trim())) return;
    let t = out.rowsRead;
    if (cols.time >= 0) {
      t = parseTime(f.buf, f.starts[cols.time]!, f.ends[cols.time]!);
      if (Number.isNaN(t)) throw new DataError(file, `timestamp ${JSON.stringify(fieldText(f, cols.time))} is neither a number nor ISO 8601`, f.line);
    }
    out.add(intern(out.userIds, f, cols.user, file, 'user'), intern(out.itemIds, f, cols.item, file, 'item'), t);
  });
  if (cols === undefined) throw new DataError(file, 'empty file: expected a header line');
  return out.finish();
}

/**
 * Reads a `sequences` file (`user item1 item2 …`, whitespace-separated) or a `pairs` file (`user item`).
 * There are no timestamps: file order is time order, and a user's later lines continue their sequence.
 */
export async function readSequenceLog(file: string, spec: DatasetSpec): Promise<RawLog> {
  const out = new RawLogBuilder();
  const pairs = spec.format === 'pairs';
  await scan(file, 'whitespace', (f) => {
    if (pairs && f.count !== 2) throw new DataError(file, `expected 2 fields (user item), got ${f.count}`, f.line);
    const user = intern(out.userIds, f, 0, file, 'user');
    for (let k = 1; k < f.count; k++) {
      out.rowsRead++;
      out.add(user, intern(out.itemIds, f, k, file, 'item'), out.rowsRead);
    }
  });
  return out.finish();
}
