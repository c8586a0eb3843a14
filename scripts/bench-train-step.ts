/**
 * Times the GPU trainer on a data set: a training step (host wall clock and device time), an
 * evaluation, and one step op by op (CUDA events around every op on the backend's stream), for
 * BENCHMARKS.md. On the device machine (no npx):
 *
 *   node node_modules/tsx/dist/cli.mjs scripts/bench-train-step.ts --data ml-1m.txt \
 *     [--loss cce] [--batch 128] [--len 200] [--hidden 64] [--heads 1] [--blocks 2] [--negatives 256] \
 *     [--steps 40] [--json out.json]
 *
 * The data file is a `user item1 item2 …` sequence file split leave-one-out.
 */
import { writeFileSync } from 'node:fs';
import { CudaOps } from '../src/backend/cuda/cuda-ops.js';
import type { Ops } from '../src/backend/ops.js';
import { trainBatches } from '../src/data/batches.js';
import { loadDataset } from '../src/data/load.js';
import { CudaEvent } from '../src/cuda/stream.js';
import { resolveTrialConfig } from '../src/trainer/config.js';
import { modelDims, openTrial, trialRows } from '../src/trainer/train-loop.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** Ops that only move memory or read counters are not timed. */
const UNTIMED = new Set(['allocGroup', 'freeGroup', 'memory', 'resetPeak', 'readF32', 'readI32', 'close', 'stream',
  'lossWorkspace', 'attentionWorkspace', 'embeddingWorkspace']);

/** Wraps `ops` so that every op call records a pair of events on its stream, collected in `log`. */
function timed(ops: CudaOps, log: { name: string; start: CudaEvent; end: CudaEvent }[]): Ops {
  return new Proxy(ops, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      // Op by op: a recorded step would hide the ops inside one graph.
      if (prop === 'recordStep') return () => { throw new Error('the profiled trial runs op by op'); };
      // Bound to the target: its private fields are not reachable through the proxy.
      if (typeof prop !== 'string' || UNTIMED.has(prop)) return (value as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        const start = CudaEvent.create();
        const end = CudaEvent.create();
        start.record(target.stream);
        const out = (value as (...a: unknown[]) => unknown).apply(target, args);
        end.record(target.stream);
        log.push({ name: prop, start, end });
        return out;
      };
    },
  }) as unknown as Ops;
}

/** Device time and calls per op name over the logged events, divided by `passes`; empties the log. */
function byOp(log: { name: string; start: CudaEvent; end: CudaEvent }[], passes: number): [string, { ms: number; calls: number }][] {
  const totals = new Map<string, { ms: number; calls: number }>();
  for (const e of log) {
    const row = totals.get(e.name) ?? { ms: 0, calls: 0 };
    row.ms += e.end.elapsedMsSince(e.start) / passes;
    row.calls += 1 / passes;
    totals.set(e.name, row);
    e.start.destroy();
    e.end.destroy();
  }
  log.length = 0;
  return [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms);
}

