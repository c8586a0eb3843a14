/**
 * Expansion of a grid file into trials: base sections, then each explicit config, then every
 * combination of the grid's values, then each seed. Each point is canonicalised; points excluded by
 * an `exclude` rule are dropped and points equal to an earlier one collapse into it.
 */
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { ConfigError } from '../util/config-error.js';
import { canonicalConfig, canonicalJson, type Canonical, type TrainerSpec } from './canonical.js';
import { getPath, setPath } from './config-paths.js';
import { GridFileError } from './grid-error.js';
import type { Assignment, GridFile } from './grid-file.js';
import { TrialIdentity } from './trial-identity.js';

/** One trial of an expansion. */
export interface PlannedTrial {
  /** sha256 of the canonical config (its data file by content) and trainer. */
  readonly id: string;
  readonly config: Readonly<Record<string, Canonical>>;
  readonly trainer: TrainerSpec;
}

/** The trials of a grid file and how many points were dropped on the way. */
export interface Expansion {
  /** Distinct trials, in file order of first appearance. */
  readonly trials: readonly PlannedTrial[];
  /** Points before exclusion and collapse (configs × grid combinations × seeds). */
  readonly points: number;
  /** Points an `exclude` rule removed. */
  readonly excluded: number;
  /** Points identical to an earlier one once inactive keys were dropped. */
  readonly collapsed: number;
}

/** Refuse expansions that could not be run anyway, before building them in memory. */
const MAX_POINTS = 1_000_000;

/** Expands a checked grid file into its distinct trials. Throws `GridFileError` naming the key. */
export function expandGrid(grid: GridFile): Expansion {
  const combos = grid.grid.reduce((n, axis) => n * axis.values.length, 1);
  const points = Math.max(grid.configs.length, 1) * combos * (grid.seeds?.length ?? 1);
  if (points > MAX_POINTS) throw new GridFileError(grid.file, 'grid', `expands to ${points} points, more than ${MAX_POINTS}`);

  const trials: PlannedTrial[] = [];
  const seen = new Set<string>();
  let excluded = 0;
  let collapsed = 0;
  const explicit = grid.configs.length > 0 ? grid.configs : [[]];
  const identity = new TrialIdentity();
  for (const assignments of explicit) {
    for (let c = 0; c < combos; c++) {
      for (const [s, seed] of (grid.seeds ?? [undefined]).entries()) {
        // Where each path got its value, so a resolution error can name the line the user wrote.
        const origin = new Map<string, string>();
        const raw = structuredClone(grid.base) as Record<string, unknown>;
        for (const a of assignments) {
          setPath(raw, a.path, a.value);
          origin.set(a.path, a.at);
        }
        let rest = c;
        for (let i = grid.grid.length - 1; i >= 0; i--) {
          const axis = grid.grid[i]!;
          const v = rest % axis.values.length;
          rest = Math.floor(rest / axis.values.length);
          setPath(raw, axis.path, axis.values[v]);
          origin.set(axis.path, `grid.${axis.key}[${v}]`);
        }
        if (seed !== undefined) {
          setPath(raw, 'train.seed', seed);
          origin.set('train.seed', `seeds[${s}]`);
        }
        anchorDatasetPath(raw, grid.file);
        setMonitor(grid, raw, origin);
        const config = resolve(grid, raw, origin);
        if (grid.exclude.some((rule) => matches(config, rule))) {
          excluded++;
          continue;
        }
        const id = identity.idOf(grid.trainer, config);
        if (seen.has(id)) {
          collapsed++;
          continue;
        }
        seen.add(id);
        trials.push({ id, config, trainer: grid.trainer });
      }
    }
  }
  return { trials, points, excluded, collapsed };
}

/**
 * Early stopping follows the sweep's objective: the built-in trainer is told the objective's metric
 * as `train.monitor` (unless the file sets it), which resolution drops where it is the trainer's
 * default, so that sweeps ranking by NDCG@10 keep their trial ids.
 */
function setMonitor(grid: GridFile, raw: Record<string, unknown>, origin: Map<string, string>): void {
  if (grid.trainer !== 'builtin' || getPath(raw, 'train.monitor') !== undefined) return;
  setPath(raw, 'train.monitor', grid.objective.metric);
  origin.set('train.monitor', 'objective.metric');
}

/**
 * A relative `dataset.path` means relative to the grid file, wherever `grid run` is started; it is
 * made absolute so that the child finds it (the trial id names the file by its content: trial-identity.ts).
 */
function anchorDatasetPath(raw: Record<string, unknown>, file: string): void {
  const dataset = raw.dataset;
  if (typeof dataset !== 'object' || dataset === null || Array.isArray(dataset)) return;
  const path = (dataset as Record<string, unknown>).path;
  if (typeof path === 'string' && path !== '' && !isAbsolute(path)) {
    (dataset as Record<string, unknown>).path = resolvePath(dirname(file), path);
  }
}

function resolve(grid: GridFile, raw: Record<string, unknown>, origin: ReadonlyMap<string, string>): Record<string, Canonical> {
  try {
    const config = canonicalConfig(grid.trainer, raw);
    checkObjective(grid, config);
    return config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const reason = err.message.slice(err.path.length + 2);
    throw new GridFileError(grid.file, locate(err.path, origin), reason);
  }
}

/** The file location of a config path: the assignment that set it (or a parent of it), else the path. */
function locate(path: string, origin: ReadonlyMap<string, string>): string {
  for (let p = path; p !== ''; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const at = origin.get(p);
    if (at !== undefined) return at;
  }
  for (const [p, at] of origin) if (p.startsWith(`${path}.`)) return at;
  return path;
}

/** A built-in objective `<metric>@<k>` needs k among the trial's `eval.k`, or it is never reported. */
function checkObjective(grid: GridFile, config: Record<string, Canonical>): void {
  if (grid.trainer !== 'builtin' || grid.objective.metric === 'loss') return;
  const k = Number(grid.objective.metric.split('@')[1]);
  const ks = getPath(config, 'eval.k');
  if (Array.isArray(ks) && !ks.includes(k)) {
    throw new ConfigError('eval.k', `must include ${k} for the objective ${grid.objective.metric}, got ${JSON.stringify(ks)}`);
  }
}

/** Whether a resolved config has every value an exclude rule names. */
function matches(config: Record<string, Canonical>, rule: readonly Assignment[]): boolean {
  return rule.every((a) => {
    const v = getPath(config, a.path);
    return v !== undefined && canonicalJson(v) === canonicalJson(a.value);
  });
}
