/**
 * Grid files: YAML read with js-yaml's core schema, checked key by key, into a `GridFile`. Errors name
 * the file and the key path and list the allowed values. The expansion into trials is expand.ts.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import yaml from 'js-yaml';
import { BUILTIN_METRICS, METRIC_KS } from '../trainer/config.js';
import { shown } from '../util/config-error.js';
import { loadYaml, YamlError } from '../util/safe-yaml.js';
import type { TrainerSpec } from './canonical.js';
import { builtinConfigPaths, resolveKey, SECTIONS, SHORT_KEYS } from './config-paths.js';
import { parseDuration } from './duration.js';
import { GridFileError } from './grid-error.js';
import { parsePruner, type PrunerSpec } from './pruner-spec.js';


/** Top-level keys of a grid file that are not config sections. */
export const GRID_FILE_KEYS = ['name', 'description', 'trainer', 'grid', 'configs', 'exclude', 'seeds', 'objective', 'limits', 'pruner'] as const;

/** What the sweep ranks trials by. */
export interface Objective {
  /** `ndcg@10`, `hr@20`, … or `loss` (the training loss). @default "ndcg@10" */
  readonly metric: string;
  /** @default "max" ("min" for `loss`) */
  readonly direction: 'max' | 'min';
}

/** Per-trial limits. */
export interface Limits {
  /** Wall-clock limit of one attempt; undefined for none. @default undefined */
  readonly trialTimeoutMs: number | undefined;
  /** An attempt that sends no event (not even a heartbeat) for this long has stalled. @default 10 min */
  readonly stallTimeoutMs: number;
  /** Attempts per trial and run, counting the first; failed attempts are retried up to it. @default 2 */
  readonly maxAttempts: number;
  /** Time between SIGTERM and SIGKILL when a trial is stopped. @default 10 s */
  readonly killGraceMs: number;
}

/** One `grid` entry: a config path and the values it takes. */
export interface GridAxis {
  /** The key as written in the file (`loss`, `model.hidden`). */
  readonly key: string;
  /** The dotted config path it sets. */
  readonly path: string;
  readonly values: readonly unknown[];
}

/** A partial config as leaf assignments: dotted path → value, with the key each came from. */
export interface Assignment {
  readonly path: string;
  readonly value: unknown;
  /** Where in the file it was written (`exclude[1].loss`). */
  readonly at: string;
}

/** A checked grid file. */
export interface GridFile {
  /** The file as the user named it (for messages). */
  readonly file: string;
  readonly name: string;
  readonly trainer: TrainerSpec;
  /** The config sections written at the top level: the base of every trial. */
  readonly base: Readonly<Record<string, unknown>>;
  readonly grid: readonly GridAxis[];
  /** Explicit partial configs, each crossed with the grid; empty means one empty config. */
  readonly configs: readonly (readonly Assignment[])[];
  readonly exclude: readonly (readonly Assignment[])[];
  readonly seeds: readonly number[] | undefined;
  readonly objective: Objective;
  readonly limits: Limits;
  /** Which rule stops hopeless trials early (`none` by default). */
  readonly pruner: PrunerSpec;
  /** The document as parsed, for the store and for `grid export`. */
  readonly document: Readonly<Record<string, unknown>>;
}

