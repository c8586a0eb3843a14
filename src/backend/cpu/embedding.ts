/**
 * SASRec's input embedding: the item embedding scaled by a constant (sqrt(d)) plus a learned
 * absolute position embedding, forward (gather) then backward (scatter-add), over the rows a batch's
 * layout (ops.SequenceRows) gives its sequences: sequence b's positions start_b = L − len_b .. L − 1
 * are rows first_b .. first_b + len_b − 1.
 */
import type { FloatArray } from './arrays.js';

/**
 * Throws unless `seqs` ((first_b, len_b) for b < B) describes sequences of at most L positions whose
 * rows lie in 0..rows − 1: a bad layout would otherwise read or write past the tensors silently.
 */
export function checkSequenceRows(op: string, seqs: Int32Array, rows: number, B: number, L: number): void {
  for (let b = 0; b < B; b++) {
    const first = seqs[2 * b]!;
    const len = seqs[2 * b + 1]!;
    if (len < 0 || len > L) throw new RangeError(`${op}: expected sequence ${b}'s length in 0..${L}, got ${len}`);
    if (len > 0 && (first < 0 || first + len > rows)) {
      throw new RangeError(`${op}: expected sequence ${b}'s rows ${first}..${first + len - 1} within 0..${rows - 1}`);
    }
  }
}

/**
 * out[r, :] = scale · items[ids[r], :] + positions[t, :] (overwrite) for each row r = first_b + t −
 * start_b of sequence b's position t (`seqs` as ops.SequenceRows.seqs); other rows are left as they are.
 */
export function embedForward(
  out: FloatArray, ids: Int32Array, items: FloatArray, positions: FloatArray,
  scale: number, seqs: Int32Array, B: number, L: number, d: number,
): void {
  for (let b = 0; b < B; b++) {
    const first = seqs[2 * b]!;
    const len = seqs[2 * b + 1]!;
    for (let j = 0; j < len; j++) {
      const r = first + j;
      const src = ids[r]! * d;
      const pos = (L - len + j) * d;
      const o = r * d;
      for (let c = 0; c < d; c++) out[o + c] = scale * items[src + c]! + positions[pos + c]!;
    }
  }
}

/**
 * dItems[ids[r], :] (+=) scale · dout[r, :] over the `rows` rows whose id is not 0 (padding adds
 * nothing: the gradient of the embedding followed by the padding mask), and dPositions[t, :] (+=)
 * Σ_b dout[row of sequence b's position t, :] over the sequences that hold t, in b order.
 */
export function embedBackward(
  dItems: FloatArray, dPositions: FloatArray, dout: FloatArray, ids: Int32Array,
  scale: number, seqs: Int32Array, rows: number, B: number, L: number, d: number,
): void {
  for (let r = 0; r < rows; r++) {
    if (ids[r] === 0) continue;
    const dst = ids[r]! * d;
    const o = r * d;
    for (let c = 0; c < d; c++) dItems[dst + c] = dItems[dst + c]! + scale * dout[o + c]!;
  }
  for (let b = 0; b < B; b++) {
    const first = seqs[2 * b]!;
    const len = seqs[2 * b + 1]!;
    for (let j = 0; j < len; j++) {
      const pos = (L - len + j) * d;
      const o = (first + j) * d;
      for (let c = 0; c < d; c++) dPositions[pos + c] = dPositions[pos + c]! + dout[o + c]!;
    }
  }
}
