/**
 * Elementwise and row-wise CPU kernels: residual add, padding mask, ReLU, bias, row slices. Outputs
 * first, then inputs, then sizes; each says whether it overwrites or accumulates. The `…Part` kernels
 * take (part, parts) last and run on the worker pool (kernels.ts): part p owns a contiguous range of
 * elements, rows or (for sums over rows) the fixed chunks of rows of column-sums.ts, so every output
 * element is computed in the same order whatever the number of parts.
 */
import type { FloatArray } from './arrays.js';
import { addPartials, sumChunks } from './column-sums.js';
import { span } from './partition.js';

/**
 * out = a + b over n elements (overwrite); out may alias a or b. With `ids` the elements are rows of
 * `cols`, and a row whose id is 0 (padding) gets 0.
 */
export function add(out: FloatArray, a: FloatArray, b: FloatArray, n: number, ids: Int32Array | null = null, cols = 1): void {
  addPart(out, a, b, n, ids, cols, 0, 1);
}

/** Part `part` of `parts` of `add`. */
export function addPart(
  out: FloatArray, a: FloatArray, b: FloatArray, n: number, ids: Int32Array | null, cols: number, part: number, parts: number,
): void {
  const [lo, hi] = span(n, part, parts);
  if (ids === null) {
    for (let i = lo; i < hi; i++) out[i] = a[i]! + b[i]!;
    return;
  }
  for (let i = lo; i < hi; i++) out[i] = ids[Math.floor(i / cols)] === 0 ? 0 : a[i]! + b[i]!;
}

/** out[r, :] = ids[r] ≠ 0 ? x[r, :] : 0 (overwrite); out may alias x. */
export function maskPadded(out: FloatArray, x: FloatArray, ids: Int32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    if (ids[r] === 0) out.fill(0, o, o + cols);
    else if (out !== x) for (let c = 0; c < cols; c++) out[o + c] = x[o + c]!;
  }
}

/** out = max(x, 0) (overwrite); out may alias x. */
export function reluForward(out: FloatArray, x: FloatArray, n: number): void {
  reluForwardPart(out, x, n, 0, 1);
}

/** Part `part` of `parts` of `reluForward`. */
export function reluForwardPart(out: FloatArray, x: FloatArray, n: number, part: number, parts: number): void {
  const [lo, hi] = span(n, part, parts);
  for (let i = lo; i < hi; i++) {
    const v = x[i]!;
    out[i] = v > 0 ? v : 0;
  }
}

/**
 * dx = out > 0 ? dout · scale : 0 (overwrite), `out` being the forward output; dx may alias dout. The
 * product is a double's, rounded once where dx is f32 (as `dropout` scales): with scale = 1 / (1 - p) and
 * out = Dropout(ReLU(·)) it is that dropout's backward and the ReLU's in one pass (matmul's gate).
 */
export function reluBackward(dx: FloatArray, dout: FloatArray, out: FloatArray, n: number, scale = 1): void {
  reluBackwardPart(dx, dout, out, n, scale, 0, 1);
}

/** Part `part` of `parts` of `reluBackward`. */
export function reluBackwardPart(
  dx: FloatArray, dout: FloatArray, out: FloatArray, n: number, scale: number, part: number, parts: number,
): void {
  const [lo, hi] = span(n, part, parts);
  if (scale === 1) {
    for (let i = lo; i < hi; i++) dx[i] = out[i]! > 0 ? dout[i]! : 0;
    return;
  }
  for (let i = lo; i < hi; i++) dx[i] = out[i]! > 0 ? dout[i]! * scale : 0;
}

/** out[r, :] = out[r, :]! + bias (in place); rows whose `ids` entry is 0 (padding) are left as they are. */
export function biasAdd(out: FloatArray, bias: FloatArray, rows: number, cols: number, ids: Int32Array | null = null): void {
  biasAddPart(out, bias, rows, cols, ids, 0, 1);
}

/** Part `part` of `parts` of `biasAdd`: a range of rows. */
export function biasAddPart(
  out: FloatArray, bias: FloatArray, rows: number, cols: number, ids: Int32Array | null, part: number, parts: number,
): void {
  const [lo, hi] = span(rows, part, parts);
  for (let r = lo; r < hi; r++) {
    if (ids !== null && ids[r] === 0) continue;
    const o = r * cols;
    for (let c = 0; c < cols; c++) out[o + c] = out[o + c]! + bias[c]!;
  }
}

/** dBias (+=) Σ_r dout[r, :] over the rows whose `ids` entry is not 0, summed by the chunks of rows of column-sums.ts. */
export function biasBackward(dBias: FloatArray, dout: FloatArray, rows: number, cols: number, ids: Int32Array | null = null): void {
  const { chunks } = sumChunks(rows);
  const partials = new Float64Array(chunks * cols);
  biasBackwardPart(partials, dout, rows, cols, ids, 0, 1);
  addPartials(dBias, partials, chunks, cols, 0, cols);
}

/**
 * Part `part` of `parts` of `biasBackward`: a range of the chunks of rows of `sumChunks(rows)`, each
 * chunk k's column sums, in row order, overwriting partials[k·cols, (k+1)·cols).
 */
export function biasBackwardPart(
  partials: Float64Array, dout: FloatArray, rows: number, cols: number, ids: Int32Array | null, part: number, parts: number,
): void {
  const { chunkRows, chunks } = sumChunks(rows);
  const [k0, k1] = span(chunks, part, parts);
  for (let k = k0; k < k1; k++) {
    const p = k * cols;
    partials.fill(0, p, p + cols);
    const end = Math.min(rows, (k + 1) * chunkRows);
    let r = k * chunkRows;
    if (ids !== null) {
      // Padding rows are left out: row by row.
      for (; r < end; r++) {
        if (ids[r] === 0) continue;
        const o = r * cols;
        for (let c = 0; c < cols; c++) partials[p + c] = partials[p + c]! + dout[o + c]!;
      }
      continue;
    }
    // Four rows per pass over the partial: a quarter of its loads and stores, the same additions in
    // the same order (left to right).
    for (; r + 3 < end; r += 4) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) partials[p + c] = partials[p + c]! + dout[o + c]! + dout[o + cols + c]! + dout[o + 2 * cols + c]! + dout[o + 3 * cols + c]!;
    }
    for (; r < end; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) partials[p + c] = partials[p + c]! + dout[o + c]!;
    }
  }
}

/** out[r, :] = x[(first + r·stride), :] for r < rows (overwrite). */
export function sliceRows(out: FloatArray, x: FloatArray, rows: number, first: number, stride: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const src = (first + r * stride) * cols;
    for (let c = 0; c < cols; c++) out[r * cols + c] = x[src + c]!;
  }
}

/**
 * out[b, :] = x[first_b + len_b − 1, :] for b < B (overwrite), `seqs` as ops.SequenceRows.seqs: each
 * sequence's last position; an empty sequence (len_b = 0) gets a row of zeros.
 */
export function lastRows(out: FloatArray, x: FloatArray, seqs: Int32Array, B: number, cols: number): void {
  for (let b = 0; b < B; b++) {
    const len = seqs[2 * b + 1]!;
    const o = b * cols;
    if (len === 0) {
      out.fill(0, o, o + cols);
      continue;
    }
    const src = (seqs[2 * b]! + len - 1) * cols;
    for (let c = 0; c < cols; c++) out[o + c] = x[src + c]!;
  }
}
