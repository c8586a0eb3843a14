/** `grid data stats FILE.csv` without naming columns: common header names are recognised, and said. */
import { gzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guessColumns, readHeader } from '../../src/data/guess-columns.js';
import { gridData as grid } from './grid-data.js';
import { tempDir, tempFile } from './helpers.js';

const ROWS = ['1,10,4.0,100', '1,20,3.5,200', '1,30,5.0,300', '2,10,4.0,100', '2,30,2.0,150', '3,20,1.0,50', '3,10,3.0,60'];

describe('recognising columns by name', () => {
  it('knows MovieLens, Amazon 2023 and Amazon 2014 headers, whatever the case, using no column twice', () => {
    expect(guessColumns(['userId', 'movieId', 'rating', 'timestamp'])).toEqual({ user: 'userId', item: 'movieId', time: 'timestamp', rating: 'rating' });
    expect(guessColumns(['rating', 'title', 'asin', 'parent_asin', 'user_id', 'timestamp'])).toEqual({ user: 'user_id', item: 'parent_asin', time: 'timestamp', rating: 'rating' });
    expect(guessColumns(['reviewerID', 'asin', 'overall', 'unixReviewTime'])).toEqual({ user: 'reviewerID', item: 'asin', time: 'unixReviewTime', rating: 'overall' });
    expect(guessColumns(['USER', 'Item-Id', 'TS'])).toEqual({ user: 'USER', item: 'Item-Id', time: 'TS' });
    expect(guessColumns(['a', 'b'])).toEqual({});
  });

  it('reads the header line of plain and gzipped files', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'r.tsv.gz'), gzipSync('\uFEFFuser_id\titem_id\n1\t2\n'));
    expect(await readHeader(join(dir, 'r.tsv.gz'), '\t')).toEqual(['user_id', 'item_id']);
    expect(await readHeader(tempFile('e.csv', ''), ',')).toEqual([]);
  });
});

describe('grid data stats on a file with a header', () => {
  it('chooses MovieLens columns and says so', async () => {
    const file = tempFile('ratings.csv', `userId,movieId,rating,timestamp\n${ROWS.join('\n')}\n`);
    const r = await grid('stats', file, '--json', '--cache-dir', tempDir(), '--set', 'rating_above=2.5');
    expect(r.code ?? 0).toBe(0);
    expect(r.err).toMatch(/columns: user=userId, item=movieId, time=timestamp, rating=rating \(recognised by name/);
    const s = JSON.parse(r.out) as { spec: { columns: Record<string, string> }; users: number; interactions: number };
    expect(s.spec.columns).toEqual({ user: 'userId', item: 'movieId', time: 'timestamp', rating: 'rating' });
    // rating_above 2.5 drops the 2.0 and 1.0 rows.
    expect(s.interactions).toBe(5);
  });

  it('keeps the columns given and guesses the rest; without a time column, file order is time order', async () => {
    const file = tempFile('plays.csv', `user_id,track\n${ROWS.map((r) => r.split(',').slice(0, 2).join(',')).join('\n')}\n`);
    const r = await grid('stats', file, '--json', '--cache-dir', tempDir(), '--set', 'columns.item=track');
    expect(r.code ?? 0).toBe(0);
    expect(r.err).toMatch(/columns: user=user_id, time=none \(file order is time order\), rating=none/);
    expect((JSON.parse(r.out) as { spec: { columns: Record<string, string> } }).spec.columns).toEqual({ user: 'user_id', item: 'track' });
  });

  it('is a usage error naming the file and its columns when no user or item column is recognised', async () => {
    const file = tempFile('odd.csv', `a,b\n1,2\n`);
    const r = await grid('stats', file, '--cache-dir', tempDir());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/odd\.csv:1: no user column recognised in the header \(a, b\); name it: --set columns\.user=NAME/);
  });
});
