/**
 * The built-in trainer's trial config: its sections, defaults and validation. The sweep layer uses
 * `resolveTrialConfig` to canonicalise grid points (defaults filled, inactive keys dropped) before
 * hashing, and the trainer uses it again to reject invalid configs before any work, so both sides
 * agree on one definition.
 */
import {
  isSampled, LOSS_KIND_NAMES, LOSS_KINDS, LOSS_PARAM_KEYS, LOSS_PARAMS, type LossKind, type LossParamInfo, type LossParamKey, type LossParamValues,
} from '../backend/loss-kinds.js';
import { resolveDatasetSpec, type DatasetSpec } from '../data/spec.js';
import { ConfigError, shown } from '../util/config-error.js';

/** Loss types: the kinds of backend/loss-kinds.ts (import-free, so the orchestrator loads no training code). */
export const LOSSES: readonly LossKind[] = LOSS_KIND_NAMES;
export type LossType = LossKind;

/** Losses that draw negatives; only these take `train.negatives` and `train.sampling`. */
export const SAMPLED_LOSSES: ReadonlySet<LossType> = new Set(LOSSES.filter(isSampled));

/** Models the built-in trainer knows. */
export const MODELS = ['sasrec', 'bert4rec'] as const;
export type ModelName = (typeof MODELS)[number];

/** Negative sampling distributions. */
export const SAMPLINGS = ['uniform', 'popularity'] as const;
export type Sampling = (typeof SAMPLINGS)[number];

/** Metric cut-offs the evaluator supports. */
export const METRIC_KS = [1, 5, 10, 20, 100] as const;

/** Metrics the built-in trainer reports, each at every K of `eval.k` (as `<metric>@<k>`). */
export const BUILTIN_METRICS = ['ndcg', 'hr', 'mrr', 'coverage', 'surprisal'] as const;

/** The metric early stopping watches when `train.monitor` is not set: NDCG at 10, or at the smallest K without 10. */
export function defaultMonitor(ks: readonly number[]): string {
  return `ndcg@${ks.includes(10) ? 10 : ks[0]!}`;
}

export interface ModelConfig {
  /** sasrec (causal, next-item targets) or bert4rec (bidirectional, masked-item targets). @default "sasrec" */
  readonly name: ModelName;
  /** Hidden size = item embedding size d. @default 64 */
  readonly hidden: number;
  /** Transformer blocks. @default 2 */
  readonly blocks: number;
  /** Attention heads; must divide `hidden`. @default 1 */
  readonly heads: number;
  /** @default 0.1 */
  readonly dropout: number;
  /** Max sequence length L. @default 50 */
  readonly max_seq_len: number;
  /**
   * Whether the scores read the input item table (tied, as the reference's SASRec) or a separate output
   * table of the same shape (gSASRec unties them). true is the behaviour before the key existed: the trial
   * id leaves the key out when it is true (sweep/canonical.ts). @default true
   */
  readonly tie_output: boolean;
}

/**
 * The train section. A loss's own keys (gbce_t, sce_*) come from backend/loss-kinds.ts LOSS_PARAMS, their
 * types, defaults and ranges with them: each is present only for the losses that take it.
 */
export interface TrainConfig extends LossParamValues {
  readonly loss: LossType;
  /** @default 128 */
  readonly batch_size: number;
  /** Negatives per position; present only for sampled losses. @default 256 */
  readonly negatives?: number;
  /** Negative distribution; present only for sampled losses. @default "uniform" */
  readonly sampling?: Sampling;
  /**
   * Whether a history shorter than L + 1 also trains on its first item, predicted at the padded position
   * before its first input (the reference's targets). false is the behaviour before the key existed:
   * the trial id leaves the key out when it is false (sweep/canonical.ts). Present only for sasrec.
   * @default true
   */
  readonly first_target?: boolean;
  /**
   * BERT4Rec's masking probability: each item of a training sequence is replaced by the mask token with
   * this probability (at least one per sequence), and the losses train on those positions. Present only
   * for bert4rec. @default 0.2
   */
  readonly mask_prob?: number;
  /** Adam learning rate. @default 0.001 */
  readonly lr: number;
  /** @default 0.9 */
  readonly beta1: number;
  /** @default 0.98 */
  readonly beta2: number;
  /** Maximum epochs. @default 20 */
  readonly epochs: number;
  /** Early-stopping patience in epochs on the validation objective. @default 4 */
  readonly patience: number;
  /** Seed of initialisation, shuffling, dropout and sampling. @default 42 */
  readonly seed: number;
  /**
   * The validation metric early stopping and the best epoch follow: `<metric>@<k>` (higher is better)
   * or `loss` (the training loss, lower is better). A sweep sets it to its objective. Present only
   * where it differs from the default, so that configs without it keep their trial ids.
   * @default defaultMonitor(eval.k)
   */
  readonly monitor?: string;
}

