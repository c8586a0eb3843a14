/**
 * One whole training step of SASRec on the CUDA backend (bf16 preset) under the 'wgmma' GEMM kernel set
 * against the same step under 'mixed' (the default): the same initial parameters, packed batch, dropout
 * masks and loss. matmul sends the products wgGemmEligible takes to kernels/gemm_wg.cu: every product of
 * the linear layers (the projections with their bias, the epilogue GEMMs with their residuals, dropouts,
 * padding, layer norms and the gate, the input and weight gradients), which a spy on wgGemm counts, so the
 * step exercises the wiring on the model's real operand dtypes (f32 weights and norms, bf16 activations).
 * The loss's products over the catalogue run there too (their rows padded to 16 bytes): bce's three, and
 * ce's table gradient alone (ce's scores and dH come from CCE's pass under bf16 math). Skips without the sm_90a module of gemm_wg (a GPU other than compute
 * capability 9.0).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CudaOps } from '../../src/backend/cuda/cuda-ops.js';
import type { GemmKernels } from '../../src/backend/cuda/gemm-kernels.js';
import { wgGemm, wgmmaAvailable } from '../../src/backend/cuda/gemm-wg-kernels.js';
import { paddedWidth } from '../../src/backend/cuda/materialised-losses.js';
import type { LossKind, MatmulOptions } from '../../src/backend/ops.js';
import type { SasrecDims } from '../../src/model/sasrec-specs.js';
import { relError } from './device-tensors.js';
import { withGemmKernels } from './gemm-setup.js';
import { announceSkip, loadEveryModule, MODULE_JIT_TIMEOUT_MS, noGpu } from './gpu.js';
import { prepareStep, randomBatch, type StepBatch } from './step-fixture.js';

announceSkip('test/gpu/gemm-wg-step.test.ts');

// wgGemm as itself, its calls recorded (gemm-kernels.ts matmul calls it through this module's binding).
vi.mock('../../src/backend/cuda/gemm-wg-kernels.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/backend/cuda/gemm-wg-kernels.js')>();
  return { ...actual, wgGemm: vi.fn(actual.wgGemm) };
});

/** The loss's products on wgGemm per step: bce's logits (nt), dH (nn) and table gradient (tn); ce's table gradient. */
const LOSS_PRODUCTS: Readonly<Record<'ce' | 'bce', Record<string, number>>> = {
  ce: { tn: 1 },
  bce: { nt: 1, nn: 1, tn: 1 },
};

/** A wgGemm call's kind: its layout and the epilogue's parts ("nt relu dropout padding"; "tn"). */
function callKind(options: MatmulOptions): string {
  const layout = options.transA === true ? 'tn' : options.transB === true ? 'nt' : 'nn';
  return [layout, ...Object.keys(options.epilogue ?? {})].join(' ');
}

/** Kinds and counts of the linear layers' products of one step, per block (transformer-block.ts). */
const LINEAR_PRODUCTS_PER_BLOCK: Readonly<Record<string, number>> = {
  // q, k, v with their bias; attn_out (x2 = ln1 + ·, LN2); ffn1 (Dropout(ReLU(·))); ffn2 (ln2 + Dropout(·), the next norm).
  nt: 3,
  'nt residual padding layerNorm': 1,
  'nt relu dropout padding': 1,
  'nt dropout residual padding layerNorm': 1,
  // The input gradients of ffn1, attn_out, q, k, v; ffn2's with the gate (the backward of Dropout(ReLU(·))).
  nn: 5,
  'nn gate': 1,
  // The six weight gradients.
  tn: 6,
};

// d = 64 and an FFN of d: every linear layer's rows are 16-byte aligned (wgGemmEligible), so the
// projections and gradients do run on wgmma; 12 sequences of up to 24 items, packed.
const dims: SasrecDims = { items: 97, hidden: 64, blocks: 2, heads: 2, maxLen: 24 };
const B = 12;

/**
 * One forward and backward under `kernels`: the loss and every parameter gradient (flat); with `narrow`, the
 * model reads narrow operand copies (transformer-block.ts BlockGroups.narrow) as if Ops.narrowOperands asked.
 */
async function oneStep(ops: CudaOps, kernels: GemmKernels, kind: LossKind, batch: StepBatch, seed: number, narrow = false) {
  // The loss samples uniformly (no cce- here): every item counted once.
  const step = prepareStep(ops, dims, B, kind, batch, seed, { counts: new Float64Array(dims.items + 1).fill(1), narrow });
  vi.mocked(wgGemm).mockClear();
  withGemmKernels(kernels, step.run);
  // The materialised losses' products span their logits' padded width P (materialised-losses.ts): the logits
  // (n = P), dH (k = P) and the table gradient (transA, m = P). The rest are the linear layers' (n = d = 64).
  const P = paddedWidth(dims.items);
  const kinds: Record<string, number> = {};
  const lossKinds: Record<string, number> = {};
  let narrowProducts = 0;
  for (const call of vi.mocked(wgGemm).mock.calls) {
    const [m, n, k, options] = [call[4], call[5], call[6], call[7]];
    const kind = callKind(options);
    if (n === P || (k === P && options.transA !== true) || (m === P && options.transA === true)) {
      lossKinds[kind] = (lossKinds[kind] ?? 0) + 1;
      continue;
    }
    if (n !== dims.hidden) continue;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    if (call[2].dtype === 'bf16' && call[3].dtype === 'bf16') narrowProducts++;
  }
  const gradients = await ops.readF32(step.grads.flat());
  const value = (await ops.readF32(step.loss))[0]!;
  step.free();
  return { value, gradients, kinds, lossKinds, narrowProducts };
}

