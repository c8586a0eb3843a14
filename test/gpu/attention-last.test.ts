/**
 * attention_last_forward_<VEC> (attentionLastForward: evaluation's query of each sequence's last
 * position) against the float64 CPU backend's op of the same name, which equals attentionForward's last
 * row bit for bit (test/backend/cpu/attention-last.test.ts), in the padded layout and a packed one (rows
 * no sequence owns hold NaN: never read), padding keys seen (their vectors) or not; every chunk width VEC
 * (hd and the pointers' alignment pick it), and ML-20M's evaluation batch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { attentionLastForward } from '../../src/backend/cuda/attention-kernels.js';
import { CudaTensor } from '../../src/backend/cuda/cuda-tensor.js';
import { DTYPE_BYTES, type DType } from '../../src/backend/memory-plan.js';
import type { AttentionMask, TensorLookup } from '../../src/backend/ops.js';
import type { DeviceBuffer } from '../../src/cuda/allocator.js';
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

// The chunk width VEC the launcher picks (aligned tensors) and how the lanes split a row:
// hd 7 (VEC 1, 7 chunks: a group of 8 lanes, one idle), hd 33 (VEC 1, 33 chunks: 32 lanes, lane 0 owns
// two), hd 36 (VEC 4), hd 50 (VEC 2, 25 chunks in 32 lanes), hd 40 and 72 (VEC 8, 5 and 9 chunks:
// groups of 8 and 16 with idle lanes), hd 64 (ML-1M's width, groups of 8), hd 128 at L 512 (ML-20M's:
// 8 rounds of keys at bf16, 16 at f32), hd 256 (one group a warp) and hd 200 (25 chunks in 32 lanes).
const SHAPES: readonly Shape[] = [
  { B: 5, L: 13, H: 2, hd: 7 },
  { B: 4, L: 200, H: 1, hd: 64 },
  { B: 3, L: 70, H: 3, hd: 33 },
  { B: 3, L: 64, H: 1, hd: 36 },
  { B: 3, L: 90, H: 2, hd: 50 },
  { B: 4, L: 37, H: 3, hd: 40 },
  { B: 5, L: 129, H: 2, hd: 72 },
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

/**
 * Host inputs as the device holds them: q [B × D], k and v in the layout's rows [rows × D] (NaN on rows
 * no sequence owns), the padding keys' vectors [D].
 */
interface Inputs {
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly padK: Float32Array;
  readonly padV: Float32Array;
}

/** Values a tensor of `dtype` holds exactly. */
function narrow(x: Float32Array, dtype: DType): Float32Array {
  return dtype === 'bf16' ? toBf16(x).values : x;
}

/** k and v in sequence coordinates [B·L × D]: the same sequences can be laid out twice. */
interface SequenceInputs {
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly padK: Float32Array;
  readonly padV: Float32Array;
}

function randomSequences(s: Shape, dtype: DType): SequenceInputs {
  const D = s.H * s.hd;
  return {
    q: narrow(randomFloats(s.B * D).map((x) => Q_SPREAD * x), dtype),
    k: narrow(randomFloats(s.B * s.L * D), dtype),
    v: narrow(randomFloats(s.B * s.L * D), dtype),
    padK: narrow(randomFloats(D), dtype),
    padV: narrow(randomFloats(D), dtype),
  };
}

/** Sequences laid out in `layout`'s rows (unowned rows NaN). */
function laidOut(x: SequenceInputs, s: Shape, layout: TestLayout): Inputs {
  const D = s.H * s.hd;
  return { ...x, k: toLayout(x.k, layout, s.B, s.L, D, Number.NaN), v: toLayout(x.v, layout, s.B, s.L, D, Number.NaN) };
}

/** Random inputs straight in `layout`'s rows (no [B·L × D] array: ML-20M's batch stays small on the host). */
function randomRows(s: Shape, dtype: DType, layout: TestLayout): Inputs {
  const D = s.H * s.hd;
  const rows = (): Float32Array => {
    const x = narrow(randomFloats(layout.rows * D), dtype);
    for (let r = 0; r < layout.rows; r++) if (!layout.owned(r)) x.fill(Number.NaN, r * D, (r + 1) * D);
    return x;
  };
  return {
    q: narrow(randomFloats(s.B * D).map((x) => Q_SPREAD * x), dtype),
    k: rows(),
    v: rows(),
    padK: narrow(randomFloats(D), dtype),
    padV: narrow(randomFloats(D), dtype),
  };
}