export interface EvalConfig {
  /** Cut-offs K reported for every metric. @default [10] */
  readonly k: readonly number[];
  /** Users per evaluation batch. @default 256 */
  readonly batch_size: number;
}

/** A fully resolved trial config: what the trial id hashes and what the trainer runs. */
export interface TrialConfig {
  readonly dataset: DatasetSpec;
  readonly model: ModelConfig;
  readonly train: TrainConfig;
  readonly eval: EvalConfig;
}

/**
 * How one config key is checked: its kind, default and bounds. `resolveTrialConfig` checks with it and
 * the grid files' JSON Schema (sweep/grid-schema.ts) is generated from it, so the two cannot disagree
 * about a single value. Rules between keys are in `CROSS_KEY_RULES`.
 */
export type KeySpec = { readonly description: string } & (
  | { readonly kind: 'int'; readonly default?: number; readonly min: number; readonly max: number }
  | {
      readonly kind: 'number';
      readonly default: number;
      readonly min: number;
      readonly max: number;
      /** The bound itself is excluded. @default false */
      readonly minOpen?: boolean;
      readonly maxOpen?: boolean;
    }
  | { readonly kind: 'bool'; readonly default: boolean }
  | { readonly kind: 'enum'; readonly values: readonly string[]; readonly default?: string }
  /** `train.monitor`: `loss` or `<metric>@<k>`. */
  | { readonly kind: 'metric' }
  /** `eval.k`: one cut-off or a non-empty list of them. */
  | { readonly kind: 'cutoffs'; readonly default: readonly number[] }
);

/** The `model` section's keys. */
export const MODEL_KEYS = {
  name: { kind: 'enum', values: MODELS, default: 'sasrec', description: 'the model: sasrec (causal) or bert4rec (bidirectional, masked items)' },
  hidden: { kind: 'int', default: 64, min: 1, max: 8192, description: 'hidden size = item embedding size d' },
  blocks: { kind: 'int', default: 2, min: 1, max: 64, description: 'transformer blocks' },
  heads: { kind: 'int', default: 1, min: 1, max: 1024, description: 'attention heads; must divide model.hidden' },
  dropout: { kind: 'number', default: 0.1, min: 0, max: 1, maxOpen: true, description: 'dropout probability' },
  max_seq_len: { kind: 'int', default: 50, min: 1, max: 1 << 16, description: 'max sequence length L' },
  tie_output: { kind: 'bool', default: true, description: 'score with the input item table (true) or a separate output table' },
} as const satisfies Record<keyof ModelConfig, KeySpec>;

/** The losses that take a loss's own key, in the table's order. */
function lossesTaking(key: LossParamKey): LossType[] {
  return LOSSES.filter((loss) => (LOSS_KINDS[loss].params as readonly string[]).includes(key));
}

/** The spec of a loss's own key, from its entry in backend/loss-kinds.ts (which imports nothing, so it cannot state a KeySpec). */
function lossParamSpec(key: LossParamKey, p: LossParamInfo): KeySpec {
  const description = `${lossesTaking(key).join(', ')} only: ${p.doc}`;
  switch (p.type) {
    case 'boolean':
      return { kind: 'bool', default: p.default as boolean, description };
    case 'integer':
      return { kind: 'int', default: p.default as number, min: p.min ?? 0, max: p.max ?? Number.MAX_SAFE_INTEGER, description };
    case 'number':
      return { kind: 'number', default: p.default as number, min: p.min ?? 0, max: p.max ?? Number.MAX_VALUE, description };
  }
}

/** The losses' own train keys (gbce_t, sce_*), each generated from its LOSS_PARAMS entry. */
export const LOSS_PARAM_SPECS = Object.fromEntries(LOSS_PARAM_KEYS.map((key) => [key, lossParamSpec(key, LOSS_PARAMS[key])])) as Readonly<Record<LossParamKey, KeySpec>>;

