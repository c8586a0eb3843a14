/**
 * Layer normalisation over the last dimension, forward then backward.
 * Forward saves per-row mean and rstd = 1 / sqrt(var + eps) (biased variance, as PyTorch) for backward.
 */
import type { FloatArray } from './arrays.js';

/** out = (x - mean) · rstd · weight + bias per row (overwrite; out must not alias x); writes mean and rstd. */
export function layerNormForward(
  out: FloatArray, mean: FloatArray, rstd: FloatArray,
  x: FloatArray, weight: FloatArray, bias: FloatArray,
  rows: number, cols: number, eps: number,
): void {
  for (let r = 0; r < rows; r++) {
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
  for (let r = 0; r < rows; r++) {
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
      const dy = dout[o + c]!;
      const xh = (x[o + c]! - mu) * rs;
      dBias[c] = dBias[c]! + dy;
      dWeight[c] = dWeight[c]! + dy * xh;
      dx[o + c] = dx[o + c]! + rs * (dy * weight[c]! - mG - xh * mGX);
    }
  }
}
