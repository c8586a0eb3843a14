/**
 * Splits a byte stream into lines and lines into fields without making strings: each complete line's
 * field boundaries go to a callback as offsets into the current buffer. This is what keeps reading a
 * 20 M-line log to seconds and its memory to the output columns.
 */
import { DataError } from './data-error.js';

/** Field separators: one byte, the MovieLens `::`, or runs of spaces and tabs. */
export type Separator = ',' | '\t' | '::' | 'whitespace';

const NL = 10;
const CR = 13;
const QUOTE = 34;
const SPACE = 32;
const TAB = 9;
const COLON = 58;

/** One line's fields: field i is `buf[starts[i] .. ends[i])` (quotes removed; `""` inside stays doubled). */
export interface LineFields {
  buf: Buffer;
  starts: Int32Array;
  ends: Int32Array;
  count: number;
  /** 1-based line number in the file. */
  line: number;
}

/** Feeds chunks in, calls `onLine` once per non-empty line. */
export class LineScanner {
  readonly #file: string;
  readonly #separator: Separator;
  readonly #onLine: (fields: LineFields) => void;
  readonly #fields: LineFields = { buf: Buffer.alloc(0), starts: new Int32Array(64), ends: new Int32Array(64), count: 0, line: 0 };
  #rest: Buffer = Buffer.alloc(0);

  /** @param file named in errors. */
  constructor(file: string, separator: Separator, onLine: (fields: LineFields) => void) {
    this.#file = file;
    this.#separator = separator;
    this.#onLine = onLine;
  }

  /** Scans every complete line of `rest + chunk`; keeps the incomplete tail for the next call. */
  push(chunk: Buffer): void {
    const buf = this.#rest.length === 0 ? chunk : Buffer.concat([this.#rest, chunk]);
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(NL, pos);
      if (nl < 0) break;
      this.#scanLine(buf, pos, nl);
      pos = nl + 1;
    }
    // Copied: the caller may reuse the chunk's memory.
    this.#rest = Buffer.from(buf.subarray(pos));
  }

  /** Scans the last line if the file does not end with a newline. */
  end(): void {
    if (this.#rest.length > 0) this.#scanLine(this.#rest, 0, this.#rest.length);
    this.#rest = Buffer.alloc(0);
  }

  #scanLine(buf: Buffer, start: number, nl: number): void {
    const f = this.#fields;
    f.line++;
    let end = nl;
    if (end > start && buf[end - 1] === CR) end--;
    if (end === start) return;
    f.buf = buf;
    f.count = 0;
    if (this.#separator === 'whitespace') this.#splitWhitespace(buf, start, end);
    else if (this.#separator === '::') this.#splitDoubleColon(buf, start, end);
    else this.#splitByte(buf, start, end, this.#separator === ',' ? 44 : TAB);
    if (f.count > 0) this.#onLine(f);
  }

  #add(s: number, e: number): void {
    const f = this.#fields;
    if (f.count === f.starts.length) {
      const starts = new Int32Array(f.count * 2);
      const ends = new Int32Array(f.count * 2);
      starts.set(f.starts);
      ends.set(f.ends);
      f.starts = starts;
      f.ends = ends;
    }
    f.starts[f.count] = s;
    f.ends[f.count] = e;
    f.count++;
  }

  #splitWhitespace(buf: Buffer, start: number, end: number): void {
    let i = start;
    while (i < end) {
      while (i < end && (buf[i] === SPACE || buf[i] === TAB)) i++;
      if (i === end) break;
      const s = i;
      while (i < end && buf[i] !== SPACE && buf[i] !== TAB) i++;
      this.#add(s, i);
    }
  }

  #splitDoubleColon(buf: Buffer, start: number, end: number): void {
    let s = start;
    for (let i = start; i + 1 < end; i++) {
      if (buf[i] === COLON && buf[i + 1] === COLON) {
        this.#add(s, i);
        s = i + 2;
        i++;
      }
    }
    this.#add(s, end);
  }

  #splitByte(buf: Buffer, start: number, end: number, sep: number): void {
    let i = start;
    for (;;) {
      if (i < end && buf[i] === QUOTE) {
        const s = i + 1;
        let j = s;
        for (;;) {
          if (j >= end) throw new DataError(this.#file, 'unterminated quoted field (a quoted field may not span lines)', this.#fields.line);
          if (buf[j] === QUOTE) {
            if (j + 1 < end && buf[j + 1] === QUOTE) j += 2;
            else break;
          } else j++;
        }
        this.#add(s, j);
        i = j + 1;
        if (i < end && buf[i] !== sep) throw new DataError(this.#file, 'text after a closing quote', this.#fields.line);
      } else {
        const s = i;
        while (i < end && buf[i] !== sep) i++;
        this.#add(s, i);
      }
      if (i >= end) return;
      i++; // the separator
      if (i === end) {
        this.#add(end, end);
        return;
      }
    }
  }
}

/** A canonical non-negative integer field (no sign, no leading zeros, at most 15 digits) as a number; -1 otherwise. */
export function canonicalInt(buf: Buffer, s: number, e: number): number {
  const n = e - s;
  if (n === 0 || n > 15 || (n > 1 && buf[s] === 48)) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** A decimal number field (`-12`, `4.5`, `1e9`, surrounding spaces allowed); NaN if it is not one. */
export function parseNumber(buf: Buffer, s: number, e: number): number {
  while (s < e && buf[s] === SPACE) s++;
  while (e > s && buf[e - 1] === SPACE) e--;
  if (s === e) return Number.NaN;
  let i = s;
  const negative = buf[i] === 45;
  if (negative || buf[i] === 43) i++;
  let v = 0;
  let digits = 0;
  while (i < e) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
    digits++;
    i++;
  }
  if (i === e && digits > 0 && digits <= 15) return negative ? -v : v;
  if (i < e && buf[i] === 46 && digits <= 15) {
    // Fast path for plain decimals such as ratings "4.5"; anything longer goes through Number().
    let scale = 1;
    let j = i + 1;
    let frac = 0;
    while (j < e && j - i <= 6) {
      const d = buf[j]! - 48;
      if (d < 0 || d > 9) break;
      frac = frac * 10 + d;
      scale *= 10;
      j++;
    }
    if (j === e && (digits > 0 || j > i + 1)) return (negative ? -1 : 1) * (v + frac / scale);
  }
  const text = buf.toString('latin1', s, e);
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : Number.NaN;
}

/** A timestamp field: a number as is, else ISO 8601 text as milliseconds since the epoch; NaN if neither. */
export function parseTime(buf: Buffer, s: number, e: number): number {
  const v = parseNumber(buf, s, e);
  if (!Number.isNaN(v)) return v;
  const text = buf.toString('utf8', s, e).trim();
  return /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
}
