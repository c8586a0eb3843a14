/**
 * The wgmma GEMMs of kernels/gemm_wg.cu (src/backend/cuda/gemm-wg-kernels.ts) beside matmul's mma.sync
 * kernels at the ML-20M linear layer's shapes (N = 27,648 packed rows, d = 256): the forward y = x·Wᵀ (nt),
 * the input gradient dx = dy·W (nn), the weight gradient dW += dyᵀ·x (tn, split-K), each with bf16 operands
 * and with the f32 operands the model passes today (the wgmma kernels round them to bf16 as they stage them). Median of
 * 20 batches of 10 calls after 3 warm-ups (CUDA events; a batch keeps the host's launch cost out of the figure). On the device machine (no npx):
 *
 *   node node_modules/tsx/dist/cli.mjs scripts/bench-gemm-wg.ts
 */
import { allocCudaGroup, type CudaTensor } from '../src/backend/cuda/cuda-tensor.js';
import { clearGemmCounters, GEMM_SCRATCH_FLOATS, matmul } from '../src/backend/cuda/gemm-kernels.js';
import { wgGemm, wgmmaAvailable, type WgTileN } from '../src/backend/cuda/gemm-wg-kernels.js';
import { toBf16Bits } from '../src/backend/bf16.js';
import type { DType } from '../src/backend/memory-plan.js';
import type { MatmulOptions } from '../src/backend/ops.js';
import { CudaContext } from '../src/cuda/context.js';
import { fillBytes, upload } from '../src/cuda/memory.js';
import { probeCuda } from '../src/cuda/probe.js';
import { Stream } from '../src/cuda/stream.js';
import { medianEventMs } from './median-event-ms.js';

const N = 27_648;
const d = 256;

function uploadRandom(t: CudaTensor): void {
  const f = Float32Array.from({ length: t.size }, () => 2 * Math.random() - 1);
  if (t.dtype === 'bf16') {
    const bits = new Uint16Array(t.size);
    toBf16Bits(f, bits);
    upload(t, bits, 0);
  } else {
    upload(t, f, 0);
  }
}

function main(): void {
  const probe = probeCuda();
  if (!probe.available) {
    console.log(`no CUDA device here: ${probe.reason}`);
    return;
  }
  const context = CudaContext.open(0);
  const stream = Stream.create();
  try {
    if (!wgmmaAvailable()) {
      console.log(`${context.device.name}: no sm_90a module loaded, nothing to compare`);
      return;
    }
    const spec = (name: string, shape: number[], dtype: DType) => ({ name, shape, dtype });
    const io = allocCudaGroup(context.allocator, 'io', [
      ...(['bf16', 'f32'] as const).flatMap((t) => [spec(`x_${t}`, [N, d], t), spec(`dy_${t}`, [N, d], t), spec(`W_${t}`, [d, d], t)]),
      spec('y', [N, d], 'bf16'), spec('dx', [N, d], 'f32'), spec('dW', [d, d], 'f32'), spec('scratch', [GEMM_SCRATCH_FLOATS], 'f32'),
    ]);
    for (const t of ['bf16', 'f32']) for (const name of ['x', 'dy', 'W']) uploadRandom(io.get(`${name}_${t}`));
    fillBytes(io.get('dW'), 0);
    clearGemmCounters(io.get('scratch'));
    const products: { name: string; out: string; a: string; b: string; m: number; n: number; k: number; options: MatmulOptions }[] = [
      { name: 'y = x·Wᵀ (nt)', out: 'y', a: 'x', b: 'W', m: N, n: d, k: d, options: { transB: true } },
      { name: 'dx = dy·W (nn)', out: 'dx', a: 'dy', b: 'W', m: N, n: d, k: d, options: {} },
      { name: 'dW += dyᵀ·x (tn)', out: 'dW', a: 'dy', b: 'x', m: d, n: d, k: N, options: { transA: true, accumulate: true } },
    ];
    console.log(`${context.device.name}: ML-20M linear layer (N ${N}, d ${d}), median of 20 batches of 10 after 3 warm-ups`);
    for (const p of products) {
      const g = (name: string) => io.get(name);
      const runs: [string, () => void][] = [
        ['matmul, f32 operands', () => matmul(stream, g(p.out), g(`${p.a}_f32`), g(`${p.b}_f32`), p.m, p.n, p.k, p.options, 'bf16', g('scratch'))],
        ['matmul, bf16 operands', () => matmul(stream, g(p.out), g(`${p.a}_bf16`), g(`${p.b}_bf16`), p.m, p.n, p.k, p.options, 'bf16', g('scratch'))],
        ...(['bf16', 'f32'] as const).flatMap((t) => ([128, 256] as WgTileN[]).map((tileN): [string, () => void] => [
          `wgGemm ${tileN}, ${t} operands`, () => wgGemm(stream, g(p.out), g(`${p.a}_${t}`), g(`${p.b}_${t}`), p.m, p.n, p.k, p.options, g('scratch'), { tileN }),
        ])),
      ];
      for (const [label, run] of runs) {
        const ms = medianEventMs(stream, run, 3, 20, 10);
        console.log(`${p.name.padEnd(18)} ${label.padEnd(28)} ${(ms * 1000).toFixed(1).padStart(8)} µs ${((2 * p.m * p.n * p.k) / ms / 1e9).toFixed(1).padStart(7)} TFLOP/s`);
      }
    }
    io.free();
  } finally {
    stream.destroy();
    context.close();
  }
}

main();
