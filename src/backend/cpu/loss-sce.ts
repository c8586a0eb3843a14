/**
 * Scalable Cross-Entropy on the CPU (backend/sce.ts defines the loss): the step's directions, each
 * bucket's rows and items by top-k of their projections, and the softmax of every bucket slot over its
 * bucket's items, one bucket's [b_x × b_y] logits at a time. Nothing of shape [N × V] is ever held.
 *
 * Workspace (the caller's tensors, all written here): omega [d × n_b]; rows [n_b × b_x] and items
 * [n_b × b_y] (i32, best first; a row slot beyond the valid rows is −1); lse and slot_loss [n_b × b_x];
 * best [N] (i32: each row's slot b·b_x + s whose loss is its max, −1 for rows in no bucket); block
 * [parts × sceBlockFloats] scratch. Forward leaves the row maxima to `sceReduceRows` on the caller's
 * thread, after every part.
 *
 * Parts (partition.ts) split the buckets. Forward writes only its buckets' slots. Backward writes dH
 * rows whose best slot lies in its buckets (each row has one, so no two parts write a row; the caller
 * zeroes dH first) and scatters into dE like the sampled losses: part 0 into dTable, part p > 0 into
 * its zeroed `partials[p − 1]`, which the caller adds in order.
 */
import { sceNormal, type SceSettings, type SceShape } from '../sce.js';
import type { FloatArray } from './arrays.js';
import { gemm, type GemmLayout } from './gemm.js';
import { span } from './partition.js';

/** The random key of one step's directions. */
export interface SceKey {
  readonly seed: number;
  readonly step: number;
}

/** The workspace arrays of one sce evaluation. */
export interface SceArrays {
  readonly omega: FloatArray;
  readonly rows: Int32Array;
  readonly items: Int32Array;
  readonly lse: FloatArray;
  readonly slotLoss: FloatArray;
  readonly best: Int32Array;
  readonly block: FloatArray;
}

/** Floats of one part's scratch: gathered rows and items, their logits, and the two gradient blocks. */
export function sceBlockFloats(shape: SceShape, d: number): number {
  const { rows: bx, items: by } = shape;
  return 2 * bx * d + 2 * by * d + bx * by;
}

function dot(a: FloatArray, ao: number, b: FloatArray, bo: number, d: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += a[ao + c]! * b[bo + c]!;
  return s;
}

/** Column b of Ω: Σ over valid rows of G[r, b] · h_r (mix), or G[:, b] itself. */
function direction(
  col: Float64Array, h: FloatArray, targets: Int32Array, N: number, d: number, nb: number, b: number, mix: boolean, key: SceKey,
): void {
  if (!mix) {
    for (let c = 0; c < d; c++) col[c] = sceNormal(key.seed, key.step, c * nb + b);
    return;
  }
  col.fill(0);
  for (let r = 0; r < N; r++) {
    if (targets[r] === 0) continue;
    const g = sceNormal(key.seed, key.step, r * nb + b);
    const o = r * d;
    for (let c = 0; c < d; c++) col[c] = col[c]! + g * h[o + c]!;
  }
}

/**
 * The k best candidates by score into out[o .. o + k), best first (score descending, ties to the lower
 * index); slots beyond the candidates get −1. Candidates come in increasing index order from `next`
 * (which returns false when there are no more); NaN scores count as −Infinity.
 */
class TopK {
  readonly #scores: Float64Array;
  readonly #ids: Int32Array;
  #n = 0;

  constructor(readonly k: number) {
    this.#scores = new Float64Array(k);
    this.#ids = new Int32Array(k);
  }

  reset(): void {
    this.#n = 0;
  }

  /** Whether entry a ranks below entry b (lower score, or equal score and higher index). */
  #worse(a: number, b: number): boolean {
    const sa = this.#scores[a]!;
    const sb = this.#scores[b]!;
    return sa < sb || (sa === sb && this.#ids[a]! > this.#ids[b]!);
  }