const DEFAULT_LIMITS: Limits = { trialTimeoutMs: undefined, stallTimeoutMs: 600_000, maxAttempts: 2, killGraceMs: 10_000 };
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads and checks a grid file from disk. Throws `GridFileError`. */
export function loadGridFile(file: string): GridFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GridFileError(file, '(file)', `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseGridFile(text, file);
}

/** Parses and checks grid file text; `file` names it in errors and gives the default sweep name. */
export function parseGridFile(text: string, file: string): GridFile {
  let doc: unknown;
  try {
    doc = loadYaml(text, { schema: yaml.CORE_SCHEMA, filename: file });
  } catch (err) {
    if (err instanceof YamlError) throw new GridFileError(file, err.where, err.reason);
    throw err;
  }
  if (!isObject(doc)) throw new GridFileError(file, '(document)', `expected a map of keys, got ${shown(doc)}`);
  const fail = (path: string, message: string): never => {
    throw new GridFileError(file, path, message);
  };

  const trainer = parseTrainer(doc.trainer, fail);
  const base: Obj = {};
  for (const [key, value] of Object.entries(doc)) {
    if ((GRID_FILE_KEYS as readonly string[]).includes(key)) continue;
    if (trainer === 'builtin' && !(SECTIONS as readonly string[]).includes(key)) {
      fail(key, `unknown key; allowed: ${[...GRID_FILE_KEYS, ...SECTIONS].join(', ')}`);
    }
    base[key] = key === 'dataset' && typeof value === 'string' ? { name: value } : value;
  }
  // With explicit configs each may name its own data set; resolution reports any that does not.
  if (base.dataset === undefined && trainer === 'builtin' && doc.configs === undefined) {
    fail('dataset', 'required (a data set name such as ml-latest-small, or {path: …})');
  }

  const name = doc.name ?? basename(file, extname(file));
  if (typeof name !== 'string' || !NAME.test(name)) {
    const from = doc.name === undefined ? ' (from the file name; give a `name`)' : '';
    fail('name', `expected letters, digits, '.', '_' or '-' (starting with a letter or digit), got ${shown(name)}${from}`);
  }
  if (doc.description !== undefined && typeof doc.description !== 'string') fail('description', `expected a string, got ${shown(doc.description)}`);

  const seeds = parseSeeds(doc.seeds, fail);
  const grid = parseGrid(doc.grid, trainer, fail);
  if (seeds !== undefined) {
    if (isObject(base.train) && base.train.seed !== undefined) fail('seeds', 'train.seed is set too; give one of them');
    if (grid.some((a) => a.path === 'train.seed')) fail('seeds', 'grid sets train.seed too; give one of them');
  }
  return {
    file,
    name: name as string,
    trainer,
    base,
    grid,
    configs: parsePartials(doc.configs, 'configs', fail),
    exclude: checkExcludeKeys(parsePartials(doc.exclude, 'exclude', fail), trainer, fail),
    seeds,
    objective: parseObjective(doc.objective, trainer, fail),
    limits: parseLimits(doc.limits, fail),
    pruner: parsePruner(doc.pruner, trainer, fail),
    document: doc,
  };
}

type Fail = (path: string, message: string) => never;

function parseTrainer(raw: unknown, fail: Fail): TrainerSpec {
  if (raw === undefined || raw === 'builtin') return 'builtin';
  if (!isObject(raw)) return fail('trainer', `expected "builtin" or {command: [program, args…]}, got ${shown(raw)}`);
  for (const k of Object.keys(raw)) if (k !== 'command') fail(`trainer.${k}`, 'unknown key; allowed: command');
  const cmd = raw.command;
  if (!Array.isArray(cmd) || cmd.length === 0) return fail('trainer.command', `expected a non-empty list [program, args…], got ${shown(cmd)}`);
  for (const [i, a] of cmd.entries()) {
    if (typeof a !== 'string' || a === '') fail(`trainer.command[${i}]`, `expected a non-empty string, got ${shown(a)}`);
  }
  return { command: cmd as string[] };
}

function parseSeeds(raw: unknown, fail: Fail): number[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.length === 0) return fail('seeds', `expected a non-empty list of integers, got ${shown(raw)}`);
  for (const [i, s] of raw.entries()) {
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s > 2 ** 32 - 1) {
      fail(`seeds[${i}]`, `expected an integer in [0, ${2 ** 32 - 1}], got ${shown(s)}`);
    }
  }
  return raw as number[];
}

function parseGrid(raw: unknown, trainer: TrainerSpec, fail: Fail): GridAxis[] {
  if (raw === undefined) return [];
  if (!isObject(raw)) return fail('grid', `expected a map of key → list of values, got ${shown(raw)}`);
  const byPath = new Map<string, string>();
  const axes: GridAxis[] = [];
  for (const [key, values] of Object.entries(raw)) {
    const path = resolveKey(key);
    // A bare word that is no short key would set a whole section; for the built-in trainer it is a typo.
    if (trainer === 'builtin' && path === key && !key.includes('.') && key !== 'dataset') {
      fail(`grid.${key}`, `unknown key; short keys: ${Object.keys(SHORT_KEYS).join(', ')}; or a dotted config path such as train.beta2`);
    }
    const other = byPath.get(path);
    if (other !== undefined) fail(`grid.${key}`, `sets ${path}, as grid.${other} does; give one of them`);
    byPath.set(path, key);
    if (!Array.isArray(values) || values.length === 0) fail(`grid.${key}`, `expected a non-empty list of values, got ${shown(values)}`);
    axes.push({ key, path, values: values as unknown[] });
  }
  return axes;
}

/** Reads a list of partial configs (flat short or dotted keys, or nested section maps) into leaves. */
function parsePartials(raw: unknown, at: string, fail: Fail): Assignment[][] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return fail(at, `expected a list of partial configs, got ${shown(raw)}`);
  return raw.map((entry, i) => {
    if (!isObject(entry) || Object.keys(entry).length === 0) fail(`${at}[${i}]`, `expected a non-empty map of keys to values, got ${shown(entry)}`);
    return leaves(entry as Obj, '', `${at}[${i}]`);
  });
}

/** Leaf assignments of a (possibly nested) partial config; `at` keeps the keys as the user wrote them. */
function leaves(obj: Obj, prefix: string, at: string): Assignment[] {
  return Object.entries(obj).flatMap(([key, value]) => {
    const path = prefix === '' ? resolveKey(key) : `${prefix}.${key}`;
    const here = `${at}.${key}`;
    if (path === 'dataset' && typeof value === 'string') return [{ path: 'dataset.name', value, at: here }];
    return isObject(value) ? leaves(value, path, here) : [{ path, value, at: here }];
  });
}

/**
 * An exclude rule that names a key no config has would silently exclude nothing; for the built-in
 * trainer the model, train and eval keys are all known, so a misspelt one is an error. Data set keys
 * depend on the data set's format and are left to the data layer.
 */
function checkExcludeKeys(rules: Assignment[][], trainer: TrainerSpec, fail: Fail): Assignment[][] {
  if (trainer !== 'builtin') return rules;
  const known = builtinConfigPaths();
  for (const a of rules.flat()) {
    if (!a.path.startsWith('dataset.') && !known.includes(a.path)) fail(a.at, `unknown key; allowed: ${known.join(', ')}, dataset.*`);
  }
  return rules;
}

function parseObjective(raw: unknown, trainer: TrainerSpec, fail: Fail): Objective {
  if (raw === undefined) return { metric: 'ndcg@10', direction: 'max' };
  if (!isObject(raw)) return fail('objective', `expected {metric, direction}, got ${shown(raw)}`);
  for (const k of Object.keys(raw)) if (k !== 'metric' && k !== 'direction') fail(`objective.${k}`, 'unknown key; allowed: metric, direction');
  const metric = raw.metric ?? 'ndcg@10';
  if (typeof metric !== 'string' || metric === '') return fail('objective.metric', `expected a metric name, got ${shown(metric)}`);
  if (trainer === 'builtin' && metric !== 'loss') {
    const [m, k] = metric.split('@');
    if (!(BUILTIN_METRICS as readonly string[]).includes(m ?? '') || !(METRIC_KS as readonly number[]).includes(Number(k))) {
      fail('objective.metric', `expected loss or <metric>@<k> with metric one of ${BUILTIN_METRICS.join(', ')} and k one of ${METRIC_KS.join(', ')}, got ${shown(metric)}`);
    }
  }
  const direction = raw.direction ?? (metric === 'loss' ? 'min' : 'max');
  if (direction !== 'max' && direction !== 'min') fail('objective.direction', `expected one of max, min, got ${shown(direction)}`);
  return { metric, direction: direction as 'max' | 'min' };
}

function parseLimits(raw: unknown, fail: Fail): Limits {
  if (raw === undefined) return DEFAULT_LIMITS;
  if (!isObject(raw)) return fail('limits', `expected a map, got ${shown(raw)}`);
  const allowed = ['trial_timeout', 'stall_timeout', 'max_attempts', 'kill_grace'];
  for (const k of Object.keys(raw)) if (!allowed.includes(k)) fail(`limits.${k}`, `unknown key; allowed: ${allowed.join(', ')}`);
  const duration = (key: string, def: number | undefined): number | undefined => {
    const v = raw[key];
    if (v === undefined) return def;
    if (key === 'trial_timeout' && (v === null || v === 'none')) return undefined;
    const ms = parseDuration(v);
    if (ms === undefined) fail(`limits.${key}`, `expected a duration such as "90s", "30m", "2h" or "1h30m", at most 1000d, got ${shown(v)}`);
    return ms;
  };
  const maxAttempts = raw.max_attempts ?? DEFAULT_LIMITS.maxAttempts;
  if (typeof maxAttempts !== 'number' || !Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) {
    fail('limits.max_attempts', `expected an integer in [1, 100], got ${shown(maxAttempts)}`);
  }
  return {
    trialTimeoutMs: duration('trial_timeout', DEFAULT_LIMITS.trialTimeoutMs),
    stallTimeoutMs: duration('stall_timeout', DEFAULT_LIMITS.stallTimeoutMs) as number,
    maxAttempts: maxAttempts as number,
    killGraceMs: duration('kill_grace', DEFAULT_LIMITS.killGraceMs) as number,
  };
}
