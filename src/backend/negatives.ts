/**
 * Negative sampling for CE-, CCE- and BCE+, identical on CPU and GPU by construction: every draw is a
 * pure function of (seed, step, position, j) through Philox (src/backend/philox.ts, NEG! stream), so
 * the streamed CCE- regenerates a row's negatives instead of storing them, and the CUDA kernels draw
 * the same items. Item ids are 1..V; 0 is padding and never drawn.
 *
 * Position r is the flattened index b × L + t of the [B × L] batch, padded positions included (their
 * draws are skipped, not shifted: other positions keep theirs).
 * - uniform: negative j of r = 1 + mulhi(w, V), w = word (j & 3) of philox([r, j >> 2, 0, NEG!], [seed, step]).
 * - popularity (Vose's alias method over the V columns, column c = item c + 1): (w0, w1) = words
 *   (2 (j & 1), 2 (j & 1) + 1) of philox([r, j >> 1, 1, NEG!], [seed, step]); col = mulhi(w0, V);
 *   item = 1 + (w1 < prob[col] ? col : alias[col]).
 * A negative equal to the position's target is rejected: it is written as 0 and contributes nothing.
 * log-Q corrections added to a sampled negative's logit: uniform + log(V - 1) - log(n); popularity
 * - log(n × p_item) (ops.ts, LossParams).
 */
import { mulhi, NEGATIVES_STREAM, philox4x32 } from './philox.js';

/** Uniform sampling over items 1..V. */
export interface UniformSampler {
  readonly kind: 'uniform';
  /** Catalogue size V. */
  readonly numItems: number;
}

/** Popularity-proportional sampling through an alias table over columns 0..V-1 (column c = item c + 1). */
export interface PopularitySampler {
  readonly kind: 'popularity';
  /** Catalogue size V. */
  readonly numItems: number;
  /**
   * [V] acceptance thresholds scaled to 2^32: column c keeps its own item iff w1 < prob[c]. Rounded to
   * the nearest integer from the exact acceptance probability; full columns (probability 1) store
   * 2^32 - 1 with alias[c] = c, so they always yield their own item.
   */
  readonly prob: Uint32Array;
  /** [V] the column drawn when column c rejects. */
  readonly alias: Int32Array;
  /** [V + 1] p_i = count_i / total by item id (p[0] = 0): the log-Q correction. */
  readonly p: Float64Array;
  /** [V + 1] log p_i by item id (-Infinity where the count is 0), so corrections cost no logarithm. */
  readonly logP: Float64Array;
}

export type NegativeSampler = UniformSampler | PopularitySampler;

/** Counter word c2 of each sampler, so the two never share a draw. */
const UNIFORM_LANE = 0;
const POPULARITY_LANE = 1;
const TWO_POW_32 = 2 ** 32;
const MAX_PROB = TWO_POW_32 - 1;

const words = new Uint32Array(4);

/** A uniform sampler over items 1..numItems (at least 2 items: one is the target). */
export function uniformSampler(numItems: number): UniformSampler {
  checkNumItems(numItems);
  return { kind: 'uniform', numItems };
}

/**
 * A popularity sampler from per-item counts indexed by item id (`counts[0]` unused, length V + 1, as
 * `PreparedDataset.itemCounts`). Counts must be non-negative integers; a zero count is never drawn.
 * Vose's method runs in exact integer arithmetic (column capacity = total count), so the table holds
 * p exactly up to the rounding of each threshold to a multiple of 2^-32 (per column, ≤ 2^-33 + one
 * double rounding of the division).
 */
export function popularitySampler(counts: Float64Array): PopularitySampler {
  const V = counts.length - 1;
  checkNumItems(V);
  let total = 0;
  for (let i = 1; i <= V; i++) {
    const c = counts[i]!;
    if (!(Number.isInteger(c) && c >= 0)) throw new RangeError(`Expected item counts to be non-negative integers, got ${c} for item ${i}`);
    total += c;
  }
  if (total === 0) throw new RangeError('Expected some item with a positive count for popularity sampling, got all zero');
  if (total * V >= Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`Expected total count × items below 2^53 for an exact alias table, got ${total} × ${V}`);
  }
  // Column c holds weight counts[c + 1] × V out of a capacity of `total`: integers, so exact.
  const scaled = new Float64Array(V);
  const small = new Int32Array(V);
  const large = new Int32Array(V);
  let nSmall = 0;
  let nLarge = 0;
  for (let c = 0; c < V; c++) {
    scaled[c] = counts[c + 1]! * V;
    if (scaled[c]! < total) small[nSmall++] = c;
    else large[nLarge++] = c;
  }
  const prob = new Uint32Array(V);
  const alias = new Int32Array(V);
  while (nSmall > 0 && nLarge > 0) {
    const l = small[--nSmall]!;
    const g = large[--nLarge]!;
    prob[l] = Math.min(MAX_PROB, Math.round((scaled[l]! / total) * TWO_POW_32));
    alias[l] = g;
    scaled[g] = scaled[g]! - (total - scaled[l]!);
    if (scaled[g]! < total) small[nSmall++] = g;
    else large[nLarge++] = g;
  }
  // Exact arithmetic leaves only full columns (scaled === total) here; none can be small.
  while (nLarge > 0) {
    const g = large[--nLarge]!;
    prob[g] = MAX_PROB;
    alias[g] = g;
  }
  if (nSmall > 0) throw new Error('internal: alias table left an underfull column');
  const p = new Float64Array(V + 1);
  const logP = new Float64Array(V + 1);
  logP[0] = -Infinity;
  for (let i = 1; i <= V; i++) {
    p[i] = counts[i]! / total;
    logP[i] = Math.log(p[i]!);
  }
  return { kind: 'popularity', numItems: V, prob, alias, p, logP };
}

