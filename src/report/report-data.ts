/**
 * Reads what a report shows from the store (read-only: listing primitives only) and shapes it for the
 * page: every trial of the chosen sweeps with its rank, peaks and failure reason, the seed groups,
 * the Pareto fronts and the per-epoch curves.
 */
import type { AttemptRecord, EpochRecord, Store, SweepRecord, TrialRecord } from '../store/store.js';
import { TRIAL_STATES } from '../store/trial-state.js';
import { displayKey, getPath, resolveKey, varyingPaths } from '../sweep/config-paths.js';
import { rankTrials } from '../sweep/leaderboard.js';
import { groupSeeds, SEED_PATH } from '../sweep/seed-groups.js';
import { paretoFront } from './pareto.js';
import { reportCharts } from './report-charts.js';
import type { Cell, ReportAxis, ReportData, ReportGroup, ReportTrial } from './report-types.js';

/** What to put in a report. */
export interface ReportOptions {
  /** The metric to rank and plot. @default the first sweep's objective metric */
  readonly metric?: string;
  /** @default the objective's direction, or min for `loss` and max for other metrics */
  readonly direction?: 'max' | 'min';
  /** How many of the best trials show their curves when the page opens. @default 5 */
  readonly curves?: number;
  /** Seconds between reloads of the page while trials are pending or running. @default null (none) */
  readonly refreshSeconds?: number | null;
  /** The database as named to the user. @default the store's path */
  readonly db?: string;
}

const LOSS_PATH = resolveKey('loss');
const MIB = 2 ** 20;

