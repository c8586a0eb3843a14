/**
 * The sampled losses over one positive and n negatives per row: the sampled softmax (ce- holding its
 * [N × n] negatives and [N × (n+1)] logits; cce- streaming row by row, redrawing the row's negatives in
 * backward), bce+ (sigmoid on the positive and each negative) and gbce (bce+ with the positive's term
 * weighted by β, backend/gbce.ts). Negatives come from
 * backend/negatives.ts; a negative id of 0 is a rejected draw (it equalled the target) and contributes
 * nothing.
 *
 * Column 0 of a row's logits is the positive s_t; column 1 + j is negative j. For the sampled softmax,
 * negative logits carry the log-Q correction logQConst − logProb[id] (uniform: logQConst =
 * log(V−1) − log(n), no table; popularity: −log(n) and logProb = log p).
 *
 * Parts (partition.ts) split rows. Rows scatter into arbitrary rows of dE, so part 0 accumulates into
 * dTable and part p > 0 into its own zeroed buffer `partials[p − 1]`; the caller adds those in order.
 */
import { fillRowNegatives, type NegativeSampler } from '../negatives.js';
import type { FloatArray } from './arrays.js';
import { sigmoid, softplus } from './numerics.js';
import { span } from './partition.js';

/** The log-Q correction of sampled-softmax negatives: logQConst − (logProb ? logProb[id] : 0). */
export interface LogQ {
  readonly logQConst: number;
  readonly logProb: FloatArray | null;
}

/** Where negatives come from: negatives.ts's draws at (seed, step). */
export interface NegativeDraws {
  readonly sampler: NegativeSampler;
  readonly seed: number;
  readonly step: number;
}

/** The sampled losses that this module computes. */
export type SampledKind = 'ce-' | 'bce+' | 'gbce';

function dot(a: FloatArray, ao: number, b: FloatArray, bo: number, d: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += a[ao + c]! * b[bo + c]!;
  return s;
}

/**
 * Sampled-softmax row r: writes softmax − one-hot(0) over {t} ∪ negatives at logits[lo .. lo+n]
 * (rejected negatives 0); returns lse − s_t.
 */
function softmaxRow(
  logits: FloatArray, lo: number, h: FloatArray, table: FloatArray, r: number, t: number,
  negs: Int32Array, no: number, n: number, d: number, logQ: LogQ,
): number {
  const ho = r * d;
  let max = dot(h, ho, table, t * d, d);
  logits[lo] = max;
  for (let j = 0; j < n; j++) {
    const id = negs[no + j]!;
    if (id === 0) continue;
    const s = dot(h, ho, table, id * d, d) + logQ.logQConst - (logQ.logProb ? logQ.logProb[id]! : 0);
    logits[lo + 1 + j] = s;
    if (s > max) max = s;
  }
  let sum = Math.exp(logits[lo]! - max);
  for (let j = 0; j < n; j++) if (negs[no + j] !== 0) sum += Math.exp(logits[lo + 1 + j]! - max);
  const lse = max + Math.log(sum);
  const loss = lse - logits[lo]!;
  logits[lo] = Math.exp(logits[lo]! - lse) - 1;
  for (let j = 0; j < n; j++) logits[lo + 1 + j] = negs[no + j] !== 0 ? Math.exp(logits[lo + 1 + j]! - lse) : 0;
  return loss;
}

/**
 * bce+ (beta 1) or gbce row r: writes β(σ(s⁺) − 1) at logits[lo] and σ(s) at each negative's column
 * (rejected 0); returns the row's loss β·softplus(−s⁺) + Σ softplus(s⁻).
 */
function bcePlusRow(
  logits: FloatArray, lo: number, h: FloatArray, table: FloatArray, r: number, t: number,
  negs: Int32Array, no: number, n: number, d: number, beta: number,
): number {
  const ho = r * d;
  const sp = dot(h, ho, table, t * d, d);
  let loss = beta * softplus(-sp);
  logits[lo] = beta * (sigmoid(sp) - 1);
  for (let j = 0; j < n; j++) {
    const id = negs[no + j]!;
    if (id === 0) {
      logits[lo + 1 + j] = 0;
      continue;
    }
    const s = dot(h, ho, table, id * d, d);
    loss += softplus(s);
    logits[lo + 1 + j] = sigmoid(s);
  }
  return loss;
}

/** Row r's backward from its unscaled logit gradient at grad[lo ..]: dH[r] (overwrite), dTable (+=). */
function rowBackward(
  dH: FloatArray, dTable: FloatArray, grad: FloatArray, lo: number, h: FloatArray, table: FloatArray,
  r: number, t: number, negs: Int32Array, no: number, n: number, d: number, scale: number,
): void {
  const ho = r * d;
  dH.fill(0, ho, ho + d);
  for (let j = 0; j <= n; j++) {
    const id = j === 0 ? t : negs[no + j - 1]!;
    if (id === 0) continue;
    const g = grad[lo + j]! * scale;
    if (g === 0) continue;
    const eo = id * d;
    for (let c = 0; c < d; c++) {
      dH[ho + c] = dH[ho + c]! + g * table[eo + c]!;
      dTable[eo + c] = dTable[eo + c]! + g * h[ho + c]!;
    }
  }
}

