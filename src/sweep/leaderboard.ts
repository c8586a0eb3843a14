/**
 * Ranking completed (and, when asked, pruned) trials: each trial's value is its best epoch's value of
 * the chosen metric (the validation metrics its trainer reported per epoch, or `loss` for the training
 * loss), in the objective's direction. `grid leaderboard`, `grid status`, `grid export` and `grid
 * report` rank through here, from the store's summaries of the attempts (`Store.rankedAttempts`).
 */
import yaml from 'js-yaml';
import type { RankedAttempt, EpochRecord, TrialRecord } from '../store/store.js';
import type { Metrics } from '../metrics/metrics.js';
import { loadYaml } from '../util/safe-yaml.js';
import { canonicalJson } from './canonical.js';
import { flatten, getPath, resolveKey } from './config-paths.js';

/** A `--where key=value` filter on trial configs. */
export interface ConfigFilter {
  /** Dotted config path (short keys resolved). */
  readonly path: string;
  readonly value: unknown;
}

/** Options of `rankTrials`. */
export interface RankOptions {
  readonly metric: string;
  readonly direction: 'max' | 'min';
  /** Keep only trials whose config has all these values. @default [] */
  readonly where?: readonly ConfigFilter[];
  /** Keep the first N. @default all */
  readonly top?: number;
  /** Which trials to rank: completed ones, and pruned ones (ranked on the epochs they had). @default ["completed"] */
  readonly states?: readonly RankedState[];
}

/** The states of trials a ranking can hold. */
export type RankedState = 'completed' | 'pruned';

/** One ranked trial. */
export interface LeaderboardRow {
  /** 1-based. */
  readonly rank: number;
  readonly trial: TrialRecord;
  /** The trial's state: completed, or pruned (stopped early; its epochs are fewer). */
  readonly state: RankedState;
  /** The attempt ranked: the latest that ended in the trial's state. */
  readonly attempt: number;
  /** The metric at the best epoch; NaN when no epoch reported it (ranked last). */
  readonly value: number;
  readonly bestEpoch: number;
  readonly lastEpoch: number;
  /** Validation metrics of the best epoch, with `loss` (training loss). */
  readonly metrics: Metrics;
  /** The trainer's test metrics (at the epoch it selected), if it reported them. */
  readonly test: Metrics | null;
  /** Peak allocated bytes over the attempt. */
  readonly peakBytes: number;
  /** Mean wall-clock seconds per epoch, validation included. */
  readonly secondsPerEpoch: number;
}

/** Parses `key=value` (value read as YAML, so `lr=1e-3` is a number and `loss=ce-` a string). */
export function parseFilter(expr: string): ConfigFilter {
  const eq = expr.indexOf('=');
  if (eq <= 0) throw new Error(`--where ${JSON.stringify(expr)}: expected key=value, e.g. loss=cce or model.hidden=64`);
  return { path: resolveKey(expr.slice(0, eq).trim()), value: loadYaml(expr.slice(eq + 1).trim(), { schema: yaml.CORE_SCHEMA }) };
}

/** Whether a config has every filter's value. */
export function matchesFilters(config: Readonly<Record<string, unknown>>, where: readonly ConfigFilter[]): boolean {
  return where.every((f) => canonicalJson(getPath(config, f.path) ?? null) === canonicalJson(f.value));
}

/** The default direction of a metric: down for losses, up for everything else. */
export function defaultDirection(metric: string): 'max' | 'min' {
  return metric === 'loss' ? 'min' : 'max';
}

/**
 * Ranks the completed (or also pruned) trials among `trials` by the best epoch of their latest attempt
 * that ended in their state, from the store's summaries of those attempts (`Store.rankedAttempts`,
 * asked for the same metric, direction and states). Trials whose attempts never reported the metric
 * rank last.
 */
export function rankTrials(trials: readonly TrialRecord[], ranked: readonly RankedAttempt[], options: RankOptions): LeaderboardRow[] {
  const where = options.where ?? [];
  const states: readonly string[] = options.states ?? ['completed'];
  const byTrial = new Map(ranked.map((c) => [c.trialId, c]));
  const sign = options.direction === 'max' ? 1 : -1;
  const rows: Omit<LeaderboardRow, 'rank'>[] = [];
  for (const trial of trials) {
    const c = byTrial.get(trial.id);
    if (!states.includes(trial.state) || c === undefined || c.state !== trial.state) continue;
    if (!matchesFilters(trial.config, where)) continue;
    const best = c.best;
    rows.push({
      trial,
      state: c.state,
      attempt: c.attempt,
      value: best === null ? Number.NaN : valueOf(best, options.metric),
      bestEpoch: best?.epoch ?? 0,
      lastEpoch: c.lastEpoch,
      metrics: best === null ? {} : { ...best.metrics, loss: best.trainLoss },
      test: c.result?.test ?? null,
      peakBytes: Math.max(c.result?.peak_bytes ?? 0, c.peakBytes),
      secondsPerEpoch: c.secondsPerEpoch,
    });
  }
  rows.sort((a, b) => {
    if (Number.isNaN(a.value) || Number.isNaN(b.value)) return Number(Number.isNaN(a.value)) - Number(Number.isNaN(b.value));
    return sign * (b.value - a.value) || a.trial.id.localeCompare(b.trial.id);
  });
  return rows.slice(0, options.top ?? rows.length).map((r, i) => ({ rank: i + 1, ...r }));
}

/** The metrics a ranking may use: `loss` and every name the attempts' last epochs reported, sorted. */
export function reportedMetrics(completed: readonly RankedAttempt[]): string[] {
  const names = new Set<string>(['loss']);
  for (const c of completed) for (const n of c.metricNames) names.add(n);
  return [...names].sort();
}

/** The config keys `--where` may name for these trials: every leaf path of their configs, sorted. */
export function filterableKeys(trials: readonly TrialRecord[]): string[] {
  const keys = new Set<string>();
  for (const t of trials) for (const path of flatten(t.config).keys()) keys.add(path);
  return [...keys].sort();
}

function valueOf(e: EpochRecord, metric: string): number {
  const v = metric === 'loss' ? e.trainLoss : e.metrics[metric];
  return typeof v === 'number' ? v : Number.NaN;
}
