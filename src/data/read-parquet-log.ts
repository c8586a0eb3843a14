/**
 * Reads a Parquet interaction log (Zvuk and Megamarket ship as Parquet) with hyparquet, one row group
 * at a time, so memory holds one group's columns plus the output typed arrays. Every codec Parquet
 * writers use is read: snappy (Spark's and pyarrow's default), zstd (polars' default), gzip, brotli
 * and lz4, through hyparquet-compressors.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { DataError } from './data-error.js';
import type { IdInterner } from './id-interner.js';
import { RawLogBuilder, type RawLog } from './raw-log.js';
import type { ColumnRef, DatasetSpec } from './spec.js';

/** A cell as hyparquet decodes it. */
type Cell = number | bigint | string | boolean | Date | null | undefined | Uint8Array;

function columnName(ref: ColumnRef, names: readonly string[], role: string, file: string): string {
  const name = typeof ref === 'number' ? names[ref] : ref;
  if (name === undefined || !names.includes(name)) {
    throw new DataError(file, `no column ${JSON.stringify(ref)} (dataset.columns.${role}); columns: ${names.join(', ')}`);
  }
  return name;
}

function idOf(ids: IdInterner, v: Cell, file: string, row: number, role: string): number {
  if (typeof v === 'number' || typeof v === 'bigint' || (typeof v === 'string' && v !== '')) return ids.intern(v);
  throw new DataError(file, `row ${row}: ${role} id ${String(v)} is not a number or a non-empty string`);
}

function timeOf(v: Cell): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') return /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number(v);
  return Number.NaN;
}

/** Reads a parquet file into a RawLog, applying `rating_above` and `event_values`. */
export async function readParquetLog(file: string, spec: DatasetSpec): Promise<RawLog> {
  const cols = spec.columns;
  if (cols === undefined) throw new Error('parquet needs a column mapping');
  let buffer;
  try {
    buffer = await asyncBufferFromFile(file);
  } catch (err) {
    throw new DataError(file, `cannot open: ${(err as Error).message}`);
  }
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (err) {
    throw new DataError(file, `not a readable parquet file: ${(err as Error).message}`);
  }
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  const user = columnName(cols.user, names, 'user', file);
  const item = columnName(cols.item, names, 'item', file);
  const time = cols.time === undefined ? undefined : columnName(cols.time, names, 'time', file);
  const rating = spec.rating_above === undefined || cols.rating === undefined ? undefined : columnName(cols.rating, names, 'rating', file);
  const event = spec.event_values === undefined || cols.event === undefined ? undefined : columnName(cols.event, names, 'event', file);
  const wanted = [...new Set([user, item, time, rating, event].filter((c): c is string => c !== undefined))];
  const ratingAbove = spec.rating_above ?? Number.NEGATIVE_INFINITY;
  const events = new Set(spec.event_values ?? []);
  const out = new RawLogBuilder();

  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const rows = Number(group.num_rows);
    const data = new Map<string, Cell[]>(wanted.map((c) => [c, new Array<Cell>(rows)]));
    try {
      await parquetRead({
        file: buffer,
        metadata,
        columns: wanted,
        rowStart: groupStart,
        rowEnd: groupStart + rows,
        compressors,
        onChunk(chunk) {
          const target = data.get(chunk.columnName);
          if (target === undefined) return;
          const values = chunk.columnData as ArrayLike<Cell>;
          for (let k = 0; k < values.length; k++) {
            const r = chunk.rowStart + k - groupStart;
            if (r >= 0 && r < rows) target[r] = values[k];
          }
        },
      });
    } catch (err) {
      throw new DataError(file, `cannot decode rows ${groupStart + 1}-${groupStart + rows}: ${(err as Error).message}`);
    }
    const us = data.get(user)!;
    const its = data.get(item)!;
    const ts = time === undefined ? undefined : data.get(time)!;
    const rs = rating === undefined ? undefined : data.get(rating)!;
    const es = event === undefined ? undefined : data.get(event)!;
    for (let r = 0; r < rows; r++) {
      const row = groupStart + r + 1;
      out.rowsRead++;
      if (rs !== undefined) {
        const v = timeOf(rs[r]);
        if (Number.isNaN(v)) throw new DataError(file, `row ${row}: rating ${String(rs[r])} is not a number`);
        if (!(v > ratingAbove)) continue;
      }
      if (es !== undefined && !events.has(String(es[r]))) continue;
      let t = out.rowsRead;
      if (ts !== undefined) {
        t = timeOf(ts[r]);
        if (Number.isNaN(t)) throw new DataError(file, `row ${row}: timestamp ${String(ts[r])} is not a number, a date or ISO 8601 text`);
      }
      out.add(idOf(out.userIds, us[r], file, row, 'user'), idOf(out.itemIds, its[r], file, row, 'item'), t);
    }
    groupStart += rows;
  }
  return out.finish();
}
