/**
 * The GEMMs of a SASRec linear layer through the TypeScript launchers (src/backend/cuda/gemm-kernels.ts),
 * on GPU 0, at the ML-1M (N = 25,600, d = 64), ML-20M (N = 131,072, d = 256) and batch 32 × L 32 (N = 1,024, d = 256) shapes: the forward
 * y = x·Wᵀ, the input gradient dx = dy·W and the weight gradient dW += dyᵀ·x (split-K), each with the
 * operand dtypes the model passes, for each bf16 kernel set ('async', the default; 'tiled', the same
 * tiles register-staged; 'legacy', the 128 × 64 kernel before either). Median over 20 batches of 10 calls after 3 warm-ups (CUDA events
 * around each batch: the host queues ahead, so its launch cost stays out), per call; TFLOP/s = 2·m·n·k / t.
 * On the device machine (no npx):
 *
 *   node node_modules/tsx/dist/cli.mjs scripts/bench-gemm.ts [--kernels async,tiled,legacy] [--shapes ml-1m,ml-20m,b32] [--json FILE]
 */
import { toBf16Bits } from '../src/backend/bf16.js';
import { writeFileSync } from 'node:fs';
import { allocCudaGroup, type CudaTensor } from '../src/backend/cuda/cuda-tensor.js';
import { clearGemmCounters, GEMM_SCRATCH_FLOATS, matmul, setGemmKernels, type GemmKernels } from '../src/backend/cuda/gemm-kernels.js';
import type { DType } from '../src/backend/memory-plan.js';
import type { MatmulOptions } from '../src/backend/ops.js';
import { CudaContext } from '../src/cuda/context.js';
import { fillBytes, upload } from '../src/cuda/memory.js';
import { probeCuda } from '../src/cuda/probe.js';
import { Stream } from '../src/cuda/stream.js';
import { medianEventMs } from './median-event-ms.js';

const SHAPES: Readonly<Record<string, { N: number; d: number }>> = { 'ml-1m': { N: 25_600, d: 64 }, 'ml-20m': { N: 131_072, d: 256 }, b32: { N: 1024, d: 256 } };
const WARMUP = 3;
const REPS = 20;
/** Launches between one pair of events: the host queues ahead, so µs-long products are timed without its launch cost. */
const BATCH = 10;

/** One product of a linear layer: out[m × n] (+)= op(a)·op(b), named by the tensors it reads. */
interface Product {
  readonly name: string;
  readonly out: 'y' | 'dx' | 'dW';
  readonly a: 'x' | 'dy';
  readonly b: 'x' | 'W';
  /** The dtype of the activation (x, and y for the forward). */
  readonly act: DType;
  readonly m: (N: number, d: number) => number;
  readonly n: (N: number, d: number) => number;
  readonly k: (N: number, d: number) => number;
  readonly options: MatmulOptions;
}

// src/model/linear.ts: linearForward and linearBackward, with bf16 or f32 activations; W, dy, dx, dW are f32.
const PRODUCTS: readonly Product[] = (['bf16', 'f32'] as const).flatMap((act): Product[] => [
  { name: `y = x·Wᵀ (x ${act})`, out: 'y', a: 'x', b: 'W', act, m: (N) => N, n: (_, d) => d, k: (_, d) => d, options: { transB: true } },
  { name: `dW += dyᵀ·x (x ${act})`, out: 'dW', a: 'dy', b: 'x', act, m: (_, d) => d, n: (_, d) => d, k: (N) => N, options: { transA: true, accumulate: true } },
  // dx reads no activation: once, with the f32 group.
  ...(act === 'f32' ? [{ name: 'dx = dy·W', out: 'dx', a: 'dy', b: 'W', act, m: (N: number) => N, n: (_: number, d: number) => d, k: (_: number, d: number) => d, options: {} } as const] : []),
]);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** Host chunk of the input generation. */
const CHUNK = 1 << 22;

