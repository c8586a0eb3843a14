/**
 * SASRec's input embedding: the item embedding scaled by a constant (sqrt(d)) plus a learned
 * absolute position embedding, forward (gather) then backward (scatter-add).
 */
import type { FloatArray } from './arrays.js';

/** out[b·L + t, :] = scale · items[ids[b·L + t], :] + positions[t, :] (overwrite). */
export function embedForward(
  out: FloatArray, ids: Int32Array, items: FloatArray, positions: FloatArray,
  scale: number, B: number, L: number, d: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < L; t++) {
      const r = b * L + t;
      const src = ids[r]! * d;
      const pos = t * d;
      const o = r * d;
      for (let c = 0; c < d; c++) out[o + c] = scale * items[src + c]! + positions[pos + c]!;
    }
  }
}

/**
 * dItems[ids[r], :] (+=) scale · dout[r, :]; dPositions[t, :] (+=) Σ_b dout[b·L + t, :]; padding rows
 * (id 0) add nothing: the gradient of the embedding followed by the padding mask.
 */
export function embedBackward(
  dItems: FloatArray, dPositions: FloatArray, dout: FloatArray, ids: Int32Array,
  scale: number, B: number, L: number, d: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < L; t++) {
      const r = b * L + t;
      if (ids[r] === 0) continue;
      const dst = ids[r]! * d;
      const pos = t * d;
      const o = r * d;
      for (let c = 0; c < d; c++) {
        const g = dout[o + c]!;
        dItems[dst + c] = dItems[dst + c]! + scale * g;
        dPositions[pos + c] = dPositions[pos + c]! + g;
      }
    }
  }
}
