/** Reads a file as a stream of byte chunks, gunzipping `.gz` files on the way. */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';

const CHUNK_BYTES = 1 << 22;

/** The file's bytes in chunks of about 4 MiB (decompressed where the name ends in `.gz`). */
export async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const raw = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  try {
    if (!path.toLowerCase().endsWith('.gz')) {
      for await (const chunk of raw) yield chunk as Buffer;
      return;
    }
    const gunzip = createGunzip({ chunkSize: CHUNK_BYTES });
    raw.on('error', (err) => gunzip.destroy(err));
    raw.pipe(gunzip);
    for await (const chunk of gunzip) yield chunk as Buffer;
  } finally {
    raw.destroy();
  }
}
