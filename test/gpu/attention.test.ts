import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { attentionBackward, attentionForward, attentionWorkspace } from '../../src/backend/cuda/attention-kernels.js';
import type { CudaTensorGroup } from '../../src/backend/cuda/cuda-tensor.js';
import type { DType } from '../../src/backend/memory-plan.js';
import type { AttentionMask, DropoutSpec } from '../../src/backend/ops.js';
import { Stream } from '../../src/cuda/stream.js';
import { cpuOracle, deviceGroup, get, put, relError } from './device-tensors.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/attention.test.ts');

interface Shape {
  readonly B: number;
  readonly L: number;
  readonly H: number;
  readonly hd: number;
}

// Every head width W of the SIMT kernels, odd B, L and hd, L one past a tile or ending a tile part-way.
// In bf16, hd 64, 128 and 32 run the tensor-core kernels (64-row tiles; 32-query tiles in dk/dv at 128).
const SHAPES: Shape[] = [
  { B: 3, L: 13, H: 2, hd: 7 }, // W 32: one partial tile, odd width
  { B: 2, L: 70, H: 1, hd: 64 }, // W 64: a second tile of 6 rows (tensor cores: likewise)
  { B: 2, L: 37, H: 2, hd: 128 }, // W 128 (32-key tiles): a partial second key tile (tensor cores: one partial tile)
  { B: 2, L: 200, H: 1, hd: 33 }, // W 64 with an odd width; SASRec's L
  { B: 2, L: 65, H: 2, hd: 32 }, // W 32: one row past a tile (tensor cores: likewise)
  { B: 2, L: 45, H: 1, hd: 200 }, // W 256 (32 × 32 tiles)
];

const DROPOUTS = [0, 0.1] as const;

// The tensor-core kernels (bf16, hd ∈ {32, 64, 128}) at SASRec's L (3 full tiles + 8 rows) and at 512
// (8 full tiles, a long online softmax), with dropout (p = 0 takes no other branch than in SHAPES). At
// 512 causal only: the float64 oracle's time grows as L², and bidirectional tiles run at 200 already.
const MMA_SHAPES: readonly (Shape & { readonly causal: readonly boolean[] })[] = [
  { B: 2, L: 200, H: 2, hd: 32, causal: [true, false] },
  { B: 2, L: 512, H: 1, hd: 32, causal: [true] },
  { B: 2, L: 200, H: 1, hd: 64, causal: [true, false] },
  { B: 2, L: 512, H: 1, hd: 64, causal: [true] },
  { B: 2, L: 200, H: 2, hd: 128, causal: [true, false] },
  { B: 2, L: 512, H: 1, hd: 128, causal: [true] },
];

/** Which keys rows see, and each sequence's padding (its first non-padding position). */
interface Masking {
  readonly causal: boolean;
  readonly keyPadding: boolean;
  readonly starts: readonly number[];
}

/** The modes a model uses: SASRec (causal, padding keys seen), BERT4Rec (bidirectional, padding keys not seen), and the other two. */
const MODES = [
  { causal: true, keyPadding: false },
  { causal: false, keyPadding: true },
  { causal: true, keyPadding: true },
  { causal: false, keyPadding: false },
] as const;

/**
 * Fresh random padding: sequence 0 has none, sequence 1 some (a prefix ending at a random place: inside
 * a tile, on a tile edge or covering the whole sequence), the others anything from none to all.
 */
function randomMasking(B: number, L: number, mode: { readonly causal: boolean; readonly keyPadding: boolean }): Masking {
  const starts = Array.from({ length: B }, (_, b) => (b === 0 ? 0 : b === 1 ? 1 + Math.floor(Math.random() * L) : Math.floor(Math.random() * (L + 1))));
  return { ...mode, starts };
}

/** ids [B × L] with sequence b's first starts[b] ids 0 (padding), the rest items ≥ 1. */
function idsOf(L: number, starts: readonly number[]): Int32Array {
  const ids = new Int32Array(starts.length * L);
  starts.forEach((start, b) => { for (let i = start; i < L; i++) ids[b * L + i] = 1 + ((7 * b + i) % 97); });
  return ids;
}

function describeMasking(m: { readonly causal: boolean; readonly keyPadding: boolean }): string {
  return `${m.causal ? 'causal' : 'bidirectional'}${m.keyPadding ? ', padding keys excluded' : ''}`;
}

/** q scaled so that the scores q·k/sqrt(hd) have unit variance: the online max moves, softmax is not flat. */
const Q_SPREAD = 3;

