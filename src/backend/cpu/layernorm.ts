/**
 * Layer normalisation over the last dimension, forward then backward.
 * Forward saves per-row mean and rstd = 1 / sqrt(var + eps) (biased variance, as PyTorch) for backward.
 * The `…Part` kernels take (part, parts) last and run on the worker pool: forward by rows, backward
 * by the fixed chunks of rows of column-sums.ts (the input gradient row by row, the parameter
 * gradients as per-chunk partials added in chunk order), so the results do not depend on the number
 * of parts.
 */
import type { FloatArray } from './arrays.js';
import { addPartials, sumChunks } from './column-sums.js';
import { span } from './partition.js';

/**
 * out = (x - mean) · rstd · weight + bias per row (overwrite; out must not alias x); writes mean and
 * rstd. A row whose `ids` entry is 0 (padding) gets out = 0 and mean = rstd = 0.
 */
export function layerNormForward(
  out: FloatArray, mean: FloatArray, rstd: FloatArray,
  x: FloatArray, weight: FloatArray, bias: FloatArray,
  rows: number, cols: number, eps: number, ids: Int32Array | null = null,
): void {
  layerNormForwardPart(out, mean, rstd, x, weight, bias, rows, cols, eps, ids, 0, 1);
}

/** Part `part` of `parts` of `layerNormForward`: a range of rows. */
export function layerNormForwardPart(
  out: FloatArray, mean: FloatArray, rstd: FloatArray,
  x: FloatArray, weight: FloatArray, bias: FloatArray,
  rows: number, cols: number, eps: number, ids: Int32Array | null, part: number, parts: number,
): void {
  const [lo, hi] = span(rows, part, parts);
  for (let r = lo; r < hi; r++) {
    const o = r * cols;
    if (ids !== null && ids[r] === 0) {
      out.fill(0, o, o + cols);
      mean[r] = 0;
      rstd[r] = 0;
      continue;
    }
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[o + c]!;
    const mu = s / cols;
    let v = 0;
    for (let c = 0; c < cols; c++) {
      const dlt = x[o + c]! - mu;
      v += dlt * dlt;
    }
    const rs = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) out[o + c] = (x[o + c]! - mu) * rs * weight[c]! + bias[c]!;
    mean[r] = mu;
    rstd[r] = rs;
  }
}

/**
 * dx (+=, or = with `overwrite`) the input gradient of dout (+ dout2), dWeight (+=) Σ dout · x̂, dBias
 * (+=) Σ dout, with x̂ recomputed from x and the saved mean and rstd. With `dout2` the gradient is
 * their sum as `add` stores it in dout's element type (fround(dout + dout2) for a Float32Array), so the
 * results are bit for bit those of `add` into dout and then the backward. A row whose `ids` entry is 0
 * (padding) adds nothing to the sums, reads neither gradient and leaves its dx as it is (0 with
 * `overwrite`).
 */
export function layerNormBackward(
  dx: FloatArray, dWeight: FloatArray, dBias: FloatArray,
  dout: FloatArray, x: FloatArray, weight: FloatArray, mean: FloatArray, rstd: FloatArray,
  rows: number, cols: number, ids: Int32Array | null = null, dout2: FloatArray | null = null, overwrite = false,
): void {
  const partials = new Float64Array(sumChunks(rows).chunks * 2 * cols);
  layerNormBackwardPart(dx, partials, dout, x, weight, mean, rstd, rows, cols, ids, dout2, overwrite, null, 0, 1);
  layerNormAddPartials(dWeight, dBias, partials, rows, cols);
}

/** Math.fround for a Float32Array's sums (what storing into it rounds to), the identity for a Float64Array's. */
function roundingOf(a: FloatArray): (v: number) => number {
  return a instanceof Float32Array ? Math.fround : (v) => v;
}

/**
 * Part `part` of `parts` of layerNormBackward: a range of the chunks of rows of `sumChunks(rows)`.
 * Adds (or writes) dx of its rows and overwrites each of its chunks' partials: chunk k's Σ dout · x̂ at
 * partials[2k·cols, (2k+1)·cols), its Σ dout right after; `only` (ops.ts LayerNormBackwardOptions)
 * does one of the two: 'input' leaves the partials, 'params' leaves dx (neither read nor written).
 */
export function layerNormBackwardPart(
  dx: FloatArray, partials: Float64Array,
  dout: FloatArray, x: FloatArray, weight: FloatArray, mean: FloatArray, rstd: FloatArray,
  rows: number, cols: number, ids: Int32Array | null, dout2: FloatArray | null, overwrite: boolean, only: 'input' | 'params' | null,
  part: number, parts: number,
): void {
  const { chunkRows, chunks } = sumChunks(rows);
  const [k0, k1] = span(chunks, part, parts);
  const round = roundingOf(dout);
  const wantDx = only !== 'params';
  const wantSums = only !== 'input';
  // The row's incoming gradient: dout, or dout + dout2 rounded as `add` would store it into dout.
  const grad = dout2 === null ? (i: number) => dout[i]! : (i: number) => round(dout[i]! + dout2[i]!);
  for (let k = k0; k < k1; k++) {
    const pw = 2 * k * cols;
    const pb = pw + cols;
    if (wantSums) partials.fill(0, pw, pw + 2 * cols);
    const end = Math.min(rows, (k + 1) * chunkRows);
    for (let r = k * chunkRows; r < end; r++) {
      const o = r * cols;
      if (ids !== null && ids[r] === 0) {
        if (overwrite && wantDx) dx.fill(0, o, o + cols);
        continue;
      }
      const mu = mean[r]!;
      const rs = rstd[r]!;
      // dx̂ = dout · w; dx = rs · (dx̂ - mean(dx̂) - x̂ · mean(dx̂ · x̂)); the row means serve dx only.
      let sumG = 0;
      let sumGX = 0;
      if (wantDx) {
        for (let c = 0; c < cols; c++) {
          const g = grad(o + c) * weight[c]!;
          const xh = (x[o + c]! - mu) * rs;
          sumG += g;
          sumGX += g * xh;
        }
      }
      const mG = sumG / cols;
      const mGX = sumGX / cols;
      for (let c = 0; c < cols; c++) {
        const dy = grad(o + c);
        const xh = (x[o + c]! - mu) * rs;
        if (wantDx) {
          const v = rs * (dy * weight[c]! - mG - xh * mGX);
          dx[o + c] = overwrite ? v : dx[o + c]! + v;
        }
        if (wantSums) {
          partials[pw + c] = partials[pw + c]! + dy * xh;
          partials[pb + c] = partials[pb + c]! + dy;
        }
      }
    }
  }
}

/** dWeight and dBias (+=) the chunk partials of `layerNormBackwardPart`, added in chunk order. */
export function layerNormAddPartials(
  dWeight: FloatArray, dBias: FloatArray, partials: Float64Array, rows: number, cols: number,
): void {
  const { chunks } = sumChunks(rows);
  addPartials(dWeight, partials, chunks, 2 * cols, 0, cols);
  addPartials(dBias, partials, chunks, 2 * cols, cols, cols);
}
