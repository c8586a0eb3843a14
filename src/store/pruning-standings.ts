/**
 * What a pruning decision compares, read from the store at the moment of the decision: every trial of
 * the sweep that reached the epoch, with its best objective value up to it. Computed inside the
 * database from the epochs every worker stored, so a decision on any machine sees the same field and
 * only one row per trial travels.
 */
import type { SqlConnection, SqlValue } from './sql-connection.js';
import type { Standing, StandingsQuery } from './store.js';

/**
 * The trials of `q.sweep` that reached `q.epoch` (an epoch ≥ it in any attempt), each with its best
 * value of `q.metric` in `q.direction` over its epochs up to `q.epoch`, each epoch as the latest
 * attempt that reported it has it (a trainer that restarts overwrites its earlier epochs, one that
 * resumes keeps them); NaN where none has a value. In trial id order.
 */
export async function standings(db: SqlConnection, q: StandingsQuery): Promise<Standing[]> {
  // A number, or NULL where the metric is missing, null (NaN) or not a number: MAX and MIN skip those.
  const value = q.metric === 'loss' ? { sql: 'e.train_loss', params: [] } : db.dialect.jsonNumber('e.metrics', q.metric);
  const best = q.direction === 'max' ? 'MAX' : 'MIN';
  const params: SqlValue[] = [q.sweep, q.epoch, q.epoch, ...value.params];
  const rows = await db.all<{ trial_id: string; best: number | null }>(
    `WITH sw AS (SELECT l.trial_id FROM sweep_trials l JOIN sweeps s ON s.id = l.sweep_id WHERE s.name = ?),
     reached AS (SELECT DISTINCT e.trial_id FROM epochs e JOIN sw ON sw.trial_id = e.trial_id WHERE e.epoch >= ?),
     latest AS (
       SELECT e.trial_id, e.epoch, MAX(e.attempt) AS attempt FROM epochs e JOIN reached r ON r.trial_id = e.trial_id
       WHERE e.epoch <= ? GROUP BY e.trial_id, e.epoch
     )
     SELECT r.trial_id, ${best}(${value.sql}) AS best FROM reached r
     LEFT JOIN latest l ON l.trial_id = r.trial_id
     LEFT JOIN epochs e ON e.trial_id = l.trial_id AND e.attempt = l.attempt AND e.epoch = l.epoch
     GROUP BY r.trial_id ORDER BY r.trial_id`,
    params,
  );
  return rows.map((r) => ({ trialId: r.trial_id, value: r.best ?? Number.NaN }));
}
