/**
 * The pruning rules as pure functions over scores. A score is an objective value turned so that
 * larger is better (the value for `max`, its negation for `min`), with NaN (the trial reported no
 * value) as -Infinity: the worst, so that a trial that reports nothing is never kept over one that does,
 * and a group where nobody reports anything prunes nobody.
 */

/** The score of an objective value (larger is better; NaN is -Infinity). */
export function toScore(value: number, direction: 'max' | 'min'): number {
  if (Number.isNaN(value)) return Number.NEGATIVE_INFINITY;
  return direction === 'max' ? value : -value;
}

/** The objective value of a score (NaN for -Infinity: no value). */
export function fromScore(score: number, direction: 'max' | 'min'): number {
  if (score === Number.NEGATIVE_INFINITY) return Number.NaN;
  return direction === 'max' ? score : -score;
}

/** The median of a non-empty list (the mean of the two middle values for an even count). */
export function median(scores: readonly number[]): number {
  const sorted = [...scores].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[mid] as number;
  // No score is +Infinity, so the mean is never NaN (-Infinity stays -Infinity).
  return ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** What a rule concluded: prune or not, against which threshold (a score; NaN when none applied). */
export interface Judgement {
  readonly prune: boolean;
  readonly threshold: number;
}

/**
 * The median rule (Optuna's MedianPruner): prune when the trial's best score so far is below the
 * median of the other trials' best scores at the same epoch. Needs `minTrials` others.
 */
export function medianRule(own: number, others: readonly number[], minTrials: number): Judgement {
  if (others.length === 0 || others.length < minTrials) return { prune: false, threshold: Number.NaN };
  const threshold = median(others);
  return { prune: own < threshold, threshold };
}

/** The rung an epoch is (k where epoch = minEpochs·η^k), or null when it is none. */
export function ashaRung(epoch: number, minEpochs: number, reductionFactor: number): number | null {
  let at = minEpochs;
  for (let k = 0; at <= epoch; k++, at *= reductionFactor) if (at === epoch) return k;
  return null;
}

/** How many of `n` trials at a rung continue: the top ⌊n/η⌋, but at least one (the best so far). */
export function ashaKeep(n: number, reductionFactor: number): number {
  return Math.max(1, Math.floor(n / reductionFactor));
}

/**
 * Asynchronous successive halving at one rung (Li et al., 2020, as Optuna's SuccessiveHalvingPruner
 * stops trials): the trial continues only if its score is among the top `ashaKeep(n, η)` of the n
 * trials that reached the rung so far, itself included. Ties with the last kept score continue.
 */
export function ashaRule(own: number, others: readonly number[], reductionFactor: number): Judgement & { readonly keep: number } {
  const all = [...others, own].sort((a, b) => b - a);
  const keep = ashaKeep(all.length, reductionFactor);
  const threshold = all[keep - 1] as number;
  return { prune: own < threshold, threshold, keep };
}
