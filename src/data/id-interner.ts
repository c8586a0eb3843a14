/**
 * Maps raw user or item ids (integers or arbitrary strings, as they appear in a file) to dense
 * indices 0..size-1 in order of first appearance, and can rank the raw ids afterwards so the final
 * numbering does not depend on row order.
 */

/** Raw ids below this bound that are canonical integers use a direct lookup table instead of a Map. */
const DIRECT_LIMIT = 1 << 24;

/** A raw id: a canonical non-negative integer or any other string. */
export type RawId = number | string;

/** Dense numbering of raw ids. */
export class IdInterner {
  /** direct[raw] = index + 1 for small integer ids (0 = unseen); grown on demand. */
  #direct = new Int32Array(1024);
  readonly #numbers = new Map<number, number>();
  readonly #strings = new Map<string, number>();
  /** Raw id of each index, in order of first appearance. */
  readonly #keys: RawId[] = [];

  /** Number of distinct ids seen. */
  get size(): number {
    return this.#keys.length;
  }

  /** The index of an integer id `0 <= raw <= 2^53`. */
  internNumber(raw: number): number {
    if (raw < DIRECT_LIMIT) {
      if (raw >= this.#direct.length) this.#growDirect(raw);
      const hit = this.#direct[raw]!;
      if (hit !== 0) return hit - 1;
      const index = this.#keys.length;
      this.#keys.push(raw);
      this.#direct[raw] = index + 1;
      return index;
    }
    const hit = this.#numbers.get(raw);
    if (hit !== undefined) return hit;
    const index = this.#keys.length;
    this.#keys.push(raw);
    this.#numbers.set(raw, index);
    return index;
  }

  /** The index of a non-integer (or non-canonical, e.g. "007") id. */
  internString(raw: string): number {
    const hit = this.#strings.get(raw);
    if (hit !== undefined) return hit;
    const index = this.#keys.length;
    this.#keys.push(raw);
    this.#strings.set(raw, index);
    return index;
  }

  /** The index of a raw value of any supported type (parquet cells: number, bigint, string). */
  intern(raw: number | bigint | string): number {
    if (typeof raw === 'bigint') {
      return raw >= 0n && raw <= BigInt(Number.MAX_SAFE_INTEGER) ? this.internNumber(Number(raw)) : this.internString(raw.toString());
    }
    if (typeof raw === 'number') {
      return Number.isSafeInteger(raw) && raw >= 0 ? this.internNumber(raw) : this.internString(String(raw));
    }
    return this.internString(raw);
  }

  /** The raw id of an index. */
  key(index: number): RawId {
    const k = this.#keys[index];
    if (k === undefined) throw new RangeError(`no id with index ${index}`);
    return k;
  }

  /**
   * rank[index] = position of the index's raw id in sorted order (integers ascending, then strings
   * in code-unit order): a numbering independent of the order rows came in.
   */
  ranks(): Int32Array {
    const order = Array.from(this.#keys.keys());
    const keys = this.#keys;
    order.sort((a, b) => {
      const ka = keys[a]!;
      const kb = keys[b]!;
      if (typeof ka === 'number') return typeof kb === 'number' ? ka - kb : -1;
      if (typeof kb === 'number') return 1;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    const rank = new Int32Array(order.length);
    order.forEach((index, r) => {
      rank[index] = r;
    });
    return rank;
  }

  #growDirect(raw: number): void {
    let n = this.#direct.length;
    while (n <= raw) n *= 2;
    const next = new Int32Array(Math.min(n, DIRECT_LIMIT));
    next.set(this.#direct);
    this.#direct = next;
  }
}
