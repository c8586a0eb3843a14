/**
 * A source file's fingerprint, part of the binary cache key. Size and modification time catch
 * ordinary edits for free; a content hash catches a file replaced in place with the same size and
 * time (e.g. restored from a backup). Files up to FULL_HASH_LIMIT are hashed whole; larger ones by
 * their first and last HEAD_TAIL_BYTES, so fingerprinting a 5 GB log costs 32 MiB of reading.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** Files up to this size are hashed whole. */
export const FULL_HASH_LIMIT = 64 << 20;
/** Bytes hashed at each end of a larger file. */
export const HEAD_TAIL_BYTES = 16 << 20;

/** What identifies a source file's content. */
export interface SourceFingerprint {
  readonly size: number;
  readonly mtimeMs: number;
  /** sha256 of the whole file, or of its head and tail (see `partial`). */
  readonly sha256: string;
  /** True when only the head and tail were hashed. */
  readonly partial: boolean;
}

function hashRange(fd: number, hash: ReturnType<typeof createHash>, start: number, length: number): void {
  const buf = Buffer.allocUnsafe(Math.min(length, 1 << 22));
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, length - done), start + done);
    if (n === 0) break;
    hash.update(buf.subarray(0, n));
    done += n;
  }
}

/** Fingerprints a file (see the module comment for what is hashed). */
export function fingerprint(file: string): SourceFingerprint {
  const st = statSync(file);
  const hash = createHash('sha256');
  const partial = st.size > FULL_HASH_LIMIT;
  const fd = openSync(file, 'r');
  try {
    if (partial) {
      hashRange(fd, hash, 0, HEAD_TAIL_BYTES);
      hashRange(fd, hash, st.size - HEAD_TAIL_BYTES, HEAD_TAIL_BYTES);
    } else hashRange(fd, hash, 0, st.size);
  } finally {
    closeSync(fd);
  }
  return { size: st.size, mtimeMs: st.mtimeMs, sha256: hash.digest('hex'), partial };
}
