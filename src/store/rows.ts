/**
 * The rows of the store's tables as the engines return them, and their conversion into the frozen
 * records of store.ts: JSON columns parsed, NULL metrics back to NaN. Shared by both engines.
 */
import type { AttemptRecord, EpochRecord, NewPruneDecision, PruneDecision, SweepRecord, TrialRecord } from './store.js';
import type { SqlValue } from './sql-connection.js';
import type { TrialState } from './trial-state.js';

export interface SweepRow {
  id: number;
  name: string;
  file: string | null;
  document: string;
  objective_metric: string;
  objective_direction: 'max' | 'min';
  created_at: number;
  updated_at: number;
}
export interface TrialRow {
  id: string;
  config: string;
  trainer: string;
  state: TrialState;
  attempts: number;
  created_at: number;
  updated_at: number;
}
export interface AttemptRow {
  trial_id: string;
  attempt: number;
  state: AttemptRecord['state'];
  host: string;
  pid: number;
  child_pid: number | null;
  device: string;
  started_at: number;
  heartbeat_at: number;
  heartbeat_interval_s: number;
  finished_at: number | null;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  result: string | null;
  trainer: string | null;
  trainer_version: string | null;
  device_name: string | null;
  planned_peak_bytes: number | null;
  heartbeat_age_s?: number;
  last_epoch?: number | null;
}
export interface EpochRow {
  trial_id: string;
  attempt: number;
  epoch: number;
  train_loss: number | null;
  metrics: string;
  epoch_seconds: number;
  peak_bytes: number;
  tokens_per_second: number;
}

export interface DecisionRow {
  trial_id: string;
  attempt: number;
  epoch: number;
  sweep: string;
  rule: PruneDecision['rule'];
  action: PruneDecision['action'];
  metric: string;
  direction: 'max' | 'min';
  value: number | null;
  threshold: number | null;
  rung: number | null;
  group_key: string;
  compared: string;
  reason: string;
  decided_at: number;
}

/** The WHERE clause selecting rows of table alias `t` by trial id and/or sweep name. */
export function trialWhere(t: string, filter: { readonly trialId?: string; readonly sweep?: string }): { where: string; args: SqlValue[] } {
  const where: string[] = [];
  const args: SqlValue[] = [];
  if (filter.trialId !== undefined) {
    where.push(`${t}.trial_id = ?`);
    args.push(filter.trialId);
  }
  if (filter.sweep !== undefined) {
    where.push(`${t}.trial_id IN (SELECT l.trial_id FROM sweep_trials l JOIN sweeps s ON s.id = l.sweep_id WHERE s.name = ?)`);
    args.push(filter.sweep);
  }
  return { where: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', args };
}

export function toSweep(r: SweepRow): SweepRecord {
  return Object.freeze({
    id: r.id,
    name: r.name,
    file: r.file,
    document: JSON.parse(r.document) as Record<string, unknown>,
    objective: { metric: r.objective_metric, direction: r.objective_direction },
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
}

export function toTrial(r: TrialRow): TrialRecord {
  return Object.freeze({
    id: r.id,
    config: JSON.parse(r.config) as Record<string, unknown>,
    trainer: JSON.parse(r.trainer) as TrialRecord['trainer'],
    state: r.state,
    attempts: r.attempts,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
}

export function toAttempt(r: AttemptRow): AttemptRecord {
  return Object.freeze({
    trialId: r.trial_id,
    attempt: r.attempt,
    state: r.state,
    host: r.host,
    pid: r.pid,
    childPid: r.child_pid,
    device: JSON.parse(r.device) as AttemptRecord['device'],
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    heartbeatIntervalS: r.heartbeat_interval_s,
    finishedAt: r.finished_at,
    exitCode: r.exit_code,
    signal: r.signal,
    error: r.error,
    result: r.result === null ? null : (JSON.parse(r.result) as AttemptRecord['result']),
    info:
      r.trainer === null
        ? null
        : { trainer: r.trainer, version: r.trainer_version ?? '', deviceName: r.device_name ?? '', plannedPeakBytes: r.planned_peak_bytes },
  });
}

export function toEpoch(r: EpochRow): EpochRecord {
  return Object.freeze({
    trialId: r.trial_id,
    attempt: r.attempt,
    epoch: r.epoch,
    trainLoss: r.train_loss ?? Number.NaN,
    metrics: JSON.parse(r.metrics) as Record<string, number>,
    epochSeconds: r.epoch_seconds,
    peakBytes: r.peak_bytes,
    tokensPerSecond: r.tokens_per_second,
  });
}

/** SQLite stores NaN as NULL; so do we, explicitly (and ±Infinity, which no objective value is). */
export function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/**
 * The columns of `prune_decisions` that hold the decision itself, from `rule` to `reason`, in the order
 * `decisionValues` gives them; the keys (trial, attempt, epoch, sweep) and `decided_at` are each writer's own.
 */
export const DECISION_COLUMNS = 'rule, action, metric, direction, value, threshold, rung, group_key, compared, reason';

/** One `?` for each of `DECISION_COLUMNS`. */
export const DECISION_PLACEHOLDERS = DECISION_COLUMNS.split(', ').map(() => '?').join(', ');

/** A decision's `DECISION_COLUMNS` as stored, the inverse of `toDecision`: NaN as NULL, group and comparisons as JSON. */
export function decisionValues(d: NewPruneDecision): SqlValue[] {
  return [
    d.rule,
    d.action,
    d.metric,
    d.direction,
    finiteOrNull(d.value),
    finiteOrNull(d.threshold),
    d.rung,
    JSON.stringify(d.group),
    JSON.stringify(d.compared.map((c) => ({ trial: c.trialId, value: finiteOrNull(c.value) }))),
    d.reason,
  ];
}

export function toDecision(r: DecisionRow): PruneDecision {
  const compared = JSON.parse(r.compared) as { trial: string; value: number | null }[];
  return Object.freeze({
    trialId: r.trial_id,
    attempt: r.attempt,
    epoch: r.epoch,
    sweep: r.sweep,
    rule: r.rule,
    action: r.action,
    metric: r.metric,
    direction: r.direction,
    value: r.value ?? Number.NaN,
    threshold: r.threshold ?? Number.NaN,
    rung: r.rung,
    group: JSON.parse(r.group_key) as Record<string, unknown>,
    compared: compared.map((c) => ({ trialId: c.trial, value: c.value ?? Number.NaN })),
    reason: r.reason,
    decidedAt: r.decided_at,
  });
}