describe.skipIf(noGpu)("one SASRec training step under the 'wgmma' GEMM kernels agrees with 'mixed'", () => {
  let ops: CudaOps;
  let skipReason: string | undefined;
  beforeAll(() => {
    ops = CudaOps.create({ precision: 'bf16' });
    skipReason = wgmmaAvailable() ? undefined : 'this GPU does not load the sm_90a module of gemm_wg (compute capability 9.0 has it)';
    if (skipReason !== undefined) console.log(`[skip] test/gpu/gemm-wg-step.test.ts: ${skipReason}`);
    // A step loads most kernel families: their first JIT is paid here, not by the first case's timeout.
    else loadEveryModule();
  }, MODULE_JIT_TIMEOUT_MS);
  afterAll(() => {
    ops?.close();
  });

  // Both sets multiply the same bf16-rounded operands with fp32 sums; only the sums' order differs, and a bf16
  // activation downstream may round either way (2^-9 relative): the loss within 1e-3 relative, the
  // gradients (through two blocks of bf16 activations) within 2e-2.
  for (const kind of ['ce', 'bce'] as const) {
    it(`${kind}: the loss and the gradients`, async (ctx) => {
      if (skipReason !== undefined) return ctx.skip(skipReason);
      const batch = randomBatch(dims, B);
      const seed = 1 + Math.floor(Math.random() * 10_000);
      const want = await oneStep(ops, 'mixed', kind, batch, seed);
      const got = await oneStep(ops, 'wgmma', kind, batch, seed);
      expect(want.kinds, "'mixed' runs no product on wgGemm").toEqual({});
      expect(want.lossKinds, "'mixed' runs no product on wgGemm").toEqual({});
      // Every product of the linear layers ran on wgGemm, the epilogue GEMMs included, and the loss's
      // (rows padded to 16 bytes): bce's logits, dH and table gradient; ce's table gradient only, as its
      // scores and dH come from CCE's pass.
      expect(got.kinds, "the linear layers' products on wgGemm").toEqual(
        Object.fromEntries(Object.entries(LINEAR_PRODUCTS_PER_BLOCK).map(([k, count]) => [k, count * dims.blocks])));
      expect(got.lossKinds, "the loss's products on wgGemm").toEqual(LOSS_PRODUCTS[kind]);
      expect(Number.isFinite(got.value), 'loss finite').toBe(true);
      expect(Math.abs(got.value - want.value) / Math.abs(want.value), 'loss').toBeLessThanOrEqual(1e-3);
      expect(relError(got.gradients, want.gradients), 'gradients').toBeLessThanOrEqual(2e-2);
    });
  }

  // Narrow operand copies hold the bf16 values gemm.cu rounds f32 operands to as it stages them: under
  // 'mixed' the step is bit for bit the step without them. Under 'wgmma' every forward product then
  // multiplies two bf16 operands (x, ln1, ln2, att or ffn_drop by a narrow weight), within the bounds above.
  it('cce with narrow operand copies: bit for bit under mixed, two bf16 operands in every forward product under wgmma', async (ctx) => {
    if (skipReason !== undefined) return ctx.skip(skipReason);
    const batch = randomBatch(dims, B);
    const seed = 1 + Math.floor(Math.random() * 10_000);
    const want = await oneStep(ops, 'mixed', 'cce', batch, seed);
    const copies = await oneStep(ops, 'mixed', 'cce', batch, seed, true);
    expect(copies.value).toBe(want.value);
    expect(copies.gradients).toEqual(want.gradients);
    const got = await oneStep(ops, 'wgmma', 'cce', batch, seed, true);
    const forward = Object.entries(LINEAR_PRODUCTS_PER_BLOCK).filter(([k]) => k.startsWith('nt')).reduce((n, [, c]) => n + c, 0);
    expect(got.narrowProducts, 'forward products with two bf16 operands').toBe(forward * dims.blocks);
    expect(Math.abs(got.value - want.value) / Math.abs(want.value), 'loss').toBeLessThanOrEqual(1e-3);
    expect(relError(got.gradients, want.gradients), 'gradients').toBeLessThanOrEqual(2e-2);
  });
});
