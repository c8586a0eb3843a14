/**
 * The binary cache of prepared logs: one file per (source fingerprint, preparation parameters),
 * holding the CSR offsets, item ids and timestamps as raw little-endian typed arrays behind a JSON
 * header, so a second load reads three arrays instead of parsing text.
 *
 * Layout: "GRIDPREP" | u32 format version | u32 header bytes | header JSON | zero padding to 8 |
 * offsets (Int32) | items (Int32) | padding to 8 | times (Float64). The header records the key, the
 * sizes and a sha256 of the three arrays. A file whose magic, version, key, size, digest or structure
 * (offsets rising from 0 to N, item ids in 1..numItems) does not check out is deleted and rebuilt,
 * never trusted. Writes go to a temporary file renamed into place, so readers never see half a file.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { writeFileAtomically } from './atomic-file.js';
import type { PrepareCounts, PreparedLog } from './prepare.js';

const MAGIC = 'GRIDPREP';
/** Bump when the file layout or the meaning of a prepared log changes: old files then miss. */
export const CACHE_FORMAT_VERSION = 1;
const PREAMBLE = 16;
const IO_BYTES = 1 << 26;

interface Header {
  readonly key: string;
  readonly numUsers: number;
  readonly numItems: number;
  readonly interactions: number;
  readonly counts: PrepareCounts;
  readonly sha256: string;
  /** Free-form provenance (the source and parameters), for people reading the file. */
  readonly about: unknown;
}

const pad8 = (n: number): number => (n + 7) & ~7;

function bytesOf(a: Int32Array | Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, Math.min(IO_BYTES, bytes.length - done));
}

function readAll(fd: number, bytes: Uint8Array, position: number): boolean {
  for (let done = 0; done < bytes.length; ) {
    const n = readSync(fd, bytes, done, Math.min(IO_BYTES, bytes.length - done), position + done);
    if (n === 0) return false;
    done += n;
  }
  return true;
}

function digest(log: Pick<PreparedLog, 'offsets' | 'items' | 'times'>): string {
  return createHash('sha256').update(bytesOf(log.offsets)).update(bytesOf(log.items)).update(bytesOf(log.times)).digest('hex');
}

/** Writes a prepared log to `path` atomically. */
export function writePreparedCache(path: string, key: string, log: PreparedLog, about: unknown): void {
  const header: Header = {
    key,
    numUsers: log.numUsers,
    numItems: log.numItems,
    interactions: log.items.length,
    counts: log.counts,
    sha256: digest(log),
    about,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const pre = Buffer.alloc(pad8(PREAMBLE + json.length));
  pre.write(MAGIC, 0, 'latin1');
  pre.writeUInt32LE(CACHE_FORMAT_VERSION, 8);
  pre.writeUInt32LE(json.length, 12);
  json.copy(pre, PREAMBLE);
  writeFileAtomically(path, (fd) => {
    writeAll(fd, pre);
    writeAll(fd, bytesOf(log.offsets));
    writeAll(fd, bytesOf(log.items));
    const gap = pad8(log.offsets.byteLength + log.items.byteLength) - (log.offsets.byteLength + log.items.byteLength);
    writeAll(fd, new Uint8Array(gap));
    writeAll(fd, bytesOf(log.times));
  });
}

/** Why a cache file was rejected, or the log it holds. */
export type CacheRead = { readonly log: PreparedLog } | { readonly rejected: string };

function check(fd: number, key: string): CacheRead {
  const size = fstatSync(fd).size;
  const pre = Buffer.alloc(PREAMBLE);
  if (!readAll(fd, pre, 0) || pre.toString('latin1', 0, 8) !== MAGIC) return { rejected: 'not a gridrec cache file' };
  if (pre.readUInt32LE(8) !== CACHE_FORMAT_VERSION) return { rejected: `format version ${pre.readUInt32LE(8)}, expected ${CACHE_FORMAT_VERSION}` };
  const jsonBytes = pre.readUInt32LE(12);
  const json = Buffer.alloc(jsonBytes);
  if (!readAll(fd, json, PREAMBLE)) return { rejected: 'truncated header' };
  let h: Header;
  try {
    h = JSON.parse(json.toString('utf8')) as Header;
  } catch {
    return { rejected: 'unreadable header' };
  }
  if (h.key !== key) return { rejected: 'key mismatch' };
  const start = pad8(PREAMBLE + jsonBytes);
  const intBytes = 4 * (h.numUsers + 1 + h.interactions);
  const timesAt = start + pad8(intBytes);
  if (size !== timesAt + 8 * h.interactions) return { rejected: `size ${size}, expected ${timesAt + 8 * h.interactions}` };
  const offsets = new Int32Array(h.numUsers + 1);
  const items = new Int32Array(h.interactions);
  const times = new Float64Array(h.interactions);
  if (!readAll(fd, bytesOf(offsets), start) || !readAll(fd, bytesOf(items), start + offsets.byteLength) || !readAll(fd, bytesOf(times), timesAt)) {
    return { rejected: 'truncated data' };
  }
  if (digest({ offsets, items, times }) !== h.sha256) return { rejected: 'checksum mismatch' };
  if (offsets[0] !== 0 || offsets[h.numUsers] !== h.interactions) return { rejected: 'bad offsets' };
  for (let u = 0; u < h.numUsers; u++) if (offsets[u + 1]! <= offsets[u]!) return { rejected: 'bad offsets' };
  for (let k = 0; k < items.length; k++) if (items[k]! < 1 || items[k]! > h.numItems) return { rejected: 'item id out of range' };
  return { log: { numUsers: h.numUsers, numItems: h.numItems, offsets, items, times, counts: h.counts } };
}

/**
 * Reads the prepared log cached at `path` under `key`. A missing file gives `rejected: "missing"`;
 * an invalid one is deleted and its reason returned.
 */
export function readPreparedCache(path: string, key: string): CacheRead {
  if (!existsSync(path)) return { rejected: 'missing' };
  const fd = openSync(path, 'r');
  let result: CacheRead;
  try {
    result = check(fd, key);
  } finally {
    closeSync(fd);
  }
  if ('rejected' in result) rmSync(path, { force: true });
  return result;
}
