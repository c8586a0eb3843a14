/**
 * Multi-head scaled dot-product attention (causal for SASRec, bidirectional for BERT4Rec), forward
 * then backward, as ops.ts attentionForward defines it. q, k, v and out are [B·L × H·hd]; head h owns
 * columns h·hd..(h+1)·hd. Forward saves the softmax probabilities [B × H × L × L] (zero where a row
 * does not see a key, and on padding rows); dropout acts on the probabilities, its mask indexed by the
 * flat index into probs and regenerated in backward. Parts (partition.ts) split the B sequences.
 */
import type { DropoutSpec } from '../ops.js';
import type { FloatArray } from './arrays.js';
import { DropoutMask } from './dropout.js';
import { span } from './partition.js';

/** Which keys each row sees (ops.ts AttentionMask, with the ids as an array). */
export interface AttentionRows {
  readonly ids: Int32Array;
  readonly causal: boolean;
  readonly keyPadding: boolean;
}

/** The first non-padding position of sequence b (L when it is all padding). */
export function sequenceStart(ids: Int32Array, b: number, L: number): number {
  let i = 0;
  while (i < L && ids[b * L + i] === 0) i++;
  return i;
}

/** out (overwrite) and probs (overwrite) of this part's sequences from q, k, v. */
export function attentionForwardPart(
  out: FloatArray, probs: FloatArray,
  q: FloatArray, k: FloatArray, v: FloatArray,
  B: number, L: number, H: number, hd: number, rows: AttentionRows, drop: DropoutSpec, part: number, parts: number,
): void {
  const D = H * hd;
  const scale = 1 / Math.sqrt(hd);
  const mask = drop.p > 0 ? new DropoutMask(drop) : null;
  const keepScale = mask ? mask.scale : 1;
  const [b0, b1] = span(B, part, parts);
  for (let b = b0; b < b1; b++) {
    const start = sequenceStart(rows.ids, b, L);
    const first = rows.keyPadding ? start : 0;
    for (let h = 0; h < H; h++) {
      const col = h * hd;
      for (let i = 0; i < L; i++) {
        const pRow = ((b * H + h) * L + i) * L;
        const qo = (b * L + i) * D + col;
        if (i < start) {
          probs.fill(0, pRow, pRow + L);
          out.fill(0, qo, qo + hd);
          continue;
        }
        const last = rows.causal ? i : L - 1;
        let max = -Infinity;
        for (let j = first; j <= last; j++) {
          const ko = (b * L + j) * D + col;
          let s = 0;
          for (let c = 0; c < hd; c++) s += q[qo + c]! * k[ko + c]!;
          s *= scale;
          probs[pRow + j] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let j = first; j <= last; j++) {
          const e = Math.exp(probs[pRow + j]! - max);
          probs[pRow + j] = e;
          sum += e;
        }
        const inv = 1 / sum;
        for (let j = first; j <= last; j++) probs[pRow + j] = probs[pRow + j]! * inv;
        probs.fill(0, pRow, pRow + first);
        probs.fill(0, pRow + last + 1, pRow + L);
        const oo = (b * L + i) * D + col;
        out.fill(0, oo, oo + hd);
        for (let j = first; j <= last; j++) {
          if (mask && !mask.keeps(pRow + j)) continue;
          const w = probs[pRow + j]! * keepScale;
          const vo = (b * L + j) * D + col;
          for (let c = 0; c < hd; c++) out[oo + c] = out[oo + c]! + w * v[vo + c]!;
        }
      }
    }
  }
}

/** dq, dk, dv (overwrite) of this part's sequences from dout, the inputs and the saved probs. */
export function attentionBackwardPart(
  dq: FloatArray, dk: FloatArray, dv: FloatArray,
  dout: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, probs: FloatArray,
  B: number, L: number, H: number, hd: number, rows: AttentionRows, drop: DropoutSpec, part: number, parts: number,
): void {
  const D = H * hd;
  const [b0, b1] = span(B, part, parts);
  dq.fill(0, b0 * L * D, b1 * L * D);
  dk.fill(0, b0 * L * D, b1 * L * D);
  dv.fill(0, b0 * L * D, b1 * L * D);
  const scale = 1 / Math.sqrt(hd);
  const mask = drop.p > 0 ? new DropoutMask(drop) : null;
  const keepScale = mask ? mask.scale : 1;
  // dP of one query row (after the dropout's chain rule), then dS in place.
  const dRow = new Float64Array(L);
  for (let b = b0; b < b1; b++) {
    const start = sequenceStart(rows.ids, b, L);
    const first = rows.keyPadding ? start : 0;
    for (let h = 0; h < H; h++) {
      const col = h * hd;
      // Padding rows were not computed: their dout does not count and their dq stays 0.
      for (let i = start; i < L; i++) {
        const pRow = ((b * H + h) * L + i) * L;
        const io = (b * L + i) * D + col;
        const last = rows.causal ? i : L - 1;
        let dot = 0;
        for (let j = first; j <= last; j++) {
          const jo = (b * L + j) * D + col;
          const kept = mask ? mask.keeps(pRow + j) : true;
          const p = probs[pRow + j]!;
          let g = 0;
          if (kept) {
            // out_i = Σ_j keepScale · p_ij · v_j
            const w = p * keepScale;
            for (let c = 0; c < hd; c++) {
              const dy = dout[io + c]!;
              g += dy * v[jo + c]!;
              dv[jo + c] = dv[jo + c]! + w * dy;
            }
            g *= keepScale;
          }
          dRow[j] = g;
          dot += g * p;
        }
        for (let j = first; j <= last; j++) {
          const ds = probs[pRow + j]! * (dRow[j]! - dot) * scale;
          if (ds === 0) continue;
          const jo = (b * L + j) * D + col;
          for (let c = 0; c < hd; c++) {
            dq[io + c] = dq[io + c]! + ds * k[jo + c]!;
            dk[jo + c] = dk[jo + c]! + ds * q[io + c]!;
          }
        }
      }
    }
  }
}
