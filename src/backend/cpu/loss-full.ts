/**
 * The full-catalogue losses that hold the [N × V] logits, as the reference does: ce (softmax over
 * items 1..V) and bce (one-vs-all sigmoid). Forward leaves the unscaled logit gradient in the logits
 * buffer (softmax − one-hot for ce, σ(s) − one-hot for bce; 0 on padding rows); backward scales it by
 * dLoss / M and runs the two matmuls. Column c of the logits is item c + 1: row 0 is never scored.
 *
 * Each function computes part `part` of `parts` (partition.ts): forward and the dH half of backward
 * split rows, the dE half splits items, so no two parts write one element.
 */
import type { FloatArray } from './arrays.js';
import { denseLayout, gemm } from './gemm.js';
import { sigmoid, softplus } from './numerics.js';
import { span } from './partition.js';

/**
 * Forward of ce or bce on this part's rows: logits = h · E[1..V]ᵀ, then the loss terms; returns the
 * part's sum over valid rows (the caller divides by M).
 */
export function fullLossForwardPart(
  kind: 'ce' | 'bce', logits: FloatArray, h: FloatArray, table: FloatArray, targets: Int32Array,
  N: number, V: number, d: number, part: number, parts: number,
): number {
  const [lo, hi] = span(N, part, parts);
  if (hi <= lo) return 0;
  gemm(logits.subarray(lo * V), h.subarray(lo * d), table.subarray(d), hi - lo, V, d, denseLayout(hi - lo, V, d, false, true), 1, false);
  let total = 0;
  for (let r = lo; r < hi; r++) {
    const t = targets[r]!;
    const o = r * V;
    if (t === 0) logits.fill(0, o, o + V);
    else total += kind === 'ce' ? softmaxRow(logits, o, V, t) : sigmoidRow(logits, o, V, t);
  }
  return total;
}

/** Turns row logits at o into softmax − one-hot(t); returns lse − s_t. */
function softmaxRow(logits: FloatArray, o: number, V: number, t: number): number {
  let max = -Infinity;
  for (let c = 0; c < V; c++) if (logits[o + c]! > max) max = logits[o + c]!;
  let sum = 0;
  for (let c = 0; c < V; c++) sum += Math.exp(logits[o + c]! - max);
  const lse = max + Math.log(sum);
  const loss = lse - logits[o + t - 1]!;
  for (let c = 0; c < V; c++) logits[o + c] = Math.exp(logits[o + c]! - lse);
  logits[o + t - 1] = logits[o + t - 1]! - 1;
  return loss;
}

/** Turns row logits at o into σ(s) − one-hot(t); returns softplus(−s_t) + Σ_{i≠t} softplus(s_i). */
function sigmoidRow(logits: FloatArray, o: number, V: number, t: number): number {
  let loss = 0;
  for (let c = 0; c < V; c++) {
    const s = logits[o + c]!;
    if (c === t - 1) {
      loss += softplus(-s);
      logits[o + c] = sigmoid(s) - 1;
    } else {
      loss += softplus(s);
      logits[o + c] = sigmoid(s);
    }
  }
  return loss;
}

/** Backward, first half, on this part's rows: scales them by `scale` (= dLoss / M) in place; dH (overwrite) = G · E[1..V]. */
export function fullLossBackwardRowsPart(
  dH: FloatArray, grad: FloatArray, table: FloatArray,
  N: number, V: number, d: number, scale: number, part: number, parts: number,
): void {
  const [lo, hi] = span(N, part, parts);
  if (hi <= lo) return;
  for (let i = lo * V; i < hi * V; i++) grad[i] = grad[i]! * scale;
  gemm(dH.subarray(lo * d), grad.subarray(lo * V), table.subarray(d), hi - lo, d, V, denseLayout(hi - lo, d, V, false, false), 1, false);
}

/** Backward, second half (after every part of the first), on this part's items: dTable[1..V] (+=) Gᵀ · h. */
export function fullLossBackwardItemsPart(
  dTable: FloatArray, grad: FloatArray, h: FloatArray,
  N: number, V: number, d: number, part: number, parts: number,
): void {
  const [lo, hi] = span(V, part, parts);
  if (hi <= lo) return;
  gemm(dTable.subarray((1 + lo) * d), grad.subarray(lo), h, hi - lo, d, N, { transA: true, transB: false, lda: V, ldb: d, ldc: d }, 1, true);
}
