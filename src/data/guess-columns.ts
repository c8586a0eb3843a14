/**
 * Recognising the columns of a csv or tsv interaction log by their header names, so that `grid data
 * stats ratings.csv` works on MovieLens and Amazon files without naming the columns. Only `grid data`
 * guesses: a trial's config must name its columns, since its id must not depend on a file's contents
 * beyond the data it reads (spec.ts reads no files).
 */
import { existsSync } from 'node:fs';
import { DataError } from './data-error.js';
import { fileChunks } from './file-chunks.js';
import { LineScanner } from './line-scanner.js';

/** The roles that are recognised by name. */
export type GuessedRole = 'user' | 'item' | 'time' | 'rating';

/**
 * Common names of each role, most specific first. They are compared without case, `_`, `-` or spaces,
 * so `user_id` also matches `userId` and `UserID`. Amazon's 2023 review files carry both `parent_asin`
 * and `asin`: the parent groups a product's variants (sizes, colours), and is what studies on them use.
 * `reviewerID`, `unixReviewTime` and `overall` are the 2014/2018 Amazon files' names.
 */
export const COLUMN_NAMES: Readonly<Record<GuessedRole, readonly string[]>> = {
  user: ['user_id', 'user', 'reviewerID'],
  item: ['item_id', 'movieId', 'parent_asin', 'asin', 'item'],
  time: ['timestamp', 'time', 'ts', 'unixReviewTime'],
  rating: ['rating', 'overall'],
};

const normalise = (name: string): string => name.toLowerCase().replace(/[\s_-]/g, '');

/** Which header column plays each role, where one has a common name; no column plays two roles. */
export function guessColumns(header: readonly string[]): Partial<Record<GuessedRole, string>> {
  const taken = new Set<string>();
  const out: Partial<Record<GuessedRole, string>> = {};
  for (const role of Object.keys(COLUMN_NAMES) as GuessedRole[]) {
    for (const candidate of COLUMN_NAMES[role]) {
      const found = header.find((h) => !taken.has(h) && normalise(h) === normalise(candidate));
      if (found !== undefined) {
        out[role] = found;
        taken.add(found);
        break;
      }
    }
  }
  return out;
}

/** The column names on the first line of a csv or tsv file (`.gz` too); [] for an empty file. */
export async function readHeader(file: string, separator: ',' | '\t'): Promise<string[]> {
  let header: string[] | undefined;
  const scanner = new LineScanner(file, separator, (f) => {
    header ??= Array.from({ length: f.count }, (_, k) => f.buf.toString('utf8', f.starts[k], f.ends[k]).trim().replace(/^\uFEFF/, ''));
  });
  for await (const chunk of fileChunks(file)) {
    scanner.push(chunk);
    if (header !== undefined) return header;
  }
  scanner.end();
  return header ?? [];
}

/** The columns `withGuessedColumns` chose, by role; null: none recognised (time: file order is time order). */
export type ChosenColumns = Readonly<Partial<Record<GuessedRole, string | null>>>;

/**
 * Fills the columns a raw `dataset` value leaves out from the file's header, when it names a csv or
 * tsv file with a header and no registered data set (whose columns are known). Returns the value to
 * resolve, and what was chosen (undefined when nothing was guessed: another format, a missing file,
 * every role given). Throws `DataError` naming the file when no user or item column is recognised.
 */
export async function withGuessedColumns(raw: Readonly<Record<string, unknown>>): Promise<{ raw: Record<string, unknown>; chosen?: ChosenColumns }> {
  const { path, name, format, header, columns } = raw;
  const given = typeof columns === 'object' && columns !== null && !Array.isArray(columns) ? (columns as Record<string, unknown>) : {};
  if (name !== undefined || typeof path !== 'string' || header === false || (columns !== undefined && given !== columns)) return { raw: { ...raw } };
  const kind = format ?? path.toLowerCase().replace(/\.gz$/, '').match(/\.(csv|tsv)$/)?.[1];
  if ((kind !== 'csv' && kind !== 'tsv') || !existsSync(path)) return { raw: { ...raw } };
  const missing = (Object.keys(COLUMN_NAMES) as GuessedRole[]).filter((role) => !(role in given));
  if (missing.length === 0) return { raw: { ...raw } };
  const names = await readHeader(path, kind === 'csv' ? ',' : '\t');
  const guessed = guessColumns(names.filter((n) => !Object.values(given).includes(n)));
  const chosen: Partial<Record<GuessedRole, string | null>> = {};
  for (const role of missing) {
    const column = guessed[role];
    if (column === undefined && (role === 'user' || role === 'item')) {
      throw new DataError(path, `no ${role} column recognised in the header (${names.join(', ')}); name it: --set columns.${role}=NAME`, 1);
    }
    chosen[role] = column ?? null;
  }
  // null removes the default `timestamp` column where the file has none: file order is then time order.
  const filled = Object.fromEntries(Object.entries(chosen).filter(([role, c]) => c !== null || role === 'time'));
  return { raw: { ...raw, columns: { ...filled, ...given } }, chosen };
}