/** Builds the report data of `sweeps` (at least one) from the store. */
export async function buildReportData(store: Store, sweeps: readonly SweepRecord[], options: ReportOptions = {}): Promise<ReportData> {
  const first = sweeps[0];
  if (first === undefined) throw new Error('buildReportData: no sweep');
  const metric = options.metric ?? first.objective.metric;
  const direction = options.direction ?? (metric === first.objective.metric ? first.objective.direction : metric === 'loss' ? 'min' : 'max');
  const { trials, members, attempts, epochs } = await readSweeps(store, sweeps);

  // One sweep: its summaries; several: every trial's, of which rankTrials keeps those passed.
  const summaries = await store.rankedAttempts(sweeps.length === 1 ? { sweep: first.name } : {}, metric, direction);
  const ranked = rankTrials(trials.filter((t) => t.state === 'completed'), summaries, { metric, direction });
  const rowOf = new Map(ranked.map((r) => [r.trial.id, r]));
  const latest = new Map<string, AttemptRecord>();
  const planned = new Map<string, number>();
  for (const a of attempts) {
    latest.set(a.trialId, a); // attempts come in (trial, attempt) order: the last one wins
    if (a.info?.plannedPeakBytes != null) planned.set(a.trialId, a.info.plannedPeakBytes);
  }
  const epochsOf = groupEpochs(epochs);

  const stateOrder = (t: TrialRecord): number => TRIAL_STATES.indexOf(t.state);
  const others = trials.filter((t) => !rowOf.has(t.id)).sort((a, b) => stateOrder(a) - stateOrder(b) || a.createdAt - b.createdAt);
  const ordered = [...ranked.map((r) => r.trial), ...others];

  const axes = axesOf(ordered, ranked.map((r) => r.trial));
  const costs = ordered.map((t) => {
    const row = rowOf.get(t.id);
    return { memory: row?.peakBytes ?? Number.NaN, time: row?.secondsPerEpoch ?? Number.NaN, quality: row?.value ?? Number.NaN };
  });
  const memoryFront = paretoFront(costs.map((c) => ({ cost: c.memory > 0 ? c.memory : Number.NaN, quality: c.quality })), direction);
  const timeFront = paretoFront(costs.map((c) => ({ cost: c.time, quality: c.quality })), direction);

  const reportTrials = ordered.map((t, i): ReportTrial => {
    const row = rowOf.get(t.id);
    const last = latest.get(t.id);
    const lastEpochs = last === undefined ? [] : (epochsOf.get(`${t.id}/${last.attempt}`) ?? []);
    const measured = row?.peakBytes ?? Math.max(0, ...lastEpochs.map((e) => e.peakBytes));
    const unsuccessful = t.state !== 'completed' && last !== undefined && last.state !== 'running';
    const fields = axisFields(axes, t.config);
    return {
      id: t.id,
      short: t.id.slice(0, 8),
      state: t.state,
      sweeps: (members.get(t.id) ?? []).join(', '),
      loss: lossOf(t.config),
      attempts: t.attempts,
      label: axes.map((a) => `${a.name}=${formatCell(fields[a.field] ?? null)}`).join(' '),
      ...fields,
      rank: row?.rank ?? null,
      value: num(row?.value),
      test: num(row?.test?.[metric]),
      bestEpoch: row === undefined ? null : row.bestEpoch,
      lastEpoch: row?.lastEpoch ?? lastEpochs.at(-1)?.epoch ?? null,
      metrics: row === undefined ? {} : Object.fromEntries(Object.entries(row.metrics).map(([k, v]) => [k, num(v)])),
      peakMiB: measured > 0 ? round(measured / MIB) : null,
      plannedMiB: planned.has(t.id) ? round((planned.get(t.id) as number) / MIB) : null,
      secondsPerEpoch: num(row?.secondsPerEpoch),
      paretoMemory: memoryFront.has(i),
      paretoTime: timeFront.has(i),
      error: unsuccessful ? (last.error ?? `ended ${last.state}`) : null,
      exit: last === undefined ? null : (last.signal ?? (last.exitCode === null ? null : String(last.exitCode))),
    };
  });

  const groups = groupSeeds(ranked, direction).map((g): ReportGroup => {
    const mean = num(g.value.mean) ?? Number.NaN;
    const std = num(g.value.std);
    return {
      loss: lossOf(g.config),
      label: axes.filter((a) => a.path !== SEED_PATH).map((a) => `${a.name}=${formatCell(cellOf(getPath(g.config, a.path)))}`).join(' '),
      ...axisFields(axes, g.config),
      mean,
      std,
      lo: std === null ? mean : round(mean - std),
      hi: std === null ? mean : round(mean + std),
      n: g.value.n,
    };
  }).filter((g) => Number.isFinite(g.mean));

  // Curves: the ranked attempt of completed trials, the latest attempt of running ones.
  const curves = { trial: [] as number[], epoch: [] as number[], value: [] as (number | null)[], loss: [] as (number | null)[] };
  const running: number[] = [];
  ordered.forEach((t, i) => {
    const row = rowOf.get(t.id);
    const attempt = row?.attempt ?? (t.state === 'running' ? latest.get(t.id)?.attempt : undefined);
    if (attempt === undefined) return;
    if (row === undefined) running.push(i);
    for (const e of epochsOf.get(`${t.id}/${attempt}`) ?? []) {
      curves.trial.push(i);
      curves.epoch.push(e.epoch);
      curves.value.push(num(metric === 'loss' ? e.trainLoss : e.metrics[metric]));
      curves.loss.push(num(e.trainLoss));
    }
  });
  const shownCount = options.curves ?? 5;
  const curvesShown = [...ranked.slice(0, shownCount).map((_, i) => i), ...running];

  const metricNames = [...new Set(ranked.flatMap((r) => Object.keys(r.metrics)))].filter((m) => m !== metric && m !== 'loss').sort();
  const active = trials.some((t) => t.state === 'pending' || t.state === 'running');
  const refreshSeconds = options.refreshSeconds != null && active ? options.refreshSeconds : null;
  return {
    title: `gridrec report: ${sweeps.map((s) => s.name).join(', ')}`,
    generatedAt: new Date().toISOString(),
    db: options.db ?? store.path,
    sweeps: sweeps.map((s) => ({
      name: s.name,
      file: s.file,
      objective: `${s.objective.metric} ${s.objective.direction}`,
      counts: countStates(trials.filter((t) => members.get(t.id)?.includes(s.name))),
    })),
    objective: { metric, direction },
    metrics: metric === 'loss' ? metricNames : [metric, ...metricNames],
    axes,
    trials: reportTrials,
    groups,
    seeded: groups.some((g) => g.n > 1),
    curves,
    curvesShown,
    charts: reportCharts({ metric, direction, axes, trials: reportTrials, groups, seeded: groups.some((g) => g.n > 1) }),
    refreshSeconds,
  };
}

