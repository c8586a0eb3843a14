/**
 * How the CPU backend scales with threads: training tokens/s of whole SASRec steps (forward, loss,
 * backward, Adam) at d 64, batch 128, 2 blocks, 1 head, for L 50 and L 200 on synthetic ids, at each
 * thread count given; then, per op, the share of a step's time at the fewest and the most threads, so
 * an op that does not scale (runs on one thread, or waits on the pool's dispatch) stands out.
 *
 *   npx tsx scripts/bench-cpu-threads.ts 1,2,4,8,16 [--lens 50,200] [--loss ce] [--items 3706] [--seconds 3]
 *
 * Prints a table, then one JSON line (`{"threads": …, "results": […]}`) for BENCHMARKS.md and scripts.
 * Threads above the machine's cores are run all the same (and say so): they measure oversubscription.
 */
import { availableParallelism, cpus } from 'node:os';
import { CpuOps } from '../src/backend/cpu/cpu-ops.js';
import type { LossKind, Ops } from '../src/backend/ops.js';
import { syntheticTrainStep } from './synthetic-train-step.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

const list = (text: string): number[] => text.split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a list of positive integers such as 1,2,4, got "${text}"`);
  return n;
});

const positional = process.argv.slice(2).find((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').startsWith('--'));
const THREADS = list(positional ?? arg('threads', '1,2'));
const LENS = list(arg('lens', '50,200'));
const LOSS = arg('loss', 'ce') as LossKind;
const V = Number(arg('items', '3706'));
const SECONDS = Number(arg('seconds', '3'));
const D = 64;
const B = 128;

/** Wall time per op method over the timed steps, in ms. */
type OpTimes = Record<string, number>;

/**
 * The backend with every op call timed on the main thread (a pool op's time includes waiting for its
 * workers: what the step waits for). Nested calls are not double-counted: ops do not call ops.
 */
function timed(ops: Ops, times: OpTimes): Ops {
  return new Proxy(ops, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof v !== 'function' || typeof key !== 'string') return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          times[key] = (times[key] ?? 0) + performance.now() - t0;
        }
      };
    },
  });
}

interface Result {
  readonly threads: number;
  readonly len: number;
  readonly tokensPerSecond: number;
  readonly msPerStep: number;
  /** Milliseconds per step in each op. */
  readonly opMsPerStep: Readonly<Record<string, number>>;
}

async function measure(threads: number, L: number): Promise<Result> {
  const base = await CpuOps.create({ threads });
  const times: OpTimes = {};
  const ops = timed(base, times);
  const train = syntheticTrainStep(ops, { items: V, hidden: D, batch: B, len: L, loss: LOSS });
  train.step(); // warm-up: compilation, first touches
  for (const k of Object.keys(times)) delete times[k];
  const start = performance.now();
  let steps = 0;
  while (steps < 2 || performance.now() - start < SECONDS * 1000) {
    train.step();
    steps++;
  }
  const ms = (performance.now() - start) / steps;
  train.free();
  base.close();
  const opMsPerStep = Object.fromEntries(Object.entries(times).map(([k, t]): [string, number] => [k, t / steps]).sort((a, b) => b[1] - a[1]));
  return { threads, len: L, tokensPerSecond: (train.tokens * 1000) / ms, msPerStep: ms, opMsPerStep };
}

const cores = availableParallelism();
console.log(`bench-cpu-threads: SASRec d ${D}, batch ${B}, 2 blocks, 1 head, V ${V}, loss ${LOSS}; ${cpus()[0]?.model.trim() ?? 'CPU'}, ${cores} cores`);
if (THREADS.some((t) => t > cores)) console.log(`note: thread counts above ${cores} oversubscribe this machine's cores`);
const results: Result[] = [];
for (const L of LENS) {
  for (const threads of THREADS) results.push(await measure(threads, L));
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(`\n${'L'.padStart(4)} ${'threads'.padStart(7)} ${'tokens/s'.padStart(10)} ${'speed-up'.padStart(8)} ${'ms/step'.padStart(9)}`);
for (const r of results) {
  const one = results.find((x) => x.len === r.len && x.threads === Math.min(...THREADS));
  console.log(`${String(r.len).padStart(4)} ${String(r.threads).padStart(7)} ${fmt(r.tokensPerSecond).padStart(10)} ${`${fmt(r.tokensPerSecond / (one?.tokensPerSecond ?? r.tokensPerSecond), 2)}×`.padStart(8)} ${fmt(r.msPerStep, 1).padStart(9)}`);
}

// Per op: ms per step at the fewest and the most threads, and how much faster it got.
const lo = Math.min(...THREADS);
const hi = Math.max(...THREADS);
for (const L of LENS) {
  const a = results.find((r) => r.len === L && r.threads === lo)!;
  const b = results.find((r) => r.len === L && r.threads === hi)!;
  console.log(`\nL ${L}: ms per step by op, ${lo} → ${hi} thread(s)`);
  for (const [op, ms] of Object.entries(a.opMsPerStep)) {
    const at = b.opMsPerStep[op] ?? 0;
    console.log(`  ${op.padEnd(20)} ${fmt(ms, 2).padStart(9)} ${fmt(at, 2).padStart(9)} ${`${fmt(ms / Math.max(at, 1e-9), 2)}×`.padStart(8)}`);
  }
}
console.log(JSON.stringify({ machine: cpus()[0]?.model.trim() ?? 'CPU', cores, loss: LOSS, items: V, hidden: D, batch: B, results }));
