/**
 * The leave-one-out split of the SASRec and BERT4Rec papers. Per user with n ≥ 3 interactions:
 * test target = item n, test input = items 1..n-1; validation target = item n-1, validation input =
 * items 1..n-2; training sequence = items 1..n-2. Users with fewer than 3 interactions are not
 * evaluated and train on their whole sequence (as SASRec does). A training sequence needs 2 items to
 * hold a next-item target, so shorter ones are left out of `train` (and of `itemCounts`).
 * The catalogue is every prepared item, including items seen only as evaluation targets.
 */
import { countItems, SequencesBuilder } from './sequences-builder.js';
import type { PreparedLog } from './prepare.js';
import type { PreparedDataset } from './types.js';

/** Users need this many interactions to be evaluated. */
export const LEAVE_ONE_OUT_MIN_EVALUATED = 3;

/** Splits a prepared log by leave-one-out. */
export function splitLeaveOneOut(log: PreparedLog, name: string): PreparedDataset {
  const { offsets, items } = log;
  // Exact sizes first, so the builders never regrow or copy.
  let trainRows = 0;
  let trainItems = 0;
  let evalRows = 0;
  let validationItems = 0;
  for (let u = 0; u < log.numUsers; u++) {
    const n = offsets[u + 1]! - offsets[u]!;
    const t = n < LEAVE_ONE_OUT_MIN_EVALUATED ? n : n - 2;
    if (t >= 2) {
      trainRows++;
      trainItems += t;
    }
    if (n >= LEAVE_ONE_OUT_MIN_EVALUATED) {
      evalRows++;
      validationItems += n - 2;
    }
  }
  const train = new SequencesBuilder(trainRows, trainItems);
  const validation = new SequencesBuilder(evalRows, validationItems);
  const test = new SequencesBuilder(evalRows, validationItems + evalRows);
  for (let u = 0; u < log.numUsers; u++) {
    const s = offsets[u]!;
    const n = offsets[u + 1]! - s;
    if (n < LEAVE_ONE_OUT_MIN_EVALUATED) {
      if (n >= 2) train.addRow(items, s, s + n);
      continue;
    }
    if (n - 2 >= 2) train.addRow(items, s, s + n - 2);
    validation.addRow(items, s, s + n - 2, items[s + n - 2]!);
    test.addRow(items, s, s + n - 1, items[s + n - 1]!);
  }
  const trainSeq = train.finish();
  return {
    name,
    numItems: log.numItems,
    train: trainSeq,
    validation: validation.finishEval(),
    test: test.finishEval(),
    itemCounts: countItems(trainSeq, log.numItems),
  };
}
