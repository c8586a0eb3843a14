/**
 * attentionLastForward on the CPU is attentionForward's row L − 1 of each sequence, bit for bit (both run
 * attention.ts's attendRow), in every masking mode, with sequences that are unpadded, padded up to one
 * real item, and empty (out 0), in the padded layout and a packed one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';
import type { AttentionMask } from '../../../src/backend/ops.js';
import { packedLayout, paddedLayout } from '../../helpers/attention-layouts.js';

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
  // Sequence starts: unpadded, part-padded, one real item, empty, part-padded.
  const starts = [0, 4, L - 1, L, 2];

  for (const packed of [false, true]) {
    for (const causal of [true, false]) {
      for (const keyPadding of [false, true]) {
        it(`equals attentionForward's last rows exactly (${packed ? 'packed' : 'padded'}, ${causal ? 'causal' : 'bidirectional'}, padding keys ${keyPadding ? 'excluded' : 'seen'})`, async () => {
          const layout = packed ? packedLayout(L, starts) : paddedLayout(L, starts);
          const g = ops.allocGroup('attention', [
            ...['q', 'k', 'v', 'out'].map((name) => ({ name, shape: [layout.rows, D], dtype: 'f32' as const })),
            ...['q_last', 'out_last'].map((name) => ({ name, shape: [B, D], dtype: 'f32' as const })),
            ...['pad_k', 'pad_v'].map((name) => ({ name, shape: [D], dtype: 'f32' as const })),
            ...ops.attentionWorkspace(B, L, H),
            { name: 'seqs', shape: [B, 2], dtype: 'i32' },
          ]);
          const q = randoms(layout.rows * D, 3);
          ops.write(g.get('q'), q);
          ops.write(g.get('k'), randoms(layout.rows * D, 1));
          ops.write(g.get('v'), randoms(layout.rows * D, 1));
          ops.write(g.get('pad_k'), randoms(D, 1));
          ops.write(g.get('pad_v'), randoms(D, 1));
          ops.write(g.get('seqs'), layout.seqs);
          const lastRow = (b: number): number => layout.rowOf(b, L - 1);
          const qLast = new Float32Array(B * D);
          for (let b = 0; b < B; b++) if (lastRow(b) >= 0) qLast.set(q.subarray(lastRow(b) * D, (lastRow(b) + 1) * D), b * D);
          ops.write(g.get('q_last'), qLast);
          // Poisoned: every element must be written.
          ops.write(g.get('out_last'), new Float32Array(B * D).fill(Number.NaN));
          const mask: AttentionMask = {
            layout: { seqs: g.get('seqs'), rows: layout.rows }, causal, keyPadding,
            ...(keyPadding ? {} : { padKeys: { k: g.get('pad_k'), v: g.get('pad_v') } }),
          };
          ops.attentionForward(g.get('out'), g, g.get('q'), g.get('k'), g.get('v'), B, L, H, hd, mask, { p: 0, key: { seed: 0, step: 0, site: 0 } });
          ops.attentionLastForward(g.get('out_last'), g.get('q_last'), g.get('k'), g.get('v'), B, L, H, hd, mask);
          const full = await ops.readF32(g.get('out'));
          const last = await ops.readF32(g.get('out_last'));
          for (let b = 0; b < B; b++) {
            const want = lastRow(b) < 0 ? new Array<number>(D).fill(0) : Array.from(full.subarray(lastRow(b) * D, (lastRow(b) + 1) * D));
            expect(Array.from(last.subarray(b * D, (b + 1) * D))).toEqual(want);
          }
          ops.freeGroup(g);
        });
      }
    }
  }
});
