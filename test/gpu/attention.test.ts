import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { attentionBackward, attentionForward, attentionWorkspace, type AttentionBeside } from '../../src/backend/cuda/attention-kernels.js';
import type { CudaTensor, CudaTensorGroup } from '../../src/backend/cuda/cuda-tensor.js';
import type { DType } from '../../src/backend/memory-plan.js';
import type { AttentionMask, DropoutSpec, TensorLookup } from '../../src/backend/ops.js';
import { download } from '../../src/cuda/memory.js';
import { CudaEvent, Stream } from '../../src/cuda/stream.js';
import { packedLayout, paddedLayout, toLayout, type TestLayout } from '../helpers/attention-layouts.js';
import { cpuOracle, deviceGroup, fromBf16, put, relError, toBf16 } from './device-tensors.js';
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
// B ≥ 3: a full, a part-padded and an empty sequence (randomStarts).
const SHAPES: Shape[] = [
  { B: 4, L: 13, H: 2, hd: 7 }, // W 32: one partial tile, odd width
  { B: 3, L: 70, H: 1, hd: 64 }, // W 64: a second tile of 6 rows (tensor cores: likewise)
  { B: 3, L: 37, H: 2, hd: 128 }, // W 128 (32-key tiles): a partial second key tile (tensor cores: one partial tile)
  { B: 3, L: 200, H: 1, hd: 33 }, // W 64 with an odd width; SASRec's L
  { B: 3, L: 65, H: 2, hd: 32 }, // W 32: one row past a tile (tensor cores: likewise)
  { B: 3, L: 45, H: 1, hd: 200 }, // W 256 (32 × 32 tiles)
];

const DROPOUTS = [0, 0.1] as const;

// The tensor-core kernels (bf16, hd ∈ {32, 64, 128}) at SASRec's L (3 full tiles + 8 rows) and at 512
// (8 full tiles, a long online softmax), with dropout (p = 0 takes no other branch than in SHAPES), in the
// packed layout. At 512 causal only: the float64 oracle's time grows as L², and bidirectional tiles run
// at 200 already.
const MMA_SHAPES: readonly (Shape & { readonly causal: readonly boolean[] })[] = [
  { B: 3, L: 200, H: 2, hd: 32, causal: [true, false] },
  { B: 3, L: 512, H: 1, hd: 32, causal: [true] },
  { B: 3, L: 200, H: 1, hd: 64, causal: [true, false] },
  { B: 3, L: 512, H: 1, hd: 64, causal: [true] },
  { B: 3, L: 200, H: 2, hd: 128, causal: [true, false] },
  { B: 3, L: 512, H: 1, hd: 128, causal: [true] },
];

/** Which keys rows see. */
interface Mode {
  readonly causal: boolean;
  readonly keyPadding: boolean;
}

/** The modes a model uses: SASRec (causal, padding keys seen), BERT4Rec (bidirectional, padding keys not seen), and the other two. */
const MODES: readonly Mode[] = [
  { causal: true, keyPadding: false },
  { causal: false, keyPadding: true },
  { causal: true, keyPadding: true },
  { causal: false, keyPadding: false },
];

type LayoutKind = 'padded' | 'packed';

/** Which keys rows see, and where the sequences lie. */
interface Masking extends Mode {
  readonly starts: readonly number[];
  readonly layout: TestLayout;
}

/**
 * Fresh random sequence starts: sequence 0 full (no padding), 1 part-padded (a prefix ending at a random
 * place: inside a tile or on a tile edge), 2 empty, the others anything from full to empty.
 */
function randomStarts(B: number, L: number): number[] {
  return Array.from({ length: B }, (_, b) => (b === 0 ? 0 : b === 1 ? 1 + Math.floor(Math.random() * (L - 1)) : b === 2 ? L : Math.floor(Math.random() * (L + 1))));
}

function layoutOf(kind: LayoutKind, L: number, starts: readonly number[]): TestLayout {
  return kind === 'padded' ? paddedLayout(L, starts) : packedLayout(L, starts);
}

function randomMasking(B: number, L: number, mode: Mode, kind: LayoutKind, starts = randomStarts(B, L)): Masking {
  return { ...mode, starts, layout: layoutOf(kind, L, starts) };
}

function describeMasking(m: Mode): string {
  return `${m.causal ? 'causal' : 'bidirectional'}${m.keyPadding ? ', padding keys excluded' : ''}`;
}

