/**
 * Per-item statistics of the evaluated users' input histories, the denominators of Coverage@K and
 * the weights of Surprisal@K (README, "Metrics").
 */
import type { Sequences } from '../data/types.js';

/** What Coverage and Surprisal need to know about the evaluated users' histories. */
export interface HistoryStats {
  /** N: the number of evaluated users (rows of the histories). */
  readonly numUsers: number;
  /** [V + 1] u_j: users whose history holds item j (once per user, however often it repeats). */
  readonly userCounts: Int32Array;
  /** Distinct items over all histories (the Coverage denominator). */
  readonly distinctItems: number;
  /**
   * [V + 1] Surprisal weights w_j = log2(N / u_j) / log2(N); 1 for items in no history. With N = 1,
   * where the formula is 0/0, items of the one history weigh 0 (everyone has them, as u_j = N gives
   * for larger N) and the others 1.
   */
  readonly weights: Float64Array;
}

/** Counts, per item 1..numItems, the users whose history holds it, and derives the Surprisal weights. */
export function historyStats(histories: Sequences, numItems: number): HistoryStats {
  const { offsets, items } = histories;
  const numUsers = offsets.length - 1;
  const userCounts = new Int32Array(numItems + 1);
  // lastUser[j] = 1 + the last user counted for item j, so repeats within a history count once.
  const lastUser = new Int32Array(numItems + 1);
  for (let u = 0; u < numUsers; u++) {
    for (let p = offsets[u]!, end = offsets[u + 1]!; p < end; p++) {
      const item = items[p]!;
      if (item < 1 || item > numItems) throw new RangeError(`Expected history items in 1..${numItems}, got ${item} for user row ${u}`);
      if (lastUser[item] === u + 1) continue;
      lastUser[item] = u + 1;
      userCounts[item]!++;
    }
  }
  const weights = new Float64Array(numItems + 1);
  const logN = Math.log2(numUsers);
  let distinctItems = 0;
  for (let j = 1; j <= numItems; j++) {
    const u = userCounts[j]!;
    if (u > 0) distinctItems++;
    weights[j] = u === 0 ? 1 : u === numUsers ? 0 : Math.log2(numUsers / u) / logN;
  }
  return { numUsers, userCounts, distinctItems, weights };
}
