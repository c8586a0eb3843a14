/**
 * The most-popular-items recommender: every user gets the items with the highest training counts,
 * their own history excluded, ties by the lower item id (the scorer's rule). Evaluated with the same
 * metrics as a model, it is the floor a trained model must clearly beat.
 */
import type { EvalSet } from '../data/types.js';
import type { Metrics } from './metrics.js';
import { MetricsAccumulator } from './accumulator.js';

/** Users ranked per `add` call: bounds the [batch × kMax] list buffer. */
const BATCH_USERS = 1024;

/** Items 1..V ordered by count (descending), then id (ascending); `counts` is indexed by item id. */
export function popularityRanking(counts: Float64Array): Int32Array {
  const ids = new Int32Array(counts.length - 1);
  for (let i = 0; i < ids.length; i++) ids[i] = i + 1;
  return ids.sort((a, b) => counts[b]! - counts[a]! || a - b);
}

/**
 * Evaluates the popularity recommender on `evalSet` with training counts `itemCounts` (indexed by
 * item id, length V + 1, as `PreparedDataset.itemCounts`) at the cut-offs `ks`.
 */
export function evaluatePopularity(evalSet: EvalSet, itemCounts: Float64Array, ks: readonly number[] = [10]): Metrics {
  const numItems = itemCounts.length - 1;
  const acc = new MetricsAccumulator({ evalSet, numItems, ks });
  const kMax = acc.kMax;
  const ranking = popularityRanking(itemCounts);
  const { offsets, items } = evalSet.inputs;
  const users = offsets.length - 1;
  const top = new Int32Array(Math.min(BATCH_USERS, users) * kMax);
  // seen[i] === user + 1 marks item i as in that user's history: no clearing between users.
  const seen = new Int32Array(numItems + 1);
  for (let start = 0; start < users; start += BATCH_USERS) {
    const rows = Math.min(BATCH_USERS, users - start);
    top.fill(0);
    for (let b = 0; b < rows; b++) {
      const user = start + b;
      for (let p = offsets[user]!, end = offsets[user + 1]!; p < end; p++) seen[items[p]!] = user + 1;
      let n = 0;
      for (let r = 0; r < ranking.length && n < kMax; r++) {
        const item = ranking[r]!;
        if (seen[item] !== user + 1) top[b * kMax + n++] = item;
      }
    }
    acc.add(top, start, rows);
  }
  return acc.result();
}
