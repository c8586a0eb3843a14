import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readLog } from '../../src/data/read-log.js';
import type { RawLog } from '../../src/data/raw-log.js';
import { resolveDatasetSpec } from '../../src/data/spec.js';
import { tempFile } from './helpers.js';

/** The rows of a raw log as [rawUser, rawItem, time]. */
function triples(log: RawLog): [string | number, string | number, number][] {
  return Array.from(log.users, (u, r) => [log.userIds.key(u), log.itemIds.key(log.items[r]!), log.times[r]!]);
}

describe('delimited readers', () => {
  it('reads a csv by header names, in any column order, with quotes, CRLF and string ids', async () => {
    const file = tempFile('log.csv', 'ts,item,"user"\r\n30,"b,1",u1\r\n10,7,u2\r\n20,007,u1\n');
    const log = await readLog(file, resolveDatasetSpec({ path: file, columns: { user: 'user', item: 'item', time: 'ts' } }));
    expect(triples(log)).toEqual([
      ['u1', 'b,1', 30],
      ['u2', 7, 10],
      ['u1', '007', 20],
    ]);
    expect(log.rowsRead).toBe(3);
  });

  it('applies rating_above and event_values while reading', async () => {
    const file = tempFile('r.csv', 'u,i,r,t,e\n1,1,4,1,2\n1,2,3,2,2\n1,3,3.5,3,1\n2,1,5,4,2\n');
    const spec = resolveDatasetSpec({ path: file, columns: { user: 'u', item: 'i', rating: 'r', time: 't', event: 'e' }, rating_above: 3, event_values: [2] });
    const log = await readLog(file, spec);
    expect(triples(log)).toEqual([
      [1, 1, 1],
      [2, 1, 4],
    ]);
    expect(log.rowsRead).toBe(4);
  });

  it('reads a headerless gzipped tsv with ISO timestamps by column index', async () => {
    const file = tempFile('checkins.txt.gz', gzipSync('0\t2010-10-19T23:55:27Z\t30.2\t-97.7\t22847\n0\t2010-10-18T22:17:43Z\t30.2\t-97.7\t420315\n'));
    const log = await readLog(file, resolveDatasetSpec({ path: file, format: 'tsv', header: false, columns: { user: 0, item: 4, time: 1 } }));
    expect(triples(log)).toEqual([
      [0, 22847, Date.parse('2010-10-19T23:55:27Z')],
      [0, 420315, Date.parse('2010-10-18T22:17:43Z')],
    ]);
  });

  it('reads MovieLens ratings.dat', async () => {
    const file = tempFile('ratings.dat', '1::1193::5::978300760\n1::661::3::978302109\n2::1193::2::978298413\n');
    const log = await readLog(file, resolveDatasetSpec({ path: file, rating_above: 2 }));
    expect(triples(log)).toEqual([
      [1, 1193, 978300760],
      [1, 661, 978302109],
    ]);
  });

  it('names the file and line of a malformed row', async () => {
    const short = tempFile('bad.csv', 'user_id,item_id,timestamp\n1,2,3\n1,2\n');
    await expect(readLog(short, resolveDatasetSpec({ path: short }))).rejects.toThrow(`${short}:3: expected at least 3 fields, got 2`);
    const time = tempFile('bad-time.csv', 'user_id,item_id,timestamp\n1,2,yesterday\n');
    await expect(readLog(time, resolveDatasetSpec({ path: time }))).rejects.toThrow(`${time}:2: timestamp "yesterday" is neither a number nor ISO 8601`);
    const quote = tempFile('bad-quote.csv', 'user_id,item_id,timestamp\n1,"2,3\n');
    await expect(readLog(quote, resolveDatasetSpec({ path: quote }))).rejects.toThrow(`${quote}:2: unterminated quoted field`);
    const empty = tempFile('empty-id.csv', 'user_id,item_id,timestamp\n,2,3\n');
    await expect(readLog(empty, resolveDatasetSpec({ path: empty }))).rejects.toThrow(`${empty}:2: empty user id in field 1`);
    const col = tempFile('no-col.csv', 'user,item_id,timestamp\n1,2,3\n');
    await expect(readLog(col, resolveDatasetSpec({ path: col }))).rejects.toThrow(`${col}:1: no column "user_id" (dataset.columns.user) in the header; columns: user, item_id, timestamp`);
    const rating = tempFile('bad-rating.dat', '1::2::five::4\n');
    await expect(readLog(rating, resolveDatasetSpec({ path: rating, rating_above: 3 }))).rejects.toThrow(`${rating}:1: rating "five" is not a number`);
    await expect(readLog('/nonexistent/x.csv', resolveDatasetSpec({ path: '/nonexistent/x.csv' }))).rejects.toThrow('/nonexistent/x.csv: no such file');
  });
});

describe('sequence and pair readers', () => {
  it('reads `user item1 item2 …` lines in file order; a user continued on a later line appends', async () => {
    const file = tempFile('seq.txt', 'a 3 1 2\n\nb \t 9\na 4\n');
    const log = await readLog(file, resolveDatasetSpec({ path: file }));
    expect(triples(log)).toEqual([
      ['a', 3, 1],
      ['a', 1, 2],
      ['a', 2, 3],
      ['b', 9, 4],
      ['a', 4, 5],
    ]);
  });

  it('reads `user item` pairs and rejects other lines with file and line', async () => {
    const file = tempFile('pairs.txt', '1 5\n1 6\n2 5\n');
    const log = await readLog(file, resolveDatasetSpec({ path: file, format: 'pairs' }));
    expect(triples(log).map(([u, i]) => [u, i])).toEqual([
      [1, 5],
      [1, 6],
      [2, 5],
    ]);
    const bad = tempFile('pairs-bad.txt', '1 5\n1 6 7\n');
    await expect(readLog(bad, resolveDatasetSpec({ path: bad, format: 'pairs' }))).rejects.toThrow(`${bad}:2: expected 2 fields (user item), got 3`);
  });
});
