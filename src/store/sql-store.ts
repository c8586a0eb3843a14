/**
 * The `Store` over either engine (SQLite or PostgreSQL, through `SqlConnection`): the only code that
 * writes the store's SQL, written once; what differs between the engines is in their `Dialect`. See
 * store.ts for the contract.
 */
import { standings } from './pruning-standings.js';
import { countByState, rankedAttempts } from './ranked-attempts.js';
import { importSweep, importTrial, linkTrials, type ImportCounts, type TrialImport } from './sql-import.js';
import {
  DECISION_COLUMNS,
  DECISION_PLACEHOLDERS,
  decisionValues,
  finiteOrNull,
  toAttempt,
  toDecision,
  toEpoch,
  toSweep,
  toTrial,
  trialWhere,
  type AttemptRow,
  type DecisionRow,
  type EpochRow,
  type SweepRow,
  type TrialRow,
} from './rows.js';
import type { SqlConnection, SqlValue } from './sql-connection.js';
import type {
  AttemptOutcome,
  AttemptRecord,
  Claim,
  EpochRecord,
  NewPruneDecision,
  NewSweep,
  NewTrial,
  PruneDecision,
  RankedAttempt,
  Removed,
  RunningAttempt,
  Standing,
  StandingsQuery,
  Store,
  SweepRecord,
  TrainerInfo,
  TrialFilter,
  TrialRecord,
} from './store.js';
import { isClaimed, sourcesOf, TRIAL_STATES, type TrialState } from './trial-state.js';

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** SQL for a list of trial states; they are constants of trial-state.ts, so written out, not bound. */
const stateList = (states: readonly TrialState[]): string => states.map((s) => `'${s}'`).join(', ');

/**
 * SQL testing that `column` holds a state a trial may leave for `to` (trial-state.ts's table): the
 * compare of every compare-and-set of a trial's state.
 */
const canBecome = (column: string, to: TrialState): string => `${column} IN (${stateList(sourcesOf(to))})`;

/** SQL testing that `column` holds a state no worker holds (trial-state.ts, `isClaimed`). */
const unclaimed = (column: string): string => `${column} IN (${stateList(TRIAL_STATES.filter((s) => !isClaimed(s)))})`;

/** A lease runs out when the heartbeat is older than this many intervals (a grace of one missed beat). */
const LEASE_INTERVALS = 2;

/** The store over a connection; `path` is the file, or the server's URL without its password. */
export class SqlStore implements Store {
  readonly path: string;
  readonly readOnly: boolean;
  readonly #db: SqlConnection;
  /** The database clock, seconds since the epoch. */
  readonly #now: string;

