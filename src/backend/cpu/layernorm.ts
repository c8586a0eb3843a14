/**
 * Layer normalisation over the last dimension, forward then backward.
 * Forward saves per-row mean and rstd = 1 / sqrt(var + eps) (biased variance, as PyTorch) for backward.
 * The `…Part` kernels take (part, parts) last and run on the worker pool: forward and the input
 * gradient by rows, the parameter gradients (sums over rows) by columns, each column summed in row
 * order, so the results do not depend on the number of parts.
 */
import type { FloatArray } from './arrays.js';
import { span } from './partition.js';

/** out = (x - mean) · rstd · weight + bias per row (overwrite; out must not alias x); writes mean and rstd. */
export function layerNormForward(
  out: FloatArray, mean: FloatArray, rstd: FloatArray,
  x: FloatArray, weight: FloatArray, bias: FloatArray,
  rows: number, cols: number, eps: number,
): void {
  layerNormForwardPart(out, mean, rstd, x, weight, bias, rows, cols, eps, 0, 1);
}

/** Part `part` of `parts` of `layerNormForward`: a range of rows. */
export function layerNormForwardPart(
  out: FloatArray, mean: FloatArray, rstd: FloatArray,
  x: FloatArray, weight: FloatArray, bias: FloatArray,
  rows: number, cols: number, eps: number, part: number, parts: number,
): void {
  const [lo, hi] = span(rows, part, parts);
  for (let r = lo; r < hi; r++) {
    const o = r * cols;
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
 * dx (+=) the input gradient, dWeight (+=) Σ dout · x̂, dBias (+=) Σ dout, with x̂ recomputed from
 * x and the saved mean and rstd.
 */
export function layerNormBackward(
  dx: FloatArray, dWeight: FloatArray, dBias: FloatArray,
  dout: FloatArray, x: FloatArray, weight: FloatArray, mean: FloatArray, rstd: FloatArray,
  rows: number, cols: number,
): void {
  layerNormBackwardRowsPart(dx, dout, x, weight, mean, rstd, rows, cols, 0, 1);
  layerNormBackwardColumnsPart(dWeight, dBias, dout, x, mean, rstd, rows, cols, 0, 1);
}

/** Part `part` of `parts` of layerNormBackward's dx (+=): a range of rows. */
export function layerNormBackwardRowsPart(
  dx: FloatArray, dout: FloatArray, x: FloatArray, weight: FloatArray, mean: FloatArray, rstd: FloatArray,
  rows: number, cols: number, part: number, parts: number,
): void {
  const [lo, hi] = span(rows, part, parts);
  for (let r = lo; r < hi; r++) {
    const o = r * cols;
    const mu = mean[r]!;
    const rs = rstd[r]!;
    // dx̂ = dout · w; dx = rs · (dx̂ - mean(dx̂) - x̂ · mean(dx̂ · x̂))
    let sumG = 0;
    let sumGX = 0;
    for (let c = 0; c < cols; c++) {
      const g = dout[o + c]! * weight[c]!;
      const xh = (x[o + c]! - mu) * rs;
      sumG += g;
      sumGX += g * xh;
    }
    const mG = sumG / cols;
    const mGX = sumGX / cols;
    for (let c = 0; c < cols; c++) {
      const xh = (x[o + c]! - mu) * rs;
      dx[o + c] = dx[o + c]! + rs * (dout[o + c]! * weight[c]! - mG - xh * mGX);
    }
  }
}

/** Part `part` of `parts` of layerNormBackward's dWeight and dBias (+=): a range of columns. */
export function layerNormBackwardColumnsPart(
  dWeight: FloatArray, dBias: FloatArray, dout: FloatArray, x: FloatArray, mean: FloatArray, rstd: FloatArray,
  rows: number, cols: number, part: number, parts: number,
): void {
  const [lo, hi] = span(cols, part, parts);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const mu = mean[r]!;
    const rs = rstd[r]!;
    for (let c = lo; c < hi; c++) {
      const dy = dout[o + c]!;
      dBias[c] = dBias[c]! + dy;
      dWeight[c] = dWeight[c]! + dy * ((x[o + c]! - mu) * rs);
    }
  }
}
