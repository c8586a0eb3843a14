import type { EvalSet, Sequences } from '../../src/data/types.js';

/** CSR sequences from plain arrays, one per row. */
export function csr(rows: readonly (readonly number[])[]): Sequences {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => (offsets[i + 1] = offsets[i]! + r.length));
  return { offsets, items: Int32Array.from(rows.flat()) };
}

/** An evaluation set from per-user histories and targets. */
export function evalSet(histories: readonly (readonly number[])[], targets: readonly number[]): EvalSet {
  return { inputs: csr(histories), targets: Int32Array.from(targets) };
}
