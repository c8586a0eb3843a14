/**
 * The one canonicaliser of trial configs and the trial id derived from it. Two configs that train the
 * same thing must produce the same canonical JSON whatever their key order, number spelling (1e3 and
 * 1000) or inactive keys; the trial id is the sha256 of that JSON and the trainer that runs it, less
 * the built-in keys that were added later and hold the value that reproduces the older behaviour
 * (LEGACY_VALUES), so that trials stored before such a key existed keep their ids.
 */
import { createHash } from 'node:crypto';
import { LOSS_OWN_KEYS, LOSSES, ownLossKeys, resolveTrialConfig, SAMPLED_LOSSES, type LossType } from '../trainer/config.js';
import { ConfigError } from '../util/config-error.js';

/** Which trainer runs a trial: the built-in SASRec trainer or an external protocol-speaking command. */
export type TrainerSpec = 'builtin' | { readonly command: readonly string[] };

/** A JSON value with sorted keys, the form configs are stored and hashed in. */
export type Canonical = null | boolean | number | string | readonly Canonical[] | { readonly [key: string]: Canonical };

/** Keys that only sampled losses use; dropped elsewhere so they cannot split one config into many. */
const SAMPLING_KEYS = ['negatives', 'sampling'] as const;

/**
 * Built-in config keys added after trials were stored, by section, with the value that trains as before
 * the key existed. The stored config always carries the key (the trainer reads it); the trial id leaves
 * it out at this value, so an old trial and the same config spelled with the key share one id.
 * Migrations 4 (train.first_target) and 5 (model.tie_output) of store/migrations.ts write these values
 * into the configs stored before.
 */
export const LEGACY_VALUES: Readonly<Record<string, Readonly<Record<string, Canonical>>>> = {
  train: { first_target: false },
  model: { tie_output: true },
};

/**
 * Normalises a plain value: object keys sorted, `undefined` members dropped, -0 as 0. Throws
 * `ConfigError` at `at` for values JSON cannot carry faithfully (NaN, Infinity, functions, dates).
 */
export function normalise(value: unknown, at = '(config)'): Canonical {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ConfigError(at, `expected a finite number, got ${String(value)}`);
    return value === 0 ? 0 : value;
  }
  if (Array.isArray(value)) return value.map((v, i) => normalise(v, `${at}[${i}]`));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, Canonical> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = normalise(v, at === '(config)' ? key : `${at}.${key}`);
    }
    return out;
  }
  throw new ConfigError(at, `expected plain data (numbers, strings, lists, maps), got ${typeof value}`);
}

/** Serialises a value canonically: the same JSON text for every spelling of the same data. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalise(value));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Canonicalises one trial config for its trainer. The built-in trainer's configs go through
 * `resolveTrialConfig` (validation, defaults, inactive keys dropped); an external trainer's configs
 * are free-form, so only the generic rules apply: sorted keys, numbers by value, `train.negatives` /
 * `train.sampling` dropped when `train.loss` is one of our full-catalogue losses, and a loss's own keys
 * (`train.gbce_t`, `train.sce_*`: backend/loss-kinds.ts LOSS_PARAMS) when it is another of our losses.
 * Throws `ConfigError`.
 */
export function canonicalConfig(trainer: TrainerSpec, raw: Record<string, unknown>): Record<string, Canonical> {
  const resolved: Record<string, unknown> = trainer === 'builtin' ? { ...resolveTrialConfig(raw) } : dropInactive(raw);
  return normalise(resolved) as Record<string, Canonical>;
}

function dropInactive(raw: Record<string, unknown>): Record<string, unknown> {
  const train = raw.train;
  // Only a loss we know makes keys inactive; an unknown loss keeps them all.
  const loss = isObject(train) ? train.loss : undefined;
  if (!isObject(train) || !(LOSSES as readonly unknown[]).includes(loss)) return raw;
  const own: readonly string[] = ownLossKeys(loss as LossType);
  const inactive: string[] = [...(SAMPLED_LOSSES.has(loss as LossType) ? [] : SAMPLING_KEYS), ...LOSS_OWN_KEYS.filter((k) => !own.includes(k))];
  const kept = Object.fromEntries(Object.entries(train).filter(([k]) => !inactive.includes(k)));
  return { ...raw, train: kept };
}

/** The config the trial id hashes: the built-in trainer's keys at their LEGACY_VALUES left out. */
function hashedConfig(trainer: TrainerSpec, config: Record<string, Canonical>): Record<string, Canonical> {
  if (trainer !== 'builtin') return config;
  const out: Record<string, Canonical> = { ...config };
  for (const [name, legacy] of Object.entries(LEGACY_VALUES)) {
    const section = config[name];
    if (!isObject(section)) continue;
    const kept = Object.entries(section).filter(([k, v]) => !(Object.hasOwn(legacy, k) && canonicalJson(v) === canonicalJson(legacy[k])));
    out[name] = Object.fromEntries(kept) as Record<string, Canonical>;
  }
  return out;
}

/** The trial id: sha256 (hex) of the canonical config (less its legacy values) together with its trainer. */
export function trialId(trainer: TrainerSpec, config: Record<string, Canonical>): string {
  return createHash('sha256').update(canonicalJson({ trainer, config: hashedConfig(trainer, config) })).digest('hex');
}
