/**
 * Preparation (README, "Data"): group by user in time order, deduplicate,
 * apply the minimum counts (the seed's one pass of items then users, or an iterative k-core), and
 * renumber. Users and items are numbered in sorted order of their raw ids, so the numbering does not
 * depend on the order of rows in the file.
 */
import { groupByUser } from './group-by-user.js';
import type { RawLog } from './raw-log.js';
import type { DedupMode } from './spec.js';

/** Preparation parameters (the `dataset.*` keys of the same names). */
export interface PrepareOptions {
  /** @default "none" */
  readonly dedup: DedupMode;
  /** @default 1 */
  readonly minItemCount: number;
  /** @default 1 */
  readonly minUserCount: number;
  /** @default false */
  readonly kcore: boolean;
}

/** Interaction counts after each step. */
export interface PrepareCounts {
  /** Data rows in the file. */
  readonly read: number;
  /** After the rating and event filters. */
  readonly filtered: number;
  /** After deduplication. */
  readonly deduplicated: number;
  /** After the minimum counts: the prepared interactions. */
  readonly kept: number;
}

/**
 * A prepared log: one CSR row per user (users numbered 0..numUsers-1 in raw-id order), items
 * renumbered 1..numItems (0 = padding), each row in time order with its timestamps.
 */
export interface PreparedLog {
  readonly numUsers: number;
  readonly numItems: number;
  readonly offsets: Int32Array;
  readonly items: Int32Array;
  readonly times: Float64Array;
  readonly counts: PrepareCounts;
}

const REMOVED = -1;

/** Prepares a raw log. */
export function prepareLog(log: RawLog, opts: PrepareOptions): PreparedLog {
  const userRank = log.userIds.ranks();
  const itemRank = log.itemIds.ranks();
  const { offsets, order } = groupByUser(log.users, log.times, userRank);
  const n = order.length;
  // Grouped columns; items hold ranks (0-based) until the final renumbering, REMOVED once dropped.
  const items = new Int32Array(n);
  const times = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const r = order[k]!;
    items[k] = itemRank[log.items[r]!]!;
    times[k] = log.times[r]!;
  }

  const deduplicated = deduplicate(offsets, items, itemRank.length, opts.dedup);
  applyMinCounts(offsets, items, itemRank.length, opts);
  return compact(offsets, items, times, itemRank.length, { read: log.rowsRead, filtered: n, deduplicated, kept: 0 });
}

/** Marks duplicates REMOVED; returns the interactions left. */
function deduplicate(offsets: Int32Array, items: Int32Array, numItems: number, mode: DedupMode): number {
  const numUsers = offsets.length - 1;
  let left = items.length;
  if (mode === 'consecutive') {
    for (let u = 0; u < numUsers; u++) {
      // A run of repeats keeps its first.
      let prev = REMOVED;
      for (let k = offsets[u]!; k < offsets[u + 1]!; k++) {
        if (items[k] === prev) {
          items[k] = REMOVED;
          left--;
        } else prev = items[k]!;
      }
    }
  } else if (mode === 'all') {
    // seenBy[item] = 1 + the last user that had it: one array instead of a set per user.
    const seenBy = new Int32Array(numItems);
    for (let u = 0; u < numUsers; u++) {
      for (let k = offsets[u]!; k < offsets[u + 1]!; k++) {
        const it = items[k]!;
        if (seenBy[it] === u + 1) {
          items[k] = REMOVED;
          left--;
        } else seenBy[it] = u + 1;
      }
    }
  }
  return left;
}

/** Drops items below `minItemCount`, then users below `minUserCount`; repeats until stable when `kcore`. */
function applyMinCounts(offsets: Int32Array, items: Int32Array, numItems: number, opts: PrepareOptions): void {
  const numUsers = offsets.length - 1;
  const itemCount = new Int32Array(numItems);
  for (;;) {
    itemCount.fill(0);
    for (let k = 0; k < items.length; k++) if (items[k] !== REMOVED) itemCount[items[k]!]!++;
    let changed = false;
    for (let k = 0; k < items.length; k++) {
      const it = items[k]!;
      if (it !== REMOVED && itemCount[it]! < opts.minItemCount) {
        items[k] = REMOVED;
        changed = true;
      }
    }
    for (let u = 0; u < numUsers; u++) {
      let count = 0;
      for (let k = offsets[u]!; k < offsets[u + 1]!; k++) if (items[k] !== REMOVED) count++;
      if (count > 0 && count < opts.minUserCount) {
        for (let k = offsets[u]!; k < offsets[u + 1]!; k++) items[k] = REMOVED;
        changed = true;
      }
    }
    if (!opts.kcore || !changed) return;
  }
}

/** Drops REMOVED rows and users left empty; renumbers items 1..numItems in rank order. */
function compact(offsets: Int32Array, items: Int32Array, times: Float64Array, numRanks: number, counts: PrepareCounts): PreparedLog {
  const newId = new Int32Array(numRanks);
  for (let k = 0; k < items.length; k++) if (items[k] !== REMOVED) newId[items[k]!] = 1;
  let numItems = 0;
  for (let r = 0; r < numRanks; r++) if (newId[r] === 1) newId[r] = ++numItems;

  let kept = 0;
  let numUsers = 0;
  const numRawUsers = offsets.length - 1;
  for (let u = 0; u < numRawUsers; u++) {
    let count = 0;
    for (let k = offsets[u]!; k < offsets[u + 1]!; k++) if (items[k] !== REMOVED) count++;
    if (count > 0) numUsers++;
    kept += count;
  }
  const outOffsets = new Int32Array(numUsers + 1);
  const outItems = new Int32Array(kept);
  const outTimes = new Float64Array(kept);
  let o = 0;
  let row = 0;
  for (let u = 0; u < numRawUsers; u++) {
    const start = o;
    for (let k = offsets[u]!; k < offsets[u + 1]!; k++) {
      if (items[k] === REMOVED) continue;
      outItems[o] = newId[items[k]!]!;
      outTimes[o] = times[k]!;
      o++;
    }
    if (o > start) outOffsets[++row] = o;
  }
  return { numUsers, numItems, offsets: outOffsets, items: outItems, times: outTimes, counts: { ...counts, kept } };
}
