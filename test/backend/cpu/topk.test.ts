import { describe, expect, it } from 'vitest';
import { topK } from '../../../src/backend/cpu/topk.js';
import { philox4x32, uniformFloat } from '../../../src/backend/philox.js';
import { csr } from '../../helpers/csr.js';

/** The definition: sort eligible items by score desc (NaN last), then id asc; pad with 0. */
function reference(scores: Float32Array, history: readonly number[], base: number, V: number, k: number): number[] {
  const seen = new Set(history);
  const key = (i: number): number => {
    const s = scores[base + i]!;
    return Number.isNaN(s) ? -Infinity : s;
  };
  const ids = [];
  for (let i = 1; i <= V; i++) if (!seen.has(i)) ids.push(i);
  ids.sort((a, b) => key(b) - key(a) || a - b);
  const top = ids.slice(0, k);
  while (top.length < k) top.push(0);
  return top;
}

describe('topK', () => {
  it('ranks a hand-made row: exclusions, ties by lower id, column 0 ignored', () => {
    // Items 1..6 (column 0 holds the padding score, never chosen even when highest).
    const scores = Float32Array.from([9, 0.5, 0.9, 0.95, 0.9, 0.7, 0.5]);
    const out = new Int32Array(4);
    topK(out, scores, csr([[3]]), 0, 1, 6, 4);
    // 3 (best) is in the history; 2 and 4 tie at 0.9 (2 first); then 5; 1 and 6 tie at 0.5 (1 first).
    expect([...out]).toEqual([2, 4, 5, 1]);
  });

  it('pads with 0 when fewer than K items are eligible', () => {
    const scores = Float32Array.from([0, 1, 2, 3]);
    const out = new Int32Array(5).fill(-1);
    topK(out, scores, csr([[2]]), 0, 1, 3, 5);
    expect([...out]).toEqual([3, 1, 0, 0, 0]);
  });

  it('matches the sorting definition on random rows with many ties, NaN and empty histories', () => {
    const V = 37;
    const rows = 23;
    const w = new Uint32Array(4);
    const scores = new Float32Array(rows * (V + 1));
    for (let i = 0; i < scores.length; i++) {
      philox4x32(i, 0, 0, 0, 1, 2, w);
      // Five score levels (many ties), some NaN and -Infinity.
      scores[i] = w[1]! % 17 === 0 ? NaN : w[1]! % 19 === 0 ? -Infinity : Math.floor(uniformFloat(w[0]!) * 5);
    }
    const histories: number[][] = [];
    for (let r = 0; r < rows + 3; r++) {
      philox4x32(r, 1, 0, 0, 1, 2, w);
      const len = r % 4 === 0 ? 0 : w[0]! % 30; // empty histories every 4th row, up to 29 items (repeats allowed)
      histories.push(Array.from({ length: len }, (_, j) => 1 + ((w[1]! + j * 7919) % V)));
    }
    const seqs = csr(histories);
    for (const k of [1, 5, 10, 20, 40]) {
      const out = new Int32Array(rows * k);
      topK(out, scores, seqs, 3, rows, V, k);
      for (let b = 0; b < rows; b++) {
        expect([...out.subarray(b * k, (b + 1) * k)]).toEqual(reference(scores, histories[3 + b]!, b * (V + 1), V, k));
      }
    }
  });

  it('checks its sizes', () => {
    const h = csr([[], []]);
    expect(() => topK(new Int32Array(2), new Float32Array(8), h, 0, 2, 4, 0)).toThrow(/k to be a positive integer, got 0/);
    expect(() => topK(new Int32Array(2), new Float32Array(9), h, 0, 2, 5, 1)).toThrow(/scores to hold 2 × 6 values, got 9/);
    expect(() => topK(new Int32Array(3), new Float32Array(12), h, 0, 2, 5, 2)).toThrow(/out to hold 2 × 2 ids, got 3/);
    expect(() => topK(new Int32Array(2), new Float32Array(12), h, 1, 2, 5, 1)).toThrow(/history rows 1..2 within 0..1/);
  });
});
