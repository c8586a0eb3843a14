/**
 * Ranking completed trials: each trial's value is its best epoch's value of the chosen metric (the
 * validation metrics its trainer reported per epoch, or `loss` for the training loss), in the
 * objective's direction. `grid leaderboard`, `grid status` and `grid export` rank through here.
 */
import yaml from 'js-yaml';
import type { CompletedAttempt, EpochRecord, TrialRecord } from '../store/store.js';
import type { Metrics } from '../trainer/protocol.js';
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
}

/** One ranked trial. */
export interface LeaderboardRow {
  /** 1-based. */
  readonly rank: number;
  readonly trial: TrialRecord;
  /** The completed attempt ranked. */
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

/** The default direction of a metric: down for losses, up for everything else. */
export function defaultDirection(metric: string): 'max' | 'min' {
  return metric === 'loss' ? 'min' : 'max';
}

/**
 * Ranks the completed trials among `trials` by their latest completed attempt's best epoch, from the
 * store's summaries of those attempts (`Store.completedAttempts`, asked for the same metric and
 * direction). Trials whose attempts never reported the metric rank last.
 */
export function rankTrials(trials: readonly TrialRecord[], completed: readonly CompletedAttempt[], options: RankOptions): LeaderboardRow[] {
  const where = options.where ?? [];
  const byTrial = new Map(completed.map((c) => [c.trialId, c]));
  const sign = options.direction === 'max' ? 1 : -1;
  const rows: Omit<LeaderboardRow, 'rank'>[] = [];
  for (const trial of trials) {
    const c = byTrial.get(trial.id);
    if (trial.state !== 'completed' || c === undefined) continue;
    if (!where.every((f) => canonicalJson(getPath(trial.config, f.path) ?? null) === canonicalJson(f.value))) continue;
    const best = c.best;
    rows.push({
      trial,
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
export function reportedMetrics(completed: readonly CompletedAttempt[]): string[] {
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
