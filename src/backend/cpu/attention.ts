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

/** Where one query row of one head lives: its q row, its out row, its probabilities row and the keys it sees. */
interface QueryRow {
  /** Offset of the row's head columns in q. */
  readonly qo: number;
  /** Offset of the row's head columns in out. */
  readonly oo: number;
  /** Offset of the row's L probabilities in probs (also its dropout elements' first index). */
  readonly pRow: number;
  /** Offset of key 0's head columns in k and v (sequence b, head h). */
  readonly kv: number;
  /** The keys j the row sees: first..last. */
  readonly first: number;
  readonly last: number;
}

/**
 * One query row of one head: its probabilities into probs[pRow..pRow+L) (0 where unseen) and its output
 * into out[oo..oo+hd). attentionForwardPart and attentionLastPart share it, so the last row of one equals
 * the other's bit for bit.
 */
function attendRow(
  out: FloatArray, probs: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray,
  row: QueryRow, D: number, L: number, hd: number, scale: number, mask: DropoutMask | null, keepScale: number,
): void {
  const { qo, oo, pRow, kv, first, last } = row;
  let max = -Infinity;
  for (let j = first; j <= last; j++) {
    const ko = kv + j * D;
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
  out.fill(0, oo, oo + hd);
  for (let j = first; j <= last; j++) {
    if (mask && !mask.keeps(pRow + j)) continue;
    const w = probs[pRow + j]! * keepScale;
    const vo = kv + j * D;
    for (let c = 0; c < hd; c++) out[oo + c] = out[oo + c]! + w * v[vo + c]!;
  }
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
        attendRow(out, probs, q, k, v, { qo, oo: qo, pRow, kv: b * L * D + col, first, last }, D, L, hd, scale, mask, keepScale);
      }
    }
  }
}

/**
 * out [B × D] (overwrite) from q [B × D], each sequence's last position only (ops.ts
 * attentionLastForward): row L − 1 of attentionForwardPart without dropout, through the same attendRow.
 */
export function attentionLastPart(
  out: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray,
  B: number, L: number, H: number, hd: number, rows: AttentionRows, part: number, parts: number,
): void {
  const D = H * hd;
  const scale = 1 / Math.sqrt(hd);
  // The row's probabilities, in the precision attentionForwardPart stores them (its probs: the tensors' storage).
  const probs = out instanceof Float64Array ? new Float64Array(L) : new Float32Array(L);
  const [b0, b1] = span(B, part, parts);
  for (let b = b0; b < b1; b++) {
    const start = sequenceStart(rows.ids, b, L);
    if (start === L) {
      // An all-padding sequence: its last row is padding, so 0 as attentionForward leaves it.
      out.fill(0, b * D, (b + 1) * D);
      continue;
    }
    const first = rows.keyPadding ? start : 0;
    for (let h = 0; h < H; h++) {
      const col = h * hd;
      attendRow(out, probs, q, k, v, { qo: b * D + col, oo: b * D + col, pRow: 0, kv: b * L * D + col, first, last: L - 1 }, D, L, hd, scale, null, 1);
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
