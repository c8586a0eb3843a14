/**
 * Groups a log's rows by user and orders each user's rows by time, with ties kept in file order
 * (a stable order, so a file already sorted by time is never reshuffled). Only typed arrays: a
 * counting sort by user, then a merge sort of the few user segments that are out of order.
 */

/** Row order grouped by user: rows of user u are `order[offsets[u] .. offsets[u+1])`, in time order. */
export interface UserGroups {
  readonly offsets: Int32Array;
  readonly order: Int32Array;
}

/**
 * Groups rows by `userKey[users[r]]` (a dense key 0..numKeys-1 per user index, e.g. its rank) and
 * sorts each group by `times`, stably.
 */
export function groupByUser(users: Int32Array, times: Float64Array, userKey: Int32Array): UserGroups {
  const numKeys = userKey.length;
  const offsets = new Int32Array(numKeys + 1);
  for (let r = 0; r < users.length; r++) offsets[userKey[users[r]!]! + 1]!++;
  for (let u = 0; u < numKeys; u++) offsets[u + 1]! += offsets[u]!;
  const next = offsets.slice(0, numKeys);
  const order = new Int32Array(users.length);
  for (let r = 0; r < users.length; r++) order[next[userKey[users[r]!]!]!++] = r;

  let scratch = new Int32Array(16);
  for (let u = 0; u < numKeys; u++) {
    const s = offsets[u]!;
    const e = offsets[u + 1]!;
    let sorted = true;
    for (let k = s + 1; k < e && sorted; k++) sorted = times[order[k - 1]!]! <= times[order[k]!]!;
    if (sorted) continue;
    if (scratch.length < e - s) scratch = new Int32Array(e - s);
    mergeSortByKey(order, s, e, times, scratch);
  }
  return { offsets, order };
}

/** Stable bottom-up merge sort of `idx[s..e)` by `key[idx[k]]`. */
function mergeSortByKey(idx: Int32Array, s: number, e: number, key: Float64Array, scratch: Int32Array): void {
  const n = e - s;
  // Insertion sort runs of 16, then merge runs pairwise.
  const RUN = 16;
  for (let a = s; a < e; a += RUN) {
    const b = Math.min(a + RUN, e);
    for (let k = a + 1; k < b; k++) {
      const v = idx[k]!;
      const kv = key[v]!;
      let j = k - 1;
      while (j >= a && key[idx[j]!]! > kv) {
        idx[j + 1] = idx[j]!;
        j--;
      }
      idx[j + 1] = v;
    }
  }
  for (let width = RUN; width < n; width *= 2) {
    for (let a = s; a < e - width; a += 2 * width) {
      const m = a + width;
      const b = Math.min(a + 2 * width, e);
      if (key[idx[m - 1]!]! <= key[idx[m]!]!) continue;
      for (let k = a; k < m; k++) scratch[k - a] = idx[k]!;
      let i = 0;
      let j = m;
      let o = a;
      const left = m - a;
      while (i < left && j < b) {
        // `<=` takes the left run first on ties: stable.
        if (key[scratch[i]!]! <= key[idx[j]!]!) idx[o++] = scratch[i++]!;
        else idx[o++] = idx[j++]!;
      }
      while (i < left) idx[o++] = scratch[i++]!;
    }
  }
}
