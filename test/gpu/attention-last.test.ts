/**
 * attention_last_forward (attentionLastForward: evaluation's query of each sequence's last position)
 * against the float64 CPU backend's op of the same name, which equals attentionForward's last row bit
 * for bit (test/backend/cpu/attention-last.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { attentionLastForward } from '../../src/backend/cuda/attention-kernels.js';
import type { DType } from '../../src/backend/memory-plan.js';
import type { AttentionMask } from '../../src/backend/ops.js';
import { Stream } from '../../src/cuda/stream.js';
import { cpuOracle, deviceGroup, get, put, relError } from './device-tensors.js';
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
  { B: 2, L: 300, H: 1, hd: 256 },
  { B: 3, L: 45, H: 1, hd: 200 },
];

const MODES = [
  { causal: true, keyPadding: false },
  { causal: false, keyPadding: true },
] as const;

/** Sequence starts: unpadded, all padding, one real item, then random. */
function randomStarts(B: number, L: number): number[] {
  return Array.from({ length: B }, (_, b) => (b === 0 ? 0 : b === 1 ? L : b === 2 ? L - 1 : Math.floor(Math.random() * L)));
}

function idsOf(L: number, starts: readonly number[]): Int32Array {
  const ids = new Int32Array(starts.length * L);
  starts.forEach((start, b) => { for (let i = start; i < L; i++) ids[b * L + i] = 1 + ((7 * b + i) % 97); });
  return ids;
}

/** Scores of unit variance (q scaled by 3 as in attention.test.ts): softmax neither flat nor one-hot. */
const Q_SPREAD = 3;

describe.skipIf(noGpu)('CUDA attentionLastForward against the float64 CPU reference', () => {
  useContext();
  let cpu: CpuOps;
  beforeAll(async () => {
    cpu = await cpuOracle();
  });
  afterAll(() => cpu?.close());

  /** Device out [B × H·hd] from fresh random q, k, v (or `given`), and the host values the device holds. */
  function runDevice(s: Shape, dtype: DType, mask: { causal: boolean; keyPadding: boolean }, starts: readonly number[], given?: { q: Float32Array; k: Float32Array; v: Float32Array }) {
    const { B, L, H, hd } = s;
    const D = H * hd;
    const io = deviceGroup('attention last io', [
      { name: 'q', shape: [B, D], dtype },
      { name: 'k', shape: [B * L, D], dtype },
      { name: 'v', shape: [B * L, D], dtype },
      { name: 'out', shape: [B, D], dtype },
      { name: 'ids', shape: [B * L], dtype: 'i32' },
    ]);
    put(io.get('ids'), idsOf(L, starts));
    const inputs = {
      q: put(io.get('q'), given?.q ?? randomFloats(B * D).map((x) => Q_SPREAD * x)),
      k: put(io.get('k'), given?.k ?? randomFloats(B * L * D)),
      v: put(io.get('v'), given?.v ?? randomFloats(B * L * D)),
    };
    const m: AttentionMask = { ids: io.get('ids'), ...mask };
    const stream = Stream.create();
    attentionLastForward(stream, io.get('out'), io.get('q'), io.get('k'), io.get('v'), B, L, H, hd, m);
    stream.synchronize();
    stream.destroy();
    const out = get(io.get('out'));
    io.free();
    return { inputs, out };
  }

  for (const s of SHAPES) {
    for (const mode of MODES) {
      for (const dtype of ['f32', 'bf16'] as const) {
        it(`B=${s.B} L=${s.L} H=${s.H} hd=${s.hd} ${mode.causal ? 'causal' : 'bidirectional, padding keys excluded'} ${dtype}`, async () => {
          const { B, L, H, hd } = s;
          const D = H * hd;
          const starts = randomStarts(B, L);
          const { inputs, out } = runDevice(s, dtype, mode, starts);
          const g = cpu.allocGroup('oracle', [
            { name: 'q', shape: [B, D], dtype: 'f32' }, { name: 'out', shape: [B, D], dtype: 'f32' },
            { name: 'k', shape: [B * L, D], dtype: 'f32' }, { name: 'v', shape: [B * L, D], dtype: 'f32' },
            { name: 'ids', shape: [B * L], dtype: 'i32' },
          ]);
          for (const name of ['q', 'k', 'v'] as const) cpu.write(g.get(name), inputs[name]);
          cpu.write(g.get('ids'), idsOf(L, starts));
          cpu.attentionLastForward(g.get('out'), g.get('q'), g.get('k'), g.get('v'), B, L, H, hd, { ids: g.get('ids'), ...mode });
          const want = await cpu.readF32(g.get('out'));
          cpu.freeGroup(g);
          // Bounds: f32 operands: fp32 dot products, exps and sums against float64: 1e-5. bf16 operands (exact
          // in both), fp32 arithmetic, out rounded to bf16 once (≤ 2^-9 relative per element): 4e-3.
          expect(relError(out, want)).toBeLessThanOrEqual(dtype === 'f32' ? 1e-5 : 4e-3);
          // The all-padding sequence (b = 1): exactly 0, as attentionForward leaves a padding row.
          expect(Array.from(out.subarray(D, 2 * D))).toEqual(new Array<number>(D).fill(0));
        });
      }
    }
  }

  it('is bit-identical run to run (bf16, L 512)', () => {
    const s: Shape = { B: 3, L: 512, H: 2, hd: 128 };
    const starts = randomStarts(s.B, s.L);
    const first = runDevice(s, 'bf16', MODES[0], starts);
    const second = runDevice(s, 'bf16', MODES[0], starts, first.inputs);
    const [a, b] = [new Uint32Array(first.out.buffer), new Uint32Array(second.out.buffer)];
    expect(a.every((w, i) => w === b[i])).toBe(true);
  });
});