/** The `train` section's keys. */
export const TRAIN_KEYS = {
  loss: { kind: 'enum', values: LOSSES, description: 'the training loss (required)' },
  batch_size: { kind: 'int', default: 128, min: 1, max: 1 << 20, description: 'sequences per training batch' },
  negatives: { kind: 'int', default: 256, min: 1, max: 1 << 24, description: 'negatives per position (sampled losses only)' },
  sampling: { kind: 'enum', values: SAMPLINGS, default: 'uniform', description: 'negative distribution (sampled losses only)' },
  ...LOSS_PARAM_SPECS,
  first_target: { kind: 'bool', default: true, description: "also train on a short history's first item, at the padded position before it (sasrec only)" },
  mask_prob: {
    kind: 'number', default: 0.2, min: 0, max: 1, minOpen: true, maxOpen: true,
    description: "BERT4Rec's probability of masking each item of a training sequence (bert4rec only)",
  },
  lr: { kind: 'number', default: 1e-3, min: 0, max: 10, minOpen: true, description: 'Adam learning rate' },
  beta1: { kind: 'number', default: 0.9, min: 0, max: 1, maxOpen: true, description: "Adam's β1" },
  beta2: { kind: 'number', default: 0.98, min: 0, max: 1, maxOpen: true, description: "Adam's β2" },
  epochs: { kind: 'int', default: 20, min: 1, max: 100_000, description: 'maximum epochs' },
  patience: { kind: 'int', default: 4, min: 1, max: 100_000, description: 'early-stopping patience in epochs' },
  seed: { kind: 'int', default: 42, min: 0, max: 2 ** 32 - 1, description: 'seed of initialisation, shuffling, dropout and sampling' },
  monitor: { kind: 'metric', description: 'what early stopping follows: loss or <metric>@<k> with k in eval.k (default ndcg@10)' },
} as const satisfies Record<keyof TrainConfig, KeySpec>;

/** The `eval` section's keys. */
export const EVAL_KEYS = {
  k: { kind: 'cutoffs', default: [10], description: 'cut-offs K reported for every metric' },
  batch_size: { kind: 'int', default: 256, min: 1, max: 1 << 20, description: 'users per evaluation batch' },
} as const satisfies Record<keyof EvalConfig, KeySpec>;

/** The sections of the built-in trainer's config that `KeySpec` tables describe. */
export const SECTION_KEYS = { model: MODEL_KEYS, train: TRAIN_KEYS, eval: EVAL_KEYS } as const;

/**
 * Rules between keys, which a JSON Schema cannot state (grid values are crossed after it checks
 * them): the schema carries them in its descriptions, `resolveTrialConfig` enforces them.
 */
export const CROSS_KEY_RULES: readonly string[] = [
  'model.heads must divide model.hidden',
  'train.monitor <metric>@<k> needs k in eval.k',
  `train.negatives and train.sampling apply to sampled losses only, ${LOSSES.filter((loss) => LOSS_KINDS[loss].params.length > 0)
    .map((loss) => `${LOSS_KINDS[loss].params.map((k) => `train.${k}`).join(', ')} to ${loss} only`)
    .join(', ')}, train.first_target to sasrec only and train.mask_prob to bert4rec only (elsewhere they are dropped)`,
];

type Obj = Record<string, unknown>;

function section(raw: Obj, key: string): Obj {
  const v = raw[key];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(key, `expected an object, got ${shown(v)}`);
  return v as Obj;
}

/** Unknown keys are errors; `at` '' is the config's top level (the key is then its own path). */
function checkKeys(obj: Obj, at: string, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw new ConfigError(at === '' ? k : `${at}.${k}`, `unknown key; allowed: ${allowed.join(', ')}`);
  }
}

/** A bound in interval notation: `[0, 1)`. */
function interval(lo: number, hi: number, loOpen = false, hiOpen = false): string {
  return `${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}`;
}

/**
 * The value of `obj[key]` (or the spec's default) checked against its spec; throws `ConfigError` at
 * `at.key`. A key without a default and without a value is required.
 */