/** Uploads uniform [-1, 1) values at the tensor's dtype (bf16 rounded to nearest even). */
function uploadRandom(t: CudaTensor): void {
  const f = new Float32Array(CHUNK);
  const bits = new Uint16Array(CHUNK);
  for (let at = 0; at < t.size; at += CHUNK) {
    const n = Math.min(CHUNK, t.size - at);
    for (let i = 0; i < n; i++) f[i] = 2 * Math.random() - 1;
    if (t.dtype === 'bf16') {
      toBf16Bits(f.subarray(0, n), bits);
      upload(t, bits.subarray(0, n), 2 * at);
    } else {
      upload(t, f.subarray(0, n), 4 * at);
    }
  }
}

function parseKernels(text: string): GemmKernels[] {
  return text.split(',').map((k) => {
    if (k !== 'async' && k !== 'tiled' && k !== 'mixed' && k !== 'legacy') throw new Error(`--kernels: expected async, tiled, mixed or legacy, got "${k}"`);
    return k;
  });
}

function main(): void {
  const probe = probeCuda();
  if (!probe.available) {
    console.log(`no CUDA device here: ${probe.reason}`);
    return;
  }
  const kernelSets = parseKernels(arg('--kernels') ?? 'async,tiled,legacy');
  const context = CudaContext.open(0);
  // A blocking stream: the uploads on the legacy stream come first.
  const stream = Stream.create();
  const rows: { shape: string; product: string; kernels: GemmKernels; m: number; n: number; k: number; ms: number; tflops: number }[] = [];
  try {
    const wanted = (arg('--shapes') ?? Object.keys(SHAPES).join(',')).split(',');
    for (const shape of wanted) if (!(shape in SHAPES)) throw new Error(`--shapes: expected names from ${Object.keys(SHAPES).join(', ')}, got "${shape}"`);
    for (const [shape, { N, d }] of Object.entries(SHAPES).filter(([name]) => wanted.includes(name))) {
      for (const act of ['bf16', 'f32'] as const) {
        const io = allocCudaGroup(context.allocator, 'io', [
          { name: 'x', shape: [N, d], dtype: act }, { name: 'y', shape: [N, d], dtype: act },
          { name: 'dy', shape: [N, d], dtype: 'f32' }, { name: 'dx', shape: [N, d], dtype: 'f32' },
          { name: 'W', shape: [d, d], dtype: 'f32' }, { name: 'dW', shape: [d, d], dtype: 'f32' },
          { name: 'scratch', shape: [GEMM_SCRATCH_FLOATS], dtype: 'f32' },
        ]);
        for (const name of ['x', 'dy', 'W'] as const) uploadRandom(io.get(name));
        fillBytes(io.get('dW'), 0);
        clearGemmCounters(io.get('scratch'));
        for (const p of PRODUCTS.filter((q) => q.act === act)) {
          const [m, n, k] = [p.m(N, d), p.n(N, d), p.k(N, d)];
          for (const kernels of kernelSets) {
            setGemmKernels(kernels);
            const run = (): void => matmul(stream, io.get(p.out), io.get(p.a), io.get(p.b), m, n, k, p.options, 'bf16', io.get('scratch'));
            const ms = medianEventMs(stream, run, WARMUP, REPS, BATCH);
            rows.push({ shape, product: p.name, kernels, m, n, k, ms, tflops: (2 * m * n * k) / ms / 1e9 });
          }
        }
        io.free();
      }
    }
  } finally {
    stream.destroy();
    context.close();
  }
  console.log(`\n${context.device.name}: bf16 GEMMs of a linear layer, per call: median of ${REPS} batches of ${BATCH} after ${WARMUP} warm-ups (CUDA events)`);
  console.log(`${'shape'.padEnd(7)} ${'product'.padEnd(24)} ${'kernels'.padEnd(7)} ${'m'.padStart(7)} ${'n'.padStart(4)} ${'k'.padStart(7)} ${'ms'.padStart(8)} ${'TFLOP/s'.padStart(8)}`);
  for (const r of rows) {
    console.log(`${r.shape.padEnd(7)} ${r.product.padEnd(24)} ${r.kernels.padEnd(7)} ${String(r.m).padStart(7)} ${String(r.n).padStart(4)} ${String(r.k).padStart(7)} ${r.ms.toFixed(4).padStart(8)} ${r.tflops.toFixed(1).padStart(8)}`);
  }
  const json = arg('--json');
  if (json !== undefined) writeFileSync(json, JSON.stringify({ device: context.device.name, rows }, null, 1));
}

main();
