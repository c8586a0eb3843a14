/**
 * The read side's aggregate queries: each completed (or pruned) trial's latest attempt that ended in
 * its state, with its epochs summarised in SQL (best epoch by a metric, last epoch, peak, seconds per
 * epoch), and trials counted by state. `leaderboard`, `status` and `export` rank from these, so they never load every epoch row
 * (a trial of 200,000 epochs, or a sweep of a million rows, is summarised inside SQLite).
 */
import type { SqlConnection, SqlValue } from './sql-connection.js';
import type { RankedAttempt, EpochRecord } from './store.js';
import type { TrialState } from './trial-state.js';

interface Row {
  trial_id: string;
  state: RankedAttempt['state'];
  attempt: number;
  result: string | null;
  last_epoch: number | null;
  peak_bytes: number | null;
  seconds_per_epoch: number | null;
  last_metrics: string | null;
  best_epoch: number | null;
  best_train_loss: number | null;
  best_metrics: string | null;
  best_epoch_seconds: number | null;
  best_peak_bytes: number | null;
  best_tokens_per_second: number | null;
}

/** Which attempts a query covers: those of one sweep's trials, or all. */
export interface RankedFilter {
  readonly sweep?: string;
}

/**
 * For every trial (of a sweep, if named) in one of `states`, its latest attempt that ended in that
 * state, with the epoch that has the best value of `metric` in `direction` (ties: the earliest;
 * epochs without the metric, or with NaN, never count). `metric` "loss" is the training loss.
 */
export async function rankedAttempts(
  db: SqlConnection,
  filter: RankedFilter,
  metric: string,
  direction: 'max' | 'min',
  states: readonly RankedAttempt['state'][],
): Promise<RankedAttempt[]> {
  if (states.length === 0) return [];
  const params: SqlValue[] = [];
  // The states are a closed set, checked here, so they can be written into the statement.
  const inStates = states.map((s) => (s === 'completed' || s === 'pruned' ? `'${s}'` : 'NULL')).join(', ');
  let inSweep = '';
  if (filter.sweep !== undefined) {
    inSweep = 'AND a.trial_id IN (SELECT l.trial_id FROM sweep_trials l JOIN sweeps s ON s.id = l.sweep_id WHERE s.name = ?)';
    params.push(filter.sweep);
  }
  // A number, or NULL where the metric is missing, null (NaN) or not a number.
  const value = metric === 'loss' ? { sql: 'e.train_loss', params: [] } : db.dialect.jsonNumber('e.metrics', metric);
  params.push(...value.params);
  const sql = `
    WITH done AS (
      SELECT a.trial_id, MAX(a.attempt) AS attempt, t.state FROM attempts a JOIN trials t ON t.id = a.trial_id
      WHERE a.state = t.state AND t.state IN (${inStates}) ${inSweep}
      GROUP BY a.trial_id, t.state
    ),
    agg AS (
      SELECT e.trial_id, e.attempt, MAX(e.epoch) AS last_epoch, MAX(e.peak_bytes) AS peak_bytes, AVG(e.epoch_seconds) AS seconds_per_epoch
      FROM epochs e JOIN done d ON d.trial_id = e.trial_id AND d.attempt = e.attempt
      GROUP BY e.trial_id, e.attempt
    ),
    pick AS (${db.dialect.name === 'sqlite' ? pickSqlite(value.sql, direction) : pickPostgres(value.sql, direction)})
    SELECT d.trial_id, d.attempt, d.state, a.result, agg.last_epoch, agg.peak_bytes, agg.seconds_per_epoch,
      (SELECT l.metrics FROM epochs l WHERE l.trial_id = d.trial_id AND l.attempt = d.attempt AND l.epoch = agg.last_epoch) AS last_metrics,
      b.epoch AS best_epoch, b.train_loss AS best_train_loss, b.metrics AS best_metrics, b.epoch_seconds AS best_epoch_seconds,
      b.peak_bytes AS best_peak_bytes, b.tokens_per_second AS best_tokens_per_second
    FROM done d
    JOIN attempts a ON a.trial_id = d.trial_id AND a.attempt = d.attempt
    LEFT JOIN agg ON agg.trial_id = d.trial_id AND agg.attempt = d.attempt
    LEFT JOIN pick p ON p.trial_id = d.trial_id AND p.attempt = d.attempt AND p.best_v IS NOT NULL
    LEFT JOIN epochs b ON b.trial_id = p.trial_id AND b.attempt = p.attempt AND b.epoch = p.epoch
    ORDER BY d.trial_id`;
  return (await db.all<Row>(sql, params)).map(toCompleted);
}

