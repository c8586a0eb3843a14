/**
 * The report's charts as Vega-Lite specs: quality against peak memory and against time per epoch
 * with the Pareto front, each grid axis's effect per loss, learning curves, planned against measured
 * peak memory. Specs name their data (`trials`, `groups`, `curves`) and the page supplies the rows, so
 * each row travels once however many charts draw it. Every chart has one named mark with one item per
 * drawn row (ReportChart.mark): what the page's tests count against the store.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { UnitSpec } from 'vega-lite/types_unstable/spec/index.js';
import type { ReportAxis, ReportChart, ReportGroup, ReportTrial } from './report-types.js';

/** What the charts are drawn from. */
export interface ChartInput {
  readonly metric: string;
  readonly direction: 'max' | 'min';
  readonly axes: readonly ReportAxis[];
  readonly trials: readonly ReportTrial[];
  readonly groups: readonly ReportGroup[];
  readonly seeded: boolean;
}

const WIDTH = 420;
const HEIGHT = 280;
/** A cost axis spanning more than this ratio is drawn on a log scale. */
const LOG_RATIO = 30;
/** Numeric axes with at most this many values are drawn as evenly spaced categories (64, 256, 1024). */
const MAX_ORDINAL = 12;

/** The specs of every chart, in page order. */
export function reportCharts(input: ChartInput): ReportChart[] {
  const losses = [...new Set(input.trials.map((t) => t.loss))].sort();
  const color = { field: 'loss', type: 'nominal', title: 'loss', scale: { domain: losses, scheme: 'tableau10' } } as const;
  const completed = input.trials.filter((t) => t.rank !== null);
  const charts: ReportChart[] = [
    tradeoff(input, color, 'memory', completed.map((t) => t.peakMiB)),
    tradeoff(input, color, 'time', completed.map((t) => t.secondsPerEpoch)),
    effect(input, color, { field: 'loss', name: 'loss', kind: 'category' }, 'effect-loss'),
    ...input.axes
      .filter((a) => a.effect)
      .map((a) => effect(input, color, { field: a.field, name: a.name, kind: ordinalOf(a, input.groups) }, `effect-${a.field}`)),
    curve(input, 'value'),
    curve(input, 'loss'),
    memory(input, color),
  ];
  return charts;
}

type Color = { readonly field: 'loss'; readonly type: 'nominal'; readonly title: string; readonly scale: { readonly domain: string[]; readonly scheme: string } };

/** Objective against peak memory or seconds per epoch, one colour per loss, the Pareto front as a staircase. */
function tradeoff(input: ChartInput, color: Color, cost: 'memory' | 'time', values: readonly (number | null)[]): ReportChart {
  const field = cost === 'memory' ? 'peakMiB' : 'secondsPerEpoch';
  const front = cost === 'memory' ? 'paretoMemory' : 'paretoTime';
  const title = cost === 'memory' ? 'peak memory (MiB)' : 'seconds per epoch';
  const finite = values.filter((v): v is number => v !== null && v > 0);
  const log = finite.length > 1 && Math.max(...finite) / Math.min(...finite) > LOG_RATIO;
  const x = { field, type: 'quantitative', title, scale: log ? { type: 'log' as const } : { zero: false } } as const;
  const y = { field: 'value', type: 'quantitative', title: input.metric, scale: { zero: false } } as const;
  const spec: TopLevelSpec = {
    width: WIDTH,
    height: HEIGHT,
    data: { name: 'trials' },
    transform: [{ filter: `datum.rank !== null && isValid(datum.value) && isValid(datum.${field}) && datum.${field} > 0` }],
    layer: [
      {
        name: 'front',
        transform: [{ filter: `datum.${front}` }],
        mark: { type: 'line', interpolate: input.direction === 'max' ? 'step-after' : 'step-before', color: '#444', strokeDash: [4, 3] },
        encoding: { x, y },
      },
      {
        name: 'trials',
        params: [{ name: 'pick', select: { type: 'point', fields: ['loss'] }, bind: 'legend' }],
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          x,
          y,
          color,
          opacity: { condition: { param: 'pick', value: 0.9 }, value: 0.12 },
          stroke: { condition: { test: `datum.${front}`, value: '#000' }, value: null },
          tooltip: trialTooltip(input.metric),
        },
      },
    ],
  };
  return {
    id: `tradeoff-${cost}`,
    section: 'tradeoff',
    title: `${input.metric} against ${title}: Pareto front dashed, its trials outlined`,
    data: 'trials',
    mark: 'trials',
    spec,
  };
}

interface EffectAxis {
  readonly field: string;
  readonly name: string;
  readonly kind: 'ordinal' | 'quantitative' | 'category';
}

