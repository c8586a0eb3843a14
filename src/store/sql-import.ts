/**
 * Importing another store's records (`grid merge`) without duplicates, idempotently: trials by their
 * content-hash id, attempts by who ran them (host, pid and start time, copied exactly), epochs and
 * pruning decisions with their attempt, sweeps by name. An attempt whose number the target already
 * uses for another run of the trial is stored under the next free number.
 */
import type { SqlConnection } from './sql-connection.js';
import type { AttemptRecord, EpochRecord, PruneDecision, SweepRecord, TrialRecord } from './store.js';
import { DECISION_COLUMNS, DECISION_PLACEHOLDERS, decisionValues, finiteOrNull } from './rows.js';
import { isClaimed, type TrialState } from './trial-state.js';

/** One trial of another store with everything recorded about it. */
export interface TrialImport {
  readonly trial: TrialRecord;
  readonly attempts: readonly AttemptRecord[];
  readonly epochs: readonly EpochRecord[];
  readonly decisions: readonly PruneDecision[];
}

/** What importing one trial did. */
export interface ImportCounts {
  /** 1 when the trial was new here. */
  readonly trials: number;
  readonly attempts: number;
  readonly epochs: number;
  readonly decisions: number;
  /** 1 when the trial is running here (a worker holds it): nothing of it was imported. */
  readonly skippedRunning: number;
}

/** An attempt still running in the other store has no one renewing its lease here: it arrives interrupted. */
const arrived = (state: AttemptRecord['state']): Exclude<AttemptRecord['state'], 'running'> => (state === 'running' ? 'interrupted' : state);

/** Likewise a trial another store's worker holds (trial-state.ts, `isClaimed`). */
const arrivedTrial = (state: TrialState): TrialState => (isClaimed(state) ? 'interrupted' : state);

/** Creates the sweep if this store has none of its name (an existing one keeps its file and document). */
export async function importSweep(db: SqlConnection, s: SweepRecord): Promise<boolean> {
  const changed = await db.run(
    `INSERT INTO sweeps (name, file, document, objective_metric, objective_direction, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
    [s.name, s.file, JSON.stringify(s.document), s.objective.metric, s.objective.direction, s.createdAt, s.updatedAt],
  );
  return changed > 0;
}

/** Links trials to a sweep after its own, in the order given (those linked already stay where they are). */
export async function linkTrials(db: SqlConnection, sweep: string, trialIds: readonly string[]): Promise<void> {
  await db.transaction(async (tx) => {
    for (const id of trialIds) {
      await tx.run(
        `INSERT INTO sweep_trials (sweep_id, trial_id, position)
         SELECT s.id, ?, (SELECT COALESCE(MAX(l.position), -1) + 1 FROM sweep_trials l WHERE l.sweep_id = s.id) FROM sweeps s WHERE s.name = ?
         ON CONFLICT DO NOTHING`,
        [id, sweep],
      );
    }
  });
}

/** Imports one trial in one transaction (see the module comment). */
export function importTrial(db: SqlConnection, now: string, x: TrialImport): Promise<ImportCounts> {
  return db.transaction(async (tx) => {
    const t = x.trial;
    const here = await tx.get<{ state: TrialState; attempts: number }>('SELECT state, attempts FROM trials WHERE id = ?', [t.id]);
    if (here !== undefined && isClaimed(here.state)) return { trials: 0, attempts: 0, epochs: 0, decisions: 0, skippedRunning: 1 };
    if (here === undefined) {
      await tx.run(`INSERT INTO trials (id, config, trainer, state, attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
        t.id,
        JSON.stringify(t.config),
        JSON.stringify(t.trainer),
        arrivedTrial(t.state),
        t.attempts,
        t.createdAt,
        t.updatedAt,
      ]);
    }
    const known = await tx.all<{ attempt: number; host: string; pid: number; started_at: number }>(
      'SELECT attempt, host, pid, started_at FROM attempts WHERE trial_id = ?',
      [t.id],
    );
    const used = new Set(known.map((k) => k.attempt));
    let next = Math.max(0, ...used, ...x.attempts.map((a) => a.attempt)) + 1;
    let attempts = 0;
    let epochs = 0;
    let decisions = 0;
    for (const a of x.attempts) {
      if (known.some((k) => k.host === a.host && k.pid === a.pid && k.started_at === a.startedAt)) continue;
      const number = used.has(a.attempt) ? next++ : a.attempt;
      used.add(number);
      await tx.run(
        `INSERT INTO attempts (trial_id, attempt, state, host, pid, child_pid, device, started_at, heartbeat_at, heartbeat_interval_s, finished_at,
           exit_code, signal, error, result, trainer, trainer_version, device_name, planned_peak_bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          t.id,
          number,
          arrived(a.state),
          a.host,
          a.pid,
          a.childPid,
          JSON.stringify(a.device),
          a.startedAt,
          a.heartbeatAt,
          a.heartbeatIntervalS,
          a.finishedAt ?? (a.state === 'running' ? a.heartbeatAt : null),
          a.exitCode,
          a.signal,
          a.state === 'running' ? 'imported while it was running elsewhere' : a.error,
          a.result === null ? null : JSON.stringify(a.result),
          a.info?.trainer ?? null,
          a.info?.version ?? null,
          a.info?.deviceName ?? null,
          a.info?.plannedPeakBytes ?? null,
        ],
      );
      attempts++;
      for (const e of x.epochs.filter((e) => e.attempt === a.attempt)) {
        epochs += await tx.run(
          `INSERT INTO epochs (trial_id, attempt, epoch, train_loss, metrics, epoch_seconds, peak_bytes, tokens_per_second, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ${now}) ON CONFLICT DO NOTHING`,
          [t.id, number, e.epoch, finiteOrNull(e.trainLoss), JSON.stringify(e.metrics), e.epochSeconds, e.peakBytes, e.tokensPerSecond],
        );
      }
      for (const d of x.decisions.filter((d) => d.attempt === a.attempt)) {
        decisions += await tx.run(
          `INSERT INTO prune_decisions (trial_id, attempt, epoch, sweep_id, ${DECISION_COLUMNS}, decided_at)
           SELECT ?, ?, ?, id, ${DECISION_PLACEHOLDERS}, ? FROM sweeps WHERE name = ? ON CONFLICT DO NOTHING`,
          [t.id, number, d.epoch, ...decisionValues(d), d.decidedAt, d.sweep],
        );
      }
    }
    if (here !== undefined && attempts > 0) {
      // A result from elsewhere settles a trial not completed here; a trial never run here takes the other's state.
      const state = here.state === 'completed' || t.state === 'completed' ? 'completed' : here.attempts === 0 ? arrivedTrial(t.state) : here.state;
      await tx.run(`UPDATE trials SET state = ?, attempts = ?, updated_at = ${now} WHERE id = ?`, [state, Math.max(next - 1, ...used), t.id]);
    }
    return { trials: here === undefined ? 1 : 0, attempts, epochs, decisions, skippedRunning: 0 };
  });
}
