/**
 * One whole training step of SASRec (2 blocks, 2 heads, dropout 0.1) on the CUDA backend in its fp32
 * mode against the float64 CPU backend, for each of the six losses: the same initial parameters, batch,
 * dropout masks and negatives, so the gradients and the parameters after one Adam step must agree.
 * Likewise BERT4Rec (bidirectional, padding keys unseen, the mask token's row, a 4d FFN; masked targets),
 * tied and untied. Batches run packed (data/packing.ts, as the trainer runs them, with spare rows), and
 * one case padded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { CudaOps } from '../../src/backend/cuda/cuda-ops.js';
import type { LossKind, Ops } from '../../src/backend/ops.js';
import { bert4recDims, maskTokenId } from '../../src/model/bert4rec.js';
import { sasrecParamSpecs, type SasrecDims } from '../../src/model/sasrec-specs.js';
import { ADAM_EPS } from '../../src/trainer/train-loop.js';
import { relError } from './device-tensors.js';
import { announceSkip, noGpu } from './gpu.js';
import { prepareStep, randomBatch, type StepBatch } from './step-fixture.js';

announceSkip('test/gpu/train-step.test.ts');

// d = 20 is not a multiple of 8 (the loss kernels' element-load path); heads of width 10.
const dims: SasrecDims = { items: 37, hidden: 20, blocks: 2, heads: 2, maxLen: 7 };
const B = 5;
const N = B * dims.maxLen;

const bert: SasrecDims = bert4recDims(dims);

/**
 * BERT4Rec's batch: left-padded random sequences whose items are masked with probability 0.3 (at
 * least one per row), labelled there; one row is all padding.
 */
function randomMaskedBatch(): StepBatch {
  const ids = new Int32Array(N);
  const labels = new Int32Array(N);
  const L = dims.maxLen;
  for (let b = 0; b < B - 1; b++) {
    const len = 1 + Math.floor(Math.random() * L);
    const forced = Math.floor(Math.random() * len);
    for (let k = 0; k < len; k++) {
      const at = b * L + L - len + k;
      const item = 1 + Math.floor(Math.random() * dims.items);
      const masked = k === forced || Math.random() < 0.3;
      ids[at] = masked ? maskTokenId(dims) : item;
      labels[at] = masked ? item : 0;
    }
  }
  return { ids, labels };
}

/**
 * Runs one step (packed, or padded); returns the loss, every parameter gradient and the parameters after
 * Adam (flat).
 */
async function oneStep(ops: Ops, dims: SasrecDims, kind: LossKind, batch: StepBatch, seed: number, counts: Float64Array, packed: boolean) {
  const step = prepareStep(ops, dims, B, kind, batch, seed, { counts, packed });
  const m = ops.allocGroup('m', sasrecParamSpecs(dims));
  const v = ops.allocGroup('v', sasrecParamSpecs(dims));
  for (const g of [m, v]) ops.fill(g.flat(), 0, g.flat().size);
  step.run();
  const { params, grads } = step;
  const gradients = await ops.readF32(grads.flat());
  ops.adamStep(params.flat(), m.flat(), v.flat(), grads.flat(), params.flat().size, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: ADAM_EPS, step: 1 });
  const after = await ops.readF32(params.flat());
  const value = (await ops.readF32(step.loss))[0]!;
  for (const g of [m, v]) ops.freeGroup(g);
  step.free();
  return { value, gradients, after };
}

describe.skipIf(noGpu)('one training step (SASRec, BERT4Rec): CUDA (fp32 mode) against the float64 CPU backend', () => {
  let cpu: CpuOps;
  let cuda: CudaOps;
  beforeAll(async () => {
    cpu = await CpuOps.create({ threads: 1, precision: 'f64' });
    cuda = CudaOps.create({ precision: 'fp32' });
  });
  afterAll(() => {
    cpu?.close();
    cuda?.close();
  });

  // The streamed losses (cce, cce-, bce+) multiply bf16 copies of h and the table even in fp32 mode:
  // their gradients carry bf16 rounding (2^-9 relative per operand), so 2e-2; the rest is fp32
  // arithmetic against float64: 1e-4. Adam's first step moves each parameter by about lr·sign(g), so the
  // parameters after it agree far tighter than the gradients; but where a gradient entry is near zero,
  // rounding can flip its sign and move that parameter by 2·lr: measured on an H200, 1e-5 to 1.04e-4 for
  // the fp32 losses (so 2e-4) and 1.2e-4 to 2.3e-4 for the streamed ones (so 5e-4).
  const streamed: ReadonlySet<LossKind> = new Set<LossKind>(['cce', 'cce-', 'bce+', 'gbce']);
  for (const kind of ['ce', 'ce-', 'cce', 'cce-', 'bce', 'bce+'] as const) {
    it(`${kind}: loss, gradients and the parameters after one Adam step agree`, async () => {
      await agree(kind, dims, randomBatch(dims, B));
    });
  }
  it('ce, padded layout: loss, gradients and the parameters after one Adam step agree', async () => {
    await agree('ce', dims, randomBatch(dims, B), false);
  });

  // The same bounds: BERT4Rec runs the same ops (attention with keyPadding) on the same kernels.
  for (const [kind, tieOutput] of [['ce', true], ['ce-', true], ['cce', true], ['cce-', true], ['bce', true], ['bce+', true], ['ce', false], ['bce+', false]] as const) {
    it(`BERT4Rec, ${kind}${tieOutput ? '' : ', untied'}: loss, gradients and the parameters after one Adam step agree`, async () => {
      await agree(kind, { ...bert, tieOutput }, randomMaskedBatch());
    });
  }

  /** One step of `dims` on both backends from the same random seed and counts: the bounds above. */
  async function agree(kind: LossKind, stepDims: SasrecDims, batch: StepBatch, packed = true): Promise<void> {
    const seed = 1 + Math.floor(Math.random() * 10_000);
    const counts = Float64Array.from({ length: dims.items + 1 }, (_, i) => (i === 0 ? 0 : 1 + Math.floor(Math.random() * 20)));
    const want = await oneStep(cpu, stepDims, kind, batch, seed, counts, packed);
    const got = await oneStep(cuda, stepDims, kind, batch, seed, counts, packed);
    const tol = streamed.has(kind) ? 2e-2 : 1e-4;
    expect(Math.abs(got.value - want.value) / Math.abs(want.value), 'loss').toBeLessThanOrEqual(streamed.has(kind) ? 1e-3 : 1e-5);
    expect(relError(got.gradients, want.gradients), 'gradients').toBeLessThanOrEqual(tol);
    expect(relError(got.after, want.after), 'parameters after the step').toBeLessThanOrEqual(streamed.has(kind) ? 5e-4 : 2e-4);
  }
});