  constructor(path: string, db: SqlConnection, readOnly: boolean) {
    this.path = path;
    this.#db = db;
    this.#now = db.dialect.now;
    this.readOnly = readOnly;
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  saveSweep(sweep: NewSweep, trials: readonly NewTrial[]): Promise<{ sweep: SweepRecord; added: string[] }> {
    const NOW = this.#now;
    return this.#db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO sweeps (name, file, document, objective_metric, objective_direction, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ${NOW}, ${NOW})
         ON CONFLICT (name) DO UPDATE SET file = excluded.file, document = excluded.document,
           objective_metric = excluded.objective_metric, objective_direction = excluded.objective_direction,
           updated_at = excluded.updated_at`,
        [sweep.name, sweep.file, JSON.stringify(sweep.document), sweep.objective.metric, sweep.objective.direction],
      );
      const row = (await tx.get<SweepRow>('SELECT * FROM sweeps WHERE name = ?', [sweep.name])) as SweepRow;
      // The sweep is what its file says now: links of an earlier version of the file are replaced.
      await tx.run('DELETE FROM sweep_trials WHERE sweep_id = ?', [row.id]);
      const added: string[] = [];
      for (const [position, t] of trials.entries()) {
        const config = JSON.stringify(t.config);
        const inserted = await tx.run(
          `INSERT INTO trials (id, config, trainer, state, created_at, updated_at) VALUES (?, ?, ?, 'pending', ${NOW}, ${NOW})
           ON CONFLICT (id) DO NOTHING`,
          [t.id, config, JSON.stringify(t.trainer)],
        );
        if (inserted > 0) added.push(t.id);
        // A stored trial takes the config as spelt now (its data file where it lies now: the id names
        // the file by content), unless an attempt is running with the old one.
        else await tx.run(`UPDATE trials SET config = ? WHERE id = ? AND config <> ? AND ${unclaimed('state')}`, [config, t.id, config]);
        await tx.run('INSERT INTO sweep_trials (sweep_id, trial_id, position) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [row.id, t.id, position]);
      }
      return { sweep: toSweep(row), added };
    });
  }

  claim(trialId: string, claim: Claim): Promise<number | false> {
    return this.#db.transaction(async (tx) => {
      const updated = await tx.get<TrialRow>(
        `UPDATE trials SET state = 'running', attempts = attempts + 1, updated_at = ${this.#now} WHERE id = ? AND ${canBecome('state', 'running')} RETURNING *`,
        [trialId],
      );
      if (updated === undefined) return false;
      await this.#startAttempt(tx, updated, claim);
      return updated.attempts;
    });
  }

  claimNext(sweeps: readonly string[] | undefined, claim: Claim): Promise<{ trial: TrialRecord; attempt: number } | null> {
    if (sweeps !== undefined && sweeps.length === 0) return Promise.resolve(null);
    // The first pending trial in link order of the sweeps named (or of any sweep), the row locked for
    // this transaction and skipped by other claimers (PostgreSQL); never a lock held while it trains.
    const pick =
      sweeps === undefined
        ? `SELECT t.id FROM trials t JOIN sweep_trials l ON l.trial_id = t.id WHERE ${canBecome('t.state', 'running')}
           ORDER BY l.sweep_id, l.position LIMIT 1 ${this.#db.dialect.skipLocked}`
        : `SELECT t.id FROM trials t JOIN sweep_trials l ON l.trial_id = t.id JOIN sweeps s ON s.id = l.sweep_id
           WHERE ${canBecome('t.state', 'running')} AND s.name IN (${placeholders(sweeps.length)})
           ORDER BY s.id, l.position LIMIT 1 ${this.#db.dialect.skipLocked}`;
    return this.#db.transaction(async (tx) => {
      const updated = await tx.get<TrialRow>(
        `UPDATE trials SET state = 'running', attempts = attempts + 1, updated_at = ${this.#now}
         WHERE id = (${pick}) AND ${canBecome('state', 'running')} RETURNING *`,
        sweeps ?? [],
      );
      if (updated === undefined) return null;
      await this.#startAttempt(tx, updated, claim);
      return { trial: toTrial(updated), attempt: updated.attempts };
    });
  }

  /** Inserts the running attempt of a trial just claimed: its lease starts now. */
  async #startAttempt(tx: SqlConnection, trial: TrialRow, claim: Claim): Promise<void> {
    await tx.run(
      `INSERT INTO attempts (trial_id, attempt, state, host, pid, device, started_at, heartbeat_at, heartbeat_interval_s)
       VALUES (?, ?, 'running', ?, ?, ?, ${this.#now}, ${this.#now}, ?)`,
      [trial.id, trial.attempts, claim.host, claim.pid, JSON.stringify(claim.device), claim.heartbeatIntervalS],
    );
  }

  /** The fence of a write about attempt (?, ?): it is still running (its row held until the write commits). */
  #fence(): string {
    return `EXISTS (SELECT 1 FROM attempts f WHERE f.trial_id = ? AND f.attempt = ? AND f.state = 'running' ${this.#db.dialect.lockShared})`;
  }

  async setChildPid(trialId: string, attempt: number, pid: number): Promise<void> {
    await this.#db.run(`UPDATE attempts SET child_pid = ? WHERE trial_id = ? AND attempt = ? AND state = 'running'`, [pid, trialId, attempt]);
  }

  async heartbeat(attempts: readonly { trialId: string; attempt: number }[]): Promise<{ trialId: string; attempt: number }[]> {
    if (attempts.length === 0) return [];
    return this.#db.transaction(async (tx) => {
      const lost: { trialId: string; attempt: number }[] = [];
      for (const a of attempts) {
        const renewed = await tx.run(`UPDATE attempts SET heartbeat_at = ${this.#now} WHERE trial_id = ? AND attempt = ? AND state = 'running'`, [a.trialId, a.attempt]);
        if (renewed === 0) lost.push({ trialId: a.trialId, attempt: a.attempt });
      }
      return lost;
    });
  }

  async recordInfo(trialId: string, attempt: number, info: TrainerInfo): Promise<void> {
    await this.#db.run(`UPDATE attempts SET trainer = ?, trainer_version = ?, device_name = ?, planned_peak_bytes = ? WHERE trial_id = ? AND attempt = ? AND state = 'running'`, [
      info.trainer,
      info.version,
      info.deviceName,
      info.plannedPeakBytes === null ? null : Math.round(info.plannedPeakBytes),
      trialId,
      attempt,
    ]);
  }

  async recordEpoch(e: EpochRecord): Promise<boolean> {
    const changed = await this.#db.run(
      `INSERT INTO epochs (trial_id, attempt, epoch, train_loss, metrics, epoch_seconds, peak_bytes, tokens_per_second, recorded_at)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ${this.#now} WHERE ${this.#fence()} ON CONFLICT DO NOTHING`,
      [
        e.trialId,
        e.attempt,
        e.epoch,
        finiteOrNull(e.trainLoss),
        JSON.stringify(e.metrics),
        e.epochSeconds,
        Math.round(e.peakBytes),
        e.tokensPerSecond,
        e.trialId,
        e.attempt,
      ],
    );
    return changed > 0;
  }

  finishAttempt(trialId: string, attempt: number, outcome: AttemptOutcome): Promise<boolean> {
    return this.#end(trialId, attempt, outcome, '');
  }

  expire(trialId: string, attempt: number, outcome: AttemptOutcome, ownerGone: boolean): Promise<boolean> {
    return this.#end(trialId, attempt, outcome, ownerGone ? '' : `AND heartbeat_at + ${LEASE_INTERVALS} * heartbeat_interval_s < ${this.#now}`);
  }

  /** The one funnel of outcomes: ends the attempt if it still runs (and `condition` holds), and its trial with it. */
  #end(trialId: string, attempt: number, outcome: AttemptOutcome, condition: string): Promise<boolean> {
    const NOW = this.#now;
    return this.#db.transaction(async (tx) => {
      const ended = await tx.run(
        `UPDATE attempts SET state = ?, finished_at = ${NOW}, exit_code = ?, signal = ?, error = ?, result = ?
         WHERE trial_id = ? AND attempt = ? AND state = 'running' ${condition}`,
        [
          outcome.state,
          outcome.exitCode ?? null,
          outcome.signal ?? null,
          outcome.error ?? null,
          outcome.result == null ? null : JSON.stringify(outcome.result),
          trialId,
          attempt,
        ],
      );
      if (ended === 0) return false;
      await tx.run(`UPDATE trials SET state = ?, updated_at = ${NOW} WHERE id = ? AND attempts = ? AND ${canBecome('state', outcome.state)}`, [
        outcome.state,
        trialId,
        attempt,
      ]);
      return true;
    });
  }

  async recordDecision(d: NewPruneDecision): Promise<boolean> {
    const changed = await this.#db.run(
      `INSERT INTO prune_decisions (trial_id, attempt, epoch, sweep_id, ${DECISION_COLUMNS}, decided_at)
       SELECT ?, ?, ?, id, ${DECISION_PLACEHOLDERS}, ${this.#now} FROM sweeps WHERE name = ? AND ${this.#fence()}
       ON CONFLICT DO NOTHING`,
      [d.trialId, d.attempt, d.epoch, ...decisionValues(d), d.sweep, d.trialId, d.attempt],
    );
    return changed > 0;
  }

  remove(target: { readonly sweep?: string; readonly trialIds: readonly string[] }): Promise<Removed> {
    return this.#db.transaction(async (tx) => {
      let sweeps = 0;
      let decisions = 0;
      if (target.sweep !== undefined) {
        const row = await tx.get<{ id: number }>('SELECT id FROM sweeps WHERE name = ?', [target.sweep]);
        if (row !== undefined) {
          decisions += await tx.run('DELETE FROM prune_decisions WHERE sweep_id = ?', [row.id]);
          await tx.run('DELETE FROM sweep_trials WHERE sweep_id = ?', [row.id]);
          sweeps = await tx.run('DELETE FROM sweeps WHERE id = ?', [row.id]);
        }
      }
      // One id at a time: a list of placeholders would hit SQLite's limit on bound parameters.
      const trialIds: string[] = [];
      let attempts = 0;
      let epochs = 0;
      for (const id of new Set(target.trialIds)) {
        const row = await tx.get<{ state: TrialState }>('SELECT state FROM trials WHERE id = ?', [id]);
        if (row === undefined || isClaimed(row.state)) continue;
        decisions += await tx.run('DELETE FROM prune_decisions WHERE trial_id = ?', [id]);
        epochs += await tx.run('DELETE FROM epochs WHERE trial_id = ?', [id]);
        attempts += await tx.run('DELETE FROM attempts WHERE trial_id = ?', [id]);
        await tx.run('DELETE FROM sweep_trials WHERE trial_id = ?', [id]);
        await tx.run('DELETE FROM trials WHERE id = ?', [id]);
        trialIds.push(id);
      }
      return { sweeps, trialIds, attempts, epochs, decisions };
    });
  }

  importSweep(sweep: SweepRecord): Promise<boolean> {
    return importSweep(this.#db, sweep);
  }

  linkTrials(sweep: string, trialIds: readonly string[]): Promise<void> {
    return linkTrials(this.#db, sweep, trialIds);
  }

  importTrial(records: TrialImport): Promise<ImportCounts> {
    return importTrial(this.#db, this.#now, records);
  }

  async requeue(trialId: string, from: readonly TrialState[]): Promise<boolean> {
    const allowed = from.filter((s) => sourcesOf('pending').includes(s));
    if (allowed.length === 0) return false;
    const changed = await this.#db.run(`UPDATE trials SET state = 'pending', updated_at = ${this.#now} WHERE id = ? AND state IN (${stateList(allowed)})`, [trialId]);
    return changed > 0;
  }

  async now(): Promise<number> {
    return ((await this.#db.get<{ t: number }>(`SELECT ${this.#now} AS t`)) as { t: number }).t;
  }

  async listSweeps(): Promise<SweepRecord[]> {
    return (await this.#db.all<SweepRow>('SELECT * FROM sweeps ORDER BY updated_at, id')).map(toSweep);
  }

  async getSweep(name: string): Promise<SweepRecord | undefined> {
    const row = await this.#db.get<SweepRow>('SELECT * FROM sweeps WHERE name = ?', [name]);
    return row === undefined ? undefined : toSweep(row);
  }

  async listTrials(filter: TrialFilter = {}): Promise<TrialRecord[]> {
    const where: string[] = [];
    const args: SqlValue[] = [];
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
    return (await this.#db.all<TrialRow>(sql, args)).map(toTrial);
  }

  async findTrials(prefix: string): Promise<TrialRecord[]> {
    const rows = await this.#db.all<TrialRow>(`SELECT * FROM trials WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 20`, [prefix.length, prefix.toLowerCase()]);
    return rows.map(toTrial);
  }

  async listAttempts(filter: { readonly trialId?: string; readonly sweep?: string }): Promise<AttemptRecord[]> {
    const { where, args } = trialWhere('a', filter);
    return (await this.#db.all<AttemptRow>(`SELECT a.* FROM attempts a ${where} ORDER BY a.trial_id, a.attempt`, args)).map(toAttempt);
  }

  async sweepsOf(trialId: string): Promise<string[]> {
    const rows = await this.#db.all<{ name: string }>('SELECT s.name FROM sweeps s JOIN sweep_trials l ON l.sweep_id = s.id WHERE l.trial_id = ? ORDER BY s.id', [trialId]);
    return rows.map((r) => r.name);
  }

  async runningAttempts(sweep?: string): Promise<RunningAttempt[]> {
    const { where, args } = trialWhere('a', sweep === undefined ? {} : { sweep });
    const rows = await this.#db.all<AttemptRow>(
      `SELECT a.*, ${this.#now} - a.heartbeat_at AS heartbeat_age_s,
         (SELECT MAX(e.epoch) FROM epochs e WHERE e.trial_id = a.trial_id AND e.attempt = a.attempt) AS last_epoch
       FROM attempts a ${where === '' ? 'WHERE' : `${where} AND`} a.state = 'running' ORDER BY a.started_at`,
      args,
    );
    return rows.map((r) => ({ ...toAttempt(r), heartbeatAgeS: r.heartbeat_age_s ?? 0, lastEpoch: r.last_epoch ?? null }));
  }

  async listEpochs(filter: { readonly trialId?: string; readonly sweep?: string }): Promise<EpochRecord[]> {
    const { where, args } = trialWhere('e', filter);
    return (await this.#db.all<EpochRow>(`SELECT e.* FROM epochs e ${where} ORDER BY e.trial_id, e.attempt, e.epoch`, args)).map(toEpoch);
  }

  rankedAttempts(
    filter: { readonly sweep?: string },
    metric: string,
    direction: 'max' | 'min',
    states: readonly RankedAttempt['state'][] = ['completed'],
  ): Promise<RankedAttempt[]> {
    return rankedAttempts(this.#db, filter, metric, direction, states);
  }

  countByState(sweep?: string): Promise<Partial<Record<TrialState, number>>> {
    return countByState(this.#db, sweep);
  }

  standings(query: StandingsQuery): Promise<Standing[]> {
    return standings(this.#db, query);
  }

  async listDecisions(filter: { readonly trialId?: string; readonly sweep?: string }): Promise<PruneDecision[]> {
    const where: string[] = [];
    const args: SqlValue[] = [];
    if (filter.trialId !== undefined) {
      where.push('d.trial_id = ?');
      args.push(filter.trialId);
    }
    if (filter.sweep !== undefined) {
      where.push('s.name = ?');
      args.push(filter.sweep);
    }
    const rows = await this.#db.all<DecisionRow>(
      `SELECT d.*, s.name AS sweep FROM prune_decisions d JOIN sweeps s ON s.id = d.sweep_id
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.decided_at, d.trial_id, d.attempt, d.epoch`,
      args,
    );
    return rows.map(toDecision);
  }
}
