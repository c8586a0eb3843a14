import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readLog } from '../../src/data/read-log.js';
import { resolveDatasetSpec } from '../../src/data/spec.js';
import { tempFile } from './helpers.js';
import { writeParquet, zstdRawFrame, type FixtureCodec } from './parquet-writer.js';
import { compressors } from 'hyparquet-compressors';

const users = [7, 7, 8, 8, 7];
const items = ['a', 'b', 'a', 'c', 'c'];
const times = [1000n, 3000n, 2000n, 4000n, 5000n];
const events = [2, 1, 2, 2, 2];

describe('parquet reader', () => {
  it('reads mapped columns across row groups, with timestamps as dates and an event filter', async () => {
    const file = tempFile(
      'log.parquet',
      writeParquet(
        [
          { name: 'user_id', type: 'int32', values: users },
          { name: 'track', type: 'utf8', values: items },
          { name: 'datetime', type: 'timestamp-millis', values: times },
          { name: 'event', type: 'int32', values: events },
        ],
        2,
      ),
    );
    const spec = resolveDatasetSpec({ path: file, columns: { item: 'track', time: 'datetime', event: 'event' }, event_values: [2] });
    const log = await readLog(file, spec);
    const got = Array.from(log.users, (u, r) => [log.userIds.key(u), log.itemIds.key(log.items[r]!), log.times[r]]);
    expect(got).toEqual([
      [7, 'a', 1000],
      [8, 'a', 2000],
      [8, 'c', 4000],
      [7, 'c', 5000],
    ]);
    expect(log.rowsRead).toBe(5);
  });

  it('reads plain int64 timestamps and names a missing column', async () => {
    const file = tempFile(
      'plain.parquet',
      writeParquet(
        [
          { name: 'user_id', type: 'int64', values: [1n, 2n] },
          { name: 'item_id', type: 'int64', values: [10n, 20n] },
          { name: 'timestamp', type: 'int64', values: [5n, 6n] },
        ],
        10,
      ),
    );
    const log = await readLog(file, resolveDatasetSpec({ path: file }));
    expect(Array.from(log.times)).toEqual([5, 6]);
    expect(log.itemIds.key(log.items[1]!)).toBe(20);
    await expect(readLog(file, resolveDatasetSpec({ path: file, columns: { item: 'track_id' } }))).rejects.toThrow(
      `${file}: no column "track_id" (dataset.columns.item); columns: user_id, item_id, timestamp`,
    );
    const junk = tempFile('junk.parquet', 'not parquet at all');
    await expect(readLog(junk, resolveDatasetSpec({ path: junk }))).rejects.toThrow(`${junk}: not a readable parquet file`);
  });

  it.each(['zstd', 'gzip', 'brotli'] satisfies FixtureCodec[])('reads pages compressed with %s (polars writes zstd, Spark and pandas snappy or gzip)', async (codec) => {
    // Enough rows for a zstd frame of several blocks (128 KiB each).
    const n = 40_000;
    const file = tempFile(
      `${codec}.parquet`,
      writeParquet(
        [
          { name: 'user_id', type: 'int64', values: Array.from({ length: n }, (_, r) => BigInt(r % 97)) },
          { name: 'item_id', type: 'utf8', values: Array.from({ length: n }, (_, r) => `item-${r % 1013}`) },
          { name: 'timestamp', type: 'int64', values: Array.from({ length: n }, (_, r) => BigInt(1_000 + r)) },
        ],
        15_000,
        codec,
      ),
    );
    const log = await readLog(file, resolveDatasetSpec({ path: file }));
    expect(log.rowsRead).toBe(n);
    for (const r of [0, 1, 14_999, 15_000, n - 1]) {
      expect([log.userIds.key(log.users[r]!), log.itemIds.key(log.items[r]!), log.times[r]]).toEqual([r % 97, `item-${r % 1013}`, 1_000 + r]);
    }
  });

  it('reads a file whose pages a real zstd compressor wrote', async () => {
    // test/fixtures/zstd-compressed.parquet (3.9 kB): writeParquet of these 3,000 rows in row groups of
    // 2,000 with codec 'zstd' and compressPage = `zstd -19 -q -c` (zstd 1.5.4), so its frames hold
    // compressed blocks (Huffman and FSE coded), not only the raw blocks writeParquet makes itself.
    const file = fileURLToPath(new URL('../fixtures/zstd-compressed.parquet', import.meta.url));
    const log = await readLog(file, resolveDatasetSpec({ path: file }));
    expect(log.rowsRead).toBe(3000);
    for (const r of [0, 1999, 2000, 2999]) {
      expect([log.userIds.key(log.users[r]!), log.itemIds.key(log.items[r]!), log.times[r]]).toEqual([r % 13, `item-${(r * 7) % 29}`, 1_700_000_000 + r]);
    }
  });

  it('names the file and the rows of a page that does not decode', async () => {
    const good = writeParquet(
      [
        { name: 'user_id', type: 'int32', values: [1, 2] },
        { name: 'item_id', type: 'int32', values: [3, 4] },
        { name: 'timestamp', type: 'int32', values: [5, 6] },
      ],
      10,
      'gzip',
    );
    // Corrupt the first page's gzip stream (after the 4-byte magic and the page header).
    const bad = Buffer.from(good);
    bad.fill(0xff, 30, 40);
    const file = tempFile('bad-gzip.parquet', bad);
    await expect(readLog(file, resolveDatasetSpec({ path: file }))).rejects.toThrow(new RegExp(`^${file}: cannot decode rows 1-2: `));
  });

  it('writes zstd frames the decoder reads back', () => {
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, k) => k % 251));
    expect(Buffer.from(compressors.ZSTD!(zstdRawFrame(data), data.length)).equals(data)).toBe(true);
  });
});
