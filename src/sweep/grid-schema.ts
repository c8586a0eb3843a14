/**
 * The JSON Schema of grid files (schema/grid.schema.json, written by scripts/write-grid-schema.ts),
 * derived from the definitions the checker uses: the top-level keys and short grid keys of
 * grid-file.ts and config-paths.ts, and the built-in trainer's sections, defaults and allowed values
 * from trainer/config.ts and data/spec.ts. A test keeps the published file equal to this.
 */
import { SPLITS } from '../data/spec.js';
import { BUILTIN_METRICS, LOSSES, METRIC_KS, configWithEveryKey, MODELS, SAMPLINGS } from '../trainer/config.js';
import { builtinConfigPaths, SHORT_KEYS } from './config-paths.js';
import { GRID_FILE_KEYS } from './grid-file.js';
import { PRUNER_RULES, PRUNER_SETTINGS, type PrunerSetting } from './pruner-spec.js';

type Schema = Record<string, unknown>;

const DURATION: Schema = {
  anyOf: [
    { type: 'string', pattern: '^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$' },
    { type: 'number', exclusiveMinimum: 0, description: 'seconds' },
  ],
};

/** Allowed values of built-in config keys that are not plain numbers. */
const ENUMS: Readonly<Record<string, readonly unknown[]>> = {
  'model.name': MODELS,
  'train.loss': LOSSES,
  'train.sampling': SAMPLINGS,
  'dataset.split': SPLITS,
};

/** Schema of one built-in config value, from its default (integers stay integers). */
function valueSchema(path: string, example: unknown): Schema {
  const allowed = ENUMS[path];
  if (allowed !== undefined) return { enum: [...allowed] };
  if (path === 'eval.k') return { type: 'array', items: { enum: [...METRIC_KS] }, minItems: 1 };
  if (typeof example === 'number') return { type: Number.isInteger(example) ? 'integer' : 'number' };
  return { type: typeof example };
}

/** The built-in trainer's sections: every key with its schema, derived from a resolved config. */
function builtinSections(): Record<string, Record<string, Schema>> {
  const probe = configWithEveryKey() as unknown as Record<string, Record<string, unknown>>;
  const sections: Record<string, Record<string, Schema>> = {};
  for (const [section, values] of Object.entries(probe)) {
    sections[section] = {};
    for (const [key, value] of Object.entries(values)) sections[section][key] = valueSchema(`${section}.${key}`, value);
  }
  (sections.dataset as Record<string, Schema>).path = { type: 'string', minLength: 1 };
  return sections;
}

/** A key or a list of keys, each matching `key`. */
const keyOrKeys = (key: Schema): Schema => ({ anyOf: [key, { type: 'array', minItems: 1, items: key, uniqueItems: true }] });

/** The `pruner` section: a rule's name (its defaults), or {rule, its settings, group_by}. */
function prunerSchema(): Schema {
  const setting = (s: PrunerSetting): Schema => ({ type: 'integer', minimum: s.min, maximum: 100_000, default: s.default, description: s.description });
  const ruleMap = (rule: keyof typeof PRUNER_SETTINGS): Schema => ({
    type: 'object',
    properties: {
      rule: { const: rule },
      ...Object.fromEntries(Object.entries(PRUNER_SETTINGS[rule] as Record<string, PrunerSetting>).map(([k, s]) => [k, setting(s)])),
      group_by: {
        description: 'keys (loss, dataset, train.lr, …) whose trials compete only among themselves (default: none)',
        ...keyOrKeys({ type: 'string', minLength: 1 }),
      },
    },
    required: ['rule'],
    additionalProperties: false,
  });
  return {
    description: 'stop hopeless trials early: none (default), median or asha, with their defaults, or {rule, settings, group_by}',
    oneOf: [
      { enum: [...PRUNER_RULES] },
      { type: 'object', properties: { rule: { const: 'none' } }, required: ['rule'], additionalProperties: false },
      ruleMap('median'),
      ruleMap('asha'),
    ],
  };
}

