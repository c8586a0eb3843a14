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

  // Each out-of-order user is sorted on a local copy of its keys: comparisons then hit a small
  // array instead of random places of the whole `times` column.
  let keys = new Float64Array(16);
  let keyScratch = new Float64Array(16);
  let idxScratch = new Int32Array(16);
  for (let u = 0; u < numKeys; u++) {
    const s = offsets[u]!;
    const e = offsets[u + 1]!;
    let sorted = true;
    for (let k = s + 1; k < e && sorted; k++) sorted = times[order[k - 1]!]! <= times[order[k]!]!;
    if (sorted) continue;
    const n = e - s;
    if (keys.length < n) {
      keys = new Float64Array(n);
      keyScratch = new Float64Array(n);
      idxScratch = new Int32Array(n);
    }
    for (let k = 0; k < n; k++) keys[k] = times[order[s + k]!]!;
    sortPairs(keys, order.subarray(s, e), n, keyScratch, idxScratch);
  }
  return { offsets, order };
}

/** Stable bottom-up merge sort of `keys[0..n)`, moving `idx[0..n)` along with them. */
function sortPairs(keys: Float64Array, idx: Int32Array, n: number, keyScratch: Float64Array, idxScratch: Int32Array): void {
  // Insertion sort runs of 16, then merge runs pairwise.
  const RUN = 16;
  for (let a = 0; a < n; a += RUN) {
    const b = Math.min(a + RUN, n);
    for (let k = a + 1; k < b; k++) {
      const kv = keys[k]!;
      const iv = idx[k]!;
      let j = k - 1;
      while (j >= a && keys[j]! > kv) {
        keys[j + 1] = keys[j]!;
        idx[j + 1] = idx[j]!;
        j--;
      }
      keys[j + 1] = kv;
      idx[j + 1] = iv;
    }
  }
  for (let width = RUN; width < n; width *= 2) {
    for (let a = 0; a < n - width; a += 2 * width) {
      const m = a + width;
      const b = Math.min(a + 2 * width, n);
      if (keys[m - 1]! <= keys[m]!) continue;
      const left = m - a;
      keyScratch.set(keys.subarray(a, m));
      idxScratch.set(idx.subarray(a, m));
      let i = 0;
      let j = m;
      let o = a;
      while (i < left && j < b) {
        // `<=` takes the left run first on ties: stable.
        if (keyScratch[i]! <= keys[j]!) {
          keys[o] = keyScratch[i]!;
          idx[o++] = idxScratch[i++]!;
        } else {
          keys[o] = keys[j]!;
          idx[o++] = idx[j++]!;
        }
      }
      while (i < left) {
        keys[o] = keyScratch[i]!;
        idx[o++] = idxScratch[i++]!;
      }
    }
  }
}