/** The union of the sweeps' trials (first appearance first), their sweep names, attempts and epochs. */
async function readSweeps(
  store: Store,
  sweeps: readonly SweepRecord[],
): Promise<{ trials: TrialRecord[]; members: Map<string, string[]>; attempts: AttemptRecord[]; epochs: EpochRecord[] }> {
  const trials = new Map<string, TrialRecord>();
  const members = new Map<string, string[]>();
  for (const s of sweeps) {
    for (const t of await store.listTrials({ sweep: s.name })) {
      if (!trials.has(t.id)) trials.set(t.id, t);
      members.set(t.id, [...(members.get(t.id) ?? []), s.name]);
    }
  }
  if (sweeps.length === 1) {
    const filter = { sweep: (sweeps[0] as SweepRecord).name };
    return { trials: [...trials.values()], members, attempts: await store.listAttempts(filter), epochs: await store.listEpochs(filter) };
  }
  // Several sweeps may share trials: read each once, in the store's (trial, attempt[, epoch]) order.
  const seen = new Set<string>();
  const attempts: AttemptRecord[] = [];
  const epochs: EpochRecord[] = [];
  for (const s of sweeps) {
    for (const a of await store.listAttempts({ sweep: s.name })) {
      if (!seen.has(`${a.trialId}/${a.attempt}`)) attempts.push(a);
    }
    for (const e of await store.listEpochs({ sweep: s.name })) {
      if (!seen.has(`${e.trialId}/${e.attempt}`)) epochs.push(e);
    }
    for (const a of attempts) seen.add(`${a.trialId}/${a.attempt}`);
  }
  const byTrial = (a: { trialId: string; attempt: number }, b: { trialId: string; attempt: number }): number =>
    a.trialId.localeCompare(b.trialId) || a.attempt - b.attempt;
  attempts.sort(byTrial);
  epochs.sort((a, b) => byTrial(a, b) || a.epoch - b.epoch);
  return { trials: [...trials.values()], members, attempts, epochs };
}

/**
 * The config keys that vary among the trials, with their row fields. An axis gets an effect chart
 * when it is neither the loss nor the seed and takes at least two values among the completed trials.
 */
function axesOf(trials: readonly TrialRecord[], completed: readonly TrialRecord[]): ReportAxis[] {
  const varyingInCompleted = new Set(varyingPaths(completed.map((t) => t.config)));
  return varyingPaths(trials.map((t) => t.config)).map((path, i) => {
    const values = trials.map((t) => getPath(t.config, path)).filter((v) => v !== undefined && v !== null);
    const present = new Set(completed.map((t) => getPath(t.config, path)).filter((v) => v !== undefined));
    return {
      field: `a${i}`,
      path,
      name: displayKey(path),
      kind: values.every((v) => typeof v === 'number') ? 'number' : 'category',
      effect: path !== LOSS_PATH && path !== SEED_PATH && varyingInCompleted.has(path) && present.size >= 2,
    };
  });
}

function axisFields(axes: readonly ReportAxis[], config: Readonly<Record<string, unknown>>): Record<`a${number}`, Cell> {
  const out: Record<`a${number}`, Cell> = {};
  for (const a of axes) out[a.field] = cellOf(getPath(config, a.path));
  return out;
}

function groupEpochs(epochs: readonly EpochRecord[]): Map<string, EpochRecord[]> {
  const out = new Map<string, EpochRecord[]>();
  for (const e of epochs) {
    const key = `${e.trialId}/${e.attempt}`;
    const list = out.get(key);
    if (list === undefined) out.set(key, [e]);
    else list.push(e);
  }
  return out;
}

function countStates(trials: readonly TrialRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of trials) out[t.state] = (out[t.state] ?? 0) + 1;
  return out;
}

function lossOf(config: Readonly<Record<string, unknown>>): string {
  const loss = getPath(config, LOSS_PATH);
  return typeof loss === 'string' ? loss : '–';
}

/** A config value as a cell: numbers and strings as they are, lists and maps as JSON, absent as null. */
function cellOf(v: unknown): Cell {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' || typeof v === 'string') return v;
  return JSON.stringify(v);
}

function formatCell(c: Cell): string {
  return c === null ? '–' : String(c);
}

/** A finite number to six significant digits (enough to plot and to read; keeps the file small), else null. */
function num(v: number | undefined | null): number | null {
  return v === undefined || v === null || !Number.isFinite(v) ? null : round(v);
}

function round(v: number): number {
  if (v === 0) return 0;
  // As Number(v.toPrecision(6)), several times faster on the 100,000s of values of a large sweep.
  const scale = 10 ** (5 - Math.floor(Math.log10(Math.abs(v))));
  return Math.round(v * scale) / scale;
}