/** q scaled so that the scores q·k/sqrt(hd) have unit variance: the online max moves, softmax is not flat. */
const Q_SPREAD = 3;

/** The padding keys' gradients start from random content this small (+=: the test checks the increment). */
const PAD_GRAD_START = 1 / 64;

/** A fresh random Philox key for a dropout of probability p. */
function randomDrop(p: number): DropoutSpec {
  return {
    p,
    key: { seed: Math.floor(Math.random() * 2 ** 32), step: Math.floor(Math.random() * 1e6), site: Math.floor(Math.random() * 64) },
  };
}

/** Host inputs as the device tensors hold them, in sequence coordinates: [B·L × D] (position i of sequence b at row b·L + i). */
interface Inputs {
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly dout: Float32Array;
  /** The padding keys' key and value [D] (bf16 values for bf16 operands: what a bf16 row would hold). */
  readonly padK: Float32Array;
  readonly padV: Float32Array;
  /** The padding keys' gradients' initial content [D]. */
  readonly padDk0: Float32Array;
  readonly padDv0: Float32Array;
}

/** Fresh random inputs of a shape (unowned rows are NaN once laid out: a kernel that read one would show it). */
function randomInputs(s: Shape, dtype: DType): Inputs {
  const n = s.B * s.L * s.H * s.hd;
  const D = s.H * s.hd;
  const narrow = (x: Float32Array): Float32Array => (dtype === 'bf16' ? toBf16(x).values : x);
  return {
    q: narrow(randomFloats(n).map((x) => Q_SPREAD * x)),
    k: narrow(randomFloats(n)),
    v: narrow(randomFloats(n)),
    dout: randomFloats(n),
    padK: narrow(randomFloats(D)),
    padV: narrow(randomFloats(D)),
    padDk0: randomFloats(D).map((x) => PAD_GRAD_START * x),
    padDv0: randomFloats(D).map((x) => PAD_GRAD_START * x),
  };
}

/** The float32 next to x (an f32 value) towards +∞ (up) or −∞. */
function nextF32(x: number, up: boolean): number {
  if (x === 0) return up ? 2 ** -149 : -(2 ** -149);
  const bits = new Int32Array(new Float32Array([x]).buffer);
  bits[0] = bits[0]! + ((x > 0) === up ? 1 : -1);
  return new Float32Array(bits.buffer)[0]!;
}

/**
 * fmaf(a, b, c) of f32 values: a·b + c rounded once to f32 (round to nearest even). a·b is exact in
 * float64 (24 + 24 bits); TwoSum gives the float64 sum s and its exact error, and rounding s to f32 is
 * the single rounding of the exact sum except when s is an f32 midpoint, where the error's sign decides.
 */
function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const t = s - p;
  const err = p - (s - t) + (c - t);
  const r = Math.fround(s);
  if (err === 0 || r === s) return r;
  const other = nextF32(r, s > r);
  return (r + other) / 2 === s && (err > 0) === (other > r) ? other : r;
}

/**
 * delta = dout · out over one head's hd columns from element `at`, in attention_delta's SUM ORDER
 * (kernels/attention.cu, the delta section), f32 bit for bit: lane g of G (the smallest power of 2 with
 * 8·G ≥ hd, at most 32) adds chunks g, g + G, … of 8 columns by fmaf from 0 (columns past hd: 0 · 0),
 * then an xor butterfly over offsets G/2 … 1 (a sum of two f32 rounded from float64 is the f32 sum).
 */
function deltaF32(dout: Float32Array, out: Float32Array, at: number, hd: number): number {
  let G = 1;
  while (G < 32 && 8 * G < hd) G *= 2;
  let lanes = Array.from({ length: G }, (_, g) => {
    let sum = 0;
    for (let k = g; 8 * k < hd; k += G) {
      for (let c = 8 * k; c < 8 * k + 8; c++) sum = c < hd ? fmaF32(dout[at + c]!, out[at + c]!, sum) : fmaF32(0, 0, sum);
    }
    return sum;
  });
  for (let off = G >> 1; off > 0; off >>= 1) lanes = lanes.map((x, g) => Math.fround(x + lanes[g ^ off]!));
  return lanes[0]!;
}

/** Device (or oracle) outputs of one forward and backward, in sequence coordinates ([B·L × D]; NaN at padding positions). */
interface Result {
  readonly out: Float32Array;
  readonly dq: Float32Array;
  readonly dk: Float32Array;
  readonly dv: Float32Array;
  /** The padding keys' gradients' increments [D] (0 with keyPadding). */
  readonly padDk: Float32Array;
  readonly padDv: Float32Array;
}

