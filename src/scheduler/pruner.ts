/**
 * A sweep's pruner: the grid file's rule (pruning-rules.ts) applied to each new epoch against the
 * trials of the same group. The scheduler judges against the store's standings read at the moment of
 * each decision (`query`, then `observe` with the answer), so workers on several machines see each
 * other's epochs as they arrive and decide as one machine would. Without them it judges from the
 * objective curves it keeps: the epochs stored when it was created (a sweep resumed after a crash
 * decides from everything its trials reported before) and those it observed since. Each decision
 * comes with its evidence for the store.
 *
 * A trial's curve merges its attempts epoch by epoch, the latest attempt winning: a trainer that
 * restarts from scratch overwrites its earlier epochs as it goes, one that resumes from a checkpoint
 * keeps them. Another trial has reached epoch e when its curve has an epoch ≥ e; its value there is
 * its best objective over its epochs up to e.
 */
import type { Metrics } from '../metrics/metrics.js';
import type { EpochRecord, NewPruneDecision, Standing, StandingsQuery, TrialRecord } from '../store/store.js';
import { canonicalJson } from '../sweep/canonical.js';
import { displayKey, getPath } from '../sweep/config-paths.js';
import type { Objective } from '../sweep/grid-file.js';
import type { PrunerSpec } from '../sweep/pruner-spec.js';
import { ashaRule, ashaRung, fromScore, medianRule, toScore } from './pruning-rules.js';

/** Options of `Pruner.create`. */
export interface PrunerOptions {
  /** The sweep's name (decisions are recorded under it). */
  readonly sweep: string;
  readonly spec: PrunerSpec;
  readonly objective: Objective;
  /** Every trial of the sweep: the field each trial competes in. */
  readonly trials: readonly TrialRecord[];
  /** The epochs already stored for those trials (any attempt). */
  readonly epochs: readonly EpochRecord[];
  /** Trials never stopped in this run (pruned ones retried with --retry-pruned); their epochs still count. @default none */
  readonly exempt?: ReadonlySet<string>;
}

/** One epoch's report, as the pruner needs it. */
export interface ObservedEpoch {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly metrics: Metrics;
}

type ActiveSpec = Exclude<PrunerSpec, { rule: 'none' }>;

/** Applies a sweep's pruning rule to each epoch as it arrives. */
export class Pruner {
  readonly #o: PrunerOptions & { readonly spec: ActiveSpec };
  /** trial → epoch → the value of the latest attempt that reported it. */
  readonly #curves = new Map<string, Map<number, { attempt: number; value: number }>>();
  /** trial → its group's key (canonical JSON of its group_by values). */
  readonly #groupKey = new Map<string, string>();
  readonly #group = new Map<string, Record<string, unknown>>();

  private constructor(options: PrunerOptions & { readonly spec: ActiveSpec }) {
    this.#o = options;
    for (const t of options.trials) {
      const group = Object.fromEntries(options.spec.groupBy.map((p) => [displayKey(p), getPath(t.config, p) ?? null]));
      this.#group.set(t.id, group);
      this.#groupKey.set(t.id, canonicalJson(group));
      this.#curves.set(t.id, new Map());
    }
    for (const e of options.epochs) this.#add(e.trialId, e.attempt, { epoch: e.epoch, trainLoss: e.trainLoss, metrics: e.metrics });
  }

  /** The pruner of a sweep, or null when its rule is `none`. */
  static create(options: PrunerOptions): Pruner | null {
    const { spec } = options;
    return spec.rule === 'none' ? null : new Pruner({ ...options, spec });
  }

