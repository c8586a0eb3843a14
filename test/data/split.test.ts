import { describe, expect, it } from 'vitest';
import type { PreparedLog } from '../../src/data/prepare.js';
import { splitLeaveOneOut } from '../../src/data/split-leave-one-out.js';
import { kthSmallest, splitSeed, validationDraw } from '../../src/data/split-seed.js';
import { evalRows, rows } from './helpers.js';

/** A prepared log from per-user [item, time] rows. */
function log(users: [number, number][][], numItems: number): PreparedLog {
  const offsets = [0];
  const items: number[] = [];
  const times: number[] = [];
  for (const u of users) {
    for (const [i, t] of u) {
      items.push(i);
      times.push(t);
    }
    offsets.push(items.length);
  }
  return {
    numUsers: users.length,
    numItems,
    offsets: Int32Array.from(offsets),
    items: Int32Array.from(items),
    times: Float64Array.from(times),
    counts: { read: items.length, filtered: items.length, deduplicated: items.length, kept: items.length },
  };
}

const seq = (...items: number[]): [number, number][] => items.map((i, k) => [i, k]);

describe('leave-one-out', () => {
  it('holds out the last item for test and the second to last for validation', () => {
    const ds = splitLeaveOneOut(log([seq(1, 2, 3, 4, 5), seq(6, 7, 8), seq(9, 1), seq(2)], 9), 'toy');
    expect(rows(ds.train)).toEqual([[1, 2, 3], [9, 1]]);
    expect(evalRows(ds.validation)).toEqual([
      [[1, 2, 3], 4],
      [[6], 7],
    ]);
    expect(evalRows(ds.test)).toEqual([
      [[1, 2, 3, 4], 5],
      [[6, 7], 8],
    ]);
    expect(ds.numItems).toBe(9);
    expect(Array.from(ds.itemCounts)).toEqual([0, 2, 1, 1, 0, 0, 0, 0, 0, 1]);
  });
});

describe('seed split', () => {
  it('takes the ⌊qN⌋-th smallest timestamp as the cut-off', () => {
    expect(kthSmallest(Float64Array.from([5, 1, 4, 2, 3, 9, 0, 7, 8, 6]), 9)).toBe(9);
    expect(kthSmallest(Float64Array.from([3, 3, 1, 3, 2]), 2)).toBe(3);
    const sorted = Float64Array.from({ length: 1000 }, (_, k) => (k * 7919) % 1000);
    for (const k of [0, 1, 500, 998, 999]) expect(kthSmallest(sorted, k)).toBe(k);
  });

  it('matches the protocol rule by rule on a hand-made log', () => {
    // 20 timestamps 0..19 over the users below; q = 0.75 → t* = the 15th smallest = 15.
    const users: [number, number][][] = [
      [[1, 0], [2, 1], [3, 2], [4, 16]], // A: trains on 1 2 3; item 4 is new in the test period
      [[2, 3], [5, 4], [6, 17]], // B: trains on 2 5; its test-period item 6 is new → not tested
      [[1, 5], [3, 6], [7, 18]], // C: trains on 1 3; item 7 is new likewise
      [[9, 7]], // D: one earlier item → trains nothing, but counts as a training user
      [[2, 8], [9, 19]], // D's item 9 makes E a test user: history 2 9 → input [2], target 9
      [[8, 9], [1, 10], [2, 11], [3, 12], [5, 13], [8, 14], [1, 15]], // F: the validation user (drawn below)
    ];
    const prepared = log(users, 9);
    // A seed whose draw picks F (index 5) as the one validation user of the 6 users with earlier interactions.
    const fraction = 1 / 6;
    let seed = 0;
    while (validationDraw(6, fraction, seed)[0] !== 5) seed++;
    const ds = splitSeed(prepared, 't', { testQuantile: 0.75, validationFraction: fraction, seed });
    // Catalogue = items in training (A, B, C, D, E earlier periods): 1 2 3 5 9 → ids 1..5. Item 8 only F's.
    expect(ds.numItems).toBe(5);
    const id = { 1: 1, 2: 2, 3: 3, 5: 4, 9: 5 } as const;
    expect(rows(ds.train)).toEqual([
      [id[1], id[2], id[3]],
      [id[2], id[5]],
      [id[1], id[3]],
    ]);
    // F, cold: earlier items 8 1 2 3 5 8 (t < 15) minus 8 (not in the catalogue): input 1 2 3, target 5.
    expect(evalRows(ds.validation)).toEqual([[[id[1], id[2], id[3]], id[5]]]);
    // A: test-period item 4 was never seen in the earlier period → A is no test user.
    // B: item 6 likewise. C: item 7 likewise. E: item 9 was (D's) → tested on its whole history.
    expect(evalRows(ds.test)).toEqual([[[id[2]], id[9]]]);
    expect(Array.from(ds.itemCounts)).toEqual([0, 2, 2, 2, 1, 0]);
  });

  it('tests a user on their whole history restricted to the catalogue, test period included', () => {
    // t* with q = 0.5 over 8 timestamps = the 4th smallest = 4.
    const users: [number, number][][] = [
      [[1, 0], [2, 1], [3, 4], [1, 5], [2, 6]], // trains on 1 2; tested on 1 2 (3 dropped) 1 → 2
      [[1, 2], [3, 7]], // one earlier item: trains nothing; its test-period item 3 is new → not tested
      [[2, 3]], // no test-period interactions
    ];
    const ds = splitSeed(log(users, 3), 't', { testQuantile: 0.5, validationFraction: 0.01, seed: 1 });
    expect(ds.numItems).toBe(2);
    expect(rows(ds.train)).toEqual([[1, 2]]);
    expect(ds.validation.targets.length).toBe(0);
    expect(evalRows(ds.test)).toEqual([[[1, 2, 1], 2]]);
  });
});