/** The objective per value of one axis, one colour per loss: each config's mean over seeds ± std, its best joined. */
function effect(input: ChartInput, color: Color, axis: EffectAxis, id: string): ReportChart {
  const type = axis.kind === 'quantitative' ? 'quantitative' : axis.kind === 'ordinal' ? 'ordinal' : 'nominal';
  const x = { field: axis.field, type, title: axis.name, ...(type === 'quantitative' ? { scale: { zero: false } } : { sort: 'ascending' }) } as const;
  const offset = type === 'quantitative' || axis.field === 'loss' ? {} : { xOffset: { field: 'loss', type: 'nominal', scale: { domain: color.scale.domain } } as const };
  const best = input.direction === 'max' ? 'max' : 'min';
  const y = { field: 'mean', type: 'quantitative', title: input.seeded ? `${input.metric} (mean ± std over seeds)` : input.metric, scale: { zero: false } } as const;
  // Per loss, the best config at each value of the axis, joined: on a number line only, since where
  // losses sit side by side in a value's band (the x offset) a line would split into single points.
  const joined = type === 'quantitative';
  const bestLine: UnitSpec<string>[] = [];
  if (joined) {
    bestLine.push({
      name: 'best',
      transform: [{ aggregate: [{ op: best, field: 'mean', as: 'mean' }], groupby: ['loss', axis.field] }],
      mark: { type: 'line', strokeWidth: 1.5, opacity: 0.5 },
      encoding: { x, y, color },
    });
  }
  const spec: TopLevelSpec = {
    width: WIDTH,
    height: HEIGHT,
    data: { name: 'groups' },
    transform: [{ filter: `isValid(datum[${JSON.stringify(axis.field)}])` }],
    layer: [
      ...bestLine,
      {
        name: 'spread',
        transform: [{ filter: 'datum.std !== null' }],
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, ...offset },
      },
      {
        name: 'configs',
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          x,
          y,
          color,
          ...offset,
          tooltip: [
            { field: 'label', title: 'config' },
            { field: 'mean', title: input.seeded ? `${input.metric} mean` : input.metric, format: '.4f' },
            { field: 'std', title: 'std', format: '.4f' },
            { field: 'n', title: 'seeds' },
          ],
        },
      },
    ],
  };
  return {
    id,
    section: 'effects',
    title: `${input.metric} by ${axis.name}${input.seeded ? ' (mean ± std over seeds)' : ''}${joined ? "; the line joins each loss's best" : ''}`,
    data: 'groups',
    mark: 'configs',
    spec,
  };
}

/** The validation objective or the training loss per epoch of the trials shown. */
function curve(input: ChartInput, what: 'value' | 'loss'): ReportChart {
  const title = what === 'value' ? `validation ${input.metric}` : 'training loss';
  const encoding = {
    x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1 } },
    y: { field: what, type: 'quantitative', title, scale: { zero: false } },
    color: { field: 'trial', type: 'nominal', title: 'trial', sort: { field: 'order' } },
  } as const;
  const spec: TopLevelSpec = {
    width: WIDTH,
    height: HEIGHT,
    data: { name: 'curves' },
    transform: [{ filter: `isValid(datum.${what})` }],
    layer: [
      { name: 'lines', mark: { type: 'line', strokeWidth: 1.5 }, encoding },
      {
        name: 'epochs',
        mark: { type: 'point', filled: true, size: 22 },
        encoding: {
          ...encoding,
          tooltip: [
            { field: 'trial' },
            { field: 'epoch' },
            { field: what, title, format: '.4f' },
          ],
        },
      },
    ],
  };
  return { id: `curves-${what}`, section: 'curves', title: `${title} per epoch`, data: 'curves', mark: 'epochs', spec };
}

/** The trainer's planned peak against the measured one, per trial, with the line where they agree. */
function memory(input: ChartInput, color: Color): ReportChart {
  const both = input.trials.filter((t) => t.plannedMiB !== null && t.peakMiB !== null);
  const all = both.flatMap((t) => [t.plannedMiB as number, t.peakMiB as number]);
  const [lo, hi] = all.length === 0 ? [0, 1] : [Math.min(...all), Math.max(...all)];
  const spec: TopLevelSpec = {
    width: WIDTH,
    height: HEIGHT,
    layer: [
      {
        name: 'agree',
        data: { values: [{ planned: lo, measured: lo }, { planned: hi, measured: hi }] },
        mark: { type: 'line', color: '#999', strokeDash: [4, 3] },
        encoding: { x: { field: 'planned', type: 'quantitative' }, y: { field: 'measured', type: 'quantitative' } },
      },
      {
        name: 'trials',
        data: { name: 'trials' },
        transform: [{ filter: 'isValid(datum.plannedMiB) && isValid(datum.peakMiB)' }, { calculate: 'datum.plannedMiB', as: 'planned' }, { calculate: 'datum.peakMiB', as: 'measured' }],
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          x: { field: 'planned', type: 'quantitative', title: 'planned peak (MiB)', scale: { zero: false } },
          y: { field: 'measured', type: 'quantitative', title: 'measured peak (MiB)', scale: { zero: false } },
          color,
          shape: { field: 'state', type: 'nominal', title: 'state' },
          tooltip: [
            { field: 'short', title: 'trial' },
            { field: 'state' },
            { field: 'label', title: 'config' },
            { field: 'plannedMiB', title: 'planned MiB', format: '.1f' },
            { field: 'peakMiB', title: 'measured MiB', format: '.1f' },
          ],
        },
      },
    ],
  };
  return {
    id: 'memory',
    section: 'memory',
    title: 'planned against measured peak memory (dashed: equal)',
    data: 'trials',
    mark: 'trials',
    spec,
  };
}

function trialTooltip(metric: string): { field: string; title?: string; format?: string }[] {
  return [
    { field: 'short', title: 'trial' },
    { field: 'rank' },
    { field: 'label', title: 'config' },
    { field: 'value', title: metric, format: '.4f' },
    { field: 'peakMiB', title: 'peak MiB', format: '.1f' },
    { field: 'secondsPerEpoch', title: 's/epoch', format: '.3f' },
  ];
}

/** Few numeric values plot best as evenly spaced categories; many as a number line. */
function ordinalOf(axis: ReportAxis, groups: readonly ReportGroup[]): EffectAxis['kind'] {
  if (axis.kind !== 'number') return 'category';
  const values = new Set(groups.map((g) => g[axis.field]).filter((v) => v !== null));
  return values.size <= MAX_ORDINAL ? 'ordinal' : 'quantitative';
}
