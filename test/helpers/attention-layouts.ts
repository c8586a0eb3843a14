/**
 * Batch layouts for the attention tests (ops.ts SequenceRows): the padded one (first_b = b·L + start_b,
 * rows = B·L) and a packed one with the sequences in a shuffled order, gaps between them and spare rows
 * at the end, so that rows no sequence owns sit between and after the sequences.
 */

/** Where B sequences of L positions lie in the rows. */
export interface TestLayout {
  /** (first_b, len_b) per sequence, as ops.ts SequenceRows.seqs holds them. */
  readonly seqs: Int32Array;
  /** Rows of the activations. */
  readonly rows: number;
  /** The row of position i of sequence b, or -1 for a padding position (it has no row). */
  rowOf(b: number, i: number): number;
  /** Whether some sequence owns row r. */
  owned(r: number): boolean;
}

function layoutOf(L: number, starts: readonly number[], firsts: readonly number[], rows: number): TestLayout {
  const B = starts.length;
  const seqs = new Int32Array(2 * B);
  const owner = new Uint8Array(rows);
  for (let b = 0; b < B; b++) {
    const len = L - starts[b]!;
    seqs[2 * b] = firsts[b]!;
    seqs[2 * b + 1] = len;
    for (let r = 0; r < len; r++) owner[firsts[b]! + r] = 1;
  }
  return {
    seqs,
    rows,
    rowOf: (b, i) => (i < starts[b]! ? -1 : firsts[b]! + i - starts[b]!),
    owned: (r) => owner[r] === 1,
  };
}

/** The padded layout: sequence b's position i is row b·L + i. */
export function paddedLayout(L: number, starts: readonly number[]): TestLayout {
  return layoutOf(L, starts, starts.map((start, b) => b * L + start), starts.length * L);
}

/**
 * A packed layout: the sequences in a random order, 0 to 2 unowned rows before each, 1 to 3 spare rows
 * at the end; an empty sequence's first row is -1 (never read). `next` draws uniform [0, 1).
 */
export function packedLayout(L: number, starts: readonly number[], next: () => number = Math.random): TestLayout {
  const B = starts.length;
  const order = Array.from({ length: B }, (_, b) => b);
  for (let i = B - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const firsts = new Array<number>(B).fill(-1);
  let row = 0;
  for (const b of order) {
    row += Math.floor(next() * 3);
    if (starts[b]! < L) firsts[b] = row;
    row += L - starts[b]!;
  }
  return layoutOf(L, starts, firsts, row + 1 + Math.floor(next() * 3));
}

/**
 * Rows of a padded [B·L × D] array moved to `layout`'s rows (positions that have no row dropped),
 * unowned rows filled with `fill`.
 */
export function toLayout(padded: ArrayLike<number>, layout: TestLayout, B: number, L: number, D: number, fill = 0): Float32Array {
  const out = new Float32Array(layout.rows * D).fill(fill);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < L; i++) {
      const r = layout.rowOf(b, i);
      if (r < 0) continue;
      for (let c = 0; c < D; c++) out[r * D + c] = padded[(b * L + i) * D + c]!;
    }
  }
  return out;
}
