/**
 * The FFN's hidden gradient through its GEMM's gate (ops.ts MatmulEpilogue.gate): blockBackward writes
 * g2 = ffn_drop > 0 ? g1 · W2 · 1/(1 - p) : 0 in ffn2's dx GEMM, where it ran `dropout` (the mask
 * regenerated from the key, padding rows 0) and then `reluBackward` masked by the saved ffn_drop. Checked
 * on the CPU backend against those two ops: a backend that runs every gated matmul as the plain product,
 * then the dropout of the forward GEMM that wrote `gate.by` (its key and padding rows, recorded as forward
 * ran it), then reluBackward by `gate.by`, gives every parameter gradient bit for bit, on a left-padded
 * batch with dropout p > 0, in float32 on 2 threads and in float64, SASRec and BERT4Rec (an FFN of 4d).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuTensor } from '../../src/backend/cpu/cpu-memory.js';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { DropoutSpec, MatmulOptions, Ops, Tensor } from '../../src/backend/ops.js';
import { bert4recDims } from '../../src/model/bert4rec.js';
import { sasrecParamSpecs, type SasrecDims } from '../../src/model/sasrec-specs.js';
import { lossFixture, PADDED_BATCH, SMALL_DIMS } from '../helpers/model-fixture.js';

const SASREC = SMALL_DIMS;
const BERT4REC = bert4recDims(SASREC);
// Left-padded rows (row 1 full); rows 0 and 2 have a first target at their last padding position.
const { rows: B, ids: IDS, labels: LABELS, counts: COUNTS } = PADDED_BATCH;
const DROPOUT = 0.3;

let f32: CpuOps;
let f64: CpuOps;
beforeAll(async () => {
  f32 = await CpuOps.create({ threads: 2 });
  f64 = await CpuOps.create({ threads: 1, precision: 'f64' });
});
afterAll(() => {
  f32.close();
  f64.close();
});

/** What the two-op backend saw: gated products it expanded, and elements they kept and zeroed. */
interface TwoOpCounts {
  gated: number;
  kept: number;
  zeroed: number;
}

/**
 * The CPU backend with matmul's gate run as the ops blockBackward ran before it: the plain product, then
 * `dropout` with the key and padding rows of the forward GEMM whose output is `gate.by` (recorded from its
 * epilogue), then `reluBackward` by `gate.by`.
 */
function twoOps(inner: CpuOps, counts: TwoOpCounts): Ops {
  const writers = new Map<Tensor, { readonly drop: DropoutSpec; readonly ids: Tensor }>();
  const matmul = (out: Tensor, a: Tensor, b: Tensor, m: number, n: number, k: number, options: MatmulOptions = {}): void => {
    const e = options.epilogue;
    if (e?.dropout !== undefined && e.padding !== undefined) writers.set(out, { drop: e.dropout, ids: e.padding });
    if (e?.gate === undefined) {
      inner.matmul(out, a, b, m, n, k, options);
      return;
    }
    const { gate, ...rest } = e;
    const writer = writers.get(gate.by);
    if (writer === undefined) throw new Error(`no forward GEMM wrote the gate's tensor "${gate.by.name}"`);
    expect(gate.scale).toBe(1 / (1 - writer.drop.p));
    inner.matmul(out, a, b, m, n, k, { ...options, epilogue: rest });
    inner.dropout(out, out, m * n, writer.drop, { ids: writer.ids, cols: n });
    inner.reluBackward(out, out, gate.by, m * n);
    counts.gated++;
    const by = (gate.by as CpuTensor).data;
    const result = (out as CpuTensor).data;
    for (let i = 0; i < m * n; i++) {
      if (by[i]! > 0) counts.kept++;
      else if (result[i] === 0) counts.zeroed++;
    }
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'matmul') return matmul;
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Every parameter gradient after one backward on `backend`, as its bytes. */
function gradients(dims: SasrecDims, backend: Ops): Map<string, Buffer> {
  const m = lossFixture(backend as CpuOps, {
    dims, rows: B, ids: IDS, labels: LABELS, counts: COUNTS, loss: { kind: 'ce', negatives: 5, sampling: 'uniform', seed: 3 },
    dropout: DROPOUT, initSeed: 7, pass: { train: true, seed: 3, step: 12 },
  });
  m.backward();
  const out = new Map<string, Buffer>();
  for (const spec of sasrecParamSpecs(dims)) {
    const data = (m.grads.get(spec.name) as CpuTensor).data;
    expect(Array.from(data).every(Number.isFinite), spec.name).toBe(true);
    out.set(spec.name, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  return out;
}

describe.each([['SASRec', SASREC], ['BERT4Rec', BERT4REC]] as const)('the FFN gate in blockBackward (%s)', (_, dims) => {
  it.each([['float32, 2 threads', () => f32], ['float64', () => f64]] as const)(
    'gives the gradients of dropout then reluBackward bit for bit (%s)',
    (__, backend) => {
      const counts: TwoOpCounts = { gated: 0, kept: 0, zeroed: 0 };
      const want = gradients(dims, twoOps(backend(), counts));
      // One gated GEMM per block, which kept some elements and zeroed others (dropped, ReLU or padding).
      expect(counts.gated).toBe(dims.blocks);
      expect(counts.kept).toBeGreaterThan(0);
      expect(counts.zeroed).toBeGreaterThan(0);
      const got = gradients(dims, backend());
      for (const [name, bytes] of want) expect(got.get(name)?.equals(bytes), name).toBe(true);
    },
  );
});