/** Rows of `x` [layout.rows × D] back in sequence coordinates, padding positions NaN. */
function fromLayout(x: Float32Array, layout: TestLayout, B: number, L: number, D: number): Float32Array {
  const out = new Float32Array(B * L * D).fill(Number.NaN);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < L; i++) {
      const r = layout.rowOf(b, i);
      if (r >= 0) out.set(x.subarray(r * D, (r + 1) * D), (b * L + i) * D);
    }
  }
  return out;
}

/** Values at the sequences' positions only (padding positions dropped), for relError. */
function owned(x: Float32Array, m: Masking, L: number, D: number): Float32Array {
  return x.filter((_, e) => Math.floor(e / D) % L >= m.starts[Math.floor(e / (L * D))]!);
}

/** The mask of `m` over tensors of `g` named seqs, pad_k, pad_v, pad_dk, pad_dv. */
function maskOf(m: Masking, g: TensorLookup): AttentionMask {
  return {
    layout: { seqs: g.get('seqs'), rows: m.layout.rows }, causal: m.causal, keyPadding: m.keyPadding,
    ...(m.keyPadding ? {} : { padKeys: { k: g.get('pad_k'), v: g.get('pad_v'), dk: g.get('pad_dk'), dv: g.get('pad_dv') } }),
  };
}

/** Device outputs, their lse and delta, and whether every row no sequence owns kept its poison in out, dq, dk and dv. */
interface DeviceRun {
  readonly result: Result;
  readonly lse: Float32Array;
  /** The backward's scratch delta [B × H × L] (dout · out per position and head; 0 at padding positions). */
  readonly delta: Float32Array;
  readonly poisonKept: boolean;
}

/**
 * Queues a read of all of t on `stream` (what the stream's work after the call sees, without
 * synchronizing the context); the values are there once the stream is synchronized.
 */
function readOn(stream: Stream, t: CudaTensor): () => Float32Array {
  if (t.dtype === 'bf16') {
    const bits = new Uint16Array(t.size);
    download(bits, t, 0, stream);
    return () => fromBf16(bits);
  }
  const values = new Float32Array(t.size);
  download(values, t, 0, stream);
  return () => values;
}

/** A non-blocking second stream and its two events for attentionBackward (as CudaOps holds them). */
function createBeside(): AttentionBeside & { destroy(): void } {
  const stream = Stream.create({ nonBlocking: true });
  const start = CudaEvent.create({ timing: false });
  const done = CudaEvent.create({ timing: false });
  return {
    stream, start, done,
    destroy: () => {
      stream.synchronize();
      stream.destroy();
      start.destroy();
      done.destroy();
    },
  };
}

/**
 * Runs attentionForward then attentionBackward on a blocking stream (with `beside`, its dk/dv kernel on
 * a second, non-blocking stream), and reads every result on that stream, after the call: what the work
 * queued after the call sees.
 */
