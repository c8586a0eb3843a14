/**
 * CPU backend throughput: matmul GFLOP/s on the shapes SASRec training hits, and training tokens/s of
 * a whole step (forward, loss, backward, Adam) per loss, at one and at two threads.
 *
 *   npx tsx scripts/bench-cpu.ts [--threads 1,2] [--seconds 2] [--items 3650] [--hidden 64] [--batch 128] [--len 50]
 *
 * Tokens are valid target positions (every position here). Figures go to BENCHMARKS.md with the
 * machine, the command, the date and the commit.
 */
import { CpuOps } from '../src/backend/cpu/cpu-ops.js';
import type { LossKind, Ops } from '../src/backend/ops.js';
import { syntheticTrainStep } from './synthetic-train-step.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}

const THREADS = arg('threads', '1,2').split(',').map(Number);
const SECONDS = Number(arg('seconds', '2'));
const V = Number(arg('items', '3650'));
const d = Number(arg('hidden', '64'));
const B = Number(arg('batch', '128'));
const L = Number(arg('len', '50'));

/** Runs `fn` repeatedly for about SECONDS after one warm-up call; returns calls per second. */
function rate(fn: () => void): number {
  fn();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < SECONDS * 1000) {
    fn();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

function benchMatmul(ops: Ops): void {
  const shapes: [string, number, number, number, boolean, boolean][] = [
    ['linear forward  x·Wᵀ', B * L, d, d, false, true],
    ['linear dW       dyᵀ·x', d, d, B * L, true, false],
    ['logits          h·Eᵀ', 1600, V, d, false, true],
    ['loss dH         G·E', 1600, d, V, false, false],
    ['loss dE         Gᵀ·h', V, d, 1600, true, false],
  ];
  for (const [name, m, n, k, ta, tb] of shapes) {
    const g = ops.allocGroup('mm', [
      { name: 'a', shape: [m * k], dtype: 'f32' }, { name: 'b', shape: [k * n], dtype: 'f32' }, { name: 'c', shape: [m * n], dtype: 'f32' },
    ]);
    ops.write(g.get('a'), Float32Array.from({ length: m * k }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
    ops.write(g.get('b'), Float32Array.from({ length: k * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5));
    const r = rate(() => ops.matmul(g.get('c'), g.get('a'), g.get('b'), m, n, k, { transA: ta, transB: tb }));
    console.log(`  matmul ${name.padEnd(22)} ${`${m}×${n}×${k}`.padEnd(16)} ${((2 * m * n * k * r) / 1e9).toFixed(2).padStart(6)} GFLOP/s`);
    ops.freeGroup(g);
  }
}

function benchStep(ops: Ops, kind: LossKind): number {
  const train = syntheticTrainStep(ops, { items: V, hidden: d, batch: B, len: L, loss: kind });
  const r = rate(() => train.step());
  train.free();
  return r * train.tokens;
}

console.log(`bench-cpu: V=${V} d=${d} B=${B} L=${L}, 2 blocks, 1 head; ${SECONDS} s per figure`);
for (const threads of THREADS) {
  const ops = await CpuOps.create({ threads });
  console.log(`${ops.deviceName}`);
  benchMatmul(ops);
  for (const kind of ['ce', 'cce', 'ce-', 'cce-', 'bce', 'bce+'] as const) {
    console.log(`  train step ${kind.padEnd(5)} ${(benchStep(ops, kind) / 1000).toFixed(1).padStart(8)} k tokens/s${kind.endsWith('-') || kind === 'bce+' ? ' (256 negatives)' : ''}`);
  }
  ops.close();
}
