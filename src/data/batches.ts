/**
 * Batches for training and evaluation (the seed's scheme). Training: one sample per training user,
 * its last L+1 items → input = the first L, labels = the last L, left-padded with 0; with the first
 * target (the reference's default), a history shorter than L + 1 also has its first item as the label
 * of the padded position just before its first input (the label mask is the input mask shifted by
 * one); rows in an order shuffled per epoch by (seed, epoch); the last batch may be short. Evaluation: each row's
 * last L input items, left-padded, its target, and its whole input history (the exclusion set).
 *
 * BERT4Rec (masked-item training, `TrainBatchOptions.masking`): a user's sample is their last L items,
 * left-padded; each item is replaced by the mask token with probability p (at least one per sequence)
 * and labelled with itself, every other position has label 0. The draws are a pure function of (seed,
 * epoch, user row) (backend/philox.ts MASK_STREAM), so a resumed trial sees the same masks. Its
 * evaluation input is the last L − 1 items followed by the mask token (`EvalBatchOptions.queryToken`).
 */
import { MASK_STREAM, philox4x32 } from '../backend/philox.js';
import { seededPermutation } from './shuffle.js';
import type { EvalBatch, EvalSet, Sequences, TrainBatch } from './types.js';

/** Options of `trainBatches`. */
export interface TrainBatchOptions {
  /** Rows per batch. */
  readonly batchSize: number;
  /** Positions per row, L. */
  readonly maxLen: number;
  /** The trial's seed. */
  readonly seed: number;
  /** 0-based epoch: each epoch has its own order. */
  readonly epoch: number;
  /** Whether a history shorter than L + 1 also predicts its first item (`fillTrainRow`). @default true */
  readonly firstTarget?: boolean;
  /** BERT4Rec's masked-item samples instead of next-item ones (`fillMaskedRow`). @default none */
  readonly masking?: Masking;
}

/** How BERT4Rec masks a training sequence. */
export interface Masking {
  /** Probability in (0, 1) that an item is masked (train.mask_prob). */
  readonly prob: number;
  /** The mask token's id (V + 1). */
  readonly token: number;
}

/** Options of `evalBatches`. */
export interface EvalBatchOptions {
  /** Rows per batch. */
  readonly batchSize: number;
  /** Positions per row, L. */
  readonly maxLen: number;
  /**
   * An id appended after the last L − 1 history items, at the position the model predicts from
   * (BERT4Rec's mask token). @default none: the last L items
   */
  readonly queryToken?: number;
}

function checkSizes(batchSize: number, maxLen: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new RangeError(`maxLen must be a positive integer, got ${maxLen}`);
}

/** Number of batches in one epoch of `rows` rows. */
export function batchCount(rows: number, batchSize: number): number {
  return Math.ceil(rows / batchSize);
}

/** The order of training rows in an epoch: a permutation determined by (seed, epoch). */
export function epochOrder(rows: number, seed: number, epoch: number): Int32Array {
  return seededPermutation(rows, seed, epoch);
}

/**
 * Writes the training sample of row `r` into row `b` of `inputs`/`labels` ([rows × L], zeroed):
 * its last L+1 items, right-aligned, inputs shifted one position left of labels. With `firstTarget`
 * and a history of at most L items, the padded position before the first input gets the first item
 * as its label (the reference's extra target; its input stays 0, so its hidden state is the same for
 * every user).
 */
function fillTrainRow(
  seq: Sequences, r: number, maxLen: number, firstTarget: boolean, b: number, inputs: Int32Array, labels: Int32Array,
): void {
  const end = seq.offsets[r + 1]!;
  const start = Math.max(seq.offsets[r]!, end - (maxLen + 1));
  const n = end - start - 1; // positions with a target
  const base = b * maxLen + (maxLen - n);
  for (let k = 0; k < n; k++) {
    inputs[base + k] = seq.items[start + k]!;
    labels[base + k] = seq.items[start + k + 1]!;
  }
  // start is the history's first item exactly when the history has at most L items (n < L).
  if (firstTarget && n < maxLen && end > start) labels[base - 1] = seq.items[start]!;
}

const TWO_POW_MINUS_32 = 2 ** -32;
/** Counter word c1 of the draw that picks the one masked position of a sequence none of whose items was drawn. */
const FALLBACK_COUNTER = 0x7fffffff;

/**
 * Writes BERT4Rec's training sample of row `r` into row `b` of `inputs`/`labels` ([rows × L], zeroed):
 * its last L items, right-aligned; item k is masked iff word (k & 3) of philox([r, k >> 2, epoch,
 * MASK], [seed, 0]) / 2^32 < p. A non-empty sequence with no masked item masks the one at
 * floor(u · n), u from philox([r, FALLBACK_COUNTER, epoch, MASK], [seed, 0]), so every user trains.
 */
function fillMaskedRow(
  seq: Sequences, r: number, maxLen: number, masking: Masking, seed: number, epoch: number,
  b: number, inputs: Int32Array, labels: Int32Array,
): void {
  const end = seq.offsets[r + 1]!;
  const start = Math.max(seq.offsets[r]!, end - maxLen);
  const n = end - start;
  const base = b * maxLen + (maxLen - n);
  const words = new Uint32Array(4);
  let masked = 0;
  for (let k = 0; k < n; k++) {
    const item = seq.items[start + k]!;
    if ((k & 3) === 0) philox4x32(r, k >>> 2, epoch, MASK_STREAM, seed, 0, words);
    if (words[k & 3]! * TWO_POW_MINUS_32 < masking.prob) {
      inputs[base + k] = masking.token;
      labels[base + k] = item;
      masked++;
    } else {
      inputs[base + k] = item;
    }
  }
  if (masked === 0 && n > 0) {
    philox4x32(r, FALLBACK_COUNTER, epoch, MASK_STREAM, seed, 0, words);
    const k = Math.floor(words[0]! * TWO_POW_MINUS_32 * n);
    inputs[base + k] = masking.token;
    labels[base + k] = seq.items[start + k]!;
  }
}