/**
 * SQLite's bare columns: with one min() or max() aggregate, `epoch` is taken from the row that holds
 * it, and SQLite keeps the first such row in scan order, which is epoch order (the primary key): ties
 * go to the earliest epoch. One pass, no sort of the epoch rows.
 */
function pickSqlite(value: string, direction: 'max' | 'min'): string {
  return `SELECT e.trial_id, e.attempt, ${direction === 'max' ? 'MAX' : 'MIN'}(${value}) AS best_v, e.epoch AS epoch
      FROM epochs e JOIN done d ON d.trial_id = e.trial_id AND d.attempt = e.attempt
      GROUP BY e.trial_id, e.attempt`;
}

/** PostgreSQL has no bare columns: the first row of each attempt in (value, epoch) order. */
function pickPostgres(value: string, direction: 'max' | 'min'): string {
  return `SELECT DISTINCT ON (v.trial_id, v.attempt) v.trial_id, v.attempt, v.best_v, v.epoch
      FROM (SELECT e.trial_id, e.attempt, e.epoch, ${value} AS best_v
            FROM epochs e JOIN done d ON d.trial_id = e.trial_id AND d.attempt = e.attempt) v
      WHERE v.best_v IS NOT NULL
      ORDER BY v.trial_id, v.attempt, v.best_v ${direction === 'max' ? 'DESC' : 'ASC'}, v.epoch`;
}

function toCompleted(r: Row): RankedAttempt {
  const best: EpochRecord | null =
    r.best_epoch === null
      ? null
      : {
          trialId: r.trial_id,
          attempt: r.attempt,
          epoch: r.best_epoch,
          trainLoss: r.best_train_loss ?? Number.NaN,
          metrics: JSON.parse(r.best_metrics ?? '{}') as Record<string, number>,
          epochSeconds: r.best_epoch_seconds ?? 0,
          peakBytes: r.best_peak_bytes ?? 0,
          tokensPerSecond: r.best_tokens_per_second ?? 0,
        };
  return Object.freeze({
    trialId: r.trial_id,
    attempt: r.attempt,
    state: r.state,
    result: r.result === null ? null : (JSON.parse(r.result) as RankedAttempt['result']),
    best,
    lastEpoch: r.last_epoch ?? 0,
    peakBytes: r.peak_bytes ?? 0,
    secondsPerEpoch: r.seconds_per_epoch ?? Number.NaN,
    metricNames: r.last_metrics === null ? [] : Object.keys(JSON.parse(r.last_metrics) as object),
  });
}

/** Trials (of a sweep, if named) counted by state. */
export async function countByState(db: SqlConnection, sweep: string | undefined): Promise<Partial<Record<TrialState, number>>> {
  const rows =
    sweep === undefined
      ? await db.all<{ state: TrialState; n: number }>('SELECT state, COUNT(*) AS n FROM trials GROUP BY state')
      : await db.all<{ state: TrialState; n: number }>(
          'SELECT t.state, COUNT(*) AS n FROM trials t JOIN sweep_trials l ON l.trial_id = t.id JOIN sweeps s ON s.id = l.sweep_id WHERE s.name = ? GROUP BY t.state',
          [sweep],
        );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}