  #swap(a: number, b: number): void {
    const s = this.#scores[a]!;
    this.#scores[a] = this.#scores[b]!;
    this.#scores[b] = s;
    const i = this.#ids[a]!;
    this.#ids[a] = this.#ids[b]!;
    this.#ids[b] = i;
  }

  #siftDown(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.#n) return;
      const r = l + 1;
      const w = r < this.#n && this.#worse(r, l) ? r : l;
      if (!this.#worse(w, i)) return;
      this.#swap(w, i);
      i = w;
    }
  }

  /** Offers candidate `id` (ids in increasing order): a min-heap of the k best, the worst at its root. */
  offer(id: number, score: number): void {
    const s = Number.isNaN(score) ? -Infinity : score;
    if (this.#n < this.k) {
      let i = this.#n++;
      this.#scores[i] = s;
      this.#ids[i] = id;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.#worse(i, p)) break;
        this.#swap(i, p);
        i = p;
      }
      return;
    }
    // A later id loses a tie, so only a strictly higher score displaces the worst kept.
    if (!(s > this.#scores[0]!)) return;
    this.#scores[0] = s;
    this.#ids[0] = id;
    this.#siftDown(0);
  }

  /** Writes the kept ids best first into out[o .. o + k), −1 after them. */
  drain(out: Int32Array, o: number): void {
    const order = Array.from({ length: this.#n }, (_, i) => i);
    order.sort((a, b) => (this.#worse(a, b) ? 1 : this.#worse(b, a) ? -1 : 0));
    for (let j = 0; j < this.k; j++) out[o + j] = j < this.#n ? this.#ids[order[j]!]! : -1;
  }
}

/** Gathers bucket b's rows (valid slots; empty slots as zeros) and items into the part's block. */
function gatherBucket(
  hb: FloatArray, eb: FloatArray, a: SceArrays, h: FloatArray, table: FloatArray, b: number, shape: SceShape, d: number,
): void {
  const { rows: bx, items: by } = shape;
  for (let s = 0; s < bx; s++) {
    const r = a.rows[b * bx + s]!;
    if (r < 0) hb.fill(0, s * d, (s + 1) * d);
    else hb.set(h.subarray(r * d, (r + 1) * d), s * d);
  }
  for (let j = 0; j < by; j++) {
    const id = a.items[b * by + j]!;
    eb.set(table.subarray(id * d, (id + 1) * d), j * d);
  }
}

/** The part's views of its block: rows, items, logits, then the two gradient blocks. */
function blockViews(a: SceArrays, shape: SceShape, d: number, part: number) {
  const { rows: bx, items: by } = shape;
  const o = part * sceBlockFloats(shape, d);
  const cut = (start: number, n: number): FloatArray => a.block.subarray(o + start, o + start + n);
  return {
    hb: cut(0, bx * d),
    eb: cut(bx * d, by * d),
    logits: cut(bx * d + by * d, bx * by),
    dhb: cut(bx * d + by * d + bx * by, bx * d),
    deb: cut(2 * bx * d + by * d + bx * by, by * d),
  };
}

/** The bucket's logits [b_x × b_y] = H_b · E_bᵀ. */
function bucketLogits(logits: FloatArray, hb: FloatArray, eb: FloatArray, shape: SceShape, d: number): void {
  const lay: GemmLayout = { transA: false, transB: true, lda: d, ldb: d, ldc: shape.items };
  gemm(logits, hb, eb, shape.rows, shape.items, d, lay, 1, false);
}

/**
 * Bucket b's direction (into omega), rows and items (into rows and items), selected by top-k of their
 * projections. `top` holds the TopK of rows and items, reused across buckets.
 */
function selectBucket(
  a: SceArrays, top: { rows: TopK; items: TopK }, col: Float64Array, h: FloatArray, table: FloatArray, targets: Int32Array,
  N: number, V: number, d: number, shape: SceShape, mix: boolean, key: SceKey, b: number,
): void {
  const nb = shape.buckets;
  direction(col, h, targets, N, d, nb, b, mix, key);
  // Select with the direction as stored (rounded to the workspace's precision), so the workspace
  // alone says which rows and items a bucket keeps.
  for (let c = 0; c < d; c++) {
    a.omega[c * nb + b] = col[c]!;
    col[c] = a.omega[c * nb + b]!;
  }
  top.rows.reset();
  for (let r = 0; r < N; r++) if (targets[r] !== 0) top.rows.offer(r, projection(h, r * d, col, d));
  top.rows.drain(a.rows, b * shape.rows);
  top.items.reset();
  for (let id = 1; id <= V; id++) top.items.offer(id, projection(table, id * d, col, d));
  top.items.drain(a.items, b * shape.items);
}

/**
 * Each slot of bucket b (rows and items already in the workspace): its lse and loss over the bucket's
 * items other than the row's target, plus the target (slot_loss −Infinity, lse 0 on empty slots).
 * Uses part `part`'s block.
 */
export function sceBucketLosses(
  a: SceArrays, h: FloatArray, table: FloatArray, targets: Int32Array, d: number, shape: SceShape, b: number, part: number,
): void {
  const { rows: bx, items: by } = shape;
  const { hb, eb, logits } = blockViews(a, shape, d, part);
  gatherBucket(hb, eb, a, h, table, b, shape, d);
  bucketLogits(logits, hb, eb, shape, d);
  for (let s = 0; s < bx; s++) {
    const slot = b * bx + s;
    const r = a.rows[slot]!;
    if (r < 0) {
      a.lse[slot] = 0;
      a.slotLoss[slot] = -Infinity;
      continue;
    }
    const t = targets[r]!;
    const st = dot(h, r * d, table, t * d, d);
    const o = s * by;
    let max = st;
    for (let j = 0; j < by; j++) if (a.items[b * by + j] !== t && logits[o + j]! > max) max = logits[o + j]!;
    let sum = Math.exp(st - max);
    for (let j = 0; j < by; j++) if (a.items[b * by + j] !== t) sum += Math.exp(logits[o + j]! - max);
    const lse = max + Math.log(sum);
    a.lse[slot] = lse;
    a.slotLoss[slot] = lse - st;
  }
}

/**
 * Forward on this part's buckets: writes their directions, rows, items, and each slot's lse and loss.
 * The caller then runs `sceReduceRows`.
 */
export function sceForwardPart(
  a: SceArrays, h: FloatArray, table: FloatArray, targets: Int32Array,
  N: number, V: number, d: number, shape: SceShape, settings: SceSettings, key: SceKey, part: number, parts: number,
): void {
  const [lo, hi] = span(shape.buckets, part, parts);
  const col = new Float64Array(d);
  const top = { rows: new TopK(shape.rows), items: new TopK(shape.items) };
  for (let b = lo; b < hi; b++) {
    selectBucket(a, top, col, h, table, targets, N, V, d, shape, settings.mix, key, b);
    sceBucketLosses(a, h, table, targets, d, shape, b, part);
  }
}

/** h_r · col, with col the bucket's direction held in float64. */
function projection(x: FloatArray, o: number, col: Float64Array, d: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += x[o + c]! * col[c]!;
  return s;
}

/**
 * After every part of the forward: each row's best slot into `best` (the first slot, in bucket order,
 * with the row's largest loss; −1 for rows in no bucket; a NaN loss sticks) and the sum of the row
 * maxima over the rows some bucket holds.
 */
export function sceReduceRows(a: SceArrays, N: number, shape: SceShape): number {
  const slots = shape.buckets * shape.rows;
  const rowMax = new Float64Array(N).fill(-Infinity);
  a.best.fill(-1, 0, N);
  for (let slot = 0; slot < slots; slot++) {
    const r = a.rows[slot]!;
    if (r < 0) continue;
    const l = a.slotLoss[slot]!;
    if (a.best[r] === -1 || l > rowMax[r]! || (Number.isNaN(l) && !Number.isNaN(rowMax[r]!))) {
      rowMax[r] = l;
      a.best[r] = slot;
    }
  }
  let total = 0;
  for (let r = 0; r < N; r++) if (a.best[r]! >= 0) total += rowMax[r]!;
  return total;
}

/** The dE accumulator of a part: dTable for part 0, else its zeroed private buffer. */
function partTable(dTable: FloatArray, partials: FloatArray, tableSize: number, part: number): FloatArray {
  if (part === 0) return dTable;
  const own = partials.subarray((part - 1) * tableSize, part * tableSize);
  own.fill(0);
  return own;
}

/**
 * Backward on this part's buckets, after the forward and `sceReduceRows`: for each row whose best slot
 * is in them, dH[r] (overwrite; the caller zeroed dH) = scale · (Σ_j p_j E_j + (p_t − 1) E_t) over the
 * bucket's items j ≠ t, and dE (+=) the transposed terms, per the module's parts rule.
 */
export function sceBackwardPart(
  dH: FloatArray, dTable: FloatArray, partials: FloatArray, a: SceArrays, h: FloatArray, table: FloatArray, targets: Int32Array,
  V: number, d: number, shape: SceShape, scale: number, part: number, parts: number,
): void {
  const { buckets: nb, rows: bx, items: by } = shape;
  const [lo, hi] = span(nb, part, parts);
  const dE = partTable(dTable, partials, (V + 1) * d, part);
  const { hb, eb, logits, dhb, deb } = blockViews(a, shape, d, part);
  const positive = new Float64Array(bx);
  for (let b = lo; b < hi; b++) {
    let any = false;
    for (let s = 0; s < bx; s++) {
      const r = a.rows[b * bx + s]!;
      if (r >= 0 && a.best[r] === b * bx + s) any = true;
    }
    if (!any) continue;
    gatherBucket(hb, eb, a, h, table, b, shape, d);
    bucketLogits(logits, hb, eb, shape, d);
    // logits → G: the scaled softmax of best slots over the bucket's items (the target's column 0), 0 elsewhere.
    for (let s = 0; s < bx; s++) {
      const slot = b * bx + s;
      const r = a.rows[slot]!;
      const o = s * by;
      if (r < 0 || a.best[r] !== slot) {
        logits.fill(0, o, o + by);
        positive[s] = 0;
        continue;
      }
      const t = targets[r]!;
      const lse = a.lse[slot]!;
      for (let j = 0; j < by; j++) logits[o + j] = a.items[b * by + j] === t ? 0 : Math.exp(logits[o + j]! - lse) * scale;
      positive[s] = (Math.exp(dot(h, r * d, table, t * d, d) - lse) - 1) * scale;
    }
    gemm(dhb, logits, eb, bx, d, by, { transA: false, transB: false, lda: by, ldb: d, ldc: d }, 1, false);
    gemm(deb, logits, hb, by, d, bx, { transA: true, transB: false, lda: by, ldb: d, ldc: d }, 1, false);
    for (let j = 0; j < by; j++) {
      const eo = a.items[b * by + j]! * d;
      for (let c = 0; c < d; c++) dE[eo + c] = dE[eo + c]! + deb[j * d + c]!;
    }
    for (let s = 0; s < bx; s++) {
      const slot = b * bx + s;
      const r = a.rows[slot]!;
      if (r < 0 || a.best[r] !== slot) continue;
      const p = positive[s]!;
      const ho = r * d;
      const eo = targets[r]! * d;
      for (let c = 0; c < d; c++) {
        dH[ho + c] = dhb[s * d + c]! + p * table[eo + c]!;
        dE[eo + c] = dE[eo + c]! + p * h[ho + c]!;
      }
    }
  }
}