function checked<S extends KeySpec>(obj: Obj, key: string, at: string, spec: S): SpecValue<S> {
  const path = `${at}.${key}`;
  const v = obj[key] ?? ('default' in spec ? spec.default : undefined);
  switch (spec.kind) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || v > spec.max) {
        throw new ConfigError(path, `expected an integer in ${interval(spec.min, spec.max)}, got ${shown(v)}`);
      }
      break;
    case 'number': {
      const ok = typeof v === 'number' && Number.isFinite(v) && (spec.minOpen === true ? v > spec.min : v >= spec.min) && (spec.maxOpen === true ? v < spec.max : v <= spec.max);
      if (!ok) throw new ConfigError(path, `expected a number in ${interval(spec.min, spec.max, spec.minOpen, spec.maxOpen)}, got ${shown(v)}`);
      break;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw new ConfigError(path, `expected true or false, got ${shown(v)}`);
      break;
    case 'enum':
      if (typeof v !== 'string' || !spec.values.includes(v)) throw new ConfigError(path, `expected one of ${spec.values.join(', ')}, got ${shown(v)}`);
      break;
    case 'metric':
    case 'cutoffs':
      throw new Error(`${path}: ${spec.kind} keys are resolved by their own functions`);
  }
  return v as SpecValue<S>;
}

/** The type of a checked value of a spec. */
type SpecValue<S extends KeySpec> = S extends { readonly kind: 'enum'; readonly values: readonly (infer V)[] } ? V : S extends { readonly kind: 'bool' } ? boolean : number;

/** The loss's own train keys (backend/loss-kinds.ts LOSS_PARAMS) that `loss` takes. */
export function ownLossKeys(loss: LossType): readonly LossParamKey[] {
  return LOSS_KINDS[loss].params;
}

/** Every loss's own train keys (gbce_t, sce_*), whichever loss takes them. */
export const LOSS_OWN_KEYS: readonly LossParamKey[] = LOSS_PARAM_KEYS;

/** The loss's own train keys, checked, with their defaults filled; the other losses' keys are left out. */
function lossParams(t: Obj, loss: LossType): LossParamValues {
  // Each value is checked against its spec, whose kind follows the key's LOSS_PARAMS type, which is what LossParamValues maps it to.
  return Object.fromEntries(ownLossKeys(loss).map((key) => [key, checked(t, key, 'train', LOSS_PARAM_SPECS[key])])) as LossParamValues;
}

/**
 * Resolves a raw trial config: checks every key, fills defaults, and drops keys that the config
 * does not use (negatives and sampling for full-catalogue losses, a loss's own keys such as gbce_t
 * for every other loss, first_target for bert4rec, mask_prob for sasrec). Throws `ConfigError` naming the
 * key path. Normalises numbers by value (1e3 and 1000 are the same JavaScript number already).
 */
