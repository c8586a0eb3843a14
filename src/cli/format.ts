/** Rendering results for people (aligned tables) and programs (CSV, JSON). */

/** One column of a table. */
export interface Column<R> {
  readonly header: string;
  readonly value: (row: R) => string | number | null;
}

/** Output formats of listing commands. */
export const FORMATS = ['table', 'json', 'csv'] as const;
/** An output format of listing commands. */
export type Format = (typeof FORMATS)[number];

/** An aligned plain-text table; numbers align right. */
export function renderTable<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const text = cells.map((row) => row.map((v) => (typeof v === 'number' ? formatNumber(v) : (v ?? '–'))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...text.map((row) => (row[i] as string).length)));
  const right = columns.map((_, i) => cells.length > 0 && cells.every((row) => typeof row[i] === 'number' || row[i] === null));
  const line = (row: readonly string[]): string =>
    row.map((v, i) => (right[i] ? v.padStart(widths[i] as number) : v.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), ...text.map(line)].join('\n');
}

/** CSV (RFC 4180 quoting) with a header row; numbers at full precision. */
export function renderCsv<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const quote = (v: string | number | null): string => {
    const s = v === null ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [columns.map((c) => quote(c.header)), ...rows.map((r) => columns.map((c) => quote(c.value(r))))].map((l) => l.join(',')).join('\n');
}

/** A number for a table: integers as is, others to four significant decimals; NaN as "–". */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return '–';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toFixed(4);
}

/** Bytes as MiB (GiB from 10 GiB on). */
export function formatBytes(bytes: number): string {
  if (!(bytes > 0)) return '–';
  const mib = bytes / 2 ** 20;
  return mib >= 10 * 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${mib.toFixed(1)} MiB`;
}

/** The short form of a trial id shown in tables (any unique prefix is accepted back). */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** A config value for a table cell. */
export function formatValue(v: unknown): string {
  if (v === undefined) return '–';
  return typeof v === 'string' ? v : JSON.stringify(v);
}
