/**
 * The batch layouts of sequence-rows.ts for the attention tests, given by each sequence's first
 * non-padding position (start_b = L − len_b), with the row of each (sequence, position) and a way to move
 * [B·L × D] arrays in sequence coordinates into a layout's rows.
 */
import { packedLayout as packedHost, paddedLayout as paddedHost, type HostLayout } from './sequence-rows.js';

/** A layout with the row of each sequence position. */
export interface TestLayout extends HostLayout {
  /** The row of position i of sequence b, or -1 for a padding position (it has no row). */
  rowOf(b: number, i: number): number;
  /** Whether some sequence owns row r. */
  owned(r: number): boolean;
}

function withRows(host: HostLayout, L: number): TestLayout {
  const { seqs, positions } = host;
  return {
    ...host,
    rowOf: (b, i) => {
      const len = seqs[2 * b + 1]!;
      return i < L - len ? -1 : seqs[2 * b]! + i - (L - len);
    },
    owned: (r) => positions[r]! >= 0,
  };
}

const lengthsOf = (L: number, starts: readonly number[]): number[] => starts.map((start) => L - start);

/** The padded layout: sequence b's position i is row b·L + i. */
export function paddedLayout(L: number, starts: readonly number[]): TestLayout {
  return withRows(paddedHost(lengthsOf(L, starts), L), L);
}

/** A packed layout (sequence-rows.ts): the sequences shuffled, gaps between them, spare rows after; `next` draws uniform [0, 1). */
export function packedLayout(L: number, starts: readonly number[], next: () => number = Math.random): TestLayout {
  return withRows(packedHost(lengthsOf(L, starts), L, 3, 9, next), L);
}

/**
 * Rows of a [B·L × D] array in sequence coordinates (position i of sequence b at row b·L + i) moved to
 * `layout`'s rows (padding positions dropped), unowned rows filled with `fill`.
 */
export function toLayout(x: ArrayLike<number>, layout: TestLayout, B: number, L: number, D: number, fill = 0): Float32Array {
  const out = new Float32Array(layout.rows * D).fill(fill);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < L; i++) {
      const r = layout.rowOf(b, i);
      if (r < 0) continue;
      for (let c = 0; c < D; c++) out[r * D + c] = x[(b * L + i) * D + c]!;
    }
  }
  return out;
}
