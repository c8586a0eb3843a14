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

export interface TrainConfig {
  readonly loss: LossType;
  /** @default 128 */
  readonly batch_size: number;
  /** Negatives per position; present only for sampled losses. @default 256 */
  readonly negatives?: number;
  /** Negative distribution; present only for sampled losses. @default "uniform" */
  readonly sampling?: Sampling;
  /**
   * gbce's calibration t in [0, 1] (gSASRec): the positive's probability is raised to
   * β = α(t(1 − 1/α) + 1/α), α = negatives / (V − 1); 0 is bce+. Present only for gbce. @default 0.75
   */
  readonly gbce_t?: number;
  /** sce's number of buckets (backend/sce.ts). Present only for sce. @default 443 */
  readonly sce_buckets?: number;
  /** sce's rows kept per bucket, at most the batch's valid positions. Present only for sce. @default 443 */
  readonly sce_bucket_rows?: number;
  /** sce's items kept per bucket, at most V. Present only for sce. @default 512 */
  readonly sce_bucket_items?: number;
  /** sce's bucket directions: random combinations of the batch's hidden states (true) or random vectors. Present only for sce. @default true */
  readonly sce_mix?: boolean;
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

const MODEL_DEFAULTS: ModelConfig = { name: 'sasrec', hidden: 64, blocks: 2, heads: 1, dropout: 0.1, max_seq_len: 50, tie_output: true };
const TRAIN_DEFAULTS = {
  batch_size: 128,
  negatives: 256,
  sampling: 'uniform' as Sampling,
  first_target: true,
  mask_prob: 0.2,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.98,
  epochs: 20,
  patience: 4,
  seed: 42,
};
const EVAL_DEFAULTS: EvalConfig = { k: [10], batch_size: 256 };

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

function int(obj: Obj, key: string, at: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = obj[key] ?? def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${at}.${key}`, `expected an integer in [${min}, ${max}], got ${shown(v)}`);
  }
  return v;
}

function num(obj: Obj, key: string, at: string, def: number, lo: number, hi: number, loOpen = false, hiOpen = false): number {
  const v = obj[key] ?? def;
  const ok = typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
  if (!ok) throw new ConfigError(`${at}.${key}`, `expected a number in ${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${shown(v)}`);
  return v as number;
}

function bool(obj: Obj, key: string, at: string, def: boolean): boolean {
  const v = obj[key] ?? def;
  if (typeof v !== 'boolean') throw new ConfigError(`${at}.${key}`, `expected true or false, got ${shown(v)}`);
  return v;
}

function oneOf<T extends string>(obj: Obj, key: string, at: string, allowed: readonly T[], def?: T): T {
  const v = obj[key] ?? def;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${at}.${key}`, `expected one of ${allowed.join(', ')}, got ${shown(v)}`);
  }
  return v as T;
}

/** The loss's own train keys (backend/loss-kinds.ts LOSS_PARAMS) that `loss` takes. */
export function ownLossKeys(loss: LossType): readonly LossParamKey[] {
  return LOSS_KINDS[loss].params;
}

/** Every loss's own train keys (gbce_t, sce_*), whichever loss takes them. */
export const LOSS_OWN_KEYS: readonly LossParamKey[] = LOSS_PARAM_KEYS;

