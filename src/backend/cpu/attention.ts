/**
 * Multi-head scaled dot-product attention (causal for SASRec, bidirectional for BERT4Rec), forward
 * then backward, as ops.ts attentionForward defines it. q, k, v and out are [rows × H·hd], sequence b's
 * positions start_b .. L − 1 at rows first_b .. first_b + len_b − 1 (ops.ts SequenceRows); head h owns
 * columns h·hd..(h+1)·hd. Padding positions j < start_b have no row: as keys (without keyPadding) they
 * all hold the padding key and value vectors (ops.ts PaddingKeys), as queries they are not computed.
 * Forward saves the softmax probabilities [B × H × L × L] in sequence coordinates (zero where a row
 * does not see a key, and on padding rows); dropout acts on the probabilities, its mask indexed by the
 * flat index into probs and regenerated in backward. Parts (partition.ts) split the B sequences.
 */
import type { DropoutSpec } from '../ops.js';
import type { FloatArray } from './arrays.js';
import { DropoutMask } from './dropout.js';
import { span } from './partition.js';

/** Which keys each row sees and where the sequences lie (ops.ts AttentionMask, as arrays). */
export interface AttentionRows {
  /** i32 [B × 2]: (first_b, len_b) of each sequence (ops.ts SequenceRows.seqs). */
  readonly seqs: Int32Array;
  readonly causal: boolean;
  readonly keyPadding: boolean;
  /** The padding keys' key [H·hd] (ops.ts PaddingKeys.k); null with keyPadding (never seen). */
  readonly padK: FloatArray | null;
  /** The padding keys' value [H·hd] (ops.ts PaddingKeys.v); null with keyPadding. */
  readonly padV: FloatArray | null;
}

/** Where sequence b lies: its first non-padding position and the row of position 0 (rows of positions ≥ start only). */
export interface SequencePlace {
  /** L − len_b: L for an empty sequence. */
  readonly start: number;
  /** first_b − start_b: position i ≥ start is row base + i (may be negative; 0 for an empty sequence). */
  readonly base: number;
}

/** Sequence b's place in the rows (ops.ts SequenceRows). */
export function sequencePlace(seqs: Int32Array, b: number, L: number): SequencePlace {
  const len = seqs[2 * b + 1]!;
  const start = L - len;
  return { start, base: len === 0 ? 0 : seqs[2 * b]! - start };
}

/** The keys of one (sequence, head): positions ≥ start in k and v, the padding positions from the padding vectors. */
interface HeadKeys {
  /** Offset of position 0's head columns in k and v: position j ≥ start at kv + j·D. */
  readonly kv: number;
  /** The sequence's first non-padding position. */
  readonly start: number;
  /** Key and value of every padding position j < start, at padOffset (k and v themselves where no padding key is seen). */
  readonly padK: FloatArray;
  readonly padV: FloatArray;
  readonly padOffset: number;
}

/** The keys of head h of a sequence at `place`. */
function headKeys(rows: AttentionRows, place: SequencePlace, D: number, col: number, k: FloatArray, v: FloatArray): HeadKeys {
  // With keyPadding no padding key is ever visited: k and v stand in for the absent vectors.
  return { kv: place.base * D + col, start: place.start, padK: rows.padK ?? k, padV: rows.padV ?? v, padOffset: col };
}

/** Where one query row of one head lives: its q row, its out row, its probabilities row and the keys it sees. */
interface QueryRow {
  /** Offset of the row's head columns in q. */
  readonly qo: number;
  /** Offset of the row's head columns in out. */
  readonly oo: number;
  /** Offset of the row's L probabilities in probs (also its dropout elements' first index). */
  readonly pRow: number;
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
  out: FloatArray, probs: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, keys: HeadKeys,
  row: QueryRow, D: number, L: number, hd: number, scale: number, mask: DropoutMask | null, keepScale: number,
): void {
  const { qo, oo, pRow, first, last } = row;
  const { kv, start, padK, padV, padOffset } = keys;
  let max = -Infinity;
  for (let j = first; j <= last; j++) {
    const pad = j < start;
    const kk = pad ? padK : k;
    const ko = pad ? padOffset : kv + j * D;
    let s = 0;
    for (let c = 0; c < hd; c++) s += q[qo + c]! * kk[ko + c]!;
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
    const pad = j < start;
    const vv = pad ? padV : v;
    const vo = pad ? padOffset : kv + j * D;
    for (let c = 0; c < hd; c++) out[oo + c] = out[oo + c]! + w * vv[vo + c]!;
  }
}

/** out (overwrite, the sequences' rows) and probs (overwrite) of this part's sequences from q, k, v. */
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
    const place = sequencePlace(rows.seqs, b, L);
    const { start, base } = place;
    const first = rows.keyPadding ? start : 0;
    for (let h = 0; h < H; h++) {
      const col = h * hd;
      const keys = headKeys(rows, place, D, col, k, v);
      // Padding rows have no query: their probabilities are 0 and they have no out row.
      probs.fill(0, ((b * H + h) * L) * L, ((b * H + h) * L + start) * L);
      for (let i = start; i < L; i++) {
        const qo = (base + i) * D + col;
        const last = rows.causal ? i : L - 1;
        attendRow(out, probs, q, k, v, keys, { qo, oo: qo, pRow: ((b * H + h) * L + i) * L, first, last }, D, L, hd, scale, mask, keepScale);
      }
    }
  }
}