function runDevice(s: Shape, dtype: DType, m: Masking, drop: DropoutSpec, x: Inputs, beside = false): DeviceRun {
  const { B, L, H, hd } = s;
  const D = H * hd;
  const rows = [m.layout.rows, D];
  const io: CudaTensorGroup = deviceGroup('attention io', [
    { name: 'q', shape: rows, dtype },
    { name: 'k', shape: rows, dtype },
    { name: 'v', shape: rows, dtype },
    { name: 'out', shape: rows, dtype },
    { name: 'dout', shape: rows, dtype: 'f32' },
    { name: 'dq', shape: rows, dtype: 'f32' },
    { name: 'dk', shape: rows, dtype: 'f32' },
    { name: 'dv', shape: rows, dtype: 'f32' },
    { name: 'seqs', shape: [B, 2], dtype: 'i32' },
    ...['pad_k', 'pad_v', 'pad_dk', 'pad_dv'].map((name) => ({ name, shape: [D], dtype: 'f32' as const })),
  ]);
  put(io.get('seqs'), m.layout.seqs);
  for (const name of ['q', 'k', 'v', 'dout'] as const) put(io.get(name), toLayout(x[name], m.layout, B, L, D, Number.NaN));
  put(io.get('pad_k'), x.padK);
  put(io.get('pad_v'), x.padV);
  put(io.get('pad_dk'), x.padDk0);
  put(io.get('pad_dv'), x.padDv0);
  const mask = maskOf(m, io);
  const saved = deviceGroup('attention saved', attentionWorkspace(B, L, H, hd));
  const stream = Stream.create();
  const side = beside ? createBeside() : undefined;
  attentionForward(stream, io.get('out'), saved, io.get('q'), io.get('k'), io.get('v'), B, L, H, hd, mask, drop);
  attentionBackward(
    stream, io.get('dq'), io.get('dk'), io.get('dv'),
    io.get('dout'), io.get('q'), io.get('k'), io.get('v'), io.get('out'), saved,
    B, L, H, hd, mask, drop, side,
  );
  const reads = {
    out: readOn(stream, io.get('out')), dq: readOn(stream, io.get('dq')), dk: readOn(stream, io.get('dk')), dv: readOn(stream, io.get('dv')),
    padDk: readOn(stream, io.get('pad_dk')), padDv: readOn(stream, io.get('pad_dv')),
    lse: readOn(stream, saved.get('lse')), delta: readOn(stream, saved.get('delta')),
  };
  stream.synchronize();
  stream.destroy();
  side?.destroy();
  const raw = { out: reads.out(), dq: reads.dq(), dk: reads.dk(), dv: reads.dv() };
  const poisonKept = Object.values(raw).every((t) => t.every((value, e) => m.layout.owned(Math.floor(e / D)) || Number.isNaN(value)));
  const increment = (read: () => Float32Array, start: Float32Array): Float32Array => read().map((value, c) => value - start[c]!);
  const result: Result = {
    out: fromLayout(raw.out, m.layout, B, L, D),
    dq: fromLayout(raw.dq, m.layout, B, L, D),
    dk: fromLayout(raw.dk, m.layout, B, L, D),
    dv: fromLayout(raw.dv, m.layout, B, L, D),
    padDk: increment(reads.padDk, x.padDk0),
    padDv: increment(reads.padDv, x.padDv0),
  };
  saved.free();
  io.free();
  return { result, lse: reads.lse(), delta: reads.delta(), poisonKept };
}

/** The float64 CPU backend's forward and backward on the same inputs and layout. */
async function runOracle(cpu: CpuOps, s: Shape, m: Masking, drop: DropoutSpec, x: Inputs): Promise<Result> {
  const { B, L, H, hd } = s;
  const D = H * hd;
  const rows = [m.layout.rows, D];
  const names = ['q', 'k', 'v', 'out', 'dout', 'dq', 'dk', 'dv'] as const;
  const g = cpu.allocGroup('attention oracle', [
    ...names.map((name) => ({ name, shape: rows, dtype: 'f32' as const })),
    ...cpu.attentionWorkspace(B, L, H),
    { name: 'seqs', shape: [B, 2], dtype: 'i32' },
    ...['pad_k', 'pad_v', 'pad_dk', 'pad_dv'].map((name) => ({ name, shape: [D], dtype: 'f32' as const })),
  ]);
  for (const name of ['q', 'k', 'v', 'dout'] as const) cpu.write(g.get(name), toLayout(x[name], m.layout, B, L, D));
  cpu.write(g.get('seqs'), m.layout.seqs);
  cpu.write(g.get('pad_k'), x.padK);
  cpu.write(g.get('pad_v'), x.padV);
  const mask = maskOf(m, g);
  cpu.attentionForward(g.get('out'), g, g.get('q'), g.get('k'), g.get('v'), B, L, H, hd, mask, drop);
  cpu.attentionBackward(
    g.get('dq'), g.get('dk'), g.get('dv'),
    g.get('dout'), g.get('q'), g.get('k'), g.get('v'), g.get('out'), g,
    B, L, H, hd, mask, drop,
  );
  const read = async (name: string): Promise<Float32Array> => fromLayout(await cpu.readF32(g.get(name)), m.layout, B, L, D);
  const want: Result = {
    out: await read('out'),
    dq: await read('dq'),
    dk: await read('dk'),
    dv: await read('dv'),
    padDk: await cpu.readF32(g.get('pad_dk')),
    padDv: await cpu.readF32(g.get('pad_dv')),
  };
  cpu.freeGroup(g);
  return want;
}

