/**
 * The `pruner` section of a grid file: which rule stops hopeless trials early, its settings and the
 * keys whose trials compete only among themselves. One table (`PRUNER_SETTINGS`) gives every rule's
 * keys, bounds and defaults to the checker here, to the JSON Schema (grid-schema.ts) and to the README.
 */
import { shown } from '../util/config-error.js';
import type { TrainerSpec } from './canonical.js';
import { builtinConfigPaths, resolveKey } from './config-paths.js';

/** The rules a grid file may name; `none` (the default) never stops a trial. */
export const PRUNER_RULES = ['none', 'median', 'asha'] as const;
/** A pruning rule, or none. */
export type PrunerRule = (typeof PRUNER_RULES)[number];

/** One integer setting of a rule. */
export interface PrunerSetting {
  readonly min: number;
  readonly default: number;
  /** What it means, for the schema and error messages. */
  readonly description: string;
}

/** Each rule's settings, by their key in the grid file. `group_by` is common to both rules. */
export const PRUNER_SETTINGS = {
  median: {
    warmup_epochs: { min: 0, default: 1, description: 'epochs at the start of each trial that are never judged' },
    min_trials: { min: 1, default: 4, description: 'other trials that must have reached an epoch before it is judged' },
  },
  asha: {
    min_epochs: { min: 1, default: 1, description: 'the first rung: epochs before the first judgement (r)' },
    reduction_factor: { min: 2, default: 3, description: 'η: rungs at r, r·η, r·η², …; the top 1/η of a rung continue' },
  },
} as const satisfies Record<Exclude<PrunerRule, 'none'>, Record<string, PrunerSetting>>;

/** Upper bound of every integer setting (a larger one is a typo, not a plan). */
const MAX_SETTING = 100_000;

/** A checked `pruner` section. */
export type PrunerSpec =
  | { readonly rule: 'none' }
  | {
      readonly rule: 'median';
      /** Epochs 1..warmupEpochs are never judged. @default 1 */
      readonly warmupEpochs: number;
      /** Other trials that must have reached the epoch for a judgement. @default 4 */
      readonly minTrials: number;
      /** Dotted config paths; trials compete only with trials of equal values there. @default [] */
      readonly groupBy: readonly string[];
    }
  | {
      readonly rule: 'asha';
      /** The first rung, in epochs (r). @default 1 */
      readonly minEpochs: number;
      /** η. @default 3 */
      readonly reductionFactor: number;
      /** As for median. @default [] */
      readonly groupBy: readonly string[];
    };

/** The pruner of a grid file without a `pruner` section. */
export const NO_PRUNER: PrunerSpec = { rule: 'none' };

type Fail = (path: string, message: string) => never;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a grid file's `pruner` value: `none`, `median`, `asha` (the rule with its defaults) or a map
 * `{rule, …settings, group_by}`. Errors go through `fail` with the key path.
 */
export function parsePruner(raw: unknown, trainer: TrainerSpec, fail: Fail): PrunerSpec {
  if (raw === undefined) return NO_PRUNER;
  const rules = PRUNER_RULES.join(', ');
  if (typeof raw === 'string') {
    if (!(PRUNER_RULES as readonly string[]).includes(raw)) return fail('pruner', `expected one of ${rules} or {rule: …}, got ${shown(raw)}`);
    return withSettings(raw as PrunerRule, {}, trainer, fail);
  }
  if (!isObject(raw)) return fail('pruner', `expected one of ${rules} or {rule: …}, got ${shown(raw)}`);
  const rule = raw.rule;
  if (typeof rule !== 'string' || !(PRUNER_RULES as readonly string[]).includes(rule)) {
    return fail('pruner.rule', `expected one of ${rules}, got ${shown(rule)}`);
  }
  return withSettings(rule as PrunerRule, raw, trainer, fail);
}

function withSettings(rule: PrunerRule, raw: Record<string, unknown>, trainer: TrainerSpec, fail: Fail): PrunerSpec {
  const settings: Record<string, PrunerSetting> = rule === 'none' ? {} : PRUNER_SETTINGS[rule];
  const allowed = ['rule', ...Object.keys(settings), ...(rule === 'none' ? [] : ['group_by'])];
  for (const k of Object.keys(raw)) if (!allowed.includes(k)) fail(`pruner.${k}`, `unknown key for rule ${rule}; allowed: ${allowed.join(', ')}`);
  const int = (key: string): number => {
    const s = settings[key] as PrunerSetting;
    const v = raw[key] ?? s.default;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < s.min || v > MAX_SETTING) {
      fail(`pruner.${key}`, `expected an integer in [${s.min}, ${MAX_SETTING}] (${s.description}), got ${shown(v)}`);
    }
    return v as number;
  };
  switch (rule) {
    case 'none':
      return NO_PRUNER;
    case 'median':
      return { rule, warmupEpochs: int('warmup_epochs'), minTrials: int('min_trials'), groupBy: parseGroupBy(raw.group_by, trainer, fail) };
    case 'asha':
      return { rule, minEpochs: int('min_epochs'), reductionFactor: int('reduction_factor'), groupBy: parseGroupBy(raw.group_by, trainer, fail) };
  }
}

/** `group_by`: a key or a list of keys (short names such as `loss`, or dotted config paths), resolved. */
function parseGroupBy(raw: unknown, trainer: TrainerSpec, fail: Fail): string[] {
  if (raw === undefined) return [];
  const keys = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(keys)) return fail('pruner.group_by', `expected a key or a list of keys (loss, dataset, train.lr, …), got ${shown(raw)}`);
  const known = trainer === 'builtin' ? builtinConfigPaths() : undefined;
  const paths: string[] = [];
  for (const [i, key] of keys.entries()) {
    const at = typeof raw === 'string' ? 'pruner.group_by' : `pruner.group_by[${i}]`;
    if (typeof key !== 'string' || key === '') fail(at, `expected a config key such as loss or dataset, got ${shown(key)}`);
    const path = resolveKey(key as string);
    if (known !== undefined && path !== 'dataset' && !path.startsWith('dataset.') && !known.includes(path)) {
      fail(at, `unknown key ${shown(key)}; allowed: dataset, dataset.*, ${known.join(', ')} (or their short names)`);
    }
    if (paths.includes(path)) fail(at, `${shown(key)} is listed twice`);
    paths.push(path);
  }
  return paths;
}
