/**
 * Extracts one member of a zip archive (the MovieLens downloads) with node:zlib: reads the central
 * directory at the end of the file, then inflates the member's data to a file. Stored and deflated
 * members; not zip64 (no registered archive needs it) and not encrypted.
 */
import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';
import { DataError } from './data-error.js';

const EOCD_SIG = 0x06054b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

interface Member {
  readonly method: number;
  readonly compressedSize: number;
  readonly localOffset: number;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, position);
  return buf.subarray(0, n);
}

function findMember(fd: number, zipPath: string, name: string): Member {
  const size = fstatSync(fd).size;
  const tailLength = Math.min(size, 65_557);
  const tail = readAt(fd, size - tailLength, tailLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new DataError(zipPath, 'not a zip archive (no end of central directory)');
  const entries = tail.readUInt16LE(eocd + 10);
  const dirSize = tail.readUInt32LE(eocd + 12);
  const dirOffset = tail.readUInt32LE(eocd + 16);
  if (dirOffset === 0xffffffff || entries === 0xffff) throw new DataError(zipPath, 'zip64 archives are not supported');
  const dir = readAt(fd, dirOffset, dirSize);
  const names: string[] = [];
  for (let p = 0, k = 0; k < entries; k++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL_SIG) throw new DataError(zipPath, 'corrupt central directory');
    const nameLength = dir.readUInt16LE(p + 28);
    const entryName = dir.toString('utf8', p + 46, p + 46 + nameLength);
    if (entryName === name) {
      if ((dir.readUInt16LE(p + 8) & 1) !== 0) throw new DataError(zipPath, `${name} is encrypted`);
      return { method: dir.readUInt16LE(p + 10), compressedSize: dir.readUInt32LE(p + 20), localOffset: dir.readUInt32LE(p + 42) };
    }
    names.push(entryName);
    p += 46 + nameLength + dir.readUInt16LE(p + 30) + dir.readUInt16LE(p + 32);
  }
  throw new DataError(zipPath, `no member ${name}; members: ${names.join(', ')}`);
}

/** Extracts `member` of `zipPath` to `outPath` (through a temporary file renamed into place). */
export async function extractZipMember(zipPath: string, member: string, outPath: string): Promise<void> {
  const fd = openSync(zipPath, 'r');
  let start: number;
  let found: Member;
  try {
    found = findMember(fd, zipPath, member);
    const local = readAt(fd, found.localOffset, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL_SIG) throw new DataError(zipPath, `corrupt local header of ${member}`);
    start = found.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  } finally {
    closeSync(fd);
  }
  if (found.method !== 0 && found.method !== 8) throw new DataError(zipPath, `${member} uses compression method ${found.method}; only stored and deflated members are supported`);
  const tmp = `${outPath}.tmp-${process.pid}`;
  const source = createReadStream(zipPath, { start, end: start + found.compressedSize - 1 });
  try {
    if (found.method === 8) await pipeline(source, createInflateRaw(), createWriteStream(tmp));
    else await pipeline(source, createWriteStream(tmp));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new DataError(zipPath, `cannot extract ${member}: ${(err as Error).message}`);
  }
  renameSync(tmp, outPath);
}
