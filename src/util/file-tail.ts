/** Reading the end of a possibly large, possibly growing file. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** The last `bytes` bytes of a file as UTF-8 ('' when the file does not exist). */
export function readTail(path: string, bytes: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
