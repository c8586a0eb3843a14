/**
 * attentionLastForward on the CPU is attentionForward's row L − 1 of each sequence, bit for bit (both run
 * attention.ts's attendRow), in every masking mode, with sequences that are unpadded, padded up to one
 * real item, and all padding (out 0).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';
import type { AttentionMask } from '../../../src/backend/ops.js';

let ops: CpuOps;
beforeAll(async () => {
  ops = await CpuOps.create({ threads: 2 });
});
afterAll(() => ops.close());

function randoms(n: number, spread: number): Float32Array {
  return Float32Array.from({ length: n }, () => spread * (2 * Math.random() - 1));
}

describe('CPU attentionLastForward', () => {
  const [B, L, H, hd] = [5, 9, 3, 5];
  const D = H * hd;
  // Sequence starts: unpadded, part-padded, one real item, all padding, part-padded.
  const starts = [0, 4, L - 1, L, 2];
  const ids = new Int32Array(B * L);
  starts.forEach((start, b) => { for (let i = start; i < L; i++) ids[b * L + i] = 1 + b + i; });

  for (const causal of [true, false]) {
    for (const keyPadding of [false, true]) {
      it(`equals attentionForward's last rows exactly (${causal ? 'causal' : 'bidirectional'}, padding keys ${keyPadding ? 'excluded' : 'seen'})`, async () => {
        const g = ops.allocGroup('attention', [
          ...['q', 'k', 'v', 'out'].map((name) => ({ name, shape: [B * L, D], dtype: 'f32' as const })),
          ...['q_last', 'out_last'].map((name) => ({ name, shape: [B, D], dtype: 'f32' as const })),
          ...ops.attentionWorkspace(B, L, H),
          { name: 'ids', shape: [B * L], dtype: 'i32' },
        ]);
        const q = randoms(B * L * D, 3);
        ops.write(g.get('q'), q);
        ops.write(g.get('k'), randoms(B * L * D, 1));
        ops.write(g.get('v'), randoms(B * L * D, 1));
        ops.write(g.get('ids'), ids);
        const qLast = new Float32Array(B * D);
        for (let b = 0; b < B; b++) qLast.set(q.subarray((b * L + L - 1) * D, (b * L + L) * D), b * D);
        ops.write(g.get('q_last'), qLast);
        // Poisoned: every element must be written.
        ops.write(g.get('out_last'), new Float32Array(B * D).fill(Number.NaN));
        const mask: AttentionMask = { ids: g.get('ids'), causal, keyPadding };
        ops.attentionForward(g.get('out'), g, g.get('q'), g.get('k'), g.get('v'), B, L, H, hd, mask, { p: 0, key: { seed: 0, step: 0, site: 0 } });
        ops.attentionLastForward(g.get('out_last'), g.get('q_last'), g.get('k'), g.get('v'), B, L, H, hd, mask);
        const full = await ops.readF32(g.get('out'));
        const last = await ops.readF32(g.get('out_last'));
        for (let b = 0; b < B; b++) {
          expect(Array.from(last.subarray(b * D, (b + 1) * D))).toEqual(Array.from(full.subarray((b * L + L - 1) * D, (b * L + L) * D)));
        }
        // The all-padding sequence's row is 0, as attentionForward leaves a padding row.
        expect(Array.from(last.subarray(3 * D, 4 * D))).toEqual(new Array<number>(D).fill(0));
        ops.freeGroup(g);
      });
    }
  }
});
