/**
 * Column sums over many rows (parameter gradients such as dBias = Σ_r dout[r, :]) split by rows:
 * the rows are cut into chunks whose size depends on the row count only, never on the thread count;
 * each chunk sums its rows in order into its own float64 partial vector, and the partials are then
 * added in chunk order. Every thread so streams through contiguous rows (rather than every thread
 * walking every row for a few columns), and the bits are the same whatever the number of threads.
 */
import type { FloatArray } from './arrays.js';

/**
 * Most chunks a column sum is cut into: as many as the pool's most threads (pool.ts MAX_THREADS), so
 * even the largest pool has a chunk per thread, while the partials stay small (64 × cols doubles).
 */
export const MAX_SUM_CHUNKS = 64;

/**
 * Fewest rows in a chunk: each chunk costs zeroing its partial and one more add per column at the
 * end, small next to summing this many rows.
 */
export const MIN_CHUNK_ROWS = 32;

/** The chunking of `rows` rows: rows per chunk and the number of chunks (0 for no rows). */
export interface SumChunks {
  readonly chunkRows: number;
  readonly chunks: number;
}

/** How column sums over `rows` rows are chunked; a function of `rows` alone. */
export function sumChunks(rows: number): SumChunks {
  const chunkRows = Math.max(MIN_CHUNK_ROWS, Math.ceil(rows / MAX_SUM_CHUNKS));
  return { chunkRows, chunks: Math.ceil(rows / chunkRows) };
}

/**
 * out[c] (+=) Σ_k partials[k · stride + offset + c] for chunks k in order, summed in float64 and
 * added to `out` once.
 */
export function addPartials(
  out: FloatArray, partials: Float64Array, chunks: number, stride: number, offset: number, cols: number,
): void {
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let k = 0; k < chunks; k++) s += partials[k * stride + offset + c]!;
    out[c] = out[c]! + s;
  }
}

/**
 * Float64 scratch for the partials that the pool's workers can write (a SharedArrayBuffer), kept
 * between calls and grown only when an op needs more, so a training step allocates nothing.
 */
export class PartialsScratch {
  #data = new Float64Array(new SharedArrayBuffer(0));

  /** At least `floats` doubles (contents unspecified: kernels zero the partials they use). */
  get(floats: number): Float64Array {
    if (this.#data.length < floats) this.#data = new Float64Array(new SharedArrayBuffer(floats * 8));
    return this.#data;
  }
}
