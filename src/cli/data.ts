/**
 * `grid data`: list the registered data sets, fetch one, print a data set's statistics, or write a
 * synthetic log. The data layer is imported when a sub-command runs, so `grid` itself starts fast.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError } from '../util/config-error.js';
import { loadYaml } from '../util/safe-yaml.js';
import type { ChosenColumns } from '../data/guess-columns.js';
import { action, note, oneOf, print, UsageError } from './common.js';
import { snakeCaseKeys } from './json-keys.js';

/** A commander parser of integers ≥ `min` (underscores allowed: 12_200_000). */
function intArg(min: number): (v: string) => number {
  return (v) => {
    const n = Number(v.replace(/_/g, ''));
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`);
    return n;
  };
}

/**
 * The raw `dataset` value a SPEC argument stands for: a YAML/JSON mapping (`{path: x.csv, split: seed}`),
 * a registered name, or a file path; `--set key=value` pairs (dotted keys nest) override its keys.
 */
async function rawSpec(spec: string, sets: readonly string[]): Promise<Record<string, unknown>> {
  const { REGISTRY } = await import('../data/registry.js');
  let raw: Record<string, unknown>;
  if (spec.trimStart().startsWith('{')) {
    const parsed = loadYaml(spec);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError('dataset', `expected a mapping, got ${spec}`);
    raw = parsed as Record<string, unknown>;
  } else raw = REGISTRY.has(spec) ? { name: spec } : { path: spec };
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError('--set', `expected key=value, got ${JSON.stringify(s)}`);
    const keys = s.slice(0, eq).replace(/^dataset\./, '').split('.');
    let obj = raw;
    for (const k of keys.slice(0, -1)) {
      const next = obj[k];
      obj = (obj[k] = typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...next } : {}) as Record<string, unknown>;
    }
    obj[keys[keys.length - 1]!] = loadYaml(s.slice(eq + 1));
  }
  return raw;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** The columns recognised in a file's header, in words: `columns: user=userId, item=movieId, …`. */
function describeChosen(chosen: ChosenColumns): string {
  const parts = Object.entries(chosen).map(([role, column]) => `${role}=${column ?? (role === 'time' ? 'none (file order is time order)' : 'none')}`);
  return `columns: ${parts.join(', ')} (recognised by name; --set columns.ROLE=NAME chooses another)`;
}

/** Adds the `data` command and its sub-commands to the program. */
export function registerData(program: Command): void {
  const data = program.command('data').description('data sets: list, fetch, stats, synth');

  data
    .command('list')
    .description('list the registered data sets, their sources and default preparation')
    .option('--format <format>', 'table or json', oneOf(['table', 'json'] as const), 'table')
    .action(action(async (opts: { format: 'table' | 'json' }) => {
      const { REGISTRY } = await import('../data/registry.js');
      if (opts.format === 'json') {
        print(JSON.stringify([...REGISTRY.values()].map((e) => ({ name: e.name, title: e.title, source: e.source, defaults: e.defaults })), null, 2));
        return;
      }
      for (const e of REGISTRY.values()) {
        const src = e.source;
        const where = src.kind === 'embedded' ? `embedded (${src.file})` : src.kind === 'http' ? src.url : `manual: ${src.page}`;
        const check = src.kind === 'http' ? (src.checksum ? `${src.checksum.algorithm} ${src.checksum.origin}` : 'no published checksum') : '';
        process.stdout.write(`${e.name.padEnd(16)} ${e.title}\n${''.padEnd(16)} ${where}${check ? ` [${check}]` : ''}\n${''.padEnd(16)} ${JSON.stringify(e.defaults)}\n`);
      }
    }));

  data
    .command('fetch <name>')
    .description('download a registered data set into the cache (resumes, verifies its checksum, extracts zips)')
    .option('--from <file>', 'place a local copy instead of downloading (data sets behind a login)')
    .option('--url <url>', 'download from this mirror instead (the registered checksum still applies)')
    .option('--cache-dir <dir>', 'cache directory (default: $GRID_CACHE_DIR, $XDG_CACHE_HOME/gridrec or ~/.cache/gridrec)')
    .action(
      action(async (name: string, opts: { from?: string; url?: string; cacheDir?: string }) => {
        const { fetchDataset } = await import('../data/fetch.js');
        const { defaultCacheDir } = await import('../data/locations.js');
        const { fetchDisplay } = await import('./byte-progress.js');
        const r = await fetchDataset(name, opts.cacheDir ?? defaultCacheDir(), {
          ...(opts.from !== undefined ? { from: opts.from } : {}),
          ...(opts.url !== undefined ? { url: opts.url } : {}),
          ...fetchDisplay(process.stderr),
        });
        process.stdout.write(`${r.file}\n`);
      }),
    );

  data
    .command('stats <spec>')
    .description('users, items, interactions, sequence lengths and split sizes of a data set (a registered name, a file, or a YAML mapping)')
    .option('--set <key=value>', 'override a dataset key (repeatable), e.g. --set split=leave-one-out', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--cache-dir <dir>', 'cache directory')
    .option('--no-cache', 'neither read nor write the prepared cache')
    .option('--format <format>', 'table or json', oneOf(['table', 'json'] as const), 'table')
    .option('--json', 'print JSON (the same as --format json)')
    .action(
      action(async (spec: string, opts: { set: string[]; cacheDir?: string; cache: boolean; json?: boolean; format: 'table' | 'json' }) => {
        const { resolveDatasetSpec } = await import('../data/spec.js');
        const { loadPrepared, splitPrepared } = await import('../data/load.js');
        const { datasetStats } = await import('../data/stats.js');
        const { REGISTRY } = await import('../data/registry.js');
        const { withGuessedColumns } = await import('../data/guess-columns.js');
        const guessed = await withGuessedColumns(await rawSpec(spec, opts.set));
        if (guessed.chosen !== undefined) note(describeChosen(guessed.chosen));
        const resolved = resolveDatasetSpec(guessed.raw);
        const t0 = performance.now();
        const log = await loadPrepared(resolved, {
          ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
          cache: opts.cache,
          report: (line) => process.stderr.write(`${line}\n`),
        });
        const t1 = performance.now();
        const ds = splitPrepared(log, resolved);
        const t2 = performance.now();
        const reference = resolved.name === undefined || resolved.path !== undefined ? undefined : REGISTRY.get(resolved.name)?.reference;
        const stats = datasetStats(log, ds, reference);
        const seconds = { prepare: (t1 - t0) / 1000, split: (t2 - t1) / 1000 };
        if (opts.json === true || opts.format === 'json') {
          print(JSON.stringify({ spec: resolved, ...snakeCaseKeys({ ...stats, seconds }) }, null, 2));
          return;
        }
        const l = stats.lengths;
        const tl = stats.split.testInputLengths;
        const lines = [
          `data set      ${stats.name} (${resolved.format}, split ${resolved.split})`,
          `rows          ${fmt(stats.counts.read)} read, ${fmt(stats.counts.filtered)} after filters, ${fmt(stats.counts.deduplicated)} after dedup, ${fmt(stats.counts.kept)} kept`,
          `prepared      ${fmt(stats.users)} users, ${fmt(stats.items)} items, ${fmt(stats.interactions)} interactions`,
          `lengths       min ${l.min}, p25 ${l.p25}, median ${l.p50}, p75 ${l.p75}, p90 ${l.p90}, p99 ${l.p99}, max ${fmt(l.max)}, mean ${l.mean.toFixed(1)}`,
          `split         catalogue ${fmt(stats.split.items)} items; train ${fmt(stats.split.trainUsers)} users / ${fmt(stats.split.trainInteractions)} interactions; validation ${fmt(stats.split.validationUsers)} users; test ${fmt(stats.split.testUsers)} users`,
          `test inputs   median ${tl.p50}, p90 ${tl.p90}, max ${fmt(tl.max)}`,
          ...(stats.reference ? [`reference     ${fmt(stats.reference.users)} users, ${fmt(stats.reference.items)} items, ${fmt(stats.reference.interactions)} interactions (the reference study's preparation)`] : []),
          `seconds       prepare ${seconds.prepare.toFixed(2)}, split ${seconds.split.toFixed(2)}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );

  data
    .command('synth')
    .description('write a synthetic interaction log (Zipf popularity, learnable next-item rule) for benchmarks')
    .requiredOption('--users <n>', 'users', intArg(1))
    .requiredOption('--items <n>', 'items', intArg(1))
    .requiredOption('--interactions <n>', 'interactions', intArg(1))
    .requiredOption('--out <file>', 'output file')
    .option('--seed <n>', 'seed', intArg(0), 42)
    .option('--format <format>', 'csv (user_id,item_id,timestamp) or sequences', 'csv')
    .option('--order <order>', 'csv row order within a user: item (as MovieLens files) or time', 'item')
    .option('--zipf <s>', 'Zipf exponent of item popularity', Number, 1.0)
    .option('--sequential <p>', 'probability that the next item follows the sequential rule', Number, 0.5)
    .action(
      action(async (opts: { users: number; items: number; interactions: number; out: string; seed: number; format: string; order: string; zipf: number; sequential: number }) => {
        if (opts.format !== 'csv' && opts.format !== 'sequences') throw new ConfigError('--format', `expected csv or sequences, got ${JSON.stringify(opts.format)}`);
        if (opts.order !== 'item' && opts.order !== 'time') throw new ConfigError('--order', `expected item or time, got ${JSON.stringify(opts.order)}`);
        if (!(opts.zipf >= 0)) throw new ConfigError('--zipf', `expected a number ≥ 0, got ${opts.zipf}`);
        if (!(opts.sequential >= 0 && opts.sequential <= 1)) throw new ConfigError('--sequential', `expected a number in [0, 1], got ${opts.sequential}`);
        const { writeSynthetic } = await import('../data/synth.js');
        const t0 = performance.now();
        let r;
        try {
          r = writeSynthetic(opts.out, { ...opts, format: opts.format, order: opts.order });
        } catch (err) {
          // The generator checks its own arguments with RangeErrors: here they are flags given badly.
          if (err instanceof RangeError) throw new UsageError(err.message, { cause: err });
          throw err;
        }
        process.stdout.write(`${opts.out}: ${fmt(r.users)} users, ${fmt(r.items)} items, ${fmt(r.interactions)} interactions, ${fmt(r.bytes)} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      }),
    );
}
