/**
 * BERT4Rec (Sun et al. 2019) as the reference study trains it (Klenitskiy & Vasilev 2023), over the
 * same ops, block and parameter table as SASRec: the Sasrec class runs it with the dims below. What
 * differs from SASRec:
 * - attention is bidirectional, padding keys excluded (a padded position sees nothing and is zeroed);
 * - the item table has one more row, the mask token (id V + 1), which only ever enters as an input:
 *   losses, negatives, scoring and top-K cover ids 1..V (they are given V, never the table's rows);
 * - each block's FFN is 4d wide (the reference's intermediate_size 256 at d = 64);
 * - training masks items (data/batches.ts `Masking`, train.mask_prob) and every loss trains on the
 *   masked positions only; evaluation appends the mask token to the last L − 1 items and ranks from
 *   the last position.
 * What stays SASRec's, unlike the reference's Hugging Face BERT (README, BERT4Rec): the block's layer
 * norm placement, ReLU instead of GELU, the embedding scaled by sqrt(d) with no layer norm of its own,
 * and SASRec's initialisation.
 */
import type { SasrecDims } from './sasrec-specs.js';

/** The FFN's width as a multiple of d (BERT's intermediate_size = 4 · hidden_size). */
export const BERT4REC_FFN_MULTIPLE = 4;

/** BERT4Rec's dims from the shared sizes (items, hidden, blocks, heads, maxLen, tieOutput). */
export function bert4recDims(base: SasrecDims): SasrecDims {
  return { ...base, bidirectional: true, maskToken: true, ffnHidden: BERT4REC_FFN_MULTIPLE * base.hidden };
}

/** The mask token's id: V + 1, the item table's last row. */
export function maskTokenId(dims: Pick<SasrecDims, 'items'>): number {
  return dims.items + 1;
}