describe('attentionWorkspace', () => {
  it('holds lse and delta [B × H × L] and the padding keys\' partials [B · query tiles × 2·H·hd] (the smallest dq query tile), f32', () => {
    // hd 7: SIMT only, 64-query tiles.
    expect(attentionWorkspace(3, 13, 2, 7)).toEqual([
      { name: 'lse', shape: [3, 2, 13], dtype: 'f32' },
      { name: 'delta', shape: [3, 2, 13], dtype: 'f32' },
      { name: 'padKeyPartials', shape: [3, 28], dtype: 'f32' },
    ]);
    // hd 128: SIMT and tensor cores both 64-query tiles; hd 200: SIMT 32-query tiles.
    expect(attentionWorkspace(2, 65, 1, 128)[2]).toEqual({ name: 'padKeyPartials', shape: [2 * 2, 256], dtype: 'f32' });
    expect(attentionWorkspace(2, 65, 1, 200)[2]).toEqual({ name: 'padKeyPartials', shape: [2 * 3, 400], dtype: 'f32' });
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

  /** One forward and backward on the device against the float64 CPU backend (random starts unless given). */
  async function check(s: Shape, dtype: DType, mode: Mode, p: number, kind: LayoutKind, starts?: readonly number[]): Promise<void> {
    const drop = randomDrop(p);
    const m = randomMasking(s.B, s.L, mode, kind, starts === undefined ? undefined : [...starts]);
    const x = randomInputs(s, dtype);
    const { result, lse, delta, poisonKept } = runDevice(s, dtype, m, drop, x);
    const want = await runOracle(cpu, s, m, drop, x);
    // Bounds. f32 operands: fp32 dot products, exps and sums against float64 (errors of a few 1e-7 in a
    // CPU emulation of these kernels): 1e-5 for out and the gradients alike, the padding keys' sums too
    // (fp32 sums of up to B·L terms; their +=: an fp32 addition to a start of |x| < 1/64).
    // bf16 operands (inputs exact in both), SIMT kernels: out adds one bf16 rounding (≤ 2^-9 relative
    // per element; ~1.7e-3 seen); the gradients see that rounding only through delta = dout · out
    // (≤ 2.3e-3 seen). Tensor-core kernels add the bf16 rounding of P before P·V, and of dout, P and dS
    // before the backward's products: in a host emulation of them (mma.sync and ldmatrix emulated from
    // the PTX ISA's fragment tables) out ≤ 2.3e-3 and the gradients ≤ 3.4e-3 relative over these
    // shapes. The padding keys (seen without keyPadding) are taken in closed form on both paths: their
    // P and dS are exact fp32, not rounded to bf16, which moves the tensor-core results by less than
    // those roundings. Bounds: out 4e-3, gradients (the padding keys' sums among them) 1e-2. The long-
    // padding cases (`starts`: sequences of 1, 20 and 97 items, dropout 0.3) sum each dq row over few kept
    // keys, so one key's bf16 roundings weigh more: hd 128's causal dq ran 6.3e-3 to 1.01e-2 relative over
    // 13 runs on an H200 (the same spread before and after dk/dv moved beside dq): bound 1.5e-2 there.
    const outTol = dtype === 'f32' ? 1e-5 : 4e-3;
    const gradTol = dtype === 'f32' ? 1e-5 : starts !== undefined ? 1.5e-2 : 1e-2;
    const { L, H, hd } = s;
    const D = H * hd;
    // lse: finite on every computed row, +inf at padding positions (so backward's P there is 0).
    const padRow = (r: number): boolean => r % L < m.starts[Math.floor(r / (H * L))]!;
    expect(lse.every((v, r) => (padRow(r) ? v === Infinity : Number.isFinite(v))), 'lse fully written').toBe(true);
    expect(poisonKept, 'rows no sequence owns keep their poison (out, dq, dk, dv)').toBe(true);
    // delta = dout · out over a head's columns, of the out the device wrote (exact in float64 here): fp32
    // products summed in fp32 over hd ≤ 256 columns, a few 1e-7 relative; bound 1e-5. And attention_delta
    // keeps the SUM ORDER bit for bit (deltaF32: the same f32 operations on the same values, on either
    // path). Exactly 0 at padding positions (the workspace starts poisoned).
    const wantDelta = new Float64Array(delta.length);
    let sameBits = true;
    for (let e = 0; e < delta.length; e++) {
      if (padRow(e)) continue;
      const at = (Math.floor(e / (H * L)) * L + (e % L)) * D + (Math.floor(e / L) % H) * hd;
      let sum = 0;
      for (let c = 0; c < hd; c++) sum += x.dout[at + c]! * result.out[at + c]!;
      wantDelta[e] = sum;
      sameBits &&= Object.is(delta[e], deltaF32(x.dout, result.out, at, hd));
    }
    expect(relError(delta, wantDelta), 'delta').toBeLessThanOrEqual(1e-5);
    expect(sameBits, 'delta in the SUM ORDER, bit for bit').toBe(true);
    expect(delta.every((v, e) => !padRow(e) || Object.is(v, 0)), 'delta 0 at padding positions').toBe(true);
    for (const name of ['out', 'dq', 'dk', 'dv'] as const) {
      expect(relError(owned(result[name], m, L, D), owned(want[name], m, L, D)), name).toBeLessThanOrEqual(name === 'out' ? outTol : gradTol);
    }
    if (m.keyPadding) {
      // No padding key is seen: padKeys is absent, and its tensors (given to no one) kept their content.
      expect(Array.from(result.padDk).every((v) => v === 0) && Array.from(result.padDv).every((v) => v === 0), 'padKeys untouched').toBe(true);
    } else {
      // padKeys.dk nearly cancels: Σ_j dS_ij = 0 for every query row, so the padding keys' share is a
      // small difference of large terms (1-2% of them here) and the terms' rounding (bf16 dS on the
      // tensor cores, fp32 sums elsewhere) is not small against it: 2.3e-5 (f32) and 0.21 (bf16) relative
      // to the result were seen on an H200. Its error is bounded against the terms instead: n independent
      // roundings add like √n, and a padding key's row of dk is a few times a real key's (every query of
      // its sequence sees it; a real key, only the later ones), so |error| ≤ tol · √(padding keys seen) ·
      // rms(a real key's dk row) with tol 1e-5 (f32) and 4e-2 (bf16; up to 1.23e-2 seen on an H200).
      const padTol = dtype === 'f32' ? 1e-5 : 4e-2;
      const realDk = owned(want.dk, m, L, D);
      const rmsRow = Math.sqrt(realDk.reduce((a, v) => a + v * v, 0) / Math.max(1, realDk.length / D));
      const padKeys = m.starts.reduce((a, start) => a + (start < L ? start : 0), 0);
      const padDkError = Math.sqrt(result.padDk.reduce((a, v, c) => a + (v - want.padDk[c]!) ** 2, 0));
      expect(padDkError, 'padKeys.dk').toBeLessThanOrEqual(padTol * Math.sqrt(padKeys) * rmsRow);
      expect(relError(result.padDv, want.padDv), 'padKeys.dv').toBeLessThanOrEqual(gradTol);
    }
  }

  for (const s of SHAPES) {
    for (const mode of MODES.slice(0, 3)) {
      for (const p of DROPOUTS) {
        for (const dtype of ['f32', 'bf16'] as const) {
          for (const kind of ['padded', 'packed'] as const) {
            it(`B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${describeMasking(mode)} p=${p} ${dtype} ${kind}`, () => check(s, dtype, mode, p, kind));
          }
        }
      }
    }
  }

  for (const s of MMA_SHAPES) {
    for (const mode of MODES.filter((m) => s.causal.includes(m.causal))) {
      it(`tensor cores: B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${describeMasking(mode)} p=0.1 bf16 packed`, () => check(s, 'bf16', mode, 0.1, 'packed'));
    }
  }

  // Long padding (SASRec at ML-20M: most of a row's keys are padding keys): starts 3 and more 64-key tiles
  // in (L 300: 20 real items, 97 (mid-tile), 1), so whole padding tiles are skipped and their keys taken
  // in closed form; heavy dropout (0.3) gives every row its own count of kept padding keys. SIMT (f32,
  // 64-key tiles; and hd 200, 32-key tiles) and tensor cores (hd 64; hd 128 with 32-query dk/dv tiles).
  const LONG_PADDING: readonly (Shape & { readonly dtype: DType })[] = [
    { B: 3, L: 300, H: 2, hd: 64, dtype: 'f32' },
    { B: 3, L: 300, H: 1, hd: 200, dtype: 'bf16' },
    { B: 3, L: 300, H: 2, hd: 64, dtype: 'bf16' },
    { B: 3, L: 300, H: 1, hd: 128, dtype: 'bf16' },
  ];
  for (const s of LONG_PADDING) {
    for (const mode of MODES.filter((m) => !m.keyPadding)) {
      it(`long padding: B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${describeMasking(mode)} p=0.3 ${s.dtype} packed`, () =>
        check(s, s.dtype, mode, 0.3, 'packed', [s.L - 20, s.L - 97, s.L - 1]));
    }
  }

  /** Whether two runs' outputs (padding positions NaN in both), padding keys' gradients, lse and delta are the same bits. */
  function expectSameBits(a: DeviceRun, b: DeviceRun): void {
    for (const name of ['out', 'dq', 'dk', 'dv', 'padDk', 'padDv'] as const) {
      const [x, y] = [new Uint32Array(a.result[name].buffer), new Uint32Array(b.result[name].buffer)];
      expect(x.every((w, i) => w === y[i]), name).toBe(true);
    }
    for (const name of ['lse', 'delta'] as const) {
      const [x, y] = [new Uint32Array(a[name].buffer), new Uint32Array(b[name].buffer)];
      expect(x.every((w, i) => w === y[i]), name).toBe(true);
    }
  }

  // The packed layout runs the padded one's tiles in the same order: the same bits, on every path (SIMT
  // f32 and bf16; tensor cores at hd 32, 64, 128), in every mode.
  const SAME_BITS: readonly (Shape & { readonly dtype: DType })[] = [
    { B: 5, L: 70, H: 2, hd: 33, dtype: 'f32' },
    { B: 4, L: 45, H: 1, hd: 200, dtype: 'bf16' },
    { B: 5, L: 130, H: 2, hd: 32, dtype: 'bf16' },
    { B: 4, L: 150, H: 1, hd: 64, dtype: 'bf16' },
    { B: 4, L: 100, H: 2, hd: 128, dtype: 'bf16' },
  ];
  for (const s of SAME_BITS) {
    it(`gives the packed layout the padded layout's bits (B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${s.dtype}, every mode, dropout)`, () => {
      for (const mode of MODES) {
        const drop = randomDrop(0.1);
        const starts = randomStarts(s.B, s.L);
        const x = randomInputs(s, s.dtype);
        const padded = runDevice(s, s.dtype, { ...mode, starts, layout: layoutOf('padded', s.L, starts) }, drop, x);
        const packed = runDevice(s, s.dtype, { ...mode, starts, layout: layoutOf('packed', s.L, starts) }, drop, x);
        expect(padded.poisonKept && packed.poisonKept, 'poison kept').toBe(true);
        expectSameBits(padded, packed);
      }
    });
  }

  // dk/dv on a second stream beside dq: the kernels share only inputs, so the same bits as on one stream,
  // and the results read on the call's stream after it include dk and dv (the call's stream waits for the
  // second). SIMT (f32, hd 33; bf16, hd 200) and tensor cores (hd 64 at SASRec's L with ML-1M's width; hd
  // 128 with 32-query dk/dv tiles), every mode, dropout.
  const BESIDE: readonly (Shape & { readonly dtype: DType })[] = [
    { B: 5, L: 150, H: 2, hd: 33, dtype: 'f32' },
    { B: 4, L: 45, H: 1, hd: 200, dtype: 'bf16' },
    { B: 32, L: 200, H: 1, hd: 64, dtype: 'bf16' },
    { B: 4, L: 300, H: 2, hd: 128, dtype: 'bf16' },
  ];
  for (const s of BESIDE) {
    it(`gives dk/dv beside dq on a second stream the one stream's bits (B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${s.dtype}, every mode, dropout)`, () => {
      for (const mode of MODES) {
        const drop = randomDrop(0.1);
        const m = randomMasking(s.B, s.L, mode, 'packed');
        const x = randomInputs(s, s.dtype);
        const one = runDevice(s, s.dtype, m, drop, x);
        const two = runDevice(s, s.dtype, m, drop, x, true);
        expect(one.poisonKept && two.poisonKept, 'poison kept').toBe(true);
        expectSameBits(one, two);
      }
    });
  }

  it('is bit-identical run to run (causal, padding keys seen, dropout, bf16, several tiles)', () => {
    const s: Shape = { B: 3, L: 150, H: 2, hd: 64 };
    const drop = randomDrop(0.1);
    const m = randomMasking(s.B, s.L, MODES[0]!, 'packed');
    const x = randomInputs(s, 'bf16');
    expectSameBits(runDevice(s, 'bf16', m, drop, x), runDevice(s, 'bf16', m, drop, x));
  });
});