/** A fresh random Philox key for a dropout of probability p. */
function randomDrop(p: number): DropoutSpec {
  return {
    p,
    key: { seed: Math.floor(Math.random() * 2 ** 32), step: Math.floor(Math.random() * 1e6), site: Math.floor(Math.random() * 64) },
  };
}

/** Device outputs of one forward and backward. */
interface Result {
  readonly out: Float32Array;
  readonly lse: Float32Array;
  readonly dq: Float32Array;
  readonly dk: Float32Array;
  readonly dv: Float32Array;
}

/** Host inputs as the device tensors hold them. */
interface Inputs {
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly dout: Float32Array;
}

/** Runs attentionForward then attentionBackward on a blocking stream, from fresh random inputs (or `given`). */
function runDevice(s: Shape, dtype: DType, m: Masking, drop: DropoutSpec, given?: Inputs): { inputs: Inputs; result: Result } {
  const { B, L, H, hd } = s;
  const n = B * L * H * hd;
  const rows = [B * L, H * hd];
  const io: CudaTensorGroup = deviceGroup('attention io', [
    { name: 'q', shape: rows, dtype },
    { name: 'k', shape: rows, dtype },
    { name: 'v', shape: rows, dtype },
    { name: 'out', shape: rows, dtype },
    { name: 'dout', shape: rows, dtype: 'f32' },
    { name: 'dq', shape: rows, dtype: 'f32' },
    { name: 'dk', shape: rows, dtype: 'f32' },
    { name: 'dv', shape: rows, dtype: 'f32' },
    { name: 'ids', shape: [B * L], dtype: 'i32' },
  ]);
  put(io.get('ids'), idsOf(L, m.starts));
  const mask: AttentionMask = { ids: io.get('ids'), causal: m.causal, keyPadding: m.keyPadding };
  const saved = deviceGroup('attention saved', attentionWorkspace(B, L, H, hd));
  const inputs: Inputs = {
    q: put(io.get('q'), given?.q ?? randomFloats(n).map((x) => Q_SPREAD * x)),
    k: put(io.get('k'), given?.k ?? randomFloats(n)),
    v: put(io.get('v'), given?.v ?? randomFloats(n)),
    dout: put(io.get('dout'), given?.dout ?? randomFloats(n)),
  };
  const stream = Stream.create();
  attentionForward(stream, io.get('out'), saved, io.get('q'), io.get('k'), io.get('v'), B, L, H, hd, mask, drop);
  attentionBackward(
    stream, io.get('dq'), io.get('dk'), io.get('dv'),
    io.get('dout'), io.get('q'), io.get('k'), io.get('v'), io.get('out'), saved,
    B, L, H, hd, mask, drop,
  );
  stream.synchronize();
  stream.destroy();
  const result: Result = {
    out: get(io.get('out')),
    lse: get(saved.get('lse')),
    dq: get(io.get('dq')),
    dk: get(io.get('dk')),
    dv: get(io.get('dv')),
  };
  saved.free();
  io.free();
  return { inputs, result };
}

/** The float64 CPU backend's forward and backward on the same inputs. */
async function runOracle(cpu: CpuOps, s: Shape, m: Masking, drop: DropoutSpec, x: Inputs): Promise<Omit<Result, 'lse'>> {
  const { B, L, H, hd } = s;
  const rows = [B * L, H * hd];
  const names = ['q', 'k', 'v', 'out', 'dout', 'dq', 'dk', 'dv'] as const;
  const g = cpu.allocGroup('attention oracle', [
    ...names.map((name) => ({ name, shape: rows, dtype: 'f32' as const })),
    ...cpu.attentionWorkspace(B, L, H),
    { name: 'ids', shape: [B * L], dtype: 'i32' },
  ]);
  for (const name of ['q', 'k', 'v', 'dout'] as const) cpu.write(g.get(name), x[name]);
  cpu.write(g.get('ids'), idsOf(L, m.starts));
  const mask: AttentionMask = { ids: g.get('ids'), causal: m.causal, keyPadding: m.keyPadding };
  cpu.attentionForward(g.get('out'), g, g.get('q'), g.get('k'), g.get('v'), B, L, H, hd, mask, drop);
  cpu.attentionBackward(
    g.get('dq'), g.get('dk'), g.get('dv'),
    g.get('dout'), g.get('q'), g.get('k'), g.get('v'), g.get('out'), g,
    B, L, H, hd, mask, drop,
  );
  const want = {
    out: await cpu.readF32(g.get('out')),
    dq: await cpu.readF32(g.get('dq')),
    dk: await cpu.readF32(g.get('dk')),
    dv: await cpu.readF32(g.get('dv')),
  };
  cpu.freeGroup(g);
  return want;
}

