/**
 * attention_last_forward (attentionLastForward: evaluation's query of each sequence's last position)
 * against the float64 CPU backend's op of the same name, which equals attentionForward's last row bit
 * for bit (test/backend/cpu/attention-last.test.ts), in the padded layout and a packed one (rows no
 * sequence owns hold NaN: never read), padding keys seen (their vectors) or not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { attentionLastForward } from '../../src/backend/cuda/attention-kernels.js';
import type { DType } from '../../src/backend/memory-plan.js';
import type { AttentionMask, TensorLookup } from '../../src/backend/ops.js';
import { Stream } from '../../src/cuda/stream.js';
import { packedLayout, paddedLayout, toLayout, type TestLayout } from '../helpers/attention-layouts.js';
import { cpuOracle, deviceGroup, get, put, relError, toBf16 } from './device-tensors.js';
import { announceSkip, noGpu, randomFloats, useContext } from './gpu.js';

announceSkip('test/gpu/attention-last.test.ts');

interface Shape {
  readonly B: number;
  readonly L: number;
  readonly H: number;
  readonly hd: number;
}

// Odd widths (hd 7: 36 groups of 7 threads; hd 33 and 200: threads left idle past the last group), L past
// 256 keys per thread stride and SASRec's 200, ML-20M's L 512 with hd 128, and hd 256 (one group).
const SHAPES: readonly Shape[] = [
  { B: 5, L: 13, H: 2, hd: 7 },
  { B: 4, L: 200, H: 1, hd: 64 },
  { B: 3, L: 70, H: 3, hd: 33 },
  { B: 3, L: 512, H: 2, hd: 128 },
  { B: 3, L: 300, H: 1, hd: 256 },
  { B: 3, L: 45, H: 1, hd: 200 },
];

interface Mode {
  readonly causal: boolean;
  readonly keyPadding: boolean;
}

const MODES: readonly Mode[] = [
  { causal: true, keyPadding: false },
  { causal: false, keyPadding: true },
];

type LayoutKind = 'padded' | 'packed';

/** Sequence starts: full, empty, one real item, then random. */
function randomStarts(B: number, L: number): number[] {
  return Array.from({ length: B }, (_, b) => (b === 0 ? 0 : b === 1 ? L : b === 2 ? L - 1 : Math.floor(Math.random() * L)));
}

function layoutOf(kind: LayoutKind, L: number, starts: readonly number[]): TestLayout {
  return kind === 'padded' ? paddedLayout(L, starts) : packedLayout(L, starts);
}

/** Scores of unit variance (q scaled by 3 as in attention.test.ts): softmax neither flat nor one-hot. */
const Q_SPREAD = 3;

/** Host inputs as the device holds them: q [B × D], k and v in sequence coordinates [B·L × D], the padding keys' vectors [D]. */
interface Inputs {
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly padK: Float32Array;
  readonly padV: Float32Array;
}

function randomInputs(s: Shape, dtype: DType): Inputs {
  const D = s.H * s.hd;
  const narrow = (x: Float32Array): Float32Array => (dtype === 'bf16' ? toBf16(x).values : x);
  return {
    q: narrow(randomFloats(s.B * D).map((x) => Q_SPREAD * x)),
    k: narrow(randomFloats(s.B * s.L * D)),
    v: narrow(randomFloats(s.B * s.L * D)),
    padK: narrow(randomFloats(D)),
    padV: narrow(randomFloats(D)),
  };
}

/** The mask over tensors of `g` named seqs, pad_k, pad_v. */
function maskOf(mode: Mode, layout: TestLayout, g: TensorLookup): AttentionMask {
  return {
    layout: { seqs: g.get('seqs'), rows: layout.rows }, ...mode,
    ...(mode.keyPadding ? {} : { padKeys: { k: g.get('pad_k'), v: g.get('pad_v') } }),
  };
}

