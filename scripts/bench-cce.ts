/**
 * The CCE losses through the TypeScript launchers (src/backend/cuda/cuda-losses.ts), on GPU 0: forward
 * + backward of cce (exact and with the bf16 filter) and cce- on the shapes, median of 10 after
 * 3 warm-ups (CUDA events), with the achieved TFLOP/s (6·N·d·V) and the workspace bytes. The kernels
 * are the ones scripts/bench-cce.py times next to PyTorch; this run adds the launch path the trainer
 * uses (koffi, typed launches, the committed PTX).
 *
 *   npx tsx scripts/bench-cce.ts [--shapes s1,s2,...] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { toBf16Bits } from '../src/backend/bf16.js';
import { CCE_FILTER_BF16 } from '../src/backend/cuda/cce-kernels.js';
import { allocCudaGroup } from '../src/backend/cuda/cuda-tensor.js';
import { cudaLossBackward, cudaLossForward, cudaLossWorkspace } from '../src/backend/cuda/cuda-losses.js';
import type { LossParams } from '../src/backend/ops.js';
import { CudaContext } from '../src/cuda/context.js';
import { fillBytes, upload, type DeviceRegion } from '../src/cuda/memory.js';
import { probeCuda } from '../src/cuda/probe.js';
import { Stream } from '../src/cuda/stream.js';
import { medianEventMs } from './median-event-ms.js';

const SHAPES: Record<string, { N: number; d: number; V: number; kinds: readonly string[] }> = {
  s1: { N: 65536, d: 64, V: 3706, kinds: ['cce', 'cce filter'] },
  s2: { N: 65536, d: 256, V: 15405, kinds: ['cce', 'cce filter'] },
  s3: { N: 65536, d: 64, V: 176450, kinds: ['cce', 'cce filter'] },
  s4: { N: 65536, d: 256, V: 176450, kinds: ['cce', 'cce filter', 'cce- 511'] },
  s5: { N: 32768, d: 256, V: 1661327, kinds: ['cce', 'cce filter'] },
};
const WARMUP = 3;
const REPS = 10;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** Host chunk of the input generation: the s5 table alone is 425 M elements. */
const CHUNK = 1 << 22;

/** Uploads n bf16 N(0, sigma²) samples (Box-Muller, rounded to nearest even) chunk by chunk. */
function uploadGaussianBf16(dst: DeviceRegion, n: number, sigma: number): void {
  const f = new Float32Array(CHUNK);
  const bits = new Uint16Array(CHUNK);
  for (let at = 0; at < n; at += CHUNK) {
    const m = Math.min(CHUNK, n - at);
    for (let i = 0; i < m; i++) {
      f[i] = sigma * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
    }
    toBf16Bits(f.subarray(0, m), bits);
    upload(dst, bits.subarray(0, m), 2 * at);
  }
}

function main(): void {
  const probe = probeCuda();
  if (!probe.available) {
    console.log(`no CUDA device here: ${probe.reason}`);
    return;
  }
  const names = (arg('--shapes') ?? Object.keys(SHAPES).join(',')).split(',');
  const context = CudaContext.open(0);
  // A blocking stream: the uploads on the legacy stream come first.
  const stream = Stream.create();
  const rows: Record<string, number | string>[] = [];
  try {
    for (const name of names) {
      const shape = SHAPES[name];
      if (shape === undefined) throw new Error(`--shapes: unknown shape "${name}"; known: ${Object.keys(SHAPES).join(', ')}`);
      const { N, d, V } = shape;
      const io = allocCudaGroup(context.allocator, 'io', [
        { name: 'h', shape: [N, d], dtype: 'bf16' }, { name: 'table', shape: [V + 1, d], dtype: 'bf16' },
        { name: 'targets', shape: [N], dtype: 'i32' }, { name: 'loss', shape: [1], dtype: 'f32' },
        { name: 'dH', shape: [N, d], dtype: 'f32' }, { name: 'dTable', shape: [V + 1, d], dtype: 'f32' },
        // The GEMM scratch of the loss entries: the streamed losses benchmarked here never touch it.
        { name: 'scratch', shape: [1], dtype: 'f32' },
      ]);
      uploadGaussianBf16(io.get('h'), N * d, 1);
      uploadGaussianBf16(io.get('table'), (V + 1) * d, 1 / Math.sqrt(d));
      upload(io.get('targets'), Int32Array.from({ length: N }, () => 1 + Math.floor(Math.random() * V)));
      fillBytes(io.get('dTable'), 0);
      for (const kind of shape.kinds) {
        const [loss, option] = kind.split(' ');
        const n = loss === 'cce-' ? Number(option) : 0;
        let step = 0;
        const params = (): LossParams => ({
          kind: loss as 'cce' | 'cce-', validRows: N,
          ...(option === 'filter' ? { gradientFilter: CCE_FILTER_BF16 } : {}),
          ...(n > 0 ? { negatives: { count: n, sampling: 'uniform' as const, seed: 42, step: step++ } } : {}),
        });
        const dims = { rows: N, items: V, hidden: d };
        const wsSpecs = cudaLossWorkspace(params(), dims, 'bf16', 'bf16');
        const ws = allocCudaGroup(context.allocator, 'ws', wsSpecs);
        const run = (): void => {
          const p = params();
          cudaLossForward(stream, io.get('loss'), ws, io.get('scratch'), io.get('h'), io.get('table'), io.get('targets'), dims, p, 'bf16');
          cudaLossBackward(stream, io.get('dH'), io.get('dTable'), ws, io.get('scratch'), io.get('h'), io.get('table'), io.get('targets'), dims, p, 1, 'bf16');
        };
        const ms = medianEventMs(stream, run, WARMUP, REPS);
        rows.push({ loss: kind, N, d, V, ms, tflops: n > 0 ? '-' : (6 * N * d * V) / ms / 1e9, extraMB: ws.plan.bytes / 1e6 });
        ws.free();
      }
      io.free();
    }
  } finally {
    context.close();
  }
  console.log(`\n${context.device.name}: fwd+bwd through the TypeScript launchers, median of ${REPS} after ${WARMUP} warm-ups (CUDA events)`);
  console.log(`${'loss'.padEnd(12)} ${'N'.padStart(6)} ${'d'.padStart(4)} ${'V'.padStart(8)} ${'ms'.padStart(9)} ${'TFLOP/s'.padStart(8)} ${'extra MB'.padStart(9)}`);
  for (const r of rows) {
    const tf = typeof r.tflops === 'number' ? r.tflops.toFixed(0) : r.tflops;
    console.log(`${String(r.loss).padEnd(12)} ${String(r.N).padStart(6)} ${String(r.d).padStart(4)} ${String(r.V).padStart(8)} ${(r.ms as number).toFixed(2).padStart(9)} ${String(tf).padStart(8)} ${(r.extraMB as number).toFixed(0).padStart(9)}`);
  }
  const json = arg('--json');
  if (json !== undefined) writeFileSync(json, JSON.stringify({ device: context.device.name, rows }, null, 1));
}

main();
