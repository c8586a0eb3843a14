/** The `Store` over better-sqlite3: the only code that writes SQL. See store.ts for the contract. */
import { rankedAttempts, countByState } from './ranked-attempts.js';
import { openForReading, openForWriting, transaction, translate, type Connection } from './database.js';
import type {
  AttemptOutcome,
  AttemptRecord,
  Claim,
  RankedAttempt,
  EpochRecord,
  NewPruneDecision,
  NewSweep,
  NewTrial,
  PruneDecision,
  Removed,
  RunningAttempt,
  Store,
  SweepRecord,
  TrainerInfo,
  TrialFilter,
  TrialRecord,
} from './store.js';
import { sourcesOf, type TrialState } from './trial-state.js';

const NOW = `unixepoch('subsec')`;

interface SweepRow {
  id: number;
  name: string;
  file: string | null;
  document: string;
  objective_metric: string;
  objective_direction: 'max' | 'min';
  created_at: number;
  updated_at: number;
}
interface TrialRow {
  id: string;
  config: string;
  trainer: string;
  state: TrialState;
  attempts: number;
  created_at: number;
  updated_at: number;
}
interface AttemptRow {
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
interface EpochRow {
  trial_id: string;
  attempt: number;
  epoch: number;
  train_loss: number | null;
  metrics: string;
  epoch_seconds: number;
  peak_bytes: number;
  tokens_per_second: number;
}

interface DecisionRow {
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

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** Opens the store at `path`: read-write (creating and migrating it) or read-only. */
export async function openStore(path: string, mode: 'write' | 'read'): Promise<Store> {
  return new SqliteStore(path, mode === 'write' ? openForWriting(path) : openForReading(path), mode === 'read');
}

class SqliteStore implements Store {
  readonly path: string;
  readonly readOnly: boolean;
  readonly #db: Connection;

  constructor(path: string, db: Connection, readOnly: boolean) {
    this.path = path;
    this.#db = db;
    this.readOnly = readOnly;
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  async saveSweep(sweep: NewSweep, trials: readonly NewTrial[]): Promise<{ sweep: SweepRecord; added: string[] }> {
    return this.#guard(() => {
      return transaction(this.#db, () => {
        const db = this.#db;
        db.prepare(
          `INSERT INTO sweeps (name, file, document, objective_metric, objective_direction, created_at, updated_at)
           VALUES (@name, @file, @document, @metric, @direction, ${NOW}, ${NOW})
           ON CONFLICT (name) DO UPDATE SET file = excluded.file, document = excluded.document,
             objective_metric = excluded.objective_metric, objective_direction = excluded.objective_direction,
             updated_at = excluded.updated_at`,
        ).run({
          name: sweep.name,
          file: sweep.file,
          document: JSON.stringify(sweep.document),
          metric: sweep.objective.metric,
          direction: sweep.objective.direction,
        });
        const row = db.prepare('SELECT * FROM sweeps WHERE name = ?').get(sweep.name) as SweepRow;
        const insertTrial = db.prepare(
          `INSERT INTO trials (id, config, trainer, state, created_at, updated_at) VALUES (?, ?, ?, 'pending', ${NOW}, ${NOW})
           ON CONFLICT (id) DO NOTHING`,
        );
        // A stored trial takes the config as spelt now (its data file where it lies now: the id names
        // the file by content), unless an attempt is running with the old one.
        const respell = db.prepare(`UPDATE trials SET config = ? WHERE id = ? AND config <> ? AND state <> 'running'`);
        // The sweep is what its file says now: links of an earlier version of the file are replaced.
        db.prepare('DELETE FROM sweep_trials WHERE sweep_id = ?').run(row.id);
        const link = db.prepare('INSERT INTO sweep_trials (sweep_id, trial_id, position) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
        const added: string[] = [];
        for (const [position, t] of trials.entries()) {
          const config = JSON.stringify(t.config);
          if (insertTrial.run(t.id, config, JSON.stringify(t.trainer)).changes > 0) added.push(t.id);
          else respell.run(config, t.id, config);
          link.run(row.id, t.id, position);
        }
        return { sweep: toSweep(row), added };
      });
    });
  }

