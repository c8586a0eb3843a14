/**
 * The shapes the data layer hands to the trainer. Item ids are 1..numItems after remapping; 0 is the
 * padding id everywhere (inputs are left-padded with 0).
 */

/**
 * Item sequences in CSR form: row r holds `items[offsets[r] .. offsets[r + 1])`, in time order.
 * `offsets.length === rows + 1`. Typed arrays only, so 250 M interactions cost 1 GB, not 250 M objects.
 */
export interface Sequences {
  readonly offsets: Int32Array;
  readonly items: Int32Array;
}

/** Users to evaluate: each row's input history (also its exclusion set) and its one target item. */
export interface EvalSet {
  readonly inputs: Sequences;
  /** targets[r] is row r's held-out item. */
  readonly targets: Int32Array;
}

/** A prepared, split data set ready for training. */
export interface PreparedDataset {
  /** Human-readable name (registered name or file name). */
  readonly name: string;
  /** Catalogue size V; ids run 1..numItems. */
  readonly numItems: number;
  /** Training sequences, one row per training user. */
  readonly train: Sequences;
  readonly validation: EvalSet;
  readonly test: EvalSet;
  /** Interactions per item id in the training sequences (index 0 unused): popularity sampling, baselines. */
  readonly itemCounts: Float64Array;
}

/** One training batch: B rows of L positions, left-padded with 0. */
export interface TrainBatch {
  /** Rows in this batch (the last batch of an epoch may be short). */
  readonly rows: number;
  /** Positions per row (the max sequence length L). */
  readonly length: number;
  /** [rows × length] input item ids. */
  readonly inputs: Int32Array;
  /** [rows × length] next-item labels; 0 where the position is padding (not a target). */
  readonly labels: Int32Array;
}

/** One evaluation batch: B users' inputs, targets and exclusion sets. */
export interface EvalBatch {
  /** Index of the batch's first row in its EvalSet. */
  readonly start: number;
  /** Rows in this batch (the last batch may be short). */
  readonly rows: number;
  /** Positions per row (the max sequence length L). */
  readonly length: number;
  /** [rows × length] the last L items of each row's input, left-padded with 0. */
  readonly inputs: Int32Array;
  /** targets[b] is row b's held-out item. */
  readonly targets: Int32Array;
  /**
   * Each row's whole input history (not cut to L): the items to exclude from its ranking. Row b is
   * `items[offsets[b] .. offsets[b+1])`; `items` is a view into the EvalSet, not a copy.
   */
  readonly history: Sequences;
}
