import { describe, expect, it } from 'vitest';
import { readLog } from '../../src/data/read-log.js';
import { resolveDatasetSpec } from '../../src/data/spec.js';
import { tempFile } from './helpers.js';
import { writeParquet } from './parquet-writer.js';

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
});