describe.skipIf(noGpu)('CUDA attentionLastForward against the float64 CPU reference', () => {
  useContext();
  let cpu: CpuOps;
  beforeAll(async () => {
    cpu = await cpuOracle();
  });
  afterAll(() => cpu?.close());

  /** Device out [B × H·hd] from `x` laid out by `layout` (rows no sequence owns NaN: never read). */
  function runDevice(s: Shape, dtype: DType, mode: Mode, layout: TestLayout, x: Inputs): Float32Array {
    const { B, L, H, hd } = s;
    const D = H * hd;
    const io = deviceGroup('attention last io', [
      { name: 'q', shape: [B, D], dtype },
      { name: 'k', shape: [layout.rows, D], dtype },
      { name: 'v', shape: [layout.rows, D], dtype },
      { name: 'out', shape: [B, D], dtype },
      { name: 'seqs', shape: [B, 2], dtype: 'i32' },
      { name: 'pad_k', shape: [D], dtype: 'f32' },
      { name: 'pad_v', shape: [D], dtype: 'f32' },
    ]);
    put(io.get('seqs'), layout.seqs);
    put(io.get('q'), x.q);
    put(io.get('k'), toLayout(x.k, layout, B, L, D, Number.NaN));
    put(io.get('v'), toLayout(x.v, layout, B, L, D, Number.NaN));
    put(io.get('pad_k'), x.padK);
    put(io.get('pad_v'), x.padV);
    const stream = Stream.create();
    attentionLastForward(stream, io.get('out'), io.get('q'), io.get('k'), io.get('v'), B, L, H, hd, maskOf(mode, layout, io));
    stream.synchronize();
    stream.destroy();
    const out = get(io.get('out'));
    io.free();
    return out;
  }

  for (const s of SHAPES) {
    for (const mode of MODES) {
      for (const dtype of ['f32', 'bf16'] as const) {
        for (const kind of ['padded', 'packed'] as const) {
          it(`B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${mode.causal ? 'causal' : 'bidirectional, padding keys excluded'} ${dtype} ${kind}`, async () => {
            const { B, L, H, hd } = s;
            const D = H * hd;
            const layout = layoutOf(kind, L, randomStarts(B, L));
            const x = randomInputs(s, dtype);
            const out = runDevice(s, dtype, mode, layout, x);
            const g = cpu.allocGroup('oracle', [
              { name: 'q', shape: [B, D], dtype: 'f32' }, { name: 'out', shape: [B, D], dtype: 'f32' },
              { name: 'k', shape: [layout.rows, D], dtype: 'f32' }, { name: 'v', shape: [layout.rows, D], dtype: 'f32' },
              { name: 'seqs', shape: [B, 2], dtype: 'i32' },
              { name: 'pad_k', shape: [D], dtype: 'f32' }, { name: 'pad_v', shape: [D], dtype: 'f32' },
            ]);
            cpu.write(g.get('q'), x.q);
            cpu.write(g.get('k'), toLayout(x.k, layout, B, L, D));
            cpu.write(g.get('v'), toLayout(x.v, layout, B, L, D));
            cpu.write(g.get('seqs'), layout.seqs);
            cpu.write(g.get('pad_k'), x.padK);
            cpu.write(g.get('pad_v'), x.padV);
            cpu.attentionLastForward(g.get('out'), g.get('q'), g.get('k'), g.get('v'), B, L, H, hd, maskOf(mode, layout, g));
            const want = await cpu.readF32(g.get('out'));
            cpu.freeGroup(g);
            // Bounds: f32 operands: fp32 dot products, exps and sums against float64: 1e-5. bf16 operands (exact
            // in both, the padding vectors given as bf16 values), fp32 arithmetic, out rounded to bf16 once
            // (≤ 2^-9 relative per element): 4e-3.
            expect(relError(out, want)).toBeLessThanOrEqual(dtype === 'f32' ? 1e-5 : 4e-3);
            // The empty sequence (b = 1): exactly 0.
            expect(Array.from(out.subarray(D, 2 * D))).toEqual(new Array<number>(D).fill(0));
          });
        }
      }
    }
  }

  it('gives the packed layout the padded layout\'s bits, and is bit-identical run to run (bf16, L 512)', () => {
    const s: Shape = { B: 4, L: 512, H: 2, hd: 128 };
    const starts = randomStarts(s.B, s.L);
    const x = randomInputs(s, 'bf16');
    const first = runDevice(s, 'bf16', MODES[0]!, layoutOf('padded', s.L, starts), x);
    const packed = layoutOf('packed', s.L, starts);
    for (const out of [runDevice(s, 'bf16', MODES[0]!, packed, x), runDevice(s, 'bf16', MODES[0]!, packed, x)]) {
      const [a, b] = [new Uint32Array(first.buffer), new Uint32Array(out.buffer)];
      expect(a.every((w, i) => w === b[i])).toBe(true);
    }
  });
});