/**
 * out [B × D] (overwrite) from q [B × D], each sequence's last position only (ops.ts
 * attentionLastForward): position L − 1 of attentionForwardPart without dropout, through the same attendRow.
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
    const place = sequencePlace(rows.seqs, b, L);
    if (place.start === L) {
      // An empty sequence: no position to score, 0 by the contract.
      out.fill(0, b * D, (b + 1) * D);
      continue;
    }
    const first = rows.keyPadding ? place.start : 0;
    for (let h = 0; h < H; h++) {
      const col = h * hd;
      const keys = headKeys(rows, place, D, col, k, v);
      attendRow(out, probs, q, k, v, keys, { qo: b * D + col, oo: b * D + col, pRow: 0, first, last: L - 1 }, D, L, hd, scale, null, 1);
    }
  }
}

/**
 * dq, dk, dv (overwrite, the sequences' rows) of this part's sequences from dout, the inputs and the
 * saved probs; without keyPadding, padGrads [B × 2D] (overwrite, float64) gets row b = (Σ dk, Σ dv) over
 * sequence b's padding keys, summed over its heads' columns (addPaddingKeyGrads adds the rows up).
 */
export function attentionBackwardPart(
  dq: FloatArray, dk: FloatArray, dv: FloatArray, padGrads: Float64Array | null,
  dout: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, probs: FloatArray,
  B: number, L: number, H: number, hd: number, rows: AttentionRows, drop: DropoutSpec, part: number, parts: number,
): void {
  const D = H * hd;
  const [b0, b1] = span(B, part, parts);
  if (!rows.keyPadding && padGrads === null) throw new Error('attentionBackwardPart: padding keys are seen, padGrads is required');
  const scale = 1 / Math.sqrt(hd);
  const mask = drop.p > 0 ? new DropoutMask(drop) : null;
  const keepScale = mask ? mask.scale : 1;
  // dP of one query row (after the dropout's chain rule), then dS in place.
  const dRow = new Float64Array(L);
  for (let b = b0; b < b1; b++) {
    const place = sequencePlace(rows.seqs, b, L);
    const { start, base } = place;
    const first = rows.keyPadding ? start : 0;
    dq.fill(0, (base + start) * D, (base + L) * D);
    dk.fill(0, (base + start) * D, (base + L) * D);
    dv.fill(0, (base + start) * D, (base + L) * D);
    // Sequence b's padding-key gradients: dk at 2bD, dv at 2bD + D (padGrads stands in for dk, dv on
    // padding keys; with keyPadding none is visited and dk, dv stand in for the absent partials).
    const gk: FloatArray = padGrads ?? dk;
    const gv: FloatArray = padGrads ?? dv;
    if (padGrads !== null) padGrads.fill(0, 2 * b * D, 2 * (b + 1) * D);
    for (let h = 0; h < H; h++) {
      const col = h * hd;
      const { kv, padK, padV, padOffset } = headKeys(rows, place, D, col, k, v);
      const padDk = 2 * b * D + col;
      const padDv = padDk + D;
      // Padding rows were not computed: they have no dout and no dq.
      for (let i = start; i < L; i++) {
        const pRow = ((b * H + h) * L + i) * L;
        const io = (base + i) * D + col;
        const last = rows.causal ? i : L - 1;
        let dot = 0;
        for (let j = first; j <= last; j++) {
          const pad = j < start;
          const jo = kv + j * D;
          const kept = mask ? mask.keeps(pRow + j) : true;
          const p = probs[pRow + j]!;
          let g = 0;
          if (kept) {
            // out_i = Σ_j keepScale · p_ij · v_j
            const w = p * keepScale;
            const vv = pad ? padV : v;
            const vo = pad ? padOffset : jo;
            const gvv = pad ? gv : dv;
            const go = pad ? padDv : jo;
            for (let c = 0; c < hd; c++) {
              const dy = dout[io + c]!;
              g += dy * vv[vo + c]!;
              gvv[go + c] = gvv[go + c]! + w * dy;
            }
            g *= keepScale;
          }
          dRow[j] = g;
          dot += g * p;
        }
        for (let j = first; j <= last; j++) {
          const ds = probs[pRow + j]! * (dRow[j]! - dot) * scale;
          if (ds === 0) continue;
          const pad = j < start;
          const kk = pad ? padK : k;
          const ko = pad ? padOffset : kv + j * D;
          const gkk = pad ? gk : dk;
          const go = pad ? padDk : kv + j * D;
          for (let c = 0; c < hd; c++) {
            dq[io + c] = dq[io + c]! + ds * kk[ko + c]!;
            gkk[go + c] = gkk[go + c]! + ds * q[io + c]!;
          }
        }
      }
    }
  }
}

/**
 * padDk[c] (+=) Σ_b padGrads[2bD + c] and padDv[c] (+=) Σ_b padGrads[2bD + D + c], each sum taken in
 * float64 in sequence order (the same bits whatever the number of parts that wrote the rows).
 */
export function addPaddingKeyGrads(padDk: FloatArray, padDv: FloatArray, padGrads: Float64Array, B: number, D: number): void {
  for (let c = 0; c < D; c++) {
    let sk = 0;
    let sv = 0;
    for (let b = 0; b < B; b++) {
      sk += padGrads[2 * b * D + c]!;
      sv += padGrads[2 * b * D + D + c]!;
    }
    padDk[c] = padDk[c]! + sk;
    padDv[c] = padDv[c]! + sv;
  }
}