describe('attentionWorkspace', () => {
  it('holds lse and delta [B × H × L] f32 and rejects heads wider than 256', () => {
    expect(attentionWorkspace(3, 13, 2, 7)).toEqual([
      { name: 'lse', shape: [3, 2, 13], dtype: 'f32' },
      { name: 'delta', shape: [3, 2, 13], dtype: 'f32' },
    ]);
    expect(() => attentionWorkspace(1, 8, 1, 257)).toThrow(/head width hd in 1\.\.256/);
    expect(() => attentionWorkspace(1, 0, 1, 64)).toThrow(/L to be a positive integer/);
  });
});

describe.skipIf(noGpu)('CUDA attention against the float64 CPU reference', () => {
  useContext();
  let cpu: CpuOps;
  beforeAll(async () => {
    cpu = await cpuOracle();
  });
  afterAll(() => cpu?.close());

  /** One forward and backward on the device against the float64 CPU backend. */
  async function check(s: Shape, dtype: DType, mode: (typeof MODES)[number], p: number): Promise<void> {
    const drop = randomDrop(p);
    const m = randomMasking(s.B, s.L, mode);
    const { inputs, result } = runDevice(s, dtype, m, drop);
    const want = await runOracle(cpu, s, m, drop, inputs);
    // Bounds. f32 operands: fp32 dot products, exps and sums against float64 (errors of a few 1e-7 in a
    // CPU emulation of these kernels): 1e-5 for out and the gradients alike.
    // bf16 operands (inputs exact in both), SIMT kernels: out adds one bf16 rounding (≤ 2^-9 relative
    // per element; ~1.7e-3 seen); the gradients see that rounding only through delta = dout · out
    // (≤ 2.3e-3 seen). Tensor-core kernels add the bf16 rounding of P before P·V, and of dout, P and dS
    // before the backward's products: in a host emulation of them (mma.sync and ldmatrix emulated from
    // the PTX ISA's fragment tables) out ≤ 2.3e-3 and the gradients ≤ 3.4e-3 relative over these
    // shapes. Bounds: out 4e-3, gradients 1e-2, as before.
    const outTol = dtype === 'f32' ? 1e-5 : 4e-3;
    const gradTol = dtype === 'f32' ? 1e-5 : 1e-2;
    // lse: finite on every computed row, +inf on padding rows (so backward's P there is 0).
    const padRow = (r: number): boolean => r % s.L < m.starts[Math.floor(r / (s.H * s.L))]!;
    expect(result.lse.every((x, r) => (padRow(r) ? x === Infinity : Number.isFinite(x))), 'lse fully written').toBe(true);
    expect(relError(result.out, want.out), 'out').toBeLessThanOrEqual(outTol);
    expect(relError(result.dq, want.dq), 'dq').toBeLessThanOrEqual(gradTol);
    expect(relError(result.dk, want.dk), 'dk').toBeLessThanOrEqual(gradTol);
    expect(relError(result.dv, want.dv), 'dv').toBeLessThanOrEqual(gradTol);
  }

  for (const s of SHAPES) {
    for (const mode of MODES.slice(0, 3)) {
      for (const p of DROPOUTS) {
        for (const dtype of ['f32', 'bf16'] as const) {
          it(`B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${describeMasking(mode)} p=${p} ${dtype}`, () => check(s, dtype, mode, p));
        }
      }
    }
  }

  for (const s of MMA_SHAPES) {
    for (const mode of MODES.filter((m) => s.causal.includes(m.causal))) {
      it(`tensor cores: B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${describeMasking(mode)} p=0.1 bf16`, () => check(s, 'bf16', mode, 0.1));
    }
  }

  it('is bit-identical run to run (causal, dropout, bf16, several tiles)', () => {
    const s: Shape = { B: 2, L: 150, H: 2, hd: 64 };
    const drop = randomDrop(0.1);
    const m = randomMasking(s.B, s.L, MODES[0]);
    const first = runDevice(s, 'bf16', m, drop);
    const second = runDevice(s, 'bf16', m, drop, first.inputs);
    for (const name of ['out', 'lse', 'dq', 'dk', 'dv'] as const) {
      const a = new Uint32Array(first.result[name].buffer);
      const b = new Uint32Array(second.result[name].buffer);
      expect(a.every((w, i) => w === b[i]), name).toBe(true);
    }
  });
});
