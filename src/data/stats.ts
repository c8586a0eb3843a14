/** `grid data stats`: sizes of a prepared data set, its sequence lengths and its split. */
import type { PrepareCounts, PreparedLog } from './prepare.js';
import type { ReferenceSize } from './registry.js';
import type { PreparedDataset, Sequences } from './types.js';

/** Distribution of per-user sequence lengths (nearest-rank percentiles). */
export interface LengthSummary {
  readonly min: number;
  readonly p25: number;
  readonly p50: number;
  readonly p75: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** What `grid data stats` reports. */
export interface DatasetStats {
  readonly name: string;
  readonly counts: PrepareCounts;
  readonly users: number;
  readonly items: number;
  readonly interactions: number;
  readonly lengths: LengthSummary;
  readonly split: {
    /** Catalogue size after the split (the seed split keeps training items only). */
    readonly items: number;
    readonly trainUsers: number;
    readonly trainInteractions: number;
    readonly validationUsers: number;
    readonly testUsers: number;
    readonly testInputLengths: LengthSummary;
  };
  /** The reference tables' sizes, for registered data sets that have them. */
  readonly reference?: ReferenceSize;
}

/** Percentiles of the row lengths of CSR offsets (all zeros when there are no rows). */
export function lengthSummary(offsets: Int32Array): LengthSummary {
  const n = offsets.length - 1;
  const lengths = new Int32Array(Math.max(0, n));
  for (let r = 0; r < n; r++) lengths[r] = offsets[r + 1]! - offsets[r]!;
  lengths.sort();
  const at = (q: number): number => (n === 0 ? 0 : lengths[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!);
  return {
    min: at(0),
    p25: at(0.25),
    p50: at(0.5),
    p75: at(0.75),
    p90: at(0.9),
    p99: at(0.99),
    max: n === 0 ? 0 : lengths[n - 1]!,
    mean: n === 0 ? 0 : (offsets[n]! - offsets[0]!) / n,
  };
}

const rowsOf = (s: Sequences): number => s.offsets.length - 1;

/** Statistics of a prepared log and its split. */
export function datasetStats(log: PreparedLog, ds: PreparedDataset, reference?: ReferenceSize): DatasetStats {
  return {
    name: ds.name,
    counts: log.counts,
    users: log.numUsers,
    items: log.numItems,
    interactions: log.items.length,
    lengths: lengthSummary(log.offsets),
    split: {
      items: ds.numItems,
      trainUsers: rowsOf(ds.train),
      trainInteractions: ds.train.items.length,
      validationUsers: ds.validation.targets.length,
      testUsers: ds.test.targets.length,
      testInputLengths: lengthSummary(ds.test.inputs.offsets),
    },
    ...(reference !== undefined ? { reference } : {}),
  };
}
