/**
 * Append-only typed-array columns that double their capacity: the readers' row storage, so that
 * 100 M interactions cost a few flat buffers instead of 100 M objects.
 */

type NumericArray = Int32Array | Float64Array;

/** A growable typed-array column of one element type. */
export class Column<T extends NumericArray> {
  readonly #make: (length: number) => T;
  #data: T;
  #length = 0;

  /** @param make allocates a zeroed array of the column's type. @param capacity initial capacity. @default 1024 */
  constructor(make: (length: number) => T, capacity = 1024) {
    this.#make = make;
    this.#data = make(Math.max(16, capacity));
  }

  /** Number of values appended so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends one value. */
  push(value: number): void {
    if (this.#length === this.#data.length) {
      const next = this.#make(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#length++] = value;
  }

  /** Appends all of `values`. */
  pushAll(values: T): void {
    if (this.#length + values.length > this.#data.length) {
      let n = this.#data.length * 2;
      while (n < this.#length + values.length) n *= 2;
      const next = this.#make(n);
      next.set(this.#data.subarray(0, this.#length));
      this.#data = next;
    }
    this.#data.set(values, this.#length);
    this.#length += values.length;
  }

  /**
   * The values as a view of the column's buffer, without a copy: for short-lived results, since
   * the buffer's unused capacity stays allocated as long as the view lives. Empties the column.
   */
  view(): T {
    const out = this.#data.subarray(0, this.#length) as T;
    this.#data = this.#make(16);
    this.#length = 0;
    return out;
  }

  /** The values as an exact-length array (copied unless the capacity was exact); empties the column. */
  finish(): T {
    const out = this.#data.length === this.#length ? this.#data : (this.#data.slice(0, this.#length) as T);
    this.#data = this.#make(16);
    this.#length = 0;
    return out;
  }
}

/** A growable Int32Array column. */
export function int32Column(capacity?: number): Column<Int32Array> {
  return new Column((n) => new Int32Array(n), capacity);
}

/** A growable Float64Array column. */
export function float64Column(capacity?: number): Column<Float64Array> {
  return new Column((n) => new Float64Array(n), capacity);
}
