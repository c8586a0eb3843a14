/**
 * Elementwise and row-wise CPU kernels: residual add, padding mask, ReLU, bias, row slices. Outputs
 * first, then inputs, then sizes; each says whether it overwrites or accumulates.
 */
import type { FloatArray } from './arrays.js';

/** out = a + b over n elements (overwrite); out may alias a or b. */
export function add(out: FloatArray, a: FloatArray, b: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
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
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    out[i] = v > 0 ? v : 0;
  }
}

/** dx = dout · (out > 0) (overwrite), `out` being the forward output; dx may alias dout. */
export function reluBackward(dx: FloatArray, dout: FloatArray, out: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = out[i]! > 0 ? dout[i]! : 0;
}

/** out[r, :] = out[r, :]! + bias (in place). */
export function biasAdd(out: FloatArray, bias: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) out[o + c] = out[o + c]! + bias[c]!;
  }
}

/** dBias (+=) Σ_r dout[r, :]. */
export function biasBackward(dBias: FloatArray, dout: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) dBias[c] = dBias[c]! + dout[o + c]!;
  }
}

/** out[r, :] = x[(first + r·stride), :] for r < rows (overwrite). */
export function sliceRows(out: FloatArray, x: FloatArray, rows: number, first: number, stride: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const src = (first + r * stride) * cols;
    for (let c = 0; c < cols; c++) out[r * cols + c] = x[src + c]!;
  }
}
