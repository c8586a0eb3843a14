/**
 * The report page: reads the data the builder embedded (#report-data), fills the leaderboard (sortable,
 * filterable; a tick adds a trial's learning curves) and the table of trials that did not complete,
 * and draws every chart with vega-embed (inlined before this script). The sort, the filter and the
 * ticked trials survive the reloads of `grid report --watch` through sessionStorage.
 *
 * For scripts and tests, `window.gridReport` holds the data, the chart views by id and `ready`, a
 * promise that settles once every chart has rendered.
 */
import type { Result as EmbedResult } from 'vega-embed';
import type { ReportChart, ReportData, ReportTrial } from '../report-types.js';

declare const vegaEmbed: typeof import('vega-embed').default;

/** What the page exposes on `window.gridReport`. */
interface GridReport {
  readonly data: ReportData;
  readonly views: Map<string, EmbedResult['view']>;
  readonly ready: Promise<void>;
}
declare global {
  interface Window {
    gridReport: GridReport;
  }
}

/** One column of the leaderboard. */
interface Column {
  readonly key: string;
  readonly header: string;
  readonly title?: string;
  readonly value: (t: ReportTrial) => string | number | null;
  /** How a number shows (strings show as they are). */
  readonly format?: (v: number) => string;
}

/** What survives a reload. */
interface SavedState {
  sort: { key: string; descending: boolean } | null;
  filter: string;
  chosen: string[];
}

const STORAGE_KEY = 'gridrec-report';
const data = JSON.parse(byId('report-data').textContent ?? 'null') as ReportData;
const state = restore();
const views = new Map<string, EmbedResult['view']>();
const fixed = (digits: number) => (v: number) => v.toFixed(digits);
const metricFormat = fixed(4);

async function main(): Promise<void> {
  renderHeader();
  renderLeaderboard();
  renderFailures();
  await Promise.all(data.charts.map(renderChart));
}

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`report page: no element #${id}`);
  return el;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className !== undefined) e.className = className;
  return e;
}

function restore(): SavedState {
  const fallback: SavedState = { sort: null, filter: '', chosen: [] };
  try {
    const saved = sessionStorage.getItem(STORAGE_KEY);
    return saved === null ? fallback : { ...fallback, ...(JSON.parse(saved) as Partial<SavedState>) };
  } catch {
    return fallback; // storage may be disabled for files: the page works without it
  }
}

function save(): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
  } catch {
    // as above: nothing to keep across reloads then
  }
}


function renderHeader(): void {
  const generated = new Date(data.generatedAt);
  byId('generated').textContent = `${generated.toLocaleString()} from ${data.db}`;
  if (data.refreshSeconds !== null) byId('refresh').textContent = `Trials are running: this page reloads every ${data.refreshSeconds} s.`;
  const states = ['completed', 'running', 'pending', 'failed', 'oom', 'timeout', 'interrupted'];
  const table = byId('sweeps') as HTMLTableElement;
  const head = table.createTHead().insertRow();
  for (const h of ['sweep', 'file', 'objective', ...states]) head.append(el('th', h));
  const body = table.createTBody();
  for (const s of data.sweeps) {
    const row = body.insertRow();
    for (const v of [s.name, s.file ?? '–', s.objective, ...states.map((st) => String(s.counts[st] ?? 0))]) row.insertCell().textContent = v;
  }
}

function leaderboardColumns(): Column[] {
  const metric = data.objective.metric;
  const cols: Column[] = [
    { key: 'rank', header: 'rank', value: (t) => t.rank },
    { key: 'trial', header: 'trial', value: (t) => t.short, title: 'trial id (any unique prefix works with grid show)' },
    ...data.axes.map((a): Column => ({ key: a.field, header: a.name, title: a.path, value: (t) => t[a.field] ?? null })),
    ...data.metrics.map((m): Column => ({ key: `m:${m}`, header: m, value: (t) => t.metrics[m] ?? null, format: metricFormat })),
    { key: 'test', header: `test ${metric}`, value: (t) => t.test, format: metricFormat },
    { key: 'loss-value', header: 'train loss', value: (t) => t.metrics.loss ?? null, format: metricFormat, title: 'training loss at the best epoch' },
    { key: 'best', header: 'best epoch', value: (t) => t.bestEpoch },
    { key: 'last', header: 'epochs', value: (t) => t.lastEpoch },
    { key: 'peak', header: 'peak MiB', value: (t) => t.peakMiB, format: fixed(1) },
    { key: 'planned', header: 'planned MiB', value: (t) => t.plannedMiB, format: fixed(1) },
    { key: 'time', header: 's/epoch', value: (t) => t.secondsPerEpoch, format: fixed(3) },
  ];
  if (data.sweeps.length > 1) cols.push({ key: 'sweeps', header: 'sweeps', value: (t) => t.sweeps });
  return cols;
}

