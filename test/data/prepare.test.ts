import { describe, expect, it } from 'vitest';
import { prepareLog, type PrepareOptions } from '../../src/data/prepare.js';
import { readLog } from '../../src/data/read-log.js';
import { resolveDatasetSpec } from '../../src/data/spec.js';
import { rows, tempFile } from './helpers.js';

const NONE: PrepareOptions = { dedup: 'none', minItemCount: 1, minUserCount: 1, kcore: false };

async function prepared(csv: string, opts: Partial<PrepareOptions> = {}) {
  const file = tempFile('log.csv', `user_id,item_id,timestamp\n${csv}`);
  return prepareLog(await readLog(file, resolveDatasetSpec({ path: file })), { ...NONE, ...opts });
}

describe('prepareLog', () => {
  it('groups by user in time order (ties in file order) and numbers users and items by sorted raw id', async () => {
    const log = await prepared('u2,30,5\nu1,20,9\nu1,10,3\nu2,40,5\nu2,10,1\n');
    // users u1, u2; items 10→1, 20→2, 30→3, 40→4
    expect(rows(log)).toEqual([
      [1, 2],
      [1, 3, 4],
    ]);
    expect(Array.from(log.times)).toEqual([3, 9, 1, 5, 5]);
    expect(log.numItems).toBe(4);
    expect(log.counts).toEqual({ read: 5, filtered: 5, deduplicated: 5, kept: 5 });
  });

  it('sorts long out-of-order users stably', async () => {
    const n = 200;
    const lines = Array.from({ length: n }, (_, k) => `1,${k},${(k * 37) % 50}\n`).join('');
    const log = await prepared(lines);
    const t = Array.from(log.times);
    expect(t).toEqual([...t].sort((a, b) => a - b));
    // Items sharing a timestamp stay in file order: item k has time (37k mod 50); k < k' with equal time.
    const items = Array.from(log.items);
    for (let k = 1; k < n; k++) if (t[k] === t[k - 1]) expect(items[k]!).toBeGreaterThan(items[k - 1]!);
  });

  it('deduplicates consecutive repeats or all repeats', async () => {
    const csv = '1,a,1\n1,a,2\n1,b,3\n1,a,4\n1,a,5\n';
    expect(rows(await prepared(csv, { dedup: 'consecutive' }))).toEqual([[1, 2, 1]]);
    const all = await prepared(csv, { dedup: 'all' });
    expect(rows(all)).toEqual([[1, 2]]);
    expect(all.counts.deduplicated).toBe(2);
  });

  it('applies one pass of items then users (the seed), or an iterative k-core', async () => {
    // Item x has 2 interactions, y 3, z 1. Users: p {x, y}, q {x, y}, r {y, z}.
    const csv = 'p,x,1\np,y,2\nq,x,3\nq,y,4\nr,y,5\nr,z,6\n';
    const once = await prepared(csv, { minItemCount: 2, minUserCount: 2 });
    // z dropped (1 < 2), then r has 1 left → dropped; y now has 2 (still ≥ 2).
    expect(rows(once)).toEqual([
      [1, 2],
      [1, 2],
    ]);
    const strict = await prepared(csv, { minItemCount: 3, minUserCount: 2 });
    // One pass: x (2) and z (1) dropped; every user has 1 left → all dropped.
    expect(strict.numUsers).toBe(0);
    // One pass leaves an item below the minimum that a k-core removes.
    const chain = 'a,i,1\na,j,2\nb,i,3\nb,j,4\nc,j,5\nc,k,6\nd,k,7\n';
    const pass = await prepared(chain, { minItemCount: 2, minUserCount: 2 });
    expect(rows(pass)).toEqual([
      [1, 2],
      [1, 2],
      [2, 3],
    ]);
    const core = await prepared(chain, { minItemCount: 2, minUserCount: 2, kcore: true });
    // k has 1 left after d goes → dropped, then c has 1 → dropped.
    expect(rows(core)).toEqual([
      [1, 2],
      [1, 2],
    ]);
    expect(core.numItems).toBe(2);
  });
});
