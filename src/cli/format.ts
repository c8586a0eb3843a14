/** Rendering results for people (aligned tables) and programs (CSV, JSON). */

/** C0 and C1 control characters (and DEL) except tab and newline. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * Text from trainers, configs and logs made safe for a terminal: control characters (escape
 * sequences that would move the cursor, recolour or retitle the terminal; carriage returns that would
 * hide what came before) are shown as `\xHH` instead of being obeyed. Newlines and tabs stay.
 */
export function sanitise(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** One column of a table. */
export interface Column<R> {
  readonly header: string;
  readonly value: (row: R) => string | number | null;
}

/** Output formats of listing commands. */
export const FORMATS = ['table', 'json', 'csv'] as const;
/** An output format of listing commands. */
export type Format = (typeof FORMATS)[number];

/** A cell's text on one line: control characters, newlines and tabs shown escaped. */
function cellText(v: string): string {
  return sanitise(v).replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

/** An aligned plain-text table; numbers align right. Cell text is shown, never obeyed (`sanitise`). */
export function renderTable<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const text = cells.map((row) => row.map((v) => (typeof v === 'number' ? formatNumber(v) : cellText(v ?? '–'))));
  // Loops, not Math.max(...spread): a spread of 100,000+ rows overflows the call stack.
  const widths = columns.map((c) => cellText(c.header).length);
  for (const row of text) for (const [i, v] of row.entries()) widths[i] = Math.max(widths[i] as number, v.length);
  const right = columns.map((_, i) => cells.length > 0 && cells.every((row) => typeof row[i] === 'number' || row[i] === null));
  const line = (row: readonly string[]): string =>
    row.map((v, i) => (right[i] ? v.padStart(widths[i] as number) : v.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [line(columns.map((c) => cellText(c.header))), ...text.map(line)].join('\n');
}

/** Characters that make a spreadsheet read a cell as a formula (CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * CSV (RFC 4180) with a header row: fields holding a quote, comma, CR or LF are quoted; null and NaN
 * are empty fields; numbers at full precision. A text field that a spreadsheet would run as a formula
 * (starting with =, +, -, @, tab or CR) is prefixed with `'`, so it is shown, not run.
 */
export function renderCsv<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const field = (v: string | number | null): string => {
    if (v === null || (typeof v === 'number' && Number.isNaN(v))) return '';
    let s = String(v);
    if (typeof v === 'string' && FORMULA_START.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = [columns.map((c) => field(c.header)).join(',')];
  for (const r of rows) lines.push(columns.map((c) => field(c.value(r))).join(','));
  return lines.join('\n');
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
