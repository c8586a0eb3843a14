import { describe, expect, it } from 'vitest';
import { cceForward, cceWriteGrad } from '../../src/backend/cuda/cce-kernels.js';
import { NULL_PTR } from '../../src/backend/cuda/launch.js';
import type { LossDims } from '../../src/backend/ops.js';
import { download } from '../../src/cuda/memory.js';
import { deviceGroup, get, onStream, put, toBf16, useOracle } from './device-tensors.js';
import { announceSkip, noGpu, useContext } from './gpu.js';

announceSkip('test/gpu/cce-write-grad.test.ts');

/** bf16's unit roundoff: nearest-even rounding moves a value by at most 2^-8 of itself. */
const BF16_ROUNDOFF = 2 ** -8;

/**
 * The relative error of p = exp(s − lse) from fp32 scores of bf16 operands (d ≤ 256 products of |s| ≲ 5
 * summed in fp32: ≲ 1e-5 typical, 1.5e-4 worst), the lse's fp32 rounding and ex2.approx: 3e-4 covers the
 * worst case with slack.
 */
const P_RELATIVE = 3e-4;

interface Case {
  readonly N: number;
  readonly V: number;
  readonly d: number;
  /** The logits' row stride. @default V + 1 rounded up to 8 (ce's) */
  readonly P?: number;
  /** Logit scale (std of h·E). @default 1 */
  readonly sigma?: number;
  /** Rows 3..299 and 600..849 padding: whole row blocks written +0 without a product. */
  readonly paddedRuns?: boolean;
}

// On an H200: wgmma d = 64 (BS = 128: P = 1008 ends inside the last tile; 2 column splits), mma.sync at
// d = 33 (element loads, 7 splits of 5 tiles and one of 3) and d = 32 (BS = 64 > P = 56: one partial
// tile), wgmma d = 256 (BS = 64) and d = 128 with P far past V (a whole tile of +0 columns) and N below
// one row block, ML-1M's catalogue (V = 3706, P = 3712), and runs of padding rows.
const CASES: Case[] = [
  { N: 203, V: 1001, d: 64 },
  { N: 517, V: 4099, d: 33 },
  { N: 65, V: 50, d: 32 },
  { N: 130, V: 700, d: 256, sigma: 2 },
  { N: 77, V: 130, d: 128, P: 264 },
  { N: 211, V: 3706, d: 64 },
  { N: 1100, V: 3001, d: 64, paddedRuns: true },
];

function gaussian(n: number, sigma: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sigma * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
  return out;
}

function strideOf(c: Case): number {
  return c.P ?? Math.ceil((c.V + 1) / 8) * 8;
}

/** Fresh targets: ~10 % padding, the first and last item each somewhere, the case's padding runs. */
function targetsOf(c: Case): Int32Array {
  const t = new Int32Array(c.N);
  for (let r = 0; r < c.N; r++) t[r] = Math.random() < 0.1 ? 0 : 1 + Math.floor(Math.random() * c.V);
  if (c.paddedRuns) for (let r = 0; r < c.N; r++) if ((r >= 3 && r < 300) || (r >= 600 && r < 850)) t[r] = 0;
  t[1] = c.V;
  t[2] = 1;
  return t;
}

/** The device's G (bf16 bits and values) after cceForward then cceWriteGrad on poisoned outputs. */
function deviceGrad(c: Case, h: Float32Array, table: Float32Array, targets: Int32Array): { bits: Uint16Array; values: Float32Array } {
  const { N, V, d } = c;
  const P = strideOf(c);
  const g = deviceGroup('write-grad', [
    { name: 'h', shape: [N, d], dtype: 'bf16' },
    { name: 'table', shape: [V + 1, d], dtype: 'bf16' },
    { name: 'targets', shape: [N], dtype: 'i32' },
    { name: 'lse', shape: [N], dtype: 'f32' },
    { name: 'row_loss', shape: [N], dtype: 'f32' },
    { name: 'dh_raw', shape: [N, d], dtype: 'f32' },
    { name: 'logits', shape: [N, P], dtype: 'bf16' },
  ]);
  put(g.get('h'), h);
  put(g.get('table'), table);
  put(g.get('targets'), targets);
  onStream((stream) => {
    // ce's way: unsplit (null partial), no bounds.
    cceForward(stream, g.get('lse'), g.get('row_loss'), g.get('dh_raw'), { minLse: NULL_PTR, tileMax: null }, NULL_PTR,
      g.get('h'), g.get('table'), g.get('targets'), N, V, d);
    cceWriteGrad(stream, g.get('logits'), P, g.get('h'), g.get('table'), g.get('targets'), g.get('lse'), N, V, d);
  });
  const values = get(g.get('logits'));
  const bits = new Uint16Array(N * P);
  download(bits, g.get('logits'));
  g.free();
  return { bits, values };
}

