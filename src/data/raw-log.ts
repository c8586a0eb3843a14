/**
 * The interactions as read from a file, before preparation: three parallel typed-array columns of
 * dense (first-appearance) user and item indices and timestamps, plus the raw ids behind the indices.
 */
import { int32Column, float64Column } from './growable.js';
import { IdInterner } from './id-interner.js';

/** Interactions in file order. Row r: user `users[r]`, item `items[r]`, time `times[r]`. */
export interface RawLog {
  readonly users: Int32Array;
  readonly items: Int32Array;
  /** File units (seconds, milliseconds, or ms since the epoch for ISO text); file order where there is no time column. */
  readonly times: Float64Array;
  readonly userIds: IdInterner;
  readonly itemIds: IdInterner;
  /** Data rows read, before the rating and event filters. */
  readonly rowsRead: number;
}

/** Collects rows into a RawLog. */
export class RawLogBuilder {
  readonly userIds = new IdInterner();
  readonly itemIds = new IdInterner();
  readonly #users = int32Column(1 << 16);
  readonly #items = int32Column(1 << 16);
  readonly #times = float64Column(1 << 16);
  /** Rows seen, kept or not; readers count every data row here. */
  rowsRead = 0;

  /** Number of rows kept so far. */
  get length(): number {
    return this.#users.length;
  }

  /** Appends a kept row (indices from `userIds`/`itemIds`). */
  add(user: number, item: number, time: number): void {
    this.#users.push(user);
    this.#items.push(item);
    this.#times.push(time);
  }

  /** The log (views of the growable buffers: a raw log lives only until it is prepared); the builder is empty afterwards. */
  finish(): RawLog {
    return {
      users: this.#users.view(),
      items: this.#items.view(),
      times: this.#times.view(),
      userIds: this.userIds,
      itemIds: this.itemIds,
      rowsRead: this.rowsRead,
    };
  }
}
