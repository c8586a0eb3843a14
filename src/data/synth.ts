/**
 * Synthetic interaction logs for scale benchmarks and smoke tests: Zipf-distributed item popularity,
 * lognormal user activity, and a learnable sequential rule — each item has a few successors, and a
 * user's next item is one of the previous item's successors with probability `sequential`, else a
 * popularity draw. Written as `user_id,item_id,timestamp` CSV (the generic defaults of `dataset.*`)
 * or as `user item1 item2 …` sequences, streamed, so a 100 M-interaction file needs no 100 M rows in
 * memory.
 */
import { writeSync } from 'node:fs';
import { writeFileAtomically } from './atomic-file.js';
import { shuffleInPlace } from './shuffle.js';

/** Parameters of a synthetic log. */
export interface SynthOptions {
  readonly users: number;
  readonly items: number;
  readonly interactions: number;
  /** @default 42 */
  readonly seed?: number;
  /** Zipf exponent of item popularity. @default 1.0 */
  readonly zipf?: number;
  /** Probability that the next item follows the sequential rule. @default 0.5 */
  readonly sequential?: number;
  /** Successors per item. @default 4 */
  readonly successors?: number;
  /** Output: `csv` (with timestamps) or `sequences`. @default "csv" */
  readonly format?: 'csv' | 'sequences';
  /**
   * Row order within a user in the CSV: `item` (ascending item id, as MovieLens files are, so a reader
   * must sort by time) or `time`. @default "item"
   */
  readonly order?: 'item' | 'time';
}

/** What was written. */
export interface SynthSummary {
  readonly users: number;
  readonly items: number;
  readonly interactions: number;
  readonly bytes: number;
}

/** sfc32: a small fast PRNG (state-based; the stream is fixed by the seed). */
function sfc32(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return next;
}

/** Walker's alias table for O(1) draws from a discrete distribution. */
function aliasTable(weights: Float64Array): { prob: Float64Array; alias: Int32Array } {
  const n = weights.length;
  let sum = 0;
  for (const w of weights) sum += w;
  const prob = new Float64Array(n);
  const alias = new Int32Array(n);
  const small = new Int32Array(n);
  const large = new Int32Array(n);
  let ns = 0;
  let nl = 0;
  for (let i = 0; i < n; i++) {
    prob[i] = (weights[i]! * n) / sum;
    if (prob[i]! < 1) small[ns++] = i;
    else large[nl++] = i;
  }
  while (ns > 0 && nl > 0) {
    const s = small[--ns]!;
    const l = large[nl - 1]!;
    alias[s] = l;
    prob[l] = prob[l]! + prob[s]! - 1;
    if (prob[l]! < 1) {
      nl--;
      small[ns++] = l;
    }
  }
  while (nl > 0) prob[large[--nl]!] = 1;
  while (ns > 0) prob[small[--ns]!] = 1;
  return { prob, alias };
}

/** Per-user lengths summing to `total`, lognormal-shaped, each at least `min`. */
function userLengths(users: number, total: number, min: number, rand: () => number): Int32Array {
  const w = new Float64Array(users);
  let sum = 0;
  for (let u = 0; u < users; u++) {
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    w[u] = Math.exp(z);
    sum += w[u]!;
  }
  const spare = total - users * min;
  const len = new Int32Array(users);
  let given = 0;
  for (let u = 0; u < users; u++) {
    len[u] = min + Math.floor((spare * w[u]!) / sum);
    given += len[u]!;
  }
  for (let u = 0; given < total; u = (u + 1) % users, given++) len[u]!++;
  return len;
}

/** Appends a non-negative integer's digits at `pos`; returns the new position. */
function putInt(buf: Buffer, pos: number, v: number): number {
  if (v < 10) {
    buf[pos] = 48 + v;
    return pos + 1;
  }
  let digits = 0;
  for (let x = v; x > 0; x = Math.floor(x / 10)) digits++;
  for (let k = digits - 1, x = v; k >= 0; k--, x = Math.floor(x / 10)) buf[pos + k] = 48 + (x % 10);
  return pos + digits;
}