describe.skipIf(noGpu)('cce_write_grad: G = softmax − onehot from the forward lse, against the float64 CPU ce', () => {
  useContext();
  const oracle = useOracle();

  /** The oracle's G [N × V] (column c = item c + 1) of ce on the same bf16 values. */
  async function oracleGrad(dims: LossDims, h: Float32Array, table: Float32Array, targets: Int32Array, M: number): Promise<Float32Array> {
    const cpu = oracle();
    const params = { kind: 'ce', validRows: M } as const;
    const io = cpu.allocGroup('io', [
      { name: 'h', shape: [dims.rows, dims.hidden], dtype: 'f32' },
      { name: 'table', shape: [dims.items + 1, dims.hidden], dtype: 'f32' },
      { name: 'targets', shape: [dims.rows], dtype: 'i32' },
      { name: 'loss', shape: [1], dtype: 'f32' },
    ]);
    const ws = cpu.allocGroup('ws', cpu.lossWorkspace(params, dims));
    cpu.write(io.get('h'), h);
    cpu.write(io.get('table'), table);
    cpu.write(io.get('targets'), targets);
    cpu.lossForward(io.get('loss'), ws, io.get('h'), io.get('table'), io.get('targets'), dims, params);
    const grad = await cpu.readF32(ws.get('logits'));
    cpu.freeGroup(ws);
    cpu.freeGroup(io);
    return grad;
  }

  for (const c of CASES) {
    const P = strideOf(c);
    it(`N=${c.N} V=${c.V} d=${c.d} P=${P}${c.paddedRuns ? ' padded runs' : ''}`, async () => {
      const { N, V, d } = c;
      // The device holds h and the table rounded to bf16 (put()); the oracle reads the same values.
      const h = toBf16(gaussian(N * d, 1)).values;
      const table = toBf16(gaussian((V + 1) * d, (c.sigma ?? 1) / Math.sqrt(d))).values;
      const targets = targetsOf(c);
      const got = deviceGrad(c, h, table, targets);
      const M = targets.filter((t) => t !== 0).length;
      const want = await oracleGrad({ rows: N, items: V, hidden: d }, h, table, targets, M);

      expect(got.values.every(Number.isFinite), 'every element written (no NaN poison left)').toBe(true);
      for (let r = 0; r < N; r++) {
        const row = got.bits.subarray(r * P, (r + 1) * P);
        if (targets[r] === 0) {
          expect(row.every((b) => b === 0), `padding row ${r}: +0`).toBe(true);
          continue;
        }
        // Column 0 (the padding item) and the columns past V: +0 exactly.
        expect(row[0], `row ${r} column 0`).toBe(0);
        expect(row.subarray(V + 1).every((b) => b === 0), `row ${r} columns V+1..P-1`).toBe(true);
        // Each element: the oracle's value within bf16's rounding of it plus p's fp32 error.
        let sum = 0;
        let worst = 0;
        const t = targets[r]!;
        for (let i = 1; i <= V; i++) {
          const w = want[r * V + i - 1]!;
          const p = w + (i === t ? 1 : 0);
          const v = got.values[r * P + i]!;
          sum += v;
          worst = Math.max(worst, Math.abs(v - w) - (BF16_ROUNDOFF * Math.abs(w) + P_RELATIVE * p + 1e-30));
        }
        expect(worst, `row ${r}: |G − G_ref| ≤ 2^-8·|G_ref| + ${P_RELATIVE}·p`).toBeLessThanOrEqual(0);
        // Σ_i G = Σ p − 1 = 0 up to the roundings: each element's bf16 rounding (Σ|G| = 2(1 − p_t)) and p's.
        const pt = want[r * V + t - 1]! + 1;
        expect(Math.abs(sum), `row ${r}: Σ_i G ≈ 0`).toBeLessThanOrEqual(BF16_ROUNDOFF * 2 * (1 - pt) + 2 * P_RELATIVE);
      }
    });
  }

  it('two runs give the same bits', () => {
    const c: Case = { N: 211, V: 3706, d: 64 };
    const h = gaussian(c.N * c.d, 1);
    const table = gaussian((c.V + 1) * c.d, 1 / Math.sqrt(c.d));
    const targets = targetsOf(c);
    const first = deviceGrad(c, h, table, targets);
    const second = deviceGrad(c, h, table, targets);
    expect(second.bits).toEqual(first.bits);
  });
});
