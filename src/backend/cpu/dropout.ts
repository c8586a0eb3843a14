/**
 * Dropout masks from the counter-based RNG (backend/philox.ts, DROP stream): element i of a site's
 * tensor is kept iff (word (i & 3) of philox([i >>> 2, site, 0, DROP], [seed, step])) >>> 8 is at
 * least dropoutThreshold(p). Nothing is stored: backward regenerates the same mask from the key.
 */
import type { DropoutSpec } from '../ops.js';
import { DROPOUT_STREAM, dropoutThreshold, philox4x32 } from '../philox.js';
import type { FloatArray } from './arrays.js';
import { span } from './partition.js';

/** Reads a site's mask element by element, one Philox call per aligned group of 4 elements. */
export class DropoutMask {
  readonly #words = new Uint32Array(4);
  readonly #seed: number;
  readonly #step: number;
  readonly #site: number;
  readonly #threshold: number;
  /** Element-group index (i >>> 2) whose words are in #words; -1 before the first call. */
  #group = -1;
  /** 1 / (1 - p): the scale of kept elements. */
  readonly scale: number;

  constructor(drop: DropoutSpec) {
    this.#seed = drop.key.seed;
    this.#step = drop.key.step;
    this.#site = drop.key.site;
    this.#threshold = dropoutThreshold(drop.p);
    this.scale = 1 / (1 - drop.p);
  }

  /** Whether flat element i is kept. */
  keeps(i: number): boolean {
    const g = Math.floor(i / 4);
    if (g !== this.#group) {
      philox4x32(g, this.#site, 0, DROPOUT_STREAM, this.#seed, this.#step, this.#words);
      this.#group = g;
    }
    return this.#words[i & 3]! >>> 8 >= this.#threshold;
  }
}

/**
 * out = x · keep / (1 - p) over n elements (overwrite); p = 0 copies; out may alias x. Forward and
 * backward alike. With `ids` the elements are rows of `cols`, and a row whose id is 0 (padding) gets 0.
 */
export function dropout(out: FloatArray, x: FloatArray, n: number, drop: DropoutSpec, ids: Int32Array | null = null, cols = 1): void {
  dropoutPart(out, x, n, drop, ids, cols, 0, 1);
}

/**
 * Part `part` of `parts` of `dropout`, for the worker pool: a range of elements in whole groups of 4
 * (one Philox call each). The mask is a function of the element's index, so the parts' count changes
 * nothing. In a worker `out` and `x` are distinct view objects even where they alias, so p = 0 may copy
 * a range onto itself: harmless.
 */
export function dropoutPart(
  out: FloatArray, x: FloatArray, n: number, drop: DropoutSpec, ids: Int32Array | null, cols: number, part: number, parts: number,
): void {
  const [lo, hi] = span(n, part, parts, 4);
  const pad = (i: number): boolean => ids !== null && ids[Math.floor(i / cols)] === 0;
  if (drop.p === 0) {
    if (out !== x || ids !== null) for (let i = lo; i < hi; i++) out[i] = pad(i) ? 0 : x[i]!;
    return;
  }
  const mask = new DropoutMask(drop);
  const s = mask.scale;
  for (let i = lo; i < hi; i++) out[i] = !pad(i) && mask.keeps(i) ? x[i]! * s : 0;
}