/** The mask over tensors of `g` named seqs, pad_k, pad_v. */
function maskOf(mode: Mode, layout: TestLayout, g: TensorLookup): AttentionMask {
  return {
    layout: { seqs: g.get('seqs'), rows: layout.rows }, ...mode,
    ...(mode.keyPadding ? {} : { padKeys: { k: g.get('pad_k'), v: g.get('pad_v') } }),
  };
}

// bf16 offsets 2, 4, 8 bytes and f32 offsets 4, 8 bytes past a 256-byte boundary: hd 128 runs VEC 1, 2,
// 4 (bf16) and 1, 2 (f32) instead of 8.
const OFFSETS: Readonly<Record<'f32' | 'bf16', readonly number[]>> = { bf16: [2, 4, 8], f32: [4, 8] };

describe.skipIf(noGpu)('CUDA attentionLastForward against the float64 CPU reference', () => {
  const context = useContext();
  let cpu: CpuOps;
  beforeAll(async () => {
    cpu = await cpuOracle();
  });
  afterAll(() => cpu?.close());

  /**
   * Device out [B × H·hd] from `x` laid out by `layout`; q, k and v each in a buffer of its own,
   * `offsetBytes` past its start (0: aligned as a memory plan's views are).
   */
  function runDevice(s: Shape, dtype: DType, mode: Mode, layout: TestLayout, x: Inputs, offsetBytes = 0): Float32Array {
    const { B, L, H, hd } = s;
    const D = H * hd;
    const io = deviceGroup('attention last io', [
      { name: 'out', shape: [B, D], dtype },
      { name: 'seqs', shape: [B, 2], dtype: 'i32' },
      { name: 'pad_k', shape: [D], dtype: 'f32' },
      { name: 'pad_v', shape: [D], dtype: 'f32' },
    ]);
    const buffers: DeviceBuffer[] = [];
    const operand = (name: string, rows: number, values: Float32Array): CudaTensor => {
      const bytes = rows * D * DTYPE_BYTES[dtype];
      const buffer = context().allocator.alloc(offsetBytes + bytes, name);
      buffers.push(buffer);
      const t = new CudaTensor({ name, shape: [rows, D], dtype }, rows * D, buffer.view(offsetBytes, bytes));
      put(t, values);
      return t;
    };
    const [q, k, v] = [operand('q', B, x.q), operand('k', layout.rows, x.k), operand('v', layout.rows, x.v)];
    put(io.get('seqs'), layout.seqs);
    put(io.get('pad_k'), x.padK);
    put(io.get('pad_v'), x.padV);
    const stream = Stream.create();
    attentionLastForward(stream, io.get('out'), q, k, v, B, L, H, hd, maskOf(mode, layout, io));
    stream.synchronize();
    stream.destroy();
    const out = get(io.get('out'));
    io.free();
    for (const buffer of buffers) buffer.free();
    return out;
  }

  /** The float64 CPU backend's out for the same inputs (unowned rows 0 there: never read either). */
  async function oracle(s: Shape, mode: Mode, layout: TestLayout, x: Inputs): Promise<Float32Array> {
    const { B, L, H, hd } = s;
    const D = H * hd;
    const g = cpu.allocGroup('oracle', [
      { name: 'q', shape: [B, D], dtype: 'f32' }, { name: 'out', shape: [B, D], dtype: 'f32' },
      { name: 'k', shape: [layout.rows, D], dtype: 'f32' }, { name: 'v', shape: [layout.rows, D], dtype: 'f32' },
      { name: 'seqs', shape: [B, 2], dtype: 'i32' },
      { name: 'pad_k', shape: [D], dtype: 'f32' }, { name: 'pad_v', shape: [D], dtype: 'f32' },
    ]);
    const owned = (rows: Float32Array): Float32Array => rows.map((value) => (Number.isNaN(value) ? 0 : value));
    cpu.write(g.get('q'), x.q);
    cpu.write(g.get('k'), owned(x.k));
    cpu.write(g.get('v'), owned(x.v));
    cpu.write(g.get('seqs'), layout.seqs);
    cpu.write(g.get('pad_k'), x.padK);
    cpu.write(g.get('pad_v'), x.padV);
    cpu.attentionLastForward(g.get('out'), g.get('q'), g.get('k'), g.get('v'), B, L, H, hd, maskOf(mode, layout, g));
    const want = await cpu.readF32(g.get('out'));
    cpu.freeGroup(g);
    return want;
  }

  // Bounds: f32 operands: fp32 dot products, exps and sums (an online softmax, its groups combined)
  // against float64: 1e-5. bf16 operands (exact in both, the padding vectors given as bf16 values), fp32
  // arithmetic, out rounded to bf16 once (≤ 2^-9 relative per element): 4e-3.
  const bound = (dtype: DType): number => (dtype === 'f32' ? 1e-5 : 4e-3);

  /** Sequence b's out row [D]: exactly 0 for the empty sequence. */
  const rowOf = (out: Float32Array, b: number, D: number): number[] => Array.from(out.subarray(b * D, (b + 1) * D));

  for (const s of SHAPES) {
    for (const mode of MODES) {
      for (const dtype of ['f32', 'bf16'] as const) {
        for (const kind of ['padded', 'packed'] as const) {
          it(`B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${mode.causal ? 'causal' : 'bidirectional, padding keys excluded'} ${dtype} ${kind}`, async () => {
            const D = s.H * s.hd;
            const layout = layoutOf(kind, s.L, randomStarts(s.B, s.L));
            const x = laidOut(randomSequences(s, dtype), s, layout);
            const out = runDevice(s, dtype, mode, layout, x);
            expect(relError(out, await oracle(s, mode, layout, x))).toBeLessThanOrEqual(bound(dtype));
            expect(rowOf(out, 1, D)).toEqual(new Array<number>(D).fill(0));
          });
        }
      }
    }
  }

  for (const dtype of ['f32', 'bf16'] as const) {
    for (const offsetBytes of OFFSETS[dtype]) {
      for (const mode of MODES) {
        it(`hd 128, q, k, v ${offsetBytes} bytes past alignment (narrower loads) ${dtype} ${mode.keyPadding ? 'padding keys excluded' : 'padding keys seen'}`, async () => {
          const s: Shape = { B: 4, L: 150, H: 2, hd: 128 };
          const D = s.H * s.hd;
          const layout = layoutOf('packed', s.L, randomStarts(s.B, s.L));
          const x = laidOut(randomSequences(s, dtype), s, layout);
          const out = runDevice(s, dtype, mode, layout, x, offsetBytes);
          expect(relError(out, await oracle(s, mode, layout, x))).toBeLessThanOrEqual(bound(dtype));
          expect(rowOf(out, 1, D)).toEqual(new Array<number>(D).fill(0));
        });
      }
    }
  }

  // ML-20M's evaluation batch: 256 sequences of L 512, 2 heads of 128, bf16, packed: full, empty and
  // length 1 first, then a tenth at L and the rest 1..100 long (~ML-20M's 27,648 rows a batch: about
  // 24,000 here), padding keys excluded (evaluation's mode) and seen. Then the same call again: the
  // same bits.
  for (const mode of MODES) {
    it(`ML-20M's shape: B 256, L 512, H 2, hd 128, bf16, packed, ${mode.keyPadding ? 'padding keys excluded' : 'padding keys seen'}; bit-identical run to run`, async () => {
      const s: Shape = { B: 256, L: 512, H: 2, hd: 128 };
      const D = s.H * s.hd;
      const lengths = Array.from({ length: s.B }, (_, b) =>
        b === 0 ? s.L : b === 1 ? 0 : b === 2 ? 1 : Math.random() < 0.1 ? s.L : 1 + Math.floor(Math.random() * 100));
      const layout = layoutOf('packed', s.L, lengths.map((len) => s.L - len));
      const x = randomRows(s, 'bf16', layout);
      const out = runDevice(s, 'bf16', mode, layout, x);
      expect(relError(out, await oracle(s, mode, layout, x))).toBeLessThanOrEqual(bound('bf16'));
      expect(rowOf(out, 1, D)).toEqual(new Array<number>(D).fill(0));
      const again = runDevice(s, 'bf16', mode, layout, x);
      const [a, b] = [new Uint32Array(out.buffer), new Uint32Array(again.buffer)];
      expect(a.every((w, i) => w === b[i])).toBe(true);
    });
  }

  it('gives the packed layout the padded layout\'s bits, and is bit-identical run to run (bf16, L 512)', () => {
    const s: Shape = { B: 4, L: 512, H: 2, hd: 128 };
    const starts = randomStarts(s.B, s.L);
    const x = randomSequences(s, 'bf16');
    const padded = layoutOf('padded', s.L, starts);
    const first = runDevice(s, 'bf16', MODES[0]!, padded, laidOut(x, s, padded));
    const packed = layoutOf('packed', s.L, starts);
    for (const out of [runDevice(s, 'bf16', MODES[0]!, packed, laidOut(x, s, packed)), runDevice(s, 'bf16', MODES[0]!, packed, laidOut(x, s, packed))]) {
      const [a, b] = [new Uint32Array(first.buffer), new Uint32Array(out.buffer)];
      expect(a.every((w, i) => w === b[i])).toBe(true);
    }
  });
});
