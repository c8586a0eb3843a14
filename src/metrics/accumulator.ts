/**
 * Ranking metrics over the full catalogue (README, "Metrics"), accumulated from batches of
 * top-K lists. The scorer excludes each user's input history and breaks score ties by the lower item
 * id (src/backend/cpu/topk.ts); here a rank is simply the 1-based position in the list given.
 *
 * For every K, with one held-out target per user at rank r (∞ when not in the top K):
 * - ndcg@K = 1 / log2(r + 1), hr@K = 1, mrr@K = 1 / r when r ≤ K, else 0; averaged over users.
 * - coverage@K = |(∪ users' top K) ∩ H| / |H|, H = the distinct items of the evaluated users'
 *   histories (0 when every history is empty).
 * - surprisal@K = mean over users of the mean weight (history-stats.ts) of the items of their top K.
 *   Padding ids 0 (fewer eligible items than K) are not items: the mean runs over the real ones, and
 *   a list with none contributes 0.
 */
import type { EvalSet } from '../data/types.js';
import type { Metrics } from './metrics.js';
import { historyStats, type HistoryStats } from './history-stats.js';

/** Options of a `MetricsAccumulator`. */
export interface MetricsAccumulatorOptions {
  /** The users evaluated: their histories (Coverage and Surprisal statistics) and targets. */
  readonly evalSet: EvalSet;
  /** Catalogue size V; item ids run 1..V. */
  readonly numItems: number;
  /** Cut-offs K to report. @default [10] */
  readonly ks?: readonly number[];
}

/** Accumulates ranking metrics batch by batch; every evaluated user must be added exactly once. */
export class MetricsAccumulator {
  /** Width of the top-K lists `add` expects: the largest K. */
  readonly kMax: number;
  readonly #ks: readonly number[];
  readonly #targets: Int32Array;
  readonly #stats: HistoryStats;
  /** Per K: sums over users of NDCG, HR, MRR and Surprisal. */
  readonly #ndcg: Float64Array;
  readonly #hr: Float64Array;
  readonly #mrr: Float64Array;
  readonly #surprisal: Float64Array;
  /** [V + 1] the best 0-based list position at which each item was recommended (kMax if never). */
  readonly #bestPosition: Int32Array;
  /** [N] 1 once a user has been added: catches double counting and forgotten batches. */
  readonly #added: Uint8Array;
  #addedCount = 0;
  /** [kMax + 1] prefix sums of one list's Surprisal weights and real-item counts (scratch). */
  readonly #weightPrefix: Float64Array;
  readonly #itemPrefix: Int32Array;

  constructor(options: MetricsAccumulatorOptions) {
    const ks = [...new Set(options.ks ?? [10])].sort((a, b) => a - b);
    for (const k of ks) if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`Expected each K to be a positive integer, got ${k}`);
    if (ks.length === 0) throw new RangeError('Expected at least one K');
    this.#ks = ks;
    this.kMax = ks[ks.length - 1]!;
    const { inputs, targets } = options.evalSet;
    const users = inputs.offsets.length - 1;
    if (targets.length !== users) throw new RangeError(`Expected one target per evaluated user (${users}), got ${targets.length}`);
    this.#targets = targets;
    this.#stats = historyStats(inputs, options.numItems);
    this.#ndcg = new Float64Array(ks.length);
    this.#hr = new Float64Array(ks.length);
    this.#mrr = new Float64Array(ks.length);
    this.#surprisal = new Float64Array(ks.length);
    this.#bestPosition = new Int32Array(options.numItems + 1).fill(this.kMax);
    this.#added = new Uint8Array(users);
    this.#weightPrefix = new Float64Array(this.kMax + 1);
    this.#itemPrefix = new Int32Array(this.kMax + 1);
  }

  /**
   * Adds evaluated users `rowStart .. rowStart + rows - 1` from their top lists `topIds`
   * [rows × kMax], item ids in rank order, 0 only as trailing padding.
   */
  add(topIds: Int32Array, rowStart: number, rows: number): void {
    const kMax = this.kMax;
    const ks = this.#ks;
    const weights = this.#stats.weights;
    const best = this.#bestPosition;
    const wp = this.#weightPrefix;
    const ip = this.#itemPrefix;
    if (topIds.length < rows * kMax) throw new RangeError(`Expected topIds to hold ${rows} × ${kMax} ids, got ${topIds.length}`);
    if (rowStart < 0 || rowStart + rows > this.#added.length) {
      throw new RangeError(`Expected user rows ${rowStart}..${rowStart + rows - 1} within 0..${this.#added.length - 1}`);
    }
    // Checked before any counting, so a refused batch leaves the sums untouched.
    for (let user = rowStart; user < rowStart + rows; user++) {
      if (this.#added[user] === 1) throw new Error(`user row ${user} was added twice`);
    }
    this.#added.fill(1, rowStart, rowStart + rows);
    for (let b = 0; b < rows; b++) {
      const user = rowStart + b;
      const target = this.#targets[user]!;
      const row = b * kMax;
      let rank = Infinity;
      for (let p = 0; p < kMax; p++) {
        const item = topIds[row + p]!;
        if (item === target && rank === Infinity) rank = p + 1;
        if (item > 0 && p < best[item]!) best[item] = p;
        wp[p + 1] = wp[p]! + (item > 0 ? weights[item]! : 0);
        ip[p + 1] = ip[p]! + (item > 0 ? 1 : 0);
      }
      for (let i = 0; i < ks.length; i++) {
        const k = ks[i]!;
        if (rank <= k) {
          this.#ndcg[i]! += 1 / Math.log2(rank + 1);
          this.#hr[i]!++;
          this.#mrr[i]! += 1 / rank;
        }
        if (ip[k]! > 0) this.#surprisal[i]! += wp[k]! / ip[k]!;
      }
    }
    this.#addedCount += rows;
  }

  /** The metrics `<family>@<K>` for every K; throws unless every evaluated user was added. */
  result(): Metrics {
    const users = this.#added.length;
    if (this.#addedCount !== users) throw new Error(`metrics cover ${this.#addedCount} of ${users} evaluated users`);
    const { userCounts, distinctItems } = this.#stats;
    const best = this.#bestPosition;
    const out: Metrics = {};
    this.#ks.forEach((k, i) => {
      let covered = 0;
      for (let j = 1; j < best.length; j++) if (best[j]! < k && userCounts[j]! > 0) covered++;
      // No users: every mean is 0/0; report 0 rather than NaN, which would read as divergence.
      const perUser = users > 0 ? 1 / users : 0;
      out[`ndcg@${k}`] = this.#ndcg[i]! * perUser;
      out[`hr@${k}`] = this.#hr[i]! * perUser;
      out[`mrr@${k}`] = this.#mrr[i]! * perUser;
      out[`coverage@${k}`] = distinctItems > 0 ? covered / distinctItems : 0;
      out[`surprisal@${k}`] = this.#surprisal[i]! * perUser;
    });
    return out;
  }
}
