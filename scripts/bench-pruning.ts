/**
 * What pruning saves: the same sweep run twice through `grid run`, once with `pruner: none` and once
 * with ASHA, each into its own runs.db: epochs trained, wall time, trials pruned, and whether the best
 * trial is the same (or its objective within 1%).
 *
 *   npm run build && npx tsx scripts/bench-pruning.ts [--scale cpu|full] [--data FILE] [--parallel N] [--cpu] [--eta 3] [--keep DIR]
 *
 * `--data FILE` replaces the sweep's data set by a local file (format from its extension, split
 * leave-one-out): the full sweep on a machine without network.
 * `full` is the 24-trial ML-1M sweep (six losses × batch {128, 256} × L {50, 200}; `grid data fetch
 * movielens-1m` first), for a GPU machine. `cpu` is a 12-trial sweep of the quickstart's model on
 * ml-latest-small (six losses × batch {32, 64}) that a 2-core CPU runs in minutes.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openStore } from '../src/store/open-store.js';
import { rankTrials } from '../src/sweep/leaderboard.js';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: 'cpu' },
    parallel: { type: 'string' },
    cpu: { type: 'boolean', default: false },
    eta: { type: 'string', default: '3' },
    keep: { type: 'string' },
    data: { type: 'string' },
  },
});
const SWEEPS: Readonly<Record<string, string>> = {
  full:
    'dataset: movielens-1m\nmodel: {hidden: 64, blocks: 2, heads: 1, dropout: 0.1}\ntrain: {lr: 0.001, negatives: 256, epochs: 30, patience: 4}\n' +
    'grid:\n  loss: [ce, ce-, cce, cce-, bce, bce+]\n  batch_size: [128, 256]\n  max_seq_len: [50, 200]\n',
  cpu:
    'dataset: ml-latest-small\nmodel: {hidden: 32, blocks: 1, heads: 1, max_seq_len: 20}\ntrain: {lr: 0.003, negatives: 64, epochs: 20, patience: 4}\n' +
    'grid:\n  loss: [ce, ce-, cce, cce-, bce, bce+]\n  batch_size: [32, 64]\n',
};
const chosen = SWEEPS[values.scale];
if (chosen === undefined) throw new Error(`--scale: expected one of ${Object.keys(SWEEPS).join(', ')}, got ${values.scale}`);
const sweep = values.data === undefined
  ? chosen
  : chosen.replace(/^dataset: .*$/m, `dataset: {path: ${JSON.stringify(resolve(values.data))}, split: leave-one-out}`);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'gridrec-bench-pruning-'));
mkdirSync(dir, { recursive: true });

interface Arm {
  readonly name: string;
  readonly seconds: number;
  readonly epochs: number;
  readonly pruned: number;
  readonly best: { readonly label: string; readonly value: number; readonly id: string } | undefined;
}

/** Runs one arm through the CLI and reads its runs.db. */
async function arm(name: string, pruner: string): Promise<Arm> {
  const file = join(dir, `${name}.yaml`);
  const db = join(dir, `${name}.db`);
  writeFileSync(file, `name: ${name}\n${sweep}objective: {metric: ndcg@10, direction: max}\npruner: ${pruner}\n`);
  const args = [cli, 'run', file, '--db', db, ...(values.parallel !== undefined ? ['--parallel', values.parallel] : []), ...(values.cpu ? ['--cpu'] : [])];
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve) => spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }).once('exit', resolve));
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) console.error(`${name}: grid run exited ${String(code)} (see ${db})`);
  const store = await openStore(db, 'read');
  try {
    const trials = await store.listTrials({ sweep: name });
    const [top] = rankTrials(trials, await store.rankedAttempts({ sweep: name }, 'ndcg@10', 'max'), { metric: 'ndcg@10', direction: 'max', top: 1 });
    const train = (c: Record<string, unknown>) => c.train as Record<string, unknown>;
    const model = (c: Record<string, unknown>) => c.model as Record<string, unknown>;
    return {
      name,
      seconds,
      epochs: (await store.listEpochs({ sweep: name })).length,
      pruned: trials.filter((t) => t.state === 'pruned').length,
      best:
        top === undefined
          ? undefined
          : { id: top.trial.id, value: top.value, label: `${String(train(top.trial.config).loss)} b${String(train(top.trial.config).batch_size)} L${String(model(top.trial.config).max_seq_len)}` },
    };
  } finally {
    await store.close();
  }
}

const none = await arm('none', 'none');
const asha = await arm('asha', `{rule: asha, min_epochs: 1, reduction_factor: ${values.eta}}`);
console.log(`runs in ${dir}\n`);
console.log('| pruner | epochs trained | trials pruned | wall time | best trial | best val NDCG@10 |');
console.log('|---|---|---|---|---|---|');
for (const a of [none, asha]) {
  console.log(`| ${a.name === 'asha' ? `asha (r = 1, η = ${values.eta})` : 'none'} | ${a.epochs} | ${a.pruned} | ${a.seconds.toFixed(0)} s | ${a.best?.label ?? '–'} | ${a.best?.value.toFixed(4) ?? '–'} |`);
}
if (none.best !== undefined && asha.best !== undefined) {
  const same = none.best.id === asha.best.id;
  const gap = (none.best.value - asha.best.value) / none.best.value;
  console.log(`\nbest trial: ${same ? 'the same config' : 'another config'}; objective ${(100 * gap).toFixed(2)}% below the unpruned best (${Math.abs(gap) <= 0.01 ? 'within' : 'outside'} 1%)`);
  console.log(`epochs saved: ${(100 * (1 - asha.epochs / none.epochs)).toFixed(0)}%, wall time saved: ${(100 * (1 - asha.seconds / none.seconds)).toFixed(0)}%`);
}