/** The dE accumulator of a part: dTable for part 0, else its zeroed private buffer. */
function partTable(dTable: FloatArray, partials: FloatArray, tableSize: number, part: number): FloatArray {
  if (part === 0) return dTable;
  const own = partials.subarray((part - 1) * tableSize, part * tableSize);
  own.fill(0);
  return own;
}

/**
 * ce-, bce+ or gbce forward on this part's rows: draws the rows' negatives into negs [N × n] (padding
 * rows all 0), writes the unscaled gradient into logits [N × (n+1)]; returns the part's loss sum. `beta`
 * weighs the positive's term of gbce (backend/gbce.ts); bce+ passes 1 and ce- ignores it.
 */
export function sampledForwardPart(
  kind: SampledKind, logits: FloatArray, negs: Int32Array, h: FloatArray, table: FloatArray, targets: Int32Array,
  draws: NegativeDraws, N: number, n: number, d: number, logQ: LogQ, beta: number, part: number, parts: number,
): number {
  const [lo, hi] = span(N, part, parts);
  let total = 0;
  for (let r = lo; r < hi; r++) {
    const t = targets[r]!;
    const o = r * (n + 1);
    if (t === 0) {
      negs.fill(0, r * n, (r + 1) * n);
      logits.fill(0, o, o + n + 1);
      continue;
    }
    fillRowNegatives(negs, r * n, draws.sampler, draws.seed, draws.step, r, n, t);
    total += kind === 'ce-'
      ? softmaxRow(logits, o, h, table, r, t, negs, r * n, n, d, logQ)
      : bcePlusRow(logits, o, h, table, r, t, negs, r * n, n, d, beta);
  }
  return total;
}

/** ce-, bce+ or gbce backward after sampledForwardPart: dH rows (overwrite), dE (+=) per the module's parts rule. */
export function sampledBackwardPart(
  dH: FloatArray, dTable: FloatArray, partials: FloatArray, logits: FloatArray, negs: Int32Array,
  h: FloatArray, table: FloatArray, targets: Int32Array,
  N: number, V: number, n: number, d: number, scale: number, part: number, parts: number,
): void {
  const [lo, hi] = span(N, part, parts);
  const dE = partTable(dTable, partials, (V + 1) * d, part);
  for (let r = lo; r < hi; r++) {
    const t = targets[r]!;
    if (t === 0) dH.fill(0, r * d, (r + 1) * d);
    else rowBackward(dH, dE, logits, r * (n + 1), h, table, r, t, negs, r * n, n, d, scale);
  }
}

/**
 * cce- forward on this part's rows, streamed: each row's negatives and logits live only in the part's
 * row of rowNegs [parts × n] and rowLogits [parts × (n+1)]. Returns the part's loss sum.
 */
export function cceMinusForwardPart(
  rowNegs: Int32Array, rowLogits: FloatArray, h: FloatArray, table: FloatArray, targets: Int32Array,
  draws: NegativeDraws, N: number, n: number, d: number, logQ: LogQ, part: number, parts: number,
): number {
  const [lo, hi] = span(N, part, parts);
  const no = part * n;
  const lo1 = part * (n + 1);
  let total = 0;
  for (let r = lo; r < hi; r++) {
    const t = targets[r]!;
    if (t === 0) continue;
    fillRowNegatives(rowNegs, no, draws.sampler, draws.seed, draws.step, r, n, t);
    total += softmaxRow(rowLogits, lo1, h, table, r, t, rowNegs, no, n, d, logQ);
  }
  return total;
}

/** cce- backward: redraws each row's negatives and recomputes its logits; dH rows (overwrite), dE (+=) per the parts rule. */
export function cceMinusBackwardPart(
  dH: FloatArray, dTable: FloatArray, partials: FloatArray, rowNegs: Int32Array, rowLogits: FloatArray,
  h: FloatArray, table: FloatArray, targets: Int32Array, draws: NegativeDraws,
  N: number, V: number, n: number, d: number, scale: number, logQ: LogQ, part: number, parts: number,
): void {
  const [lo, hi] = span(N, part, parts);
  const dE = partTable(dTable, partials, (V + 1) * d, part);
  const no = part * n;
  const lo1 = part * (n + 1);
  for (let r = lo; r < hi; r++) {
    const t = targets[r]!;
    if (t === 0) {
      dH.fill(0, r * d, (r + 1) * d);
      continue;
    }
    fillRowNegatives(rowNegs, no, draws.sampler, draws.seed, draws.step, r, n, t);
    softmaxRow(rowLogits, lo1, h, table, r, t, rowNegs, no, n, d, logQ);
    rowBackward(dH, dE, rowLogits, lo1, h, table, r, t, rowNegs, no, n, d, scale);
  }
}