/**
 * Item drawn as negative j of position r at (seed, step): the scalar form of the scheme in the module
 * header, without rejection. Costs one Philox call per negative; fill functions below share calls.
 */
export function negativeAt(sampler: NegativeSampler, seed: number, step: number, r: number, j: number): number {
  const V = sampler.numItems;
  if (sampler.kind === 'uniform') {
    philox4x32(r, j >>> 2, UNIFORM_LANE, NEGATIVES_STREAM, seed, step, words);
    return 1 + mulhi(words[j & 3]!, V);
  }
  philox4x32(r, j >>> 1, POPULARITY_LANE, NEGATIVES_STREAM, seed, step, words);
  const half = 2 * (j & 1);
  const col = mulhi(words[half]!, V);
  return 1 + (words[half + 1]! < sampler.prob[col]! ? col : sampler.alias[col]!);
}

/**
 * Writes the n negatives of position r into `out[offset .. offset + n)`, with 0 where a draw equals
 * `target` (rejected). Allocates nothing: the streamed CCE- calls it per row.
 */
export function fillRowNegatives(
  out: Int32Array,
  offset: number,
  sampler: NegativeSampler,
  seed: number,
  step: number,
  r: number,
  n: number,
  target: number,
): void {
  const V = sampler.numItems;
  if (sampler.kind === 'uniform') {
    for (let j = 0; j < n; j += 4) {
      philox4x32(r, j >>> 2, UNIFORM_LANE, NEGATIVES_STREAM, seed, step, words);
      const end = Math.min(4, n - j);
      for (let w = 0; w < end; w++) {
        const item = 1 + mulhi(words[w]!, V);
        out[offset + j + w] = item === target ? 0 : item;
      }
    }
    return;
  }
  const { prob, alias } = sampler;
  for (let j = 0; j < n; j += 2) {
    philox4x32(r, j >>> 1, POPULARITY_LANE, NEGATIVES_STREAM, seed, step, words);
    const end = Math.min(2, n - j);
    for (let h = 0; h < end; h++) {
      const col = mulhi(words[2 * h]!, V);
      const item = 1 + (words[2 * h + 1]! < prob[col]! ? col : alias[col]!);
      out[offset + j + h] = item === target ? 0 : item;
    }
  }
}

/**
 * Fills `out` [N × n] with the negatives of every position of a batch, N = labels.length (the
 * flattened [B × L] labels; row r of `out` belongs to position r). Padded positions (label 0) are not
 * drawn and get all zeros; rejected draws are 0 as well.
 */
export function fillNegatives(out: Int32Array, sampler: NegativeSampler, seed: number, step: number, labels: Int32Array, n: number): void {
  const N = labels.length;
  if (out.length < N * n) throw new RangeError(`Expected out to hold ${N} × ${n} = ${N * n} negatives, got ${out.length}`);
  for (let r = 0; r < N; r++) {
    const target = labels[r]!;
    if (target === 0) out.fill(0, r * n, (r + 1) * n);
    else fillRowNegatives(out, r * n, sampler, seed, step, r, n, target);
  }
}

/**
 * The log-Q correction added to the logit of sampled negative `item` when n negatives are drawn per
 * position: uniform + log(V - 1) - log(n), popularity - log(n × p_item).
 */
export function logQCorrection(sampler: NegativeSampler, n: number, item: number): number {
  if (sampler.kind === 'uniform') return Math.log(sampler.numItems - 1) - Math.log(n);
  return -Math.log(n) - sampler.logP[item]!;
}

function checkNumItems(V: number): void {
  if (!(Number.isInteger(V) && V >= 2 && V < TWO_POW_32)) {
    throw new RangeError(`Expected a catalogue of 2 to 2^32 - 1 items for negative sampling, got ${V}`);
  }
}
