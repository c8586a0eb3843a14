/**
 * `grid export --epochs`: every recorded epoch as one row (trial, attempt, epoch, the config keys that
 * vary, training loss, each validation metric, seconds, peak bytes, tokens per second): the long
 * format that data-frame libraries plot directly (`x = epoch, y = ndcg@10, hue = loss`).
 */
import type { EpochRecord, Store, TrialRecord } from '../store/store.js';
import { displayKey, getPath, varyingPaths } from '../sweep/config-paths.js';
import { matchesFilters } from '../sweep/leaderboard.js';
import { renderCsv, type Column } from './format.js';
import { rank, selection, type RankFlags } from './ranking.js';

/** One epoch row with its trial. */
export interface EpochRow {
  readonly trial: TrialRecord;
  /** The state of the epoch's attempt (running, completed, failed, …). */
  readonly state: string;
  readonly epoch: EpochRecord;
}

/** The epoch rows and the columns that describe them. */
export interface EpochTable {
  readonly rows: readonly EpochRow[];
  readonly columns: readonly Column<EpochRow>[];
}

/**
 * The epochs the flags select: every attempt of every trial of the sweep (or all, with --all) whose
 * config matches --where; with --top N, only the ranked attempts of the best N completed trials.
 */
export async function epochTable(store: Store, flags: RankFlags): Promise<EpochTable> {
  const { sweep, where } = await selection(store, flags);
  const filter = sweep === undefined ? {} : { sweep: sweep.name };
  let trials: TrialRecord[];
  let keep: (e: EpochRecord) => boolean;
  if (flags.top !== undefined) {
    const ranked = (await rank(store, flags)).rows;
    const attempts = new Map(ranked.map((r) => [r.trial.id, r.attempt]));
    trials = ranked.map((r) => r.trial);
    keep = (e) => attempts.get(e.trialId) === e.attempt;
  } else {
    trials = (await store.listTrials(filter)).filter((t) => matchesFilters(t.config, where));
    keep = () => true;
  }
  const byId = new Map(trials.map((t) => [t.id, t]));
  const states = new Map((await store.listAttempts(filter)).map((a) => [`${a.trialId}/${a.attempt}`, a.state]));
  const rows: EpochRow[] = [];
  for (const epoch of await store.listEpochs(filter)) {
    const trial = byId.get(epoch.trialId);
    if (trial !== undefined && keep(epoch)) rows.push({ trial, state: states.get(`${epoch.trialId}/${epoch.attempt}`) ?? '', epoch });
  }
  const paths = varyingPaths(trials.map((t) => t.config));
  const metrics = [...new Set(rows.flatMap((r) => Object.keys(r.epoch.metrics)))].sort();
  const num = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);
  const columns: Column<EpochRow>[] = [
    { header: 'trial', value: (r) => r.trial.id },
    { header: 'attempt', value: (r) => r.epoch.attempt },
    { header: 'state', value: (r) => r.state },
    ...paths.map((p): Column<EpochRow> => ({ header: displayKey(p), value: (r) => configCell(getPath(r.trial.config, p)) })),
    { header: 'epoch', value: (r) => r.epoch.epoch },
    { header: 'train_loss', value: (r) => num(r.epoch.trainLoss) },
    ...metrics.map((m): Column<EpochRow> => ({ header: m, value: (r) => num(r.epoch.metrics[m]) })),
    { header: 'epoch_seconds', value: (r) => r.epoch.epochSeconds },
    { header: 'peak_bytes', value: (r) => r.epoch.peakBytes },
    { header: 'tokens_per_second', value: (r) => r.epoch.tokensPerSecond },
  ];
  return { rows, columns };
}

/** The table as CSV (header row first) or as JSON (an array of objects keyed by the same headers). */
export function renderEpochs(table: EpochTable, format: 'csv' | 'json'): string {
  if (format === 'csv') return `${renderCsv(table.rows, table.columns)}\n`;
  // One object per line: readable, and a large export stays one short line per epoch.
  const lines = table.rows.map((r) => JSON.stringify(Object.fromEntries(table.columns.map((c) => [c.header, c.value(r)]))));
  return lines.length === 0 ? '[]\n' : `[\n${lines.join(',\n')}\n]\n`;
}

/** A config value as a cell: numbers stay numbers, absent is empty, lists and maps as JSON. */
function configCell(v: unknown): string | number | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' || typeof v === 'string') return v;
  return JSON.stringify(v);
}
