/**
 * Throughput of the random-number and evaluation primitives on this CPU: Philox4x32-10 calls,
 * negatives drawn per second (uniform and popularity, one training step's worth), and top-K over the
 * full catalogue. Run: npx tsx scripts/bench-sampling.ts
 */
import { topK } from '../src/backend/cpu/topk.js';
import { fillNegatives, popularitySampler, uniformSampler, type NegativeSampler } from '../src/backend/negatives.js';
import { philox4x32 } from '../src/backend/philox.js';

/** Best wall time in seconds of `reps` runs of `fn` (after one warm-up run). */
function best(reps: number, fn: () => void): number {
  fn();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    fn();
    t = Math.min(t, (performance.now() - start) / 1000);
  }
  return t;
}

const fmt = (x: number): string => `${(x / 1e6).toFixed(1)} M/s`;

const words = new Uint32Array(4);
const calls = 2_000_000;
const tPhilox = best(3, () => {
  for (let i = 0; i < calls; i++) philox4x32(i, 1, 2, 3, 42, 7, words);
});
console.log(`philox4x32-10: ${fmt(calls / tPhilox)} calls`);

// One default training step: B = 128, L = 50 positions, n = 256 negatives each.
const positions = 128 * 50;
const n = 256;
const labels = new Int32Array(positions).map((_, i) => 1 + (i % 9000));
const out = new Int32Array(positions * n);
for (const V of [9_742, 1_661_327]) {
  const counts = new Float64Array(V + 1).map((_, i) => (i === 0 ? 0 : 1 + ((i * 2654435761) % 1000)));
  const samplers: NegativeSampler[] = [uniformSampler(V), popularitySampler(counts)];
  for (const s of samplers) {
    const t = best(3, () => fillNegatives(out, s, 42, 7, labels, n));
    console.log(`negatives, ${s.kind}, V = ${V}: ${fmt((positions * n) / t)} draws (${(t * 1000).toFixed(1)} ms per ${positions} × ${n} step)`);
  }
}

// Evaluation: 256 users, history 50, top 100.
for (const V of [9_742, 100_000]) {
  const rows = 256;
  const k = 100;
  const scores = new Float32Array(rows * (V + 1)).map((_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
  const offsets = Int32Array.from({ length: rows + 1 }, (_, r) => r * 50);
  const items = Int32Array.from({ length: rows * 50 }, (_, i) => 1 + ((i * 7919) % V));
  const top = new Int32Array(rows * k);
  const t = best(3, () => topK(top, scores, { offsets, items }, 0, rows, V, k));
  console.log(`topK, V = ${V}, ${rows} rows, K = ${k}: ${fmt((rows * V) / t)} scores (${(t * 1000).toFixed(1)} ms)`);
}