function checkCount(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${v}`);
}

/** Writes a synthetic log to `path` (atomically: a temporary file renamed into place). */
export function writeSynthetic(path: string, opts: SynthOptions): SynthSummary {
  const { users, items, interactions } = opts;
  checkCount('users', users, 1);
  checkCount('items', items, 2);
  checkCount('interactions', interactions, users);
  const zipf = opts.zipf ?? 1.0;
  const sequential = opts.sequential ?? 0.5;
  const successors = Math.min(opts.successors ?? 4, items - 1);
  const rand = sfc32(opts.seed ?? 42);

  // Item ids 1..items; popularity rank r has weight 1/(r+1)^zipf, ranks assigned at random to ids.
  const rankToItem = new Int32Array(items);
  for (let i = 0; i < items; i++) rankToItem[i] = i + 1;
  shuffleInPlace(rankToItem, rand);
  const weights = new Float64Array(items);
  for (let r = 0; r < items; r++) weights[r] = 1 / Math.pow(r + 1, zipf);
  const { prob, alias } = aliasTable(weights);
  const popular = (): number => {
    const i = Math.floor(rand() * items);
    return rankToItem[rand() < prob[i]! ? i : alias[i]!]!;
  };
  // Successors of item id x: the ids following x on a fixed random cycle over all items.
  const cycle = new Int32Array(items);
  const position = new Int32Array(items + 1);
  for (let i = 0; i < items; i++) cycle[i] = i + 1;
  shuffleInPlace(cycle, rand);
  for (let i = 0; i < items; i++) position[cycle[i]!] = i;

  const lengths = userLengths(users, interactions, Math.min(5, Math.floor(interactions / users)), rand);
  const span = 3 * 365 * 86400;
  const epoch = 1_420_070_400; // 2015-01-01

  const buf = Buffer.allocUnsafe(1 << 22);
  let pos = 0;
  let bytes = 0;
  let fd = -1;
  const flush = (): void => {
    writeSync(fd, buf, 0, pos);
    bytes += pos;
    pos = 0;
  };
  const csv = (opts.format ?? 'csv') === 'csv';
  const byItem = (opts.order ?? 'item') === 'item';
  let seqItems = new Int32Array(1024);
  let seqKeys = new Float64Array(1024);
  writeFileAtomically(path, (out) => {
    fd = out;
    if (csv) {
      buf.write('user_id,item_id,timestamp\n', 0, 'latin1');
      pos = 26;
    }
    for (let u = 0; u < users; u++) {
      const n = lengths[u]!;
      if (seqItems.length < n) {
        seqItems = new Int32Array(n);
        seqKeys = new Float64Array(n);
      }
      let prev = popular();
      for (let k = 0; k < n; k++) {
        const x = k > 0 && rand() < sequential ? cycle[(position[prev]! + 1 + Math.floor(rand() * successors)) % items]! : popular();
        seqItems[k] = x;
        prev = x;
      }
      // Activity within [start, start + length of activity], inside the 3-year span.
      const start = rand() * span * 0.9;
      const gap = ((span - start) / n) * (0.2 + 0.8 * rand());
      // Sort positions by item id (ties by position) through one packed numeric key item·M + k.
      const m = 2 ** Math.ceil(Math.log2(n + 1));
      if (csv && byItem) {
        for (let k = 0; k < n; k++) seqKeys[k] = seqItems[k]! * m + k;
        seqKeys.subarray(0, n).sort();
      }
      if (!csv) {
        if (pos + 24 > buf.length) flush();
        pos = putInt(buf, pos, u + 1);
        for (let k = 0; k < n; k++) {
          if (pos + 24 > buf.length) flush();
          buf[pos++] = 32;
          pos = putInt(buf, pos, seqItems[k]!);
        }
        buf[pos++] = 10;
        continue;
      }
      for (let j = 0; j < n; j++) {
        const k = byItem ? seqKeys[j]! % m : j;
        if (pos + 40 > buf.length) flush();
        pos = putInt(buf, pos, u + 1);
        buf[pos++] = 44;
        pos = putInt(buf, pos, seqItems[k]!);
        buf[pos++] = 44;
        pos = putInt(buf, pos, epoch + Math.floor(start + k * gap));
        buf[pos++] = 10;
      }
    }
    flush();
  });
  return { users, items, interactions, bytes };
}
