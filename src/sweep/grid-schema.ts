/**
 * The JSON Schema of grid files (schema/grid.schema.json, written by scripts/write-grid-schema.ts),
 * derived from the definitions the checker uses: the top-level keys and short grid keys of
 * grid-file.ts and config-paths.ts, the built-in trainer's keys with their kinds, defaults and bounds
 * from trainer/config.ts's key tables (which `resolveTrialConfig` checks with), and the data set's
 * keys from data/spec.ts. Rules between keys cannot be a schema's (grid values are crossed later):
 * they are in the descriptions. A test keeps the published file equal to this.
 */
import { DEDUPS, FORMATS, SPLITS } from '../data/spec.js';
import { BUILTIN_METRICS, configWithEveryKey, CROSS_KEY_RULES, METRIC_KS, SECTION_KEYS, type KeySpec } from '../trainer/config.js';
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

/** Allowed values of data set keys (data/spec.ts checks them). */
const DATASET_ENUMS: Readonly<Record<string, readonly unknown[]>> = { format: FORMATS, dedup: DEDUPS, split: SPLITS };

/** `loss` or `<metric>@<k>` for the built-in metrics and cut-offs. */
const METRIC_PATTERN = `^(loss|(${BUILTIN_METRICS.join('|')})@(${METRIC_KS.join('|')}))$`;

/** The schema of one built-in config key, from the spec the checker uses. */
export function keySchema(spec: KeySpec): Schema {
  const about = { description: spec.description };
  switch (spec.kind) {
    case 'int':
      return { type: 'integer', minimum: spec.min, maximum: spec.max, ...(spec.default === undefined ? {} : { default: spec.default }), ...about };
    case 'number':
      return {
        type: 'number',
        [spec.minOpen === true ? 'exclusiveMinimum' : 'minimum']: spec.min,
        [spec.maxOpen === true ? 'exclusiveMaximum' : 'maximum']: spec.max,
        default: spec.default,
        ...about,
      };
    case 'bool':
      return { type: 'boolean', default: spec.default, ...about };
    case 'enum':
      return { enum: [...spec.values], ...(spec.default === undefined ? {} : { default: spec.default }), ...about };
    case 'metric':
      return { type: 'string', pattern: METRIC_PATTERN, ...about };
    case 'cutoffs': {
      const k = { enum: [...METRIC_KS] };
      return { anyOf: [k, { type: 'array', items: k, minItems: 1 }], default: [...spec.default], ...about };
    }
  }
}

/** The built-in trainer's sections: every key with its schema (the data set's from a resolved config's types). */
function builtinSections(): Record<string, Record<string, Schema>> {
  const sections: Record<string, Record<string, Schema>> = {};
  for (const [section, keys] of Object.entries(SECTION_KEYS)) {
    sections[section] = Object.fromEntries(Object.entries(keys as Record<string, KeySpec>).map(([key, spec]) => [key, keySchema(spec)]));
  }
  const dataset: Record<string, Schema> = {};
  for (const [key, value] of Object.entries(configWithEveryKey().dataset)) {
    const allowed = DATASET_ENUMS[key];
    dataset[key] = allowed !== undefined ? { enum: [...allowed] } : typeof value === 'number' ? { type: Number.isInteger(value) ? 'integer' : 'number' } : { type: typeof value };
  }
  dataset.path = { type: 'string', minLength: 1 };
  sections.dataset = dataset;
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
  // Every key a grid, a configs entry or an exclude rule may name for the built-in trainer, with its value's schema.
  const paths = builtinConfigPaths();
  const valueOf: Record<string, Schema> = Object.fromEntries([...Object.entries(SHORT_KEYS), ...paths.map((p) => [p, p])].map(([key, path]) => [key, leaf(path as string)]));
  const builtinKey: Schema = { anyOf: [{ enum: Object.keys(valueOf) }, { type: 'string', pattern: '^dataset(\\.[^.]+)+$' }] };
  const builtinSection = { enum: ['model', 'train', 'eval'] };
  const sectionKeys = (name: string): Schema => ({ type: 'object', propertyNames: { enum: Object.keys(sections[name] ?? {}) } });
  const partial: Schema = {
    type: 'object',
    minProperties: 1,
    description: 'a partial config: short keys (loss, hidden, …), dotted paths (train.lr) or section maps ({train: {lr: …}})',
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'gridrec grid file',
    description: `A sweep for \`grid run\`: base config sections, lists of values to cross, seeds, exclusions, objective, limits and pruner. Checked when the grid is expanded, not here: ${CROSS_KEY_RULES.join('; ')}.`,
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
        grid: {
          propertyNames: builtinKey,
          properties: Object.fromEntries(Object.entries(valueOf).map(([key, value]) => [key, { type: 'array', minItems: 1, items: value }])),
        },
        configs: {
          items: {
            propertyNames: { anyOf: [builtinKey, builtinSection] },
            properties: { ...valueOf, model: sectionSchema('model'), train: sectionSchema('train'), eval: sectionSchema('eval') },
          },
        },
        // A rule's values are compared, not checked; its keys must exist, or it would exclude nothing.
        exclude: {
          items: {
            propertyNames: { anyOf: [builtinKey, builtinSection] },
            properties: { model: sectionKeys('model'), train: sectionKeys('train'), eval: sectionKeys('eval') },
          },
        },
        objective: {
          properties: { metric: { pattern: METRIC_PATTERN } },
        },
        pruner: {
          properties: {
            group_by: keyOrKeys(builtinKey),
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
