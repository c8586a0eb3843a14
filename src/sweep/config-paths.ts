/**
 * Key paths into trial configs: the short names grid files may use, dotted paths, and the small set
 * of get / set / flatten helpers that expansion, exclusion and the leaderboard share.
 */
import { configWithEveryKey } from '../trainer/config.js';
import { canonicalJson } from './canonical.js';

/** Short grid keys and the config path each stands for. */
export const SHORT_KEYS: Readonly<Record<string, string>> = {
  dataset: 'dataset',
  loss: 'train.loss',
  batch_size: 'train.batch_size',
  negatives: 'train.negatives',
  sampling: 'train.sampling',
  lr: 'train.lr',
  epochs: 'train.epochs',
  patience: 'train.patience',
  seed: 'train.seed',
  max_seq_len: 'model.max_seq_len',
  hidden: 'model.hidden',
  blocks: 'model.blocks',
  heads: 'model.heads',
  dropout: 'model.dropout',
};

/** The config sections of the built-in trainer, in the order they are shown. */
export const SECTIONS = ['dataset', 'model', 'train', 'eval'] as const;

/**
 * The model, train and eval leaf paths of the built-in trainer's configs (`train.lr`, …), sorted. Data
 * set keys depend on the data set's format and are left out: callers accept `dataset` and `dataset.*`.
 */
export function builtinConfigPaths(): string[] {
  const probe = configWithEveryKey();
  return [...flatten({ model: probe.model, train: probe.train, eval: probe.eval }).keys()].sort();
}

/** Resolves a grid key as written (short name or dotted path) to its dotted config path. */
export function resolveKey(key: string): string {
  return SHORT_KEYS[key] ?? key;
}

/** The value at a dotted path, or undefined where any step is missing. */
export function getPath(config: unknown, path: string): unknown {
  let v: unknown = config;
  for (const step of path.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[step];
  }
  return v;
}

/**
 * Sets a dotted path in place, creating maps on the way. A string met on the way at `dataset` is the
 * short form of `{name: …}` and is expanded, so `dataset.split` can be set on `dataset: ml-1m`.
 */
export function setPath(config: Record<string, unknown>, path: string, value: unknown): void {
  const steps = path.split('.');
  let obj = config;
  for (const [i, step] of steps.slice(0, -1).entries()) {
    let next = obj[step];
    if (typeof next === 'string' && i === 0 && step === 'dataset') next = { name: next };
    if (typeof next !== 'object' || next === null || Array.isArray(next)) next = {};
    else next = { ...(next as Record<string, unknown>) };
    obj[step] = next;
    obj = next as Record<string, unknown>;
  }
  obj[steps[steps.length - 1] as string] = value;
}

/** Flattens a config into dotted leaf paths; lists are leaves. */
export function flatten(config: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    if (prefix !== '') out.set(prefix, config);
    return out;
  }
  for (const [k, v] of Object.entries(config)) {
    for (const [p, leaf] of flatten(v, prefix === '' ? k : `${prefix}.${k}`)) out.set(p, leaf);
  }
  return out;
}

/** The leaf paths whose values differ between configs (what tells the trials of a sweep apart), sorted. */
export function varyingPaths(configs: readonly unknown[]): string[] {
  const seen = new Map<string, Set<string>>();
  const flat = configs.map((c) => flatten(c));
  const all = new Set(flat.flatMap((f) => [...f.keys()]));
  for (const path of all) {
    seen.set(path, new Set(flat.map((f) => (f.has(path) ? canonicalJson(f.get(path)) : '∅'))));
  }
  return [...all].filter((p) => (seen.get(p)?.size ?? 0) > 1).sort();
}

/** The shortest name for a path: its short key where one exists, else the path itself. */
export function displayKey(path: string): string {
  for (const [short, full] of Object.entries(SHORT_KEYS)) if (full === path) return short;
  return path;
}