  /** Epochs the pruner knows of (stored ones and those observed since). */
  get epochsKnown(): number {
    let n = 0;
    for (const c of this.#curves.values()) n += c.size;
    return n;
  }

  /**
   * What the store must say for a decision about `epoch` of `trialId` (`Store.standings`), or null when
   * the rule does not judge it (median: within the warm-up; asha: not a rung), the trial is not the
   * sweep's, or it is exempt: then `observe` decides nothing.
   */
  query(trialId: string, epoch: number): StandingsQuery | null {
    if (!this.#curves.has(trialId) || this.#o.exempt?.has(trialId) === true) return null;
    const { spec, objective } = this.#o;
    const judged = spec.rule === 'median' ? epoch > spec.warmupEpochs : ashaRung(epoch, spec.minEpochs, spec.reductionFactor) !== null;
    return judged ? { sweep: this.#o.sweep, metric: objective.metric, direction: objective.direction, epoch } : null;
  }

  /**
   * Takes a new epoch of an attempt and judges it: the decision with its evidence, or null when
   * `query` says it is not judged. `standings` (the store's answer to `query`, read after this epoch
   * was stored) are what it is judged against, so that every worker's epochs count and any machine
   * decides the same from the same rows; without them, the epochs this pruner knows of (those stored
   * when it was created and those it observed since).
   */
  observe(trialId: string, attempt: number, epoch: ObservedEpoch, standings?: readonly Standing[]): NewPruneDecision | null {
    if (!this.#curves.has(trialId)) return null;
    this.#add(trialId, attempt, epoch);
    const e = epoch.epoch;
    if (this.query(trialId, e) === null) return null;
    const { spec, objective } = this.#o;
    const rung = spec.rule === 'asha' ? ashaRung(e, spec.minEpochs, spec.reductionFactor) : null;
    const field = standings ?? this.#standings(e);
    const own = field.find((s) => s.trialId === trialId)?.value ?? this.#bestUpTo(trialId, e);
    const group = this.#groupKey.get(trialId);
    const compared = field
      .filter((s) => s.trialId !== trialId && this.#groupKey.has(s.trialId) && this.#groupKey.get(s.trialId) === group)
      .map((s) => ({ trialId: s.trialId, value: s.value }))
      .sort((a, b) => a.trialId.localeCompare(b.trialId));
    const scores = compared.map((c) => toScore(c.value, objective.direction));
    const ownScore = toScore(own, objective.direction);
    const metric = objective.metric;
    let prune: boolean;
    let threshold: number;
    let reason: string;
    if (spec.rule === 'median') {
      const j = medianRule(ownScore, scores, spec.minTrials);
      prune = j.prune;
      threshold = fromScore(j.threshold, objective.direction);
      reason = Number.isNaN(j.threshold)
        ? `median rule at epoch ${e}: only ${compared.length} other trial(s) reached it (min_trials ${spec.minTrials}); continues`
        : `median rule at epoch ${e}: ${metric} ${shown(own)} (best so far) is ${prune ? 'worse than' : 'not worse than'} the median ${shown(threshold)} of ${compared.length} other trial(s)`;
    } else {
      const j = ashaRule(ownScore, scores, spec.reductionFactor);
      prune = j.prune;
      threshold = fromScore(j.threshold, objective.direction);
      reason =
        `asha rung ${rung} (epoch ${e}): ${metric} ${shown(own)} (best so far) is ${prune ? 'not in' : 'in'} the top ${j.keep} of the ` +
        `${compared.length + 1} trial(s) that reached it (threshold ${shown(threshold)})`;
    }
    return {
      trialId,
      attempt,
      epoch: e,
      sweep: this.#o.sweep,
      rule: spec.rule,
      action: prune ? 'prune' : 'continue',
      metric,
      direction: objective.direction,
      value: own,
      threshold,
      rung,
      group: this.#group.get(trialId) ?? {},
      compared,
      reason,
    };
  }

  #add(trialId: string, attempt: number, epoch: ObservedEpoch): void {
    const curve = this.#curves.get(trialId);
    if (curve === undefined) return;
    const known = curve.get(epoch.epoch);
    if (known !== undefined && known.attempt > attempt) return;
    const raw = this.#o.objective.metric === 'loss' ? epoch.trainLoss : epoch.metrics[this.#o.objective.metric];
    curve.set(epoch.epoch, { attempt, value: typeof raw === 'number' ? raw : Number.NaN });
  }

  /** A trial's best objective value over its epochs up to `epoch` (NaN when none reported one). */
  #bestUpTo(trialId: string, epoch: number): number {
    const { direction } = this.#o.objective;
    let best = Number.NaN;
    for (const [e, { value }] of this.#curves.get(trialId) ?? []) {
      if (e <= epoch && toScore(value, direction) > toScore(best, direction)) best = value;
    }
    return best;
  }

  /** The trials this pruner knows of that reached `epoch`, with their best value up to it (what `Store.standings` says). */
  #standings(epoch: number): Standing[] {
    const out: Standing[] = [];
    for (const [id, curve] of this.#curves) {
      if ([...curve.keys()].some((e) => e >= epoch)) out.push({ trialId: id, value: this.#bestUpTo(id, epoch) });
    }
    return out;
  }
}

/** A value for a reason line: 4 significant digits, or "none". */
function shown(v: number): string {
  return Number.isNaN(v) ? 'none' : String(Number(v.toPrecision(4)));
}