async function main(): Promise<void> {
  const steps = Number(arg('steps', '40'));
  const loss = arg('loss', 'cce');
  const cfg = resolveTrialConfig({
    dataset: { path: arg('data', 'ml-1m.txt'), split: 'leave-one-out' },
    model: { hidden: Number(arg('hidden', '64')), heads: Number(arg('heads', '1')), blocks: Number(arg('blocks', '2')), max_seq_len: Number(arg('len', '200')) },
    train: { loss, batch_size: Number(arg('batch', '128')), ...(loss.endsWith('-') || loss === 'bce+' ? { negatives: Number(arg('negatives', '256')) } : {}) },
  });
  const data = await loadDataset(cfg.dataset);
  const ops = CudaOps.create();
  const batches = [...trainBatches(data.train, { batchSize: cfg.train.batch_size, maxLen: cfg.model.max_seq_len, seed: 1, epoch: 0 })];
  const { trial, close } = openTrial(ops, cfg, data);
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) trial.trainStep(batches[i % batches.length]!);
  };
  run(3);
  ops.stream.synchronize();
  const t0 = CudaEvent.create();
  const t1 = CudaEvent.create();
  const wall0 = performance.now();
  t0.record(ops.stream);
  run(steps);
  const hostMs = (performance.now() - wall0) / steps;
  t1.record(ops.stream);
  t1.synchronize();
  const wallMs = (performance.now() - wall0) / steps;
  const deviceMs = t1.elapsedMsSince(t0) / steps;
  // The first evaluation loads its kernels' modules: the second is the one an epoch pays.
  await trial.evaluate('validation');
  const e0 = performance.now();
  await trial.evaluate('validation');
  const evalMs = performance.now() - e0;
  const peakBytes = ops.memory().peakBytes;
  close();

  // One step op by op, on a second trial whose ops are wrapped.
  const log: { name: string; start: CudaEvent; end: CudaEvent }[] = [];
  const profiled = openTrial(timed(ops, log), cfg, data);
  profiled.trial.trainStep(batches[0]!);
  ops.stream.synchronize();
  log.length = 0;
  const profiledSteps = 5;
  for (let i = 0; i < profiledSteps; i++) profiled.trial.trainStep(batches[i + 1]!);
  ops.stream.synchronize();
  const rows = byOp(log, profiledSteps);
  // The evaluation op by op (one pass over the validation users).
  await profiled.trial.evaluate('validation');
  const evalRows = byOp(log, 1);
  profiled.close();
  const opsMs = rows.reduce((s, [, r]) => s + r.ms, 0);
  const launches = rows.reduce((s, [, r]) => s + r.calls, 0);
  console.log(`${ops.deviceName}; ${loss}, B ${cfg.train.batch_size}, L ${cfg.model.max_seq_len}, d ${cfg.model.hidden}, H ${cfg.model.heads}, ${batches.length} steps/epoch`);
  console.log(`step (recorded: one graph replay): host queueing ${hostMs.toFixed(3)} ms, wall ${wallMs.toFixed(3)} ms, device ${deviceMs.toFixed(3)} ms; evaluation ${evalMs.toFixed(1)} ms; epoch ≈ ${((wallMs * batches.length + evalMs) / 1000).toFixed(3)} s`);
  const rowsPerStep = trialRows(cfg, data, modelDims(cfg, data));
  console.log(`rows per step ${rowsPerStep} (padded: ${cfg.train.batch_size * cfg.model.max_seq_len}); peak allocated ${(peakBytes / 2 ** 20).toFixed(1)} MiB`);
  console.log(`ops per step: ${launches.toFixed(0)} calls, ${opsMs.toFixed(3)} ms of device time between their events`);
  for (const [name, r] of rows) console.log(`  ${name.padEnd(20)} ${r.ms.toFixed(3).padStart(8)} ms  ${r.calls.toFixed(0).padStart(4)} calls  ${((100 * r.ms) / opsMs).toFixed(1).padStart(5)}%`);
  const evalOpsMs = evalRows.reduce((s, [, r]) => s + r.ms, 0);
  console.log(`evaluation op by op: ${evalRows.reduce((s, [, r]) => s + r.calls, 0)} calls, ${evalOpsMs.toFixed(1)} ms of device time between their events`);
  for (const [name, r] of evalRows) console.log(`  ${name.padEnd(20)} ${r.ms.toFixed(1).padStart(8)} ms  ${r.calls.toFixed(0).padStart(6)} calls  ${((100 * r.ms) / evalOpsMs).toFixed(1).padStart(5)}%`);
  const json = arg('json', '');
  if (json !== '') {
    writeFileSync(json, JSON.stringify({ device: ops.deviceName, config: cfg, hostMs, wallMs, deviceMs, evalMs, steps: batches.length, ops: Object.fromEntries(rows), evalOps: Object.fromEntries(evalRows) }, null, 1));
  }
  ops.close();
}

await main();
