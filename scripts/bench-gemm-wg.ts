/**
 * The wgmma GEMMs of kernels/gemm_wg.cu (src/backend/cuda/gemm-wg-kernels.ts) beside matmul's mma.sync
 * kernels at the ML-20M linear layer's shapes (N = 27,648 packed rows, d = 256): the forward y = x·Wᵀ (nt),
 * the input gradient dx = dy·W (nn), the weight gradient dW += dyᵀ·x (tn, split-K), each with bf16 operands
 * and with the f32 operands the model passes today (the wgmma kernels round them to bf16 as they stage them);
 * then the model's own dtypes and epilogues (transformer-block.ts): a bf16 activation (att, ffn_drop) times
 * the f32 W, and the forwards of attn_out (residual + padding + layer norm), ffn1 (ReLU + dropout + padding),
 * ffn2 (dropout + residual + padding + layer norm) and ffn2's input gradient (nn, the gate), each beside
 * matmul's 'mixed' kernels on the same product. Median of
 * 20 batches of 10 calls after 3 warm-ups (CUDA events; a batch keeps the host's launch cost out of the figure). On the device machine (no npx):
 *
 *   node node_modules/tsx/dist/cli.mjs scripts/bench-gemm-wg.ts
 */
import { allocCudaGroup, type CudaTensor } from '../src/backend/cuda/cuda-tensor.js';
import { clearGemmCounters, GEMM_SCRATCH_FLOATS, matmul, setGemmKernels } from '../src/backend/cuda/gemm-kernels.js';
import { wgGemm, wgmmaAvailable, type WgTileN } from '../src/backend/cuda/gemm-wg-kernels.js';
import { toBf16Bits } from '../src/backend/bf16.js';
import type { DType } from '../src/backend/memory-plan.js';
import type { MatmulEpilogue, MatmulOptions } from '../src/backend/ops.js';
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

/** One timed product: its tensors by name in the io group. */
interface Product {
  readonly name: string;
  readonly out: string;
  readonly a: string;
  readonly b: string;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly options: MatmulOptions;
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
    setGemmKernels('mixed');
    const products: Product[] = [
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
    modelProducts(context, stream);
  } finally {
    stream.destroy();
    context.close();
  }
}

/**
 * The model's products at the ML-20M shape with its dtypes (bf16 activations, f32 weights, residual stream
 * and norms; transformer-block.ts): wgGemm on both tiles beside matmul ('mixed'), the epilogues as the block
 * passes them (dropout p = 0.2, 1 row in 8 padding).
 */
function modelProducts(context: CudaContext, stream: Stream): void {
  const spec = (name: string, shape: number[], dtype: DType) => ({ name, shape, dtype });
  const io = allocCudaGroup(context.allocator, 'model', [
    spec('att', [N, d], 'bf16'), spec('ffn_drop', [N, d], 'bf16'), spec('ln2', [N, d], 'f32'), spec('g1', [N, d], 'f32'),
    spec('W', [d, d], 'f32'), spec('bias', [d], 'f32'), spec('ln1', [N, d], 'f32'), spec('ids', [N], 'i32'),
    spec('lnw', [d], 'f32'), spec('lnb', [d], 'f32'), spec('mean', [N], 'f32'), spec('rstd', [N], 'f32'),
    spec('x2', [N, d], 'f32'), spec('ln_out', [N, d], 'f32'), spec('y', [N, d], 'bf16'), spec('g2', [N, d], 'f32'),
    spec('scratch', [GEMM_SCRATCH_FLOATS], 'f32'),
  ]);
  for (const name of ['att', 'ffn_drop', 'ln2', 'g1', 'W', 'bias', 'ln1', 'lnw', 'lnb']) uploadRandom(io.get(name));
  upload(io.get('ids'), Int32Array.from({ length: N }, (_, r) => (r % 8 === 0 ? 0 : 1 + (r % 97))), 0);
  clearGemmCounters(io.get('scratch'));
  const g = (name: string) => io.get(name);
  const drop = { p: 0.2, key: { seed: 5, step: 9, site: 2 } };
  const norm = { out: g('ln_out'), mean: g('mean'), rstd: g('rstd'), weight: g('lnw'), bias: g('lnb'), eps: 1e-8, ids: g('ids') };
  const linear = (epilogue?: MatmulEpilogue): MatmulOptions => ({ transB: true, bias: g('bias'), ...(epilogue === undefined ? {} : { epilogue }) });
  const products: Product[] = [
    { name: 'att·Wᵀ (bf16 · f32)', out: 'y', a: 'att', b: 'W', m: N, n: d, k: d, options: linear() },
    { name: 'ffn_drop·Wᵀ (bf16·f32)', out: 'x2', a: 'ffn_drop', b: 'W', m: N, n: d, k: d, options: linear() },
    { name: 'attn_out + res + LN', out: 'x2', a: 'att', b: 'W', m: N, n: d, k: d, options: linear({ residual: g('ln1'), padding: g('ids'), layerNorm: norm }) },
    { name: 'ffn1 relu + drop', out: 'y', a: 'ln2', b: 'W', m: N, n: d, k: d, options: linear({ relu: true, dropout: drop, padding: g('ids') }) },
    { name: 'ffn2 drop + res + LN', out: 'x2', a: 'ffn_drop', b: 'W', m: N, n: d, k: d, options: linear({ dropout: drop, residual: g('ln2'), padding: g('ids'), layerNorm: norm }) },
    { name: "ffn2's dx, gate (nn)", out: 'g2', a: 'g1', b: 'W', m: N, n: d, k: d, options: { epilogue: { gate: { by: g('ffn_drop'), scale: 1 / 0.8 } } } },
  ];
  console.log('The model\'s dtypes and epilogues (a bf16 activation or f32 ln2 / g1, W f32):');
  for (const p of products) {
    const runs: [string, () => void][] = [
      ["matmul ('mixed')", () => matmul(stream, g(p.out), g(p.a), g(p.b), p.m, p.n, p.k, p.options, 'bf16', g('scratch'))],
      ...([128, 256] as WgTileN[]).map((tileN): [string, () => void] => [
        `wgGemm ${tileN}`, () => wgGemm(stream, g(p.out), g(p.a), g(p.b), p.m, p.n, p.k, p.options, g('scratch'), { tileN, partialFloats: GEMM_SCRATCH_FLOATS - 1024 }),
      ]),
    ];
    for (const [label, run] of runs) {
      const ms = medianEventMs(stream, run, 3, 20, 10);
      console.log(`${p.name.padEnd(24)} ${label.padEnd(18)} ${(ms * 1000).toFixed(1).padStart(8)} µs`);
    }
  }
  io.free();
}

main();