/** The JSON Schema (draft 2020-12) of a grid file. */
export function gridSchema(): Schema {
  const sections = builtinSections();
  const sectionSchema = (name: string): Schema => ({ type: 'object', properties: sections[name], additionalProperties: false });
  const leaf = (path: string): Schema => {
    const [section, key] = path.split('.') as [string, string | undefined];
    return key === undefined ? { $ref: '#/$defs/dataset' } : (sections[section]?.[key] ?? {});
  };
  const shortGrid = Object.fromEntries(Object.entries(SHORT_KEYS).map(([short, path]) => [short, { type: 'array', minItems: 1, items: leaf(path) }]));
  const partial: Schema = {
    type: 'object',
    minProperties: 1,
    description: 'a partial config: short keys (loss, hidden, …), dotted paths (train.lr) or section maps ({train: {lr: …}})',
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'gridrec grid file',
    description: 'A sweep for `grid run`: base config sections, lists of values to cross, seeds, exclusions, objective, limits and pruner.',
    type: 'object',
    properties: {
      name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'sweep name (default: the file name)' },
      description: { type: 'string' },
      trainer: {
        description: 'builtin (default) or an external command that speaks trainer protocol v1',
        oneOf: [
          { const: 'builtin' },
          {
            type: 'object',
            properties: { command: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } } },
            required: ['command'],
            additionalProperties: false,
          },
        ],
      },
      grid: {
        type: 'object',
        description: 'key → list of values; keys are short names or dotted config paths',
        propertyNames: { anyOf: [{ enum: Object.keys(SHORT_KEYS) }, { pattern: '^[^.]+(\\.[^.]+)+$' }] },
        additionalProperties: { type: 'array', minItems: 1 },
      },
      configs: { type: 'array', items: partial, description: 'explicit partial configs, each crossed with the grid' },
      exclude: { type: 'array', items: partial, description: 'points whose resolved config has all these values are dropped' },
      seeds: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0, maximum: 2 ** 32 - 1 } },
      objective: {
        type: 'object',
        properties: { metric: { type: 'string', minLength: 1, default: 'ndcg@10' }, direction: { enum: ['max', 'min'] } },
        additionalProperties: false,
      },
      limits: {
        type: 'object',
        properties: {
          trial_timeout: { anyOf: [DURATION, { const: null }, { const: 'none' }] },
          stall_timeout: DURATION,
          max_attempts: { type: 'integer', minimum: 1, maximum: 100 },
          kill_grace: DURATION,
        },
        additionalProperties: false,
      },
      pruner: prunerSchema(),
    },
    // The built-in trainer knows its sections and metrics; an external trainer's sections are free.
    if: { anyOf: [{ not: { required: ['trainer'] } }, { properties: { trainer: { const: 'builtin' } } }] },
    then: {
      anyOf: [{ required: ['dataset'] }, { required: ['configs'] }],
      propertyNames: { enum: [...GRID_FILE_KEYS, 'dataset', 'model', 'train', 'eval'] },
      properties: {
        dataset: { $ref: '#/$defs/dataset' },
        model: sectionSchema('model'),
        train: sectionSchema('train'),
        eval: sectionSchema('eval'),
        grid: { properties: shortGrid },
        objective: {
          properties: { metric: { pattern: `^(loss|(${BUILTIN_METRICS.join('|')})@(${METRIC_KS.join('|')}))$` } },
        },
        pruner: {
          properties: {
            group_by: keyOrKeys({ anyOf: [{ enum: [...Object.keys(SHORT_KEYS), ...builtinConfigPaths()] }, { type: 'string', pattern: '^dataset(\\.[^.]+)+$' }] }),
          },
        },
      },
    },
    $defs: {
      dataset: {
        description: 'a registered data set name, or {name | path, split}',
        // Which keys apply depends on the format and split (data/spec.ts checks them); the common ones are typed here.
        anyOf: [{ type: 'string', minLength: 1 }, { type: 'object', properties: sections.dataset, minProperties: 1 }],
      },
    },
  };
}
