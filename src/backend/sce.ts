/**
 * Scalable Cross-Entropy (SCE; Mezentsev, Gusak, Oseledets & Frolov, "Scalable Cross-Entropy Loss for
 * Sequential Recommendations with Large Item Catalogs", RecSys 2024), defined once for both backends:
 * the loss, its random projections and its sizes.
 *
 * N rows of hidden states h_r with targets t_r (0 = padding; M valid rows), items E_1..E_V, scores
 * s_{r,i} = h_r · E_i, and n_b buckets of b_x rows and b_y items:
 * 1. Directions Ω [d × n_b]. G is the step's random matrix, element i = sceNormal(seed, step, i) in
 *    row-major order. With mix, G is [N × n_b] and Ω = Σ_r h_r ⊗ G[r, :] over the valid rows (each
 *    direction a random combination of the batch's hidden states); without, Ω = G [d × n_b].
 * 2. Per bucket b: rows_b = the min(b_x, M) valid rows with the largest h_r · Ω[:, b] (ties: lower row
 *    first) and items_b = the min(b_y, V) items with the largest E_i · Ω[:, b] (ties: lower id first).
 *    The selection is a constant of the step: no gradient flows through it.
 * 3. Per bucket b and row r of rows_b: ℓ_{b,r} = logsumexp({s_{r,i} : i ∈ items_b, i ≠ t_r} ∪ {s_{r,t_r}})
 *    − s_{r,t_r}: the softmax over the bucket's items with the target taken out and added back once.
 * 4. ℓ_r = max_b ℓ_{b,r} over the buckets that hold r; the gradient follows the first bucket (lowest
 *    b) that attains the max. A valid row in no bucket contributes 0.
 * 5. The loss is Σ_r ℓ_r / M, like ce's; with one bucket holding every valid row and every item it IS ce.
 *
 * Where this differs from the published code (the README's "sce" section says why):
 * - The authors scale Ω by d^(-1/4): dropped, since a positive scale changes no top-k.
 * - G is not Gaussian but Irwin–Hall: the centred sum of four 23-bit uniforms, an integer below 2^24
 *   in magnitude times 2^-23 (exact in float32), so both backends draw bit-identical entries. Random projections need
 *   only independent, centred, sub-Gaussian entries.
 * - With mix, padding rows (no target) take no part in the directions (the authors' code mixes every
 *   row of the padded batch).
 * - The denominator is M, the valid rows, not the rows some bucket holds: the trainer divides by M on
 *   the device, so one recorded step serves every batch.
 * - The gradient reaches the item table (the positive and every kept item), as in the paper and the
 *   authors' code; the reference study's code reads a detached copy of the table.
 */
import { philox4x32, SCE_STREAM } from './philox.js';

/** sce's settings of one step (ops.ts LossParams.sce). */
export interface SceSettings {
  /** n_b ≥ 1. */
  readonly buckets: number;
  /** b_x ≥ 1: rows kept per bucket (at most the valid rows). */
  readonly bucketRows: number;
  /** b_y ≥ 1: items kept per bucket (at most V). */
  readonly bucketItems: number;
  /** Directions mixed from the batch's hidden states (true) or drawn directly (false). */
  readonly mix: boolean;
}

/** The slots a bucket holds on N rows and V items: rows min(b_x, N), items min(b_y, V). */
export interface SceShape {
  readonly buckets: number;
  readonly rows: number;
  readonly items: number;
}

const TWO_POW_MINUS_23 = 2 ** -23;
/** The mean of a sum of four 23-bit uniform integers: 4 · (2^23 − 1) / 2. */
const IRWIN_HALL_MEAN = 2 * (2 ** 23 - 1);

const words = new Uint32Array(4);

/**
 * Element i (taken mod 2^32) of the step's random matrix at (seed, step): the centred sum of the top 23
 * bits of the four words of philox([i, 0, 0, SCE!], [seed, step]), times 2^-23. The centred sum is an
 * integer below 2^24 in magnitude, so the value is exact in float32: in (−2, 2), mean 0, variance 1/3.
 * The CUDA kernels compute the same bits.
 */
export function sceNormal(seed: number, step: number, i: number): number {
  philox4x32(i, 0, 0, SCE_STREAM, seed, step, words);
  const sum = (words[0]! >>> 9) + (words[1]! >>> 9) + (words[2]! >>> 9) + (words[3]! >>> 9);
  return (sum - IRWIN_HALL_MEAN) * TWO_POW_MINUS_23;
}

/** Checks sce's settings; throws a RangeError naming the bad one. */
export function checkSce(s: SceSettings): void {
  for (const key of ['buckets', 'bucketRows', 'bucketItems'] as const) {
    const v = s[key];
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`sce: ${key} must be a positive integer, got ${v}`);
  }
}

/** The slots of each bucket for N rows and V items (the workspace's shapes). */
export function sceShape(s: SceSettings, N: number, V: number): SceShape {
  checkSce(s);
  return { buckets: s.buckets, rows: Math.max(1, Math.min(s.bucketRows, N)), items: Math.max(1, Math.min(s.bucketItems, V)) };
}

/** Rows of G: N with mix (one per batch row), else d (one per hidden unit). */
export function sceRandomRows(s: SceSettings, N: number, d: number): number {
  return s.mix ? N : d;
}