  async claim(trialId: string, claim: Claim): Promise<number | false> {
    return this.#guard(() => {
      return transaction(this.#db, () => {
        const updated = this.#db
          .prepare(`UPDATE trials SET state = 'running', attempts = attempts + 1, updated_at = ${NOW} WHERE id = ? AND state = 'pending' RETURNING attempts`)
          .get(trialId) as { attempts: number } | undefined;
        if (updated === undefined) return false;
        this.#db
          .prepare(
            `INSERT INTO attempts (trial_id, attempt, state, host, pid, device, started_at, heartbeat_at, heartbeat_interval_s)
             VALUES (?, ?, 'running', ?, ?, ?, ${NOW}, ${NOW}, ?)`,
          )
          .run(trialId, updated.attempts, claim.host, claim.pid, JSON.stringify(claim.device), claim.heartbeatIntervalS);
        return updated.attempts;
      });
    });
  }

  async setChildPid(trialId: string, attempt: number, pid: number): Promise<void> {
    return this.#guard(() => {
      this.#db.prepare(`UPDATE attempts SET child_pid = ? WHERE trial_id = ? AND attempt = ? AND state = 'running'`).run(pid, trialId, attempt);
    });
  }

  async heartbeat(attempts: readonly { trialId: string; attempt: number }[]): Promise<void> {
    return this.#guard(() => {
      if (attempts.length === 0) return;
      const stmt = this.#db.prepare(`UPDATE attempts SET heartbeat_at = ${NOW} WHERE trial_id = ? AND attempt = ? AND state = 'running'`);
      transaction(this.#db, () => {
        for (const a of attempts) stmt.run(a.trialId, a.attempt);
      });
    });
  }

  async recordInfo(trialId: string, attempt: number, info: TrainerInfo): Promise<void> {
    return this.#guard(() => {
      this.#db
        .prepare('UPDATE attempts SET trainer = ?, trainer_version = ?, device_name = ?, planned_peak_bytes = ? WHERE trial_id = ? AND attempt = ?')
        .run(info.trainer, info.version, info.deviceName, info.plannedPeakBytes === null ? null : Math.round(info.plannedPeakBytes), trialId, attempt);
    });
  }

  async recordEpoch(e: EpochRecord): Promise<boolean> {
    return this.#guard(() => {
      const r = this.#db
        .prepare(
          `INSERT INTO epochs (trial_id, attempt, epoch, train_loss, metrics, epoch_seconds, peak_bytes, tokens_per_second, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ${NOW}) ON CONFLICT DO NOTHING`,
        )
        .run(
          e.trialId,
          e.attempt,
          e.epoch,
          Number.isFinite(e.trainLoss) ? e.trainLoss : null,
          JSON.stringify(e.metrics),
          e.epochSeconds,
          Math.round(e.peakBytes),
          e.tokensPerSecond,
        );
      return r.changes > 0;
    });
  }

  async finishAttempt(trialId: string, attempt: number, outcome: AttemptOutcome): Promise<boolean> {
    return this.#guard(() => {
      return transaction(this.#db, () => {
        const ended = this.#db
          .prepare(
            `UPDATE attempts SET state = ?, finished_at = ${NOW}, exit_code = ?, signal = ?, error = ?, result = ?
             WHERE trial_id = ? AND attempt = ? AND state = 'running'`,
          )
          .run(
            outcome.state,
            outcome.exitCode ?? null,
            outcome.signal ?? null,
            outcome.error ?? null,
            outcome.result == null ? null : JSON.stringify(outcome.result),
            trialId,
            attempt,
          );
        if (ended.changes === 0) return false;
        this.#db
          .prepare(`UPDATE trials SET state = ?, updated_at = ${NOW} WHERE id = ? AND attempts = ? AND state = 'running'`)
          .run(outcome.state, trialId, attempt);
        return true;
      });
    });
  }

  async recordDecision(d: NewPruneDecision): Promise<boolean> {
    return this.#guard(() => {
      const r = this.#db
        .prepare(
          `INSERT INTO prune_decisions (trial_id, attempt, epoch, sweep_id, rule, action, metric, direction, value, threshold, rung,
             group_key, compared, reason, decided_at)
           SELECT ?, ?, ?, id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ${NOW} FROM sweeps WHERE name = ?
           ON CONFLICT DO NOTHING`,
        )
        .run(
          d.trialId,
          d.attempt,
          d.epoch,
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
          d.sweep,
        );
      return r.changes > 0;
    });
  }

  async remove(target: { readonly sweep?: string; readonly trialIds: readonly string[] }): Promise<Removed> {
    return this.#guard(() => {
      return transaction(this.#db, () => {
        const db = this.#db;
        let sweeps = 0;
        let decisions = 0;
        if (target.sweep !== undefined) {
          const row = db.prepare('SELECT id FROM sweeps WHERE name = ?').get(target.sweep) as { id: number } | undefined;
          if (row !== undefined) {
            decisions += db.prepare('DELETE FROM prune_decisions WHERE sweep_id = ?').run(row.id).changes;
            db.prepare('DELETE FROM sweep_trials WHERE sweep_id = ?').run(row.id);
            sweeps = db.prepare('DELETE FROM sweeps WHERE id = ?').run(row.id).changes;
          }
        }
        // One id at a time: a list of placeholders would hit SQLite's limit on bound parameters.
        const state = db.prepare('SELECT state FROM trials WHERE id = ?');
        const delDecisions = db.prepare('DELETE FROM prune_decisions WHERE trial_id = ?');
        const delEpochs = db.prepare('DELETE FROM epochs WHERE trial_id = ?');
        const delAttempts = db.prepare('DELETE FROM attempts WHERE trial_id = ?');
        const delLinks = db.prepare('DELETE FROM sweep_trials WHERE trial_id = ?');
        const delTrial = db.prepare('DELETE FROM trials WHERE id = ?');
        const trialIds: string[] = [];
        let attempts = 0;
        let epochs = 0;
        for (const id of new Set(target.trialIds)) {
          const row = state.get(id) as { state: TrialState } | undefined;
          if (row === undefined || row.state === 'running') continue;
          decisions += delDecisions.run(id).changes;
          epochs += delEpochs.run(id).changes;
          attempts += delAttempts.run(id).changes;
          delLinks.run(id);
          delTrial.run(id);
          trialIds.push(id);
        }
        return { sweeps, trialIds, attempts, epochs, decisions };
      });
    });
  }

  async requeue(trialId: string, from: readonly TrialState[]): Promise<boolean> {
    return this.#guard(() => {
      const allowed = from.filter((s) => sourcesOf('pending').includes(s));
      if (allowed.length === 0) return false;
      const r = this.#db
        .prepare(`UPDATE trials SET state = 'pending', updated_at = ${NOW} WHERE id = ? AND state IN (${placeholders(allowed.length)})`)
        .run(trialId, ...allowed);
      return r.changes > 0;
    });
  }

  async now(): Promise<number> {
    return this.#guard(() => {
      return (this.#db.prepare(`SELECT ${NOW} AS t`).get() as { t: number }).t;
    });
  }

  async listSweeps(): Promise<SweepRecord[]> {
    return this.#guard(() => {
      return (this.#db.prepare('SELECT * FROM sweeps ORDER BY updated_at, id').all() as SweepRow[]).map(toSweep);
    });
  }

  async getSweep(name: string): Promise<SweepRecord | undefined> {
    return this.#guard(() => {
      const row = this.#db.prepare('SELECT * FROM sweeps WHERE name = ?').get(name) as SweepRow | undefined;
      return row === undefined ? undefined : toSweep(row);
    });
  }

  async listTrials(filter: TrialFilter = {}): Promise<TrialRecord[]> {
    return this.#guard(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      let from = 'trials t';
      let order = 't.created_at, t.id';
      if (filter.sweep !== undefined) {
        from = 'trials t JOIN sweep_trials l ON l.trial_id = t.id JOIN sweeps s ON s.id = l.sweep_id';
        where.push('s.name = ?');
        args.push(filter.sweep);
        order = 'l.position';
      }
      if (filter.states !== undefined) {
        if (filter.states.length === 0) return [];
        where.push(`t.state IN (${placeholders(filter.states.length)})`);
        args.push(...filter.states);
      }
      const sql = `SELECT t.* FROM ${from} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order}`;
      return (this.#db.prepare(sql).all(...args) as TrialRow[]).map(toTrial);
    });
  }

  async findTrials(prefix: string): Promise<TrialRecord[]> {
    return this.#guard(() => {
      const rows = this.#db.prepare(`SELECT * FROM trials WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 20`).all(prefix.length, prefix.toLowerCase());
      return (rows as TrialRow[]).map(toTrial);
    });
  }

  async listAttempts(filter: { readonly trialId?: string; readonly sweep?: string }): Promise<AttemptRecord[]> {
    return this.#guard(() => {
      const { where, args } = trialWhere('a', filter);
      return (this.#db.prepare(`SELECT a.* FROM attempts a ${where} ORDER BY a.trial_id, a.attempt`).all(...args) as AttemptRow[]).map(toAttempt);
    });
  }

  async sweepsOf(trialId: string): Promise<string[]> {
    return this.#guard(() => {
      const rows = this.#db.prepare('SELECT s.name FROM sweeps s JOIN sweep_trials l ON l.sweep_id = s.id WHERE l.trial_id = ? ORDER BY s.id').all(trialId);
      return (rows as { name: string }[]).map((r) => r.name);
    });
  }

  async runningAttempts(sweep?: string): Promise<RunningAttempt[]> {
    return this.#guard(() => {
      const { where, args } = trialWhere('a', sweep === undefined ? {} : { sweep });
      const rows = this.#db
        .prepare(
          `SELECT a.*, ${NOW} - a.heartbeat_at AS heartbeat_age_s,
             (SELECT MAX(e.epoch) FROM epochs e WHERE e.trial_id = a.trial_id AND e.attempt = a.attempt) AS last_epoch
           FROM attempts a ${where === '' ? 'WHERE' : `${where} AND`} a.state = 'running' ORDER BY a.started_at`,
        )
        .all(...args) as AttemptRow[];
      return rows.map((r) => ({ ...toAttempt(r), heartbeatAgeS: r.heartbeat_age_s ?? 0, lastEpoch: r.last_epoch ?? null }));
    });
  }

  async listEpochs(filter: { readonly trialId?: string; readonly sweep?: string }): Promise<EpochRecord[]> {
    return this.#guard(() => {
      const { where, args } = trialWhere('e', filter);
      return (this.#db.prepare(`SELECT e.* FROM epochs e ${where} ORDER BY e.trial_id, e.attempt, e.epoch`).all(...args) as EpochRow[]).map(toEpoch);
    });
  }

  async rankedAttempts(filter: { readonly sweep?: string }, metric: string, direction: 'max' | 'min', states: readonly RankedAttempt['state'][] = ['completed']): Promise<RankedAttempt[]> {
    return this.#guard(() => rankedAttempts(this.#db, filter, metric, direction, states));
  }

  async countByState(sweep?: string): Promise<Partial<Record<TrialState, number>>> {
    return this.#guard(() => countByState(this.#db, sweep));
  }

  async listDecisions(filter: { readonly trialId?: string; readonly sweep?: string }): Promise<PruneDecision[]> {
    return this.#guard(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (filter.trialId !== undefined) {
        where.push('d.trial_id = ?');
        args.push(filter.trialId);
      }
      if (filter.sweep !== undefined) {
        where.push('s.name = ?');
        args.push(filter.sweep);
      }
      const rows = this.#db
        .prepare(
          `SELECT d.*, s.name AS sweep FROM prune_decisions d JOIN sweeps s ON s.id = d.sweep_id
           ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.decided_at, d.trial_id, d.attempt, d.epoch`,
        )
        .all(...args) as DecisionRow[];
      return rows.map(toDecision);
    });
  }

  /** Runs a store operation, translating database errors into `StoreError`s that name the file. */
  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw translate(this.path, err);
    }
  }
}

/** The WHERE clause selecting rows of table alias `t` by trial id and/or sweep name. */
function trialWhere(t: string, filter: { readonly trialId?: string; readonly sweep?: string }): { where: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
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

function toSweep(r: SweepRow): SweepRecord {
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

function toTrial(r: TrialRow): TrialRecord {
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

function toAttempt(r: AttemptRow): AttemptRecord {
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

function toEpoch(r: EpochRow): EpochRecord {
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
function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function toDecision(r: DecisionRow): PruneDecision {
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