/**
 * BERT4Rec's training batch of the given rows (indices into `seq`), in that order, for `epoch`
 * (0-based) of a trial seeded `seed`.
 */
export function maskedTrainBatch(
  seq: Sequences, rowIds: ArrayLike<number>, maxLen: number, masking: Masking, seed: number, epoch: number,
): TrainBatch {
  const rows = rowIds.length;
  const inputs = new Int32Array(rows * maxLen);
  const labels = new Int32Array(rows * maxLen);
  for (let b = 0; b < rows; b++) fillMaskedRow(seq, rowIds[b]!, maxLen, masking, seed, epoch, b, inputs, labels);
  return { rows, length: maxLen, inputs, labels };
}

function checkMasking(m: Masking): void {
  if (!(m.prob > 0 && m.prob < 1)) throw new RangeError(`masking.prob must lie in (0, 1), got ${m.prob}`);
  if (!Number.isInteger(m.token) || m.token < 1) throw new RangeError(`masking.token must be a positive integer, got ${m.token}`);
}

/**
 * The training batch of the given rows (indices into `seq`), in that order; `firstTarget` as in
 * `TrainBatchOptions` (@default true).
 */
export function trainBatch(seq: Sequences, rowIds: ArrayLike<number>, maxLen: number, firstTarget = true): TrainBatch {
  const rows = rowIds.length;
  const inputs = new Int32Array(rows * maxLen);
  const labels = new Int32Array(rows * maxLen);
  for (let b = 0; b < rows; b++) fillTrainRow(seq, rowIds[b]!, maxLen, firstTarget, b, inputs, labels);
  return { rows, length: maxLen, inputs, labels };
}

/**
 * Rows each training user's sample takes in the packed layout (data/packing.ts): its positions with an
 * input item, plus the first target's row (`fillTrainRow`); BERT4Rec's samples (`masking`) their last L items.
 */
export function trainRowNeeds(seq: Sequences, maxLen: number, firstTarget: boolean, masked: boolean): Int32Array {
  const users = seq.offsets.length - 1;
  const need = new Int32Array(users);
  for (let r = 0; r < users; r++) {
    const len = seq.offsets[r + 1]! - seq.offsets[r]!;
    if (masked) {
      need[r] = Math.min(len, maxLen);
    } else {
      const n = Math.max(0, Math.min(len, maxLen + 1) - 1);
      need[r] = n + (firstTarget && n < maxLen && len > 0 ? 1 : 0);
    }
  }
  return need;
}

/** One epoch of training batches, in the epoch's shuffled order. */
export function* trainBatches(seq: Sequences, opts: TrainBatchOptions): Generator<TrainBatch> {
  checkSizes(opts.batchSize, opts.maxLen);
  const { masking } = opts;
  if (masking !== undefined) checkMasking(masking);
  const rows = seq.offsets.length - 1;
  const order = epochOrder(rows, opts.seed, opts.epoch);
  for (let s = 0; s < rows; s += opts.batchSize) {
    const rowIds = order.subarray(s, Math.min(rows, s + opts.batchSize));
    yield masking !== undefined
      ? maskedTrainBatch(seq, rowIds, opts.maxLen, masking, opts.seed, opts.epoch)
      : trainBatch(seq, rowIds, opts.maxLen, opts.firstTarget ?? true);
  }
}

/**
 * The evaluation batch of rows `start .. start+rows` of `set`: each row's last L items, or with
 * `queryToken` its last L − 1 followed by the token.
 */
export function evalBatch(set: EvalSet, start: number, rows: number, maxLen: number, queryToken?: number): EvalBatch {
  const { offsets, items } = set.inputs;
  const inputs = new Int32Array(rows * maxLen);
  const historyOffsets = new Int32Array(rows + 1);
  const first = offsets[start]!;
  const kept = queryToken === undefined ? maxLen : maxLen - 1;
  for (let b = 0; b < rows; b++) {
    const r = start + b;
    const end = offsets[r + 1]!;
    const s = Math.max(offsets[r]!, end - kept);
    inputs.set(items.subarray(s, end), b * maxLen + kept - (end - s));
    if (queryToken !== undefined) inputs[(b + 1) * maxLen - 1] = queryToken;
    historyOffsets[b + 1] = end - first;
  }
  return {
    start,
    rows,
    length: maxLen,
    inputs,
    targets: set.targets.slice(start, start + rows),
    history: { offsets: historyOffsets, items: items.subarray(first, offsets[start + rows]!) },
  };
}

/** Evaluation batches over every row of `set`, in order. */
export function* evalBatches(set: EvalSet, opts: EvalBatchOptions): Generator<EvalBatch> {
  checkSizes(opts.batchSize, opts.maxLen);
  const rows = set.targets.length;
  for (let s = 0; s < rows; s += opts.batchSize) yield evalBatch(set, s, Math.min(opts.batchSize, rows - s), opts.maxLen, opts.queryToken);
}
