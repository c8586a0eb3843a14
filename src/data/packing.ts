/**
 * The packed batch layout (backend/ops.ts SequenceRows): a left-padded batch [B × L] becomes its
 * sequences' rows one after another, padding positions taking no rows, so that activations, GEMMs
 * and element-wise passes cost what the items cost. A padding position that carries a label (the
 * reference's first target: the position before a short history's first input) keeps a row of its
 * own with id 0, right before its sequence's rows: its hidden state is the one every padding row
 * gets, as in the padded batch. A batch whose rows exceed the planned capacity is cut into parts
 * between sequences (`packBatch`); the capacity is planned from the data so that this stays rare.
 */

/** One part of a packed batch, ready to upload. */
export interface PackedBatch {
  /** Index in the padded batch of the part's first sequence. */
  readonly first: number;
  /** Sequences in the part: entries of `seqs` past them are (0, 0). */
  readonly sequences: number;
  /** [rows] input ids; 0 on rows no sequence owns. */
  readonly ids: Int32Array;
  /** [rows] labels (0: not a target), or null when packing without labels (evaluation). */
  readonly labels: Int32Array | null;
  /** [seqCapacity × 2] i32: (first row, length) of each sequence. */
  readonly seqs: Int32Array;
  /** Rows in use (the rest are 0). */
  readonly used: number;
}

/** Sequence b's first non-padding position in a left-padded [B × L] batch (L when it is all padding). */
function sequenceStart(inputs: Int32Array, b: number, L: number): number {
  let i = 0;
  while (i < L && inputs[b * L + i] === 0) i++;
  return i;
}

/** Labelled positions among sequence b's padding positions 0 .. start − 1 (each takes a row). */
function labelledPadding(labels: Int32Array | null, b: number, L: number, start: number): number {
  let count = 0;
  if (labels !== null) for (let i = 0; i < start; i++) if (labels[b * L + i] !== 0) count++;
  return count;
}

/**
 * Packs the B sequences of a left-padded batch (`inputs`, and `labels` unless null, [B × L]) into parts
 * of at most `rows` rows and `seqCapacity` sequences each, in the batch's order; one part unless the
 * batch does not fit. Throws when a single sequence needs more than `rows` rows.
 */
export function packBatch(inputs: Int32Array, labels: Int32Array | null, B: number, L: number, rows: number, seqCapacity: number): PackedBatch[] {
  if (inputs.length < B * L || (labels !== null && labels.length < B * L)) throw new RangeError(`packBatch: expected ${B} × ${L} ids and labels`);
  if (!Number.isInteger(seqCapacity) || seqCapacity < 1) throw new RangeError(`packBatch: seqCapacity must be a positive integer, got ${seqCapacity}`);
  const parts: PackedBatch[] = [];
  let b = 0;
  while (b < B) {
    const ids = new Int32Array(rows);
    const partLabels = labels === null ? null : new Int32Array(rows);
    const seqs = new Int32Array(2 * seqCapacity);
    const first = b;
    let used = 0;
    while (b < B && b - first < seqCapacity) {
      const start = sequenceStart(inputs, b, L);
      const need = L - start + labelledPadding(labels, b, L, start);
      if (need > rows) throw new RangeError(`packBatch: sequence ${b} needs ${need} rows, more than the ${rows} planned`);
      if (used + need > rows) break;
      if (partLabels !== null) {
        for (let i = 0; i < start; i++) if (labels![b * L + i] !== 0) partLabels[used++] = labels![b * L + i]!;
      }
      const s = b - first;
      seqs[2 * s] = used;
      seqs[2 * s + 1] = L - start;
      for (let i = start; i < L; i++, used++) {
        ids[used] = inputs[b * L + i]!;
        if (partLabels !== null) partLabels[used] = labels![b * L + i]!;
      }
      b++;
    }
    parts.push({ first, sequences: b - first, ids, labels: partLabels, seqs, used });
  }
  return parts;
}

/**
 * Rows to plan for batches of `batchSize` sequences drawn from sequences that need `need[u]` rows each
 * (each at most L): never more than the padded B·L nor than the B largest needs together (which no batch
 * can exceed), else the mean batch plus four standard deviations of a batch's sum plus one sequence (a
 * part ends between sequences), rounded up to 64; at least L, so that any one sequence (of training or of
 * evaluation) fits. A batch above it trains in two parts (packBatch), about once in 30,000 batches.
 */
export function plannedRows(need: Int32Array, batchSize: number, L: number): number {
  const padded = batchSize * L;
  if (need.length === 0) return L;
  const sorted = Int32Array.from(need).sort();
  let top = 0;
  for (let i = sorted.length - 1; i >= Math.max(0, sorted.length - batchSize); i--) top += sorted[i]!;
  let sum = 0;
  let sumSq = 0;
  for (const r of need) {
    sum += r;
    sumSq += r * r;
  }
  const mean = sum / need.length;
  const sd = Math.sqrt(Math.max(0, sumSq / need.length - mean * mean));
  const bound = Math.ceil((batchSize * mean + 4 * sd * Math.sqrt(batchSize) + L) / 64) * 64;
  return Math.min(padded, Math.max(L, Math.min(top, bound)));
}
