/**
 * Host-side batch layouts (ops.SequenceRows) for tests of the ops that read one: the padded layout and
 * packed ones with the sequences shuffled, gaps between them and spare rows after them, and which
 * position of which sequence each row holds.
 */

/** A layout's host values: seqs (first_b, len_b) for b < B, the rows, and each row's position. */
export interface HostLayout {
  /** i32 [B × 2]: (first_b, len_b); an empty sequence's first_b is a value no row has (it must not be read). */
  readonly seqs: Int32Array;
  readonly rows: number;
  /** [rows]: the position t of the sequence that owns the row, −1 where no sequence owns it. */
  readonly positions: Int32Array;
}

/** The first_b an empty sequence gets: far outside any tensor, so a kernel that read it would fault or show. */
const UNREAD_FIRST = -1_000_000;

/**
 * B lengths in 0..L: sequence 0 full, sequence 1 empty (B ≥ 2), the others uniform in
 * [minFraction·L, L] (a random source in [0, 1) picks them).
 */
export function sequenceLengths(B: number, L: number, minFraction: number, random: () => number = Math.random): number[] {
  return Array.from({ length: B }, (_, b) => {
    if (b === 0) return L;
    if (b === 1) return 0;
    const low = Math.ceil(minFraction * L);
    return low + Math.floor(random() * (L - low + 1));
  });
}

/** The padded layout: sequence b's positions L − len_b .. L − 1 at rows b·L + t; rows = B·L. */
export function paddedLayout(lengths: readonly number[], L: number): HostLayout {
  const B = lengths.length;
  const seqs = new Int32Array(2 * B);
  const positions = new Int32Array(B * L).fill(-1);
  lengths.forEach((len, b) => {
    seqs[2 * b] = len === 0 ? UNREAD_FIRST : b * L + L - len;
    seqs[2 * b + 1] = len;
    for (let t = L - len; t < L; t++) positions[b * L + t] = t;
  });
  return { seqs, rows: B * L, positions };
}

/**
 * A packed layout: the sequences in a random order, each after a gap of 0..maxGap rows, then 1..spare
 * rows that no sequence owns at the end.
 */
export function packedLayout(lengths: readonly number[], L: number, maxGap = 3, spare = 9, random: () => number = Math.random): HostLayout {
  const B = lengths.length;
  const order = Array.from({ length: B }, (_, b) => b);
  for (let i = B - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const seqs = new Int32Array(2 * B);
  const owner: number[] = [];
  let row = 0;
  for (const b of order) {
    const len = lengths[b]!;
    row += Math.floor(random() * (maxGap + 1));
    seqs[2 * b] = len === 0 ? UNREAD_FIRST : row;
    seqs[2 * b + 1] = len;
    for (let j = 0; j < len; j++) owner[row + j] = L - len + j;
    row += len;
  }
  const rows = row + 1 + Math.floor(random() * spare);
  const positions = new Int32Array(rows).fill(-1);
  owner.forEach((t, r) => {
    positions[r] = t;
  });
  return { seqs, rows, positions };
}
