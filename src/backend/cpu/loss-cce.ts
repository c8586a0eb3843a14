/**
 * Cut Cross-Entropy on the CPU: the ce loss without the [N × V] logits. Forward computes each row's
 * log-sum-exp online over blocks of CCE_ROWS × CCE_ITEMS logits and saves only lse [N]; backward
 * recomputes each block's logits from lse and turns them into (softmax − one-hot) · dLoss / M. Equal to
 * ce up to float32 rounding (no gradient filtering: this is the reference).
 *
 * Parts (partition.ts): forward and the dH pass split rows; the dE pass splits items and recomputes the
 * logits a second time, so no two parts write one element. Each part owns one block of the scratch.
 */
import type { FloatArray } from './arrays.js';
import { gemm, type GemmLayout } from './gemm.js';
import { span } from './partition.js';

/** Rows of hidden states per block. */
const CCE_ROWS = 64;
/** Catalogue items per block: with CCE_ROWS, a 128 KiB float32 block that stays in L2. */
const CCE_ITEMS = 512;

/** The [rows × items] block one part needs for N rows and V items. */
export function cceBlockShape(N: number, V: number): [number, number] {
  return [Math.max(1, Math.min(CCE_ROWS, N)), Math.max(1, Math.min(CCE_ITEMS, V))];
}

/** Block logits [rb × vb] (row stride VB) = h[r0 ..] · E[1 + v0 ..]ᵀ. */
function blockLogits(
  block: FloatArray, h: FloatArray, table: FloatArray, r0: number, rb: number, v0: number, vb: number, d: number, VB: number,
): void {
  const lay: GemmLayout = { transA: false, transB: true, lda: d, ldb: d, ldc: VB };
  gemm(block, h.subarray(r0 * d), table.subarray((1 + v0) * d), rb, vb, d, lay, 1, false);
}

/**
 * Forward on this part's rows: writes lse (0 on padding rows) and returns the part's Σ (lse − s_t)
 * over valid rows. `blocks` holds `parts` blocks of cceBlockShape(N, V).
 */
export function cceForwardPart(
  lse: FloatArray, blocks: FloatArray, h: FloatArray, table: FloatArray, targets: Int32Array,
  N: number, V: number, d: number, part: number, parts: number,
): number {
  const [RB, VB] = cceBlockShape(N, V);
  const block = blocks.subarray(part * RB * VB, (part + 1) * RB * VB);
  const [lo, hi] = span(N, part, parts, RB);
  const rowMax = new Float64Array(RB);
  const rowSum = new Float64Array(RB);
  let total = 0;
  for (let r0 = lo; r0 < hi; r0 += RB) {
    const rb = Math.min(RB, hi - r0);
    rowMax.fill(-Infinity);
    rowSum.fill(0);
    for (let v0 = 0; v0 < V; v0 += VB) {
      const vb = Math.min(VB, V - v0);
      blockLogits(block, h, table, r0, rb, v0, vb, d, VB);
      for (let i = 0; i < rb; i++) {
        const t = targets[r0 + i]!;
        if (t === 0) continue;
        const o = i * VB;
        let m = rowMax[i]!;
        for (let c = 0; c < vb; c++) if (block[o + c]! > m) m = block[o + c]!;
        let s = rowSum[i]! * Math.exp(rowMax[i]! - m);
        for (let c = 0; c < vb; c++) s += Math.exp(block[o + c]! - m);
        rowMax[i] = m;
        rowSum[i] = s;
        if (t - 1 >= v0 && t - 1 < v0 + vb) total -= block[o + t - 1 - v0]!;
      }
    }
    for (let i = 0; i < rb; i++) {
      if (targets[r0 + i] === 0) {
        lse[r0 + i] = 0;
        continue;
      }
      const l = rowMax[i]! + Math.log(rowSum[i]!);
      lse[r0 + i] = l;
      total += l;
    }
  }
  return total;
}

/** Recomputes block logits and turns them into the scaled gradient G = (softmax − one-hot) · scale. */
function blockGrad(
  block: FloatArray, lse: FloatArray, h: FloatArray, table: FloatArray, targets: Int32Array,
  r0: number, rb: number, v0: number, vb: number, d: number, VB: number, scale: number,
): void {
  blockLogits(block, h, table, r0, rb, v0, vb, d, VB);
  for (let i = 0; i < rb; i++) {
    const t = targets[r0 + i]!;
    const o = i * VB;
    if (t === 0) {
      block.fill(0, o, o + vb);
      continue;
    }
    const l = lse[r0 + i]!;
    for (let c = 0; c < vb; c++) block[o + c] = Math.exp(block[o + c]! - l) * scale;
    if (t - 1 >= v0 && t - 1 < v0 + vb) block[o + t - 1 - v0] = block[o + t - 1 - v0]! - scale;
  }
}

/** Backward, dH pass, on this part's rows: dH (overwrite) = G · E[1..V], scale = dLoss / M. */
export function cceBackwardRowsPart(
  dH: FloatArray, lse: FloatArray, blocks: FloatArray, h: FloatArray, table: FloatArray, targets: Int32Array,
  N: number, V: number, d: number, scale: number, part: number, parts: number,
): void {
  const [RB, VB] = cceBlockShape(N, V);
  const block = blocks.subarray(part * RB * VB, (part + 1) * RB * VB);
  const [lo, hi] = span(N, part, parts, RB);
  dH.fill(0, lo * d, hi * d);
  const lay: GemmLayout = { transA: false, transB: false, lda: VB, ldb: d, ldc: d };
  for (let r0 = lo; r0 < hi; r0 += RB) {
    const rb = Math.min(RB, hi - r0);
    for (let v0 = 0; v0 < V; v0 += VB) {
      const vb = Math.min(VB, V - v0);
      blockGrad(block, lse, h, table, targets, r0, rb, v0, vb, d, VB, scale);
      gemm(dH.subarray(r0 * d), block, table.subarray((1 + v0) * d), rb, d, vb, lay, 1, true);
    }
  }
}

/** Backward, dE pass, on this part's item blocks: dTable[1..V] (+=) Gᵀ · h. */
export function cceBackwardItemsPart(
  dTable: FloatArray, lse: FloatArray, blocks: FloatArray, h: FloatArray, table: FloatArray, targets: Int32Array,
  N: number, V: number, d: number, scale: number, part: number, parts: number,
): void {
  const [RB, VB] = cceBlockShape(N, V);
  const block = blocks.subarray(part * RB * VB, (part + 1) * RB * VB);
  const [lo, hi] = span(V, part, parts, VB);
  const lay: GemmLayout = { transA: true, transB: false, lda: VB, ldb: d, ldc: d };
  for (let v0 = lo; v0 < hi; v0 += VB) {
    const vb = Math.min(VB, hi - v0);
    for (let r0 = 0; r0 < N; r0 += RB) {
      const rb = Math.min(RB, N - r0);
      blockGrad(block, lse, h, table, targets, r0, rb, v0, vb, d, VB, scale);
      gemm(dTable.subarray((1 + v0) * d), block, h.subarray(r0 * d), vb, d, rb, lay, 1, true);
    }
  }
}