function renderLeaderboard(): void {
  const ranked = data.trials.filter((t) => t.rank !== null);
  const columns = leaderboardColumns();
  const table = byId('leaderboard') as HTMLTableElement;
  const headRow = table.createTHead().insertRow();
  headRow.append(el('th', 'curve', 'nosort'));
  const headers = new Map<string, HTMLTableCellElement>();
  for (const c of columns) {
    const th = el('th', c.header);
    th.dataset.key = c.key;
    th.tabIndex = 0;
    th.title = `${c.title ?? c.header}: click to sort`;
    th.setAttribute('aria-sort', 'none');
    headers.set(c.key, th);
    headRow.append(th);
  }
  const body = table.createTBody();
  const rows = ranked.map((t) => {
    const tr = body.insertRow();
    tr.dataset.trial = t.id;
    const box = el('input');
    box.type = 'checkbox';
    box.checked = state.chosen.includes(t.id);
    box.title = 'show its learning curves';
    box.addEventListener('change', () => {
      state.chosen = box.checked ? [...state.chosen, t.id] : state.chosen.filter((id) => id !== t.id);
      save();
      void updateCurves();
    });
    tr.insertCell().append(box);
    for (const c of columns) {
      const v = c.value(t);
      const td = tr.insertCell();
      td.textContent = v === null ? '–' : typeof v === 'number' && c.format !== undefined ? c.format(v) : String(v);
      if (typeof v === 'number' || v === null) td.className = 'num';
    }
    if (t.paretoMemory || t.paretoTime) tr.classList.add('pareto');
    const text = [t.short, t.id, t.loss, t.label, t.sweeps].join(' ').toLowerCase();
    return { trial: t, tr, text };
  });

  const apply = (): void => {
    const sort = state.sort;
    const column = sort === null ? undefined : columns.find((c) => c.key === sort.key);
    for (const [key, th] of headers) th.setAttribute('aria-sort', column?.key === key ? (sort?.descending ? 'descending' : 'ascending') : 'none');
    const ordered = column === undefined ? rows : [...rows].sort((a, b) => compare(column.value(a.trial), column.value(b.trial), sort?.descending ?? false));
    const terms = state.filter.toLowerCase().split(/\s+/).filter((s) => s !== '');
    let shown = 0;
    for (const r of ordered) {
      r.tr.hidden = !terms.every((term) => r.text.includes(term));
      if (!r.tr.hidden) shown += 1;
    }
    body.append(...ordered.map((r) => r.tr));
    byId('leaderboard-count').textContent = `${shown} of ${rows.length} completed trial(s)`;
  };
  for (const [key, th] of headers) {
    const toggle = (): void => {
      state.sort = { key, descending: state.sort?.key === key ? !state.sort.descending : false };
      save();
      apply();
    };
    th.addEventListener('click', toggle);
    th.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') toggle();
    });
  }
  const filter = byId('leaderboard-filter') as HTMLInputElement;
  filter.value = state.filter;
  filter.addEventListener('input', () => {
    state.filter = filter.value;
    save();
    apply();
  });
  apply();
}

/** Nulls last whatever the direction; numbers by value; text alphabetically. */
function compare(a: string | number | null, b: string | number | null, descending: boolean): number {
  if (a === null || b === null) return Number(a === null) - Number(b === null);
  const order = typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b));
  return descending ? -order : order;
}

function renderFailures(): void {
  const failed = data.trials.filter((t) => t.error !== null);
  const section = byId('failures');
  byId('failures-count').textContent =
    failed.length === 0 ? 'Every trial that ended completed.' : `${failed.length} trial(s) ended without completing: what the grid could not fit or run.`;
  if (failed.length === 0) return;
  const table = el('table');
  table.id = 'failures-table';
  const head = table.createTHead().insertRow();
  for (const h of ['trial', 'state', 'attempts', ...data.axes.map((a) => a.name), 'planned MiB', 'exit', 'reason']) head.append(el('th', h));
  const body = table.createTBody();
  for (const t of failed) {
    const tr = body.insertRow();
    tr.dataset.trial = t.id;
    tr.className = `state-${t.state}`;
    const cells = [t.short, t.state, String(t.attempts), ...data.axes.map((a) => String(t[a.field] ?? '–')), t.plannedMiB?.toFixed(1) ?? '–', t.exit ?? '–'];
    for (const v of cells) tr.insertCell().textContent = v;
    const reason = tr.insertCell();
    reason.textContent = t.error;
    reason.className = 'reason';
  }
  section.append(table);
}

/** The curve rows of the trials shown: the initial ones and those ticked. */
function curveRows(): Record<string, unknown>[] {
  const index = new Map(data.trials.map((t, i) => [t.id, i]));
  const shown = new Set([...data.curvesShown, ...state.chosen.map((id) => index.get(id)).filter((i): i is number => i !== undefined)]);
  const c = data.curves;
  const rows: Record<string, unknown>[] = [];
  for (let k = 0; k < c.trial.length; k++) {
    const i = c.trial[k] as number;
    if (!shown.has(i)) continue;
    const t = data.trials[i] as ReportTrial;
    const name = t.rank === null ? `${t.short} ${t.loss} (${t.state})` : `#${t.rank} ${t.short} ${t.loss}`;
    rows.push({ trial: name, order: t.rank ?? Number.MAX_SAFE_INTEGER, epoch: c.epoch[k], value: c.value[k], loss: c.loss[k] });
  }
  return rows;
}

async function updateCurves(): Promise<void> {
  const rows = curveRows();
  for (const chart of data.charts.filter((c) => c.data === 'curves')) {
    const view = views.get(chart.id);
    if (view !== undefined) await view.data('curves', rows).runAsync();
  }
}

async function renderChart(chart: ReportChart): Promise<void> {
  const figure = el('figure', undefined, 'chart');
  figure.id = `chart-${chart.id}`;
  figure.dataset.mark = chart.mark;
  figure.append(el('figcaption', chart.title));
  const target = el('div');
  figure.append(target);
  byId(`section-${chart.section}`).append(figure);
  const rows = chart.data === 'curves' ? curveRows() : chart.data === 'groups' ? data.groups : data.trials;
  const datasets = { [chart.data]: rows };
  const result = await vegaEmbed(target, { ...chart.spec, datasets } as Parameters<typeof vegaEmbed>[1], {
    renderer: 'svg',
    // Export as PNG/SVG only: the source and editor actions would open vega.github.io.
    actions: { export: true, source: false, compiled: false, editor: false },
  });
  views.set(chart.id, result.view);
  figure.dataset.rendered = 'true';
}

// Last, so that every constant above is initialised before the page starts.
window.gridReport = { data, views, ready: main() };
