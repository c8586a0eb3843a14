/**
 * Ranking completed (and, when asked, pruned) trials: each trial's value is its best epoch's value of
 * the chosen metric (the validation metrics its trainer reported per epoch, or `loss` for the training
 * loss), in the objective's direction. `grid leaderboard` and `grid export` both rank through here.
 */
import yaml from 'js-yaml';
import type { AttemptRecord, EpochRecord, TrialRecord } from '../store/store.js';
import type { Metrics } from '../trainer/protocol.js';
import { canonicalJson } from './canonical.js';
import { getPath, resolveKey } from './config-paths.js';

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
  return { path: resolveKey(expr.slice(0, eq).trim()), value: yaml.load(expr.slice(eq + 1).trim(), { schema: yaml.CORE_SCHEMA }) };
}

/** Whether a config has every filter's value. */
export function matchesFilters(config: Readonly<Record<string, unknown>>, where: readonly ConfigFilter[]): boolean {
  return where.every((f) => canonicalJson(getPath(config, f.path) ?? null) === canonicalJson(f.value));
}

/** The default direction of a metric: down for losses, up for everything else. */
export function defaultDirection(metric: string): 'max' | 'min' {
  return metric === 'loss' ? 'min' : 'max';
}

/** Ranks the completed (or also pruned) trials among `trials` from their attempts and epochs. */
export function rankTrials(
  trials: readonly TrialRecord[],
  attempts: readonly AttemptRecord[],
  epochs: readonly EpochRecord[],
  options: RankOptions,
): LeaderboardRow[] {
  const where = options.where ?? [];
  const states: readonly string[] = options.states ?? ['completed'];
  const ended = new Map<string, AttemptRecord>();
  for (const a of attempts) if (states.includes(a.state)) ended.set(`${a.trialId}/${a.state}`, a); // the latest wins
  const byAttempt = new Map<string, EpochRecord[]>();
  for (const e of epochs) {
    const key = `${e.trialId}/${e.attempt}`;
    const list = byAttempt.get(key);
    if (list === undefined) byAttempt.set(key, [e]);
    else list.push(e);
  }
  const sign = options.direction === 'max' ? 1 : -1;
  const rows: Omit<LeaderboardRow, 'rank'>[] = [];
  for (const trial of trials) {
    const attempt = ended.get(`${trial.id}/${trial.state}`);
    if (!states.includes(trial.state) || attempt === undefined) continue;
    if (!matchesFilters(trial.config, where)) continue;
    const list = byAttempt.get(`${trial.id}/${attempt.attempt}`) ?? [];
    let best: EpochRecord | undefined;
    for (const e of list) {
      const v = valueOf(e, options.metric);
      if (Number.isNaN(v)) continue;
      if (best === undefined || sign * (v - valueOf(best, options.metric)) > 0) best = e;
    }
    rows.push({
      trial,
      state: trial.state as RankedState,
      attempt: attempt.attempt,
      value: best === undefined ? Number.NaN : valueOf(best, options.metric),
      bestEpoch: best?.epoch ?? 0,
      lastEpoch: list.at(-1)?.epoch ?? 0,
      metrics: best === undefined ? {} : { ...best.metrics, loss: best.trainLoss },
      test: attempt.result?.test ?? null,
      peakBytes: Math.max(attempt.result?.peak_bytes ?? 0, ...list.map((e) => e.peakBytes)),
      secondsPerEpoch: list.length === 0 ? Number.NaN : list.reduce((s, e) => s + e.epochSeconds, 0) / list.length,
    });
  }
  rows.sort((a, b) => {
    if (Number.isNaN(a.value) || Number.isNaN(b.value)) return Number(Number.isNaN(a.value)) - Number(Number.isNaN(b.value));
    return sign * (b.value - a.value) || a.trial.id.localeCompare(b.trial.id);
  });
  return rows.slice(0, options.top ?? rows.length).map((r, i) => ({ rank: i + 1, ...r }));
}

function valueOf(e: EpochRecord, metric: string): number {
  const v = metric === 'loss' ? e.trainLoss : e.metrics[metric];
  return typeof v === 'number' ? v : Number.NaN;
}
