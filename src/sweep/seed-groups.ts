/**
 * Seeds aggregated: ranked trials that differ only in their seed (`train.seed`) form one group, whose
 * value is the mean over its seeds with the sample standard deviation and the count. `grid leaderboard
 * --aggregate seeds` and the report's axis-effect charts both group through here.
 */
import { canonicalJson } from './canonical.js';
import { resolveKey } from './config-paths.js';
import type { LeaderboardRow } from './leaderboard.js';

/** The config path of a trial's seed. */
export const SEED_PATH = resolveKey('seed');

/** Mean, sample standard deviation and count of the finite values among some numbers. */
export interface Summary {
  /** NaN when no value is finite. */
  readonly mean: number;
  /** Sample standard deviation (n − 1); NaN below two values. */
  readonly std: number;
  readonly n: number;
}

/** Ranked trials that share everything but their seed. */
export interface SeedGroup {
  /** 1-based, by the mean value in the ranking's direction. */
  readonly rank: number;
  /** The shared config: a member's config without its seed. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The members, in their ranking order. */
  readonly rows: readonly LeaderboardRow[];
  /** The members' seeds, in the same order (undefined for a config without a seed). */
  readonly seeds: readonly unknown[];
  /** The ranked metric over the members. */
  readonly value: Summary;
  readonly peakBytes: Summary;
  readonly secondsPerEpoch: Summary;
}

/** Mean, sample standard deviation and count of the finite numbers in `values`. */
export function summarise(values: readonly number[]): Summary {
  const finite = values.filter(Number.isFinite);
  const n = finite.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN, n };
  const mean = finite.reduce((s, v) => s + v, 0) / n;
  const std = n < 2 ? Number.NaN : Math.sqrt(finite.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  return { mean, std, n };
}

/** A config without its seed (a copy; the input is not changed). */
export function withoutSeed(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const [section, key] = SEED_PATH.split('.') as [string, string];
  const inner = config[section];
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner) || !(key in inner)) return { ...config };
  const { [key]: _seed, ...rest } = inner as Record<string, unknown>;
  return { ...config, [section]: rest };
}

/**
 * Groups ranked rows by their config without the seed, and ranks the groups by their mean value in
 * `direction` (groups without a finite value last, ties by config).
 */
export function groupSeeds(rows: readonly LeaderboardRow[], direction: 'max' | 'min'): SeedGroup[] {
  const byKey = new Map<string, { config: Record<string, unknown>; rows: LeaderboardRow[] }>();
  for (const row of rows) {
    const config = withoutSeed(row.trial.config);
    const key = canonicalJson(config);
    const group = byKey.get(key);
    if (group === undefined) byKey.set(key, { config, rows: [row] });
    else group.rows.push(row);
  }
  const sign = direction === 'max' ? 1 : -1;
  const groups = [...byKey.entries()].map(([key, g]) => ({
    key,
    config: g.config,
    rows: g.rows,
    seeds: g.rows.map((r) => seedOf(r.trial.config)),
    value: summarise(g.rows.map((r) => r.value)),
    peakBytes: summarise(g.rows.map((r) => r.peakBytes)),
    secondsPerEpoch: summarise(g.rows.map((r) => r.secondsPerEpoch)),
  }));
  groups.sort((a, b) => {
    const an = Number.isNaN(a.value.mean);
    const bn = Number.isNaN(b.value.mean);
    if (an || bn) return Number(an) - Number(bn) || a.key.localeCompare(b.key);
    return sign * (b.value.mean - a.value.mean) || a.key.localeCompare(b.key);
  });
  return groups.map(({ key: _key, ...g }, i) => ({ rank: i + 1, ...g }));
}

function seedOf(config: Readonly<Record<string, unknown>>): unknown {
  const [section, key] = SEED_PATH.split('.') as [string, string];
  const inner = config[section];
  return typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>)[key] : undefined;
}
