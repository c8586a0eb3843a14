/** The Pareto front of quality against a cost (peak memory, seconds per epoch): what nothing beats on both. */

/** A point: its cost (lower is better) and its quality (better in the objective's direction). */
export interface CostQuality {
  readonly cost: number;
  readonly quality: number;
}

/**
 * Indices of the points on the front: no other point costs at most as much with at least the same
 * quality and is strictly better in one. Points with a non-finite cost or quality are never on it.
 * Of identical points, the first is on the front.
 */
export function paretoFront(points: readonly CostQuality[], direction: 'max' | 'min'): Set<number> {
  const sign = direction === 'max' ? 1 : -1;
  const order = points
    .map((p, i) => ({ i, cost: p.cost, quality: sign * p.quality }))
    .filter((p) => Number.isFinite(p.cost) && Number.isFinite(p.quality))
    // Cheapest first; among equal costs the best first, so the others are dominated by it.
    .sort((a, b) => a.cost - b.cost || b.quality - a.quality || a.i - b.i);
  const front = new Set<number>();
  let best = Number.NEGATIVE_INFINITY;
  for (const p of order) {
    if (p.quality > best) {
      front.add(p.i);
      best = p.quality;
    }
  }
  return front;
}