/** The loss's own train keys, checked, with their defaults filled. */
function lossParams(t: Obj, loss: LossType): LossParamValues {
  const out: Record<string, number | boolean> = {};
  for (const key of ownLossKeys(loss)) {
    const p: LossParamInfo = LOSS_PARAMS[key];
    if (p.type === 'boolean') out[key] = bool(t, key, 'train', p.default as boolean);
    else if (p.type === 'integer') out[key] = int(t, key, 'train', p.default as number, p.min ?? 0, p.max);
    else out[key] = num(t, key, 'train', p.default as number, p.min ?? 0, p.max ?? Number.MAX_VALUE);
  }
  // Each key was read by the type its table entry declares, which is what LossParamValues maps it to.
  return out as LossParamValues;
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
  checkKeys(m, 'model', Object.keys(MODEL_DEFAULTS));
  const hidden = int(m, 'hidden', 'model', MODEL_DEFAULTS.hidden, 1, 8192);
  const heads = int(m, 'heads', 'model', MODEL_DEFAULTS.heads, 1, 1024);
  if (hidden % heads !== 0) throw new ConfigError('model.heads', `must divide model.hidden (${hidden}), got ${heads}`);
  const model: ModelConfig = {
    name: oneOf(m, 'name', 'model', MODELS, MODEL_DEFAULTS.name),
    hidden,
    blocks: int(m, 'blocks', 'model', MODEL_DEFAULTS.blocks, 1, 64),
    heads,
    dropout: num(m, 'dropout', 'model', MODEL_DEFAULTS.dropout, 0, 1, false, true),
    max_seq_len: int(m, 'max_seq_len', 'model', MODEL_DEFAULTS.max_seq_len, 1, 1 << 16),
    tie_output: bool(m, 'tie_output', 'model', MODEL_DEFAULTS.tie_output),
  };

  const t = section(raw, 'train');
  checkKeys(t, 'train', ['loss', 'monitor', ...Object.keys(TRAIN_DEFAULTS), ...LOSS_PARAM_KEYS]);
  const loss = oneOf(t, 'loss', 'train', LOSSES);
  const sampled = SAMPLED_LOSSES.has(loss);
  const train: TrainConfig = {
    loss,
    batch_size: int(t, 'batch_size', 'train', TRAIN_DEFAULTS.batch_size, 1, 1 << 20),
    ...(sampled
      ? {
          negatives: int(t, 'negatives', 'train', TRAIN_DEFAULTS.negatives, 1, 1 << 24),
          sampling: oneOf(t, 'sampling', 'train', SAMPLINGS, TRAIN_DEFAULTS.sampling),
        }
      : {}),
    ...lossParams(t, loss),
    ...(model.name === 'sasrec'
      ? { first_target: bool(t, 'first_target', 'train', TRAIN_DEFAULTS.first_target) }
      : { mask_prob: num(t, 'mask_prob', 'train', TRAIN_DEFAULTS.mask_prob, 0, 1, true, true) }),
    lr: num(t, 'lr', 'train', TRAIN_DEFAULTS.lr, 0, 10, true),
    beta1: num(t, 'beta1', 'train', TRAIN_DEFAULTS.beta1, 0, 1, false, true),
    beta2: num(t, 'beta2', 'train', TRAIN_DEFAULTS.beta2, 0, 1, false, true),
    epochs: int(t, 'epochs', 'train', TRAIN_DEFAULTS.epochs, 1, 100_000),
    patience: int(t, 'patience', 'train', TRAIN_DEFAULTS.patience, 1, 100_000),
    seed: int(t, 'seed', 'train', TRAIN_DEFAULTS.seed, 0, 2 ** 32 - 1),
  };

  const e = section(raw, 'eval');
  checkKeys(e, 'eval', Object.keys(EVAL_DEFAULTS));
  const kRaw = e.k ?? EVAL_DEFAULTS.k;
  const ks = Array.isArray(kRaw) ? kRaw : [kRaw];
  for (const [i, k] of ks.entries()) {
    if (!(METRIC_KS as readonly unknown[]).includes(k)) {
      throw new ConfigError(`eval.k[${i}]`, `expected one of ${METRIC_KS.join(', ')}, got ${shown(k)}`);
    }
  }
  const evalCfg: EvalConfig = {
    k: [...new Set(ks as number[])].sort((a, b) => a - b),
    batch_size: int(e, 'batch_size', 'eval', EVAL_DEFAULTS.batch_size, 1, 1 << 20),
  };

  const monitor = resolveMonitor(t.monitor, evalCfg.k);
  return { dataset, model, train: monitor === undefined ? train : { ...train, monitor }, eval: evalCfg };
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
 * keys added at their defaults): what the sweep layer lists as the known keys and derives the schema from.
 */
export function configWithEveryKey(): TrialConfig {
  const sasrec = resolveTrialConfig({ dataset: 'ml-latest-small', train: { loss: 'gbce', monitor: 'loss' } });
  const bert4rec = resolveTrialConfig({ dataset: 'ml-latest-small', model: { name: 'bert4rec' }, train: { loss: 'gbce' } });
  const own = Object.fromEntries(LOSS_PARAM_KEYS.map((k) => [k, LOSS_PARAMS[k].default]));
  return { ...sasrec, train: { ...bert4rec.train, ...sasrec.train, ...own } };
}
