/** Builds CSR `Sequences` and `EvalSet`s row by row from slices of a larger item array. */
import { int32Column, type Column } from './growable.js';
import type { EvalSet, Sequences } from './types.js';

/** Appends rows (and optional targets) into growable CSR arrays. */
export class SequencesBuilder {
  readonly #offsets: Column<Int32Array>;
  readonly #items: Column<Int32Array>;
  readonly #targets: Column<Int32Array>;

  /**
   * Exact (or upper-bound) sizes avoid regrowing and, when exact, the final copy.
   * @param rows expected rows. @default 1024
   * @param items expected items over all rows. @default 65536
   */
  constructor(rows = 1024, items = 1 << 16) {
    this.#offsets = int32Column(rows + 1);
    this.#items = int32Column(items);
    this.#targets = int32Column(rows);
    this.#offsets.push(0);
  }

  /** Number of rows so far. */
  get rows(): number {
    return this.#offsets.length - 1;
  }

  /** Appends `source[start..end)` as a row, with its target item for evaluation rows. */
  addRow(source: Int32Array, start: number, end: number, target?: number): void {
    this.#items.pushAll(source.subarray(start, end));
    this.#offsets.push(this.#items.length);
    if (target !== undefined) this.#targets.push(target);
  }

  /** Appends one item to the row being built; close it with `endRow`. */
  pushItem(item: number): void {
    this.#items.push(item);
  }

  /** Closes the row built by `pushItem`, with its target for evaluation rows. */
  endRow(target?: number): void {
    this.#offsets.push(this.#items.length);
    if (target !== undefined) this.#targets.push(target);
  }

  /** The rows as Sequences. */
  finish(): Sequences {
    return { offsets: this.#offsets.finish(), items: this.#items.finish() };
  }

  /** The rows and their targets as an EvalSet. */
  finishEval(): EvalSet {
    const targets = this.#targets.finish();
    const inputs = this.finish();
    if (targets.length !== inputs.offsets.length - 1) throw new Error('every evaluation row needs a target');
    return { inputs, targets };
  }
}

/** Interactions per item id (index 0 unused) over all rows. */
export function countItems(seq: Sequences, numItems: number): Float64Array {
  const counts = new Float64Array(numItems + 1);
  for (let k = 0; k < seq.items.length; k++) counts[seq.items[k]!]!++;
  return counts;
}