export function resolveTrialConfig(raw: Obj): TrialConfig {
  checkKeys(raw, '', ['dataset', 'model', 'train', 'eval']);
  if (raw.dataset === undefined) throw new ConfigError('dataset', 'required');
  const dataset = resolveDatasetSpec(raw.dataset);

  const m = section(raw, 'model');
  checkKeys(m, 'model', Object.keys(MODEL_KEYS));
  const hidden = checked(m, 'hidden', 'model', MODEL_KEYS.hidden);
  const heads = checked(m, 'heads', 'model', MODEL_KEYS.heads);
  if (hidden % heads !== 0) throw new ConfigError('model.heads', `must divide model.hidden (${hidden}), got ${heads}`);
  const model: ModelConfig = {
    name: checked(m, 'name', 'model', MODEL_KEYS.name),
    hidden,
    blocks: checked(m, 'blocks', 'model', MODEL_KEYS.blocks),
    heads,
    dropout: checked(m, 'dropout', 'model', MODEL_KEYS.dropout),
    max_seq_len: checked(m, 'max_seq_len', 'model', MODEL_KEYS.max_seq_len),
    tie_output: checked(m, 'tie_output', 'model', MODEL_KEYS.tie_output),
  };

  const t = section(raw, 'train');
  checkKeys(t, 'train', Object.keys(TRAIN_KEYS));
  const loss = checked(t, 'loss', 'train', TRAIN_KEYS.loss);
  const sampled = SAMPLED_LOSSES.has(loss);
  const train: TrainConfig = {
    loss,
    batch_size: checked(t, 'batch_size', 'train', TRAIN_KEYS.batch_size),
    ...(sampled ? { negatives: checked(t, 'negatives', 'train', TRAIN_KEYS.negatives), sampling: checked(t, 'sampling', 'train', TRAIN_KEYS.sampling) } : {}),
    ...lossParams(t, loss),
    ...(model.name === 'sasrec'
      ? { first_target: checked(t, 'first_target', 'train', TRAIN_KEYS.first_target) }
      : { mask_prob: checked(t, 'mask_prob', 'train', TRAIN_KEYS.mask_prob) }),
    lr: checked(t, 'lr', 'train', TRAIN_KEYS.lr),
    beta1: checked(t, 'beta1', 'train', TRAIN_KEYS.beta1),
    beta2: checked(t, 'beta2', 'train', TRAIN_KEYS.beta2),
    epochs: checked(t, 'epochs', 'train', TRAIN_KEYS.epochs),
    patience: checked(t, 'patience', 'train', TRAIN_KEYS.patience),
    seed: checked(t, 'seed', 'train', TRAIN_KEYS.seed),
  };

  const e = section(raw, 'eval');
  checkKeys(e, 'eval', Object.keys(EVAL_KEYS));
  const evalCfg: EvalConfig = {
    k: resolveCutoffs(e.k ?? EVAL_KEYS.k.default),
    batch_size: checked(e, 'batch_size', 'eval', EVAL_KEYS.batch_size),
  };

  const monitor = resolveMonitor(t.monitor, evalCfg.k);
  return { dataset, model, train: monitor === undefined ? train : { ...train, monitor }, eval: evalCfg };
}

/** `eval.k`: one cut-off or a non-empty list of them, each one of `METRIC_KS`; sorted, without repeats. */
function resolveCutoffs(raw: unknown): number[] {
  const ks = Array.isArray(raw) ? raw : [raw];
  if (ks.length === 0) throw new ConfigError('eval.k', `expected one of ${METRIC_KS.join(', ')} or a non-empty list of them, got []`);
  for (const [i, k] of ks.entries()) {
    if (!(METRIC_KS as readonly unknown[]).includes(k)) {
      throw new ConfigError(Array.isArray(raw) ? `eval.k[${i}]` : 'eval.k', `expected one of ${METRIC_KS.join(', ')}, got ${shown(k)}`);
    }
  }
  return [...new Set(ks as number[])].sort((a, b) => a - b);
}

/** `train.monitor` checked against the metrics and cut-offs reported; undefined where it is the default. */
function resolveMonitor(raw: unknown, ks: readonly number[]): string | undefined {
  if (raw === undefined) return undefined;
  const [metric, k] = typeof raw === 'string' ? raw.split('@') : [];
  const builtin = (BUILTIN_METRICS as readonly unknown[]).includes(metric) && (METRIC_KS as readonly number[]).includes(Number(k)) && String(Number(k)) === k;
  if (builtin && !ks.includes(Number(k))) {
    throw new ConfigError('eval.k', `must include ${k} for the objective ${raw as string}, got ${JSON.stringify(ks)}`);
  }
  if (raw !== 'loss' && !builtin) {
    throw new ConfigError('train.monitor', `expected loss or <metric>@<k> with metric one of ${BUILTIN_METRICS.join(', ')} and k in eval.k (${ks.join(', ')}), got ${shown(raw)}`);
  }
  return raw === defaultMonitor(ks) ? undefined : (raw as string);
}

/**
 * A resolved config in which every model, train and eval key is present (gbce keeps `negatives`,
 * `sampling` and `gbce_t`; sasrec's `first_target` and bert4rec's `mask_prob` merged; every other loss's own
 * keys added at their defaults): what the sweep layer lists as the known keys, and the schema's data set keys.
 */
export function configWithEveryKey(): TrialConfig {
  const sasrec = resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'gbce', monitor: 'loss' } });
  const bert4rec = resolveTrialConfig({ dataset: 'ml-latest-small', model: { name: 'bert4rec' }, train: { loss: 'gbce' } });
  const own = Object.fromEntries(LOSS_PARAM_KEYS.map((k) => [k, LOSS_PARAMS[k].default]));
  return { ...sasrec, train: { ...bert4rec.train, ...sasrec.train, ...own } };
}
