/**
 * The reference study's global temporal split ("seed protocol", README "Data"), rule by rule:
 *
 * 1. t* = the ⌊q·N⌋-th smallest of the N timestamps (0-based, q = `test_quantile`); interactions at
 *    or after t* form the test period, those before it the earlier period.
 * 2. Validation users: round(f·U) of the U users with earlier-period interactions (f =
 *    `validation_fraction`), drawn with `split_seed`. They are cold: none of their interactions trains.
 * 3. Training: the earlier-period interactions of every other user. The catalogue is the items seen
 *    in training, renumbered 1..numItems in prepared-id order; inputs and targets keep only them.
 * 4. Validation set: per validation user, their earlier-period items that are in the catalogue;
 *    target = the last, input = the rest (users left with fewer than 2 items are dropped).
 * 5. Test set: the users, other than validation users, that have a test-period interaction with an
 *    item of the earlier period and also have training interactions; their whole history (both
 *    periods) restricted to catalogue items gives target = the last, input = the rest (fewer than 2
 *    items: dropped).
 *
 * Ties in time keep file order (preparation sorts stably). The validation draw uses our own RNG, so
 * the set of validation users is not the reference's draw, only drawn the same way.
 */
import { DataError } from './data-error.js';
import type { PreparedLog } from './prepare.js';
import { countItems, SequencesBuilder } from './sequences-builder.js';
import { seededPermutation } from './shuffle.js';
import type { PreparedDataset } from './types.js';

/** Parameters of the seed split (the `dataset.*` keys of the same names). */
export interface SeedSplitOptions {
  /** @default 0.9 */
  readonly testQuantile: number;
  /** @default 0.05 */
  readonly validationFraction: number;
  /** @default 42 */
  readonly seed: number;
}

/** The hash stream of the validation users' draw (training shuffles use the epoch number). */
const VALIDATION_STREAM = 0x7fffffff;

/** The k-th smallest value (0-based) of `values`, by quickselect on a copy. */
export function kthSmallest(values: Float64Array, k: number): number {
  const a = values.slice();
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // Median of three as the pivot keeps sorted input linear.
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/** Which of `candidates` users (by index) are validation users: round(fraction · candidates) of them, drawn by `seed`. */
export function validationDraw(candidates: number, fraction: number, seed: number): Int32Array {
  return seededPermutation(candidates, seed, VALIDATION_STREAM).subarray(0, Math.round(fraction * candidates));
}

/** Splits a prepared log by the seed protocol. */
export function splitSeed(log: PreparedLog, name: string, opts: SeedSplitOptions): PreparedDataset {
  const { offsets, items, times, numUsers, numItems } = log;
  const n = items.length;
  if (n === 0) throw new DataError(name, 'no interactions left after preparation');
  const cutoff = kthSmallest(times, Math.min(n - 1, Math.floor(opts.testQuantile * n)));

  // earlierEnd[u]: end of user u's earlier-period rows (rows are in time order).
  const earlierEnd = new Int32Array(numUsers);
  const earlierUsers: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    let k = offsets[u]!;
    const e = offsets[u + 1]!;
    while (k < e && times[k]! < cutoff) k++;
    earlierEnd[u] = k;
    if (k > offsets[u]!) earlierUsers.push(u);
  }

  const isValidation = new Uint8Array(numUsers);
  for (const i of validationDraw(earlierUsers.length, opts.validationFraction, opts.seed)) isValidation[earlierUsers[i]!] = 1;

  const inEarlier = new Uint8Array(numItems + 1);
  const newId = new Int32Array(numItems + 1);
  for (let u = 0; u < numUsers; u++) {
    for (let k = offsets[u]!; k < earlierEnd[u]!; k++) {
      inEarlier[items[k]!] = 1;
      if (isValidation[u] === 0) newId[items[k]!] = 1;
    }
  }
  let catalogue = 0;
  for (let i = 1; i <= numItems; i++) if (newId[i] === 1) newId[i] = ++catalogue;

  // Upper bounds of each part's size: no regrowing, one final copy at most.
  let trainBound = 0;
  let validationBound = 0;
  let testBound = 0;
  for (let u = 0; u < numUsers; u++) {
    const earlier = earlierEnd[u]! - offsets[u]!;
    if (isValidation[u] === 1) validationBound += earlier;
    else if (earlier > 0) {
      trainBound += earlier;
      if (earlierEnd[u]! < offsets[u + 1]!) testBound += offsets[u + 1]! - offsets[u]!;
    }
  }
  const train = new SequencesBuilder(earlierUsers.length, trainBound);
  const validation = new SequencesBuilder(earlierUsers.length, validationBound);
  const test = new SequencesBuilder(earlierUsers.length, testBound);
  let buf = new Int32Array(256);
  // Appends user u's rows [s, e) restricted to catalogue items as an evaluation row, if ≥ 2 remain.
  const addEval = (out: SequencesBuilder, s: number, e: number): void => {
    if (buf.length < e - s) buf = new Int32Array(e - s);
    let m = 0;
    for (let k = s; k < e; k++) {
      const id = newId[items[k]!]!;
      if (id > 0) buf[m++] = id;
    }
    if (m >= 2) out.addRow(buf, 0, m - 1, buf[m - 1]!);
  };

  for (let u = 0; u < numUsers; u++) {
    const s = offsets[u]!;
    const mid = earlierEnd[u]!;
    const e = offsets[u + 1]!;
    if (isValidation[u] === 1) {
      addEval(validation, s, mid);
      continue;
    }
    if (mid === s) continue; // no training interactions: neither trains nor is tested
    if (mid - s >= 2) {
      for (let k = s; k < mid; k++) train.pushItem(newId[items[k]!]!);
      train.endRow();
    }
    let testPeriodUser = false;
    for (let k = mid; k < e && !testPeriodUser; k++) testPeriodUser = inEarlier[items[k]!] === 1;
    if (testPeriodUser) addEval(test, s, e);
  }

  const trainSeq = train.finish();
  return {
    name,
    numItems: catalogue,
    train: trainSeq,
    validation: validation.finishEval(),
    test: test.finishEval(),
    itemCounts: countItems(trainSeq, catalogue),
  };
}
