/**
 * Static work partitions for the worker pool: part p of P owns a contiguous, deterministic range, so
 * every output element is written by exactly one thread and results do not depend on timing.
 */

/** [lo, hi) of part `part` of `parts` over n items, in multiples of `grain` (the last part takes the rest). */
export function span(n: number, part: number, parts: number, grain = 1): [number, number] {
  const units = Math.ceil(n / grain);
  const lo = Math.floor((units * part) / parts) * grain;
  const hi = Math.min(n, Math.floor((units * (part + 1)) / parts) * grain);
  return [Math.min(lo, n), hi];
}
