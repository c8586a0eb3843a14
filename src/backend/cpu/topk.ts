/**
 * Top-K selection over the full catalogue for evaluation, with each row's input history excluded
 * (README, "Metrics"). The contract the metrics rely on, and the GPU top-K must match:
 * - scores: [rows × (V + 1)] row-major, column i = item i (the tied output layer scores the whole
 *   embedding table, padding row 0 included); column 0 is never selected.
 * - ties are broken by the lower item id, so ranks are deterministic; NaN scores rank below every
 *   number (as -Infinity, and among those by id).
 * - out: [rows × K] item ids in rank order (best first). A row with fewer than K eligible items is
 *   padded with 0 after its last real item.
 * A size-K min-heap whose root is the current worst (lowest score, then highest id) makes a row cost
 * O(V log K); items are visited in increasing id, so an item that only ties the root never enters.
 */
/**
 * Rows of item ids in CSR form: row r holds `items[offsets[r] .. offsets[r + 1])`. The data layer's
 * `Sequences` has this shape; the backend states it itself, as it imports nothing from above.
 */
export interface CsrRows {
  readonly offsets: Int32Array;
  readonly items: Int32Array;
}

/**
 * Writes the top-k items of each of `rows` score rows into `out` [rows × k]; row b excludes the items
 * of history row `rowStart + b` of `histories`. Allocates per call, never per element.
 */
export function topK(
  out: Int32Array,
  scores: Float32Array,
  histories: CsrRows,
  rowStart: number,
  rows: number,
  numItems: number,
  k: number,
): void {
  const cols = numItems + 1;
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`Expected k to be a positive integer, got ${k}`);
  if (scores.length < rows * cols) throw new RangeError(`Expected scores to hold ${rows} × ${cols} values, got ${scores.length}`);
  if (out.length < rows * k) throw new RangeError(`Expected out to hold ${rows} × ${k} ids, got ${out.length}`);
  const historyRows = histories.offsets.length - 1;
  if (rowStart < 0 || rowStart + rows > historyRows) {
    throw new RangeError(`Expected history rows ${rowStart}..${rowStart + rows - 1} within 0..${historyRows - 1}`);
  }
  // excluded[i] === b + 1 marks item i as seen by row b: no clearing between rows.
  const excluded = new Int32Array(cols);
  const heapScore = new Float64Array(k);
  const heapId = new Int32Array(k);
  const { offsets, items } = histories;
  for (let b = 0; b < rows; b++) {
    const tag = b + 1;
    for (let p = offsets[rowStart + b]!, end = offsets[rowStart + b + 1]!; p < end; p++) excluded[items[p]!] = tag;
    const base = b * cols;
    let size = 0;
    for (let item = 1; item < cols; item++) {
      const raw = scores[base + item]!;
      const s = raw === raw ? raw : -Infinity;
      if (size === k && !(s > heapScore[0]!)) continue;
      if (excluded[item] === tag) continue;
      if (size < k) {
        siftUp(heapScore, heapId, size, s, item);
        size++;
      } else {
        siftDown(heapScore, heapId, size, s, item);
      }
    }
    // Pop the worst into the last free slot until empty: rank order, best first.
    const row = b * k;
    out.fill(0, row + size, row + k);
    for (let n = size; n > 0; n--) {
      out[row + n - 1] = heapId[0]!;
      siftDown(heapScore, heapId, n - 1, heapScore[n - 1]!, heapId[n - 1]!);
    }
  }
}

/** Whether (sa, ia) ranks below (sb, ib): lower score, or the same score and a higher id. */
function worse(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa < sb || (sa === sb && ia > ib);
}

/** Inserts (s, id) into the heap of `size` entries (slot `size` is free). */
function siftUp(heapScore: Float64Array, heapId: Int32Array, size: number, s: number, id: number): void {
  let i = size;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!worse(s, id, heapScore[parent]!, heapId[parent]!)) break;
    heapScore[i] = heapScore[parent]!;
    heapId[i] = heapId[parent]!;
    i = parent;
  }
  heapScore[i] = s;
  heapId[i] = id;
}

/** Replaces the root of the heap of `size` entries by (s, id) and restores the heap order. */
function siftDown(heapScore: Float64Array, heapId: Int32Array, size: number, s: number, id: number): void {
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && worse(heapScore[child + 1]!, heapId[child + 1]!, heapScore[child]!, heapId[child]!)) child++;
    if (!worse(heapScore[child]!, heapId[child]!, s, id)) break;
    heapScore[i] = heapScore[child]!;
    heapId[i] = heapId[child]!;
    i = child;
  }
  if (size > 0) {
    heapScore[i] = s;
    heapId[i] = id;
  }
}
