/**
 * Finite-difference gradient checks (float64) of every CPU op with a backward, on odd shapes: the
 * analytic backward of Σ out ⊙ W must equal the numeric derivative of the same projection.
 */
import { describe, expect, it } from 'vitest';
import { adamStep } from '../../../src/backend/cpu/adam.js';
import { addPaddingKeyGrads, attentionBackwardPart, attentionForwardPart, type AttentionRows } from '../../../src/backend/cpu/attention.js';
import { dropout } from '../../../src/backend/cpu/dropout.js';
import { biasAdd, biasBackward, maskPadded, reluBackward, reluForward } from '../../../src/backend/cpu/elementwise.js';
import { embedBackward, embedForward } from '../../../src/backend/cpu/embedding.js';
import { layerNormBackward, layerNormForward } from '../../../src/backend/cpu/layernorm.js';
import type { DropoutSpec } from '../../../src/backend/ops.js';
import { packedLayout, paddedLayout, toLayout, type TestLayout } from '../../helpers/attention-layouts.js';
import { expectClose, numericGrad, project, randArray, rng } from '../../helpers/numeric.js';

const NO_DROP: DropoutSpec = { p: 0, key: { seed: 1, step: 0, site: 0 } };

describe('layerNorm', () => {
  it('backward matches finite differences for x, weight and bias (7 rows × 13)', () => {
    const rows = 7, cols = 13, eps = 1e-5;
    const next = rng(1);
    const x = randArray(next, rows * cols, 2);
    const w = randArray(next, cols);
    const b = randArray(next, cols);
    const W = randArray(next, rows * cols);
    const out = new Float64Array(rows * cols);
    const mean = new Float64Array(rows);
    const rstd = new Float64Array(rows);
    const f = (): number => {
      layerNormForward(out, mean, rstd, x, w, b, rows, cols, eps);
      return project(out, W);
    };
    f();
    const dx = randArray(next, rows * cols); // backward accumulates: start from a known non-zero value
    const dx0 = Float64Array.from(dx);
    const dw = new Float64Array(cols);
    const db = new Float64Array(cols);
    layerNormBackward(dx, dw, db, W, x, w, mean, rstd, rows, cols);
    expectClose(dx.map((v, i) => v - dx0[i]!), numericGrad(f, x), 1e-7, 'dx');
    expectClose(dw, numericGrad(f, w), 1e-7, 'dweight');
    expectClose(db, numericGrad(f, b), 1e-7, 'dbias');
  });

  it('normalises each row to mean 0 and variance 1 (biased) before the affine map', () => {
    const x = Float64Array.from([1, 2, 3, 4, 10, 10, 10, 14]);
    const out = new Float64Array(8);
    layerNormForward(out, new Float64Array(2), new Float64Array(2), x, new Float64Array(4).fill(1), new Float64Array(4), 2, 4, 0);
    const s = Math.sqrt(1.25);
    expectClose(out, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, -1 / Math.sqrt(3), -1 / Math.sqrt(3), -1 / Math.sqrt(3), Math.sqrt(3)], 1e-12);
  });
});

describe('attention', () => {
  /** The mask of sequences with `starts[b]` padding positions in `layout`, the padding vectors of width D where padding keys are seen. */
  const rowsOf = (layout: TestLayout, causal: boolean, keyPadding: boolean, pad: { k: Float64Array; v: Float64Array } | null): AttentionRows => ({
    seqs: layout.seqs, causal, keyPadding, padK: keyPadding ? null : pad!.k, padV: keyPadding ? null : pad!.v,
  });
  type Case = [name: string, B: number, L: number, H: number, hd: number, starts: number[], causal: boolean, keyPadding: boolean, p: number, packed: boolean];
  const cases: Case[] = [
    ['causal, 1 head', 2, 5, 1, 3, [0, 0], true, false, 0, false],
    ['causal, 3 heads', 3, 4, 3, 2, [0, 0, 0], true, false, 0, false],
    ['bidirectional, 2 heads', 2, 3, 2, 5, [0, 0], false, false, 0, false],
    ['causal with dropout 0.3', 2, 6, 2, 3, [0, 0], true, false, 0.3, false],
    ['causal, padding keys seen', 3, 5, 2, 3, [2, 0, 5], true, false, 0.2, false],
    ['bidirectional, padding keys excluded', 3, 5, 2, 3, [3, 0, 5], false, true, 0.2, false],
    ['causal, padding keys excluded', 2, 6, 1, 4, [1, 4], true, true, 0, false],
    ['packed, causal, padding keys seen', 4, 5, 2, 3, [2, 5, 0, 4], true, false, 0.2, true],
    ['packed, bidirectional, padding keys seen', 3, 4, 1, 3, [1, 3, 4], false, false, 0, true],
    ['packed, bidirectional, padding keys excluded', 3, 5, 2, 2, [3, 0, 5], false, true, 0.3, true],
  ];
  for (const [name, B, L, H, hd, starts, causal, keyPadding, p, packed] of cases) {
    it(`backward matches finite differences (${name}, B=${B} L=${L} hd=${hd})`, () => {
      const D = H * hd;
      const next = rng(B * 100 + L * 10 + H);
      const layout = packed ? packedLayout(L, starts, next) : paddedLayout(L, starts);
      const n = layout.rows * D;
      const q = randArray(next, n), k = randArray(next, n), v = randArray(next, n);
      const pad = { k: randArray(next, D), v: randArray(next, D) };
      const rows = rowsOf(layout, causal, keyPadding, pad);
      const W = randArray(next, n);
      const drop: DropoutSpec = { p, key: { seed: 9, step: 4, site: 3 } };
      // Unowned rows of out are never written: they hold 0 throughout, so add nothing to the projection.
      const out = new Float64Array(n);
      const probs = new Float64Array(B * H * L * L);
      const f = (): number => {
        attentionForwardPart(out, probs, q, k, v, B, L, H, hd, rows, drop, 0, 1);
        return project(out, W);
      };
      f();
      // Poisoned: the sequences' rows must be overwritten, the others left as they are.
      const dq = new Float64Array(n).fill(7), dk = new Float64Array(n).fill(7), dv = new Float64Array(n).fill(7);
      const padGrads = keyPadding ? null : new Float64Array(2 * B * D).fill(Number.NaN);
      attentionBackwardPart(dq, dk, dv, padGrads, W, q, k, v, probs, B, L, H, hd, rows, drop, 0, 1);
      const ownedOnly = (g: Float64Array, fill: number): Float64Array => g.map((x, e) => (layout.owned(Math.floor(e / D)) ? x : fill));
      expectClose(dq, ownedOnly(numericGrad(f, q), 7), 1e-7, 'dq');
      expectClose(dk, ownedOnly(numericGrad(f, k), 7), 1e-7, 'dk');
      expectClose(dv, ownedOnly(numericGrad(f, v), 7), 1e-7, 'dv');
      if (padGrads !== null) {
        // (+=): from random content.
        const padDk = randArray(next, D), padDv = randArray(next, D);
        const [dk0, dv0] = [Float64Array.from(padDk), Float64Array.from(padDv)];
        addPaddingKeyGrads(padDk, padDv, padGrads, B, D);
        expectClose(padDk.map((x, c) => x - dk0[c]!), numericGrad(f, pad.k), 1e-7, 'padKeys.dk');
        expectClose(padDv.map((x, c) => x - dv0[c]!), numericGrad(f, pad.v), 1e-7, 'padKeys.dv');
      }
    });
  }

  it('gives the packed layout the padded layout\'s numbers exactly', () => {
    const B = 4, L = 6, H = 2, hd = 3, D = H * hd;
    const starts = [0, 6, 2, 5];
    const next = rng(11);
    const padded = paddedLayout(L, starts);
    const packed = packedLayout(L, starts, next);
    const qp = randArray(next, B * L * D), kp = randArray(next, B * L * D), vp = randArray(next, B * L * D), Wp = randArray(next, B * L * D);
    const pad = { k: randArray(next, D), v: randArray(next, D) };
    const drop: DropoutSpec = { p: 0.25, key: { seed: 5, step: 6, site: 7 } };
    const run = (layout: TestLayout): { out: Float64Array; dq: Float64Array; dk: Float64Array; dv: Float64Array; padGrads: Float64Array } => {
      const moved = (x: Float64Array): Float64Array => Float64Array.from(toLayout(x, layout, B, L, D));
      const n = layout.rows * D;
      const out = new Float64Array(n), probs = new Float64Array(B * H * L * L);
      const dq = new Float64Array(n), dk = new Float64Array(n), dv = new Float64Array(n), padGrads = new Float64Array(2 * B * D);
      const rows = rowsOf(layout, true, false, pad);
      const [q, k, v] = [moved(qp), moved(kp), moved(vp)];
      attentionForwardPart(out, probs, q, k, v, B, L, H, hd, rows, drop, 0, 1);
      attentionBackwardPart(dq, dk, dv, padGrads, moved(Wp), q, k, v, probs, B, L, H, hd, rows, drop, 0, 1);
      return { out, dq, dk, dv, padGrads };
    };
    const a = run(padded);
    const b = run(packed);
    // The sequences' rows in sequence order.
    const bySequence = (x: Float64Array, layout: TestLayout): number[] => {
      const rows: number[] = [];
      for (let s = 0; s < B; s++) {
        for (let i = 0; i < L; i++) {
          const r = layout.rowOf(s, i);
          if (r >= 0) rows.push(...x.subarray(r * D, (r + 1) * D));
        }
      }
      return rows;
    };
    for (const name of ['out', 'dq', 'dk', 'dv'] as const) expect(bySequence(b[name], packed), name).toEqual(bySequence(a[name], padded));
    expect(b.padGrads).toEqual(a.padGrads);
  });

  it('is causal: position i ignores keys and values after i', () => {
    const B = 1, L = 4, H = 1, hd = 2, n = 8;
    const next = rng(3);
    const q = randArray(next, n), k = randArray(next, n), v = randArray(next, n);
    const rows = rowsOf(paddedLayout(L, [0]), true, false, { k: randArray(next, hd), v: randArray(next, hd) });
    const out1 = new Float64Array(n);
    const probs = new Float64Array(L * L);
    attentionForwardPart(out1, probs, q, k, v, B, L, H, hd, rows, NO_DROP, 0, 1);
    k[6] = 5; v[7] = -5; // change position 3 only
    const out2 = new Float64Array(n);
    attentionForwardPart(out2, probs, q, k, v, B, L, H, hd, rows, NO_DROP, 0, 1);
    expect(Array.from(out2.subarray(0, 6))).toEqual(Array.from(out1.subarray(0, 6)));
    expect(out2[7]).not.toBe(out1[7]);
    expect(probs[1]).toBe(0); // row 0 attends to itself only
  });

  it('leaves padding rows as they are; padding keys are the padding vectors, or with keyPadding not seen', () => {
    const B = 1, L = 5, H = 1, hd = 2, n = L * hd;
    const next = rng(8);
    const q = randArray(next, n), k = randArray(next, n), v = randArray(next, n);
    for (const keyPadding of [false, true]) {
      const pad = { k: randArray(next, hd), v: randArray(next, hd) };
      const rows = rowsOf(paddedLayout(L, [2]), false, keyPadding, pad);
      const out1 = new Float64Array(n).fill(3), probs = new Float64Array(L * L);
      attentionForwardPart(out1, probs, q, k, v, B, L, H, hd, rows, NO_DROP, 0, 1);
      expect(Array.from(out1.subarray(0, 2 * hd))).toEqual([3, 3, 3, 3]);
      // The padding positions' rows of k and v are not read.
      const k2 = k.slice(), v2 = v.slice();
      k2[1] = 4; v2[2] = -3;
      const out2 = new Float64Array(n).fill(3);
      attentionForwardPart(out2, probs, q, k2, v2, B, L, H, hd, rows, NO_DROP, 0, 1);
      expect(out2).toEqual(out1);
      // The padding vectors are, unless keyPadding.
      pad.v[0] = pad.v[0]! + 1;
      const out3 = new Float64Array(n).fill(3);
      attentionForwardPart(out3, probs, q, k, v, B, L, H, hd, rows, NO_DROP, 0, 1);
      if (keyPadding) expect(out3).toEqual(out1);
      else expect(out3[2 * hd]).not.toBe(out1[2 * hd]);
    }
  });

  it('splitting the batch over parts gives the same result', () => {
    const B = 5, L = 3, H = 2, hd = 2, D = H * hd;
    const next = rng(5);
    const layout = packedLayout(L, [0, 1, 3, 0, 2], next);
    const n = layout.rows * D;
    const q = randArray(next, n), k = randArray(next, n), v = randArray(next, n), W = randArray(next, n);
    const rows = rowsOf(layout, true, false, { k: randArray(next, D), v: randArray(next, D) });
    const drop: DropoutSpec = { p: 0.2, key: { seed: 1, step: 2, site: 3 } };
    const run = (parts: number): Float64Array[] => {
      const out = new Float64Array(n), probs = new Float64Array(B * H * L * L);
      const dq = new Float64Array(n), dk = new Float64Array(n), dv = new Float64Array(n), padGrads = new Float64Array(2 * B * D);
      for (let part = 0; part < parts; part++) attentionForwardPart(out, probs, q, k, v, B, L, H, hd, rows, drop, part, parts);
      for (let part = 0; part < parts; part++) attentionBackwardPart(dq, dk, dv, padGrads, W, q, k, v, probs, B, L, H, hd, rows, drop, part, parts);
      return [out, probs, dq, dk, dv, padGrads];
    };
    expect(run(2)).toEqual(run(1));
  });
});

describe('embedding', () => {
  const B = 4, L = 4, d = 5, V = 6, scale = Math.sqrt(d);
  // Sequences of 2 and 4 items (one full), an empty one and one of 1: (first_b, len_b) per sequence.
  // Padded: sequence b's positions start_b.. at rows b·L + start_b..; the empty one's first_b is never read.
  // Packed: shuffled order, gaps, spare rows at the end (rows nobody owns have id 0).
  const LAYOUTS = [
    {
      name: 'padded',
      ids: [0, 0, 3, 1, 2, 2, 6, 1, 0, 0, 0, 0, 0, 0, 0, 5],
      seqs: [2, 2, 4, 4, -99, 0, 15, 1],
    },
    {
      name: 'packed',
      ids: [0, 2, 2, 6, 1, 0, 5, 3, 1, 0, 0],
      seqs: [7, 2, 1, 4, 0, 0, 6, 1],
    },
  ] as const;
  for (const layout of LAYOUTS) {
    it(`${layout.name} layout: backward matches finite differences for items and positions of the embedding followed by the padding mask`, () => {
      const ids = Int32Array.from(layout.ids);
      const seqs = Int32Array.from(layout.seqs);
      const rows = ids.length;
      const next = rng(2);
      const items = randArray(next, (V + 1) * d);
      const pos = randArray(next, L * d);
      const W = randArray(next, rows * d);
      const out = new Float64Array(rows * d);
      // The rows no sequence owns hold 0 (the padding mask's value) before each forward.
      const f = (): number => {
        out.fill(0);
        embedForward(out, ids, items, pos, scale, seqs, B, L, d);
        return project(out, W);
      };
      const dItems = new Float64Array((V + 1) * d);
      const dPos = new Float64Array(L * d);
      embedBackward(dItems, dPos, W, ids, scale, seqs, rows, B, L, d);
      expectClose(dItems, numericGrad(f, items), 1e-8, 'dItems');
      expectClose(dPos, numericGrad(f, pos), 1e-8, 'dPositions');
      // Padding adds nothing: row 0 of the table is left as it is.
      expect(Array.from(dItems.subarray(0, d))).toEqual(new Array(d).fill(0));
      // The forward writes the sequences' rows only: the others keep their content.
      out.fill(7);
      embedForward(out, ids, items, pos, scale, seqs, B, L, d);
      for (let r = 0; r < rows; r++) {
        const owned = [0, 1, 2, 3].some((b) => r >= seqs[2 * b]! && r < seqs[2 * b]! + seqs[2 * b + 1]!);
        expect(out[r * d] === 7, `row ${r} ${owned ? 'owned, written' : 'not owned, kept'}`).toBe(!owned);
      }
    });
  }

  it('the padded layout gives the padded batch its b·L + t rows: position t of sequence b at row b·L + t', () => {
    const ids = Int32Array.from(LAYOUTS[0].ids);
    const seqs = Int32Array.from(LAYOUTS[0].seqs);
    const next = rng(3);
    const items = randArray(next, (V + 1) * d);
    const pos = randArray(next, L * d);
    const out = new Float64Array(B * L * d);
    embedForward(out, ids, items, pos, scale, seqs, B, L, d);
    for (let r = 0; r < B * L; r++) {
      if (ids[r] === 0) continue;
      for (let c = 0; c < d; c++) expect(out[r * d + c]).toBe(scale * items[ids[r]! * d + c]! + pos[(r % L) * d + c]!);
    }
  });
});

describe('elementwise ops', () => {
  it('relu, bias and padding mask backward match finite differences', () => {
    const rows = 5, cols = 3, n = rows * cols;
    const next = rng(4);
    const x = randArray(next, n);
    const bias = randArray(next, cols);
    const ids = Int32Array.from([0, 4, 0, 2, 9]);
    const W = randArray(next, n);
    const y = new Float64Array(n);
    const f = (): number => {
      y.set(x);
      biasAdd(y, bias, rows, cols);
      reluForward(y, y, n);
      maskPadded(y, y, ids, rows, cols);
      return project(y, W);
    };
    f();
    const g = Float64Array.from(W);
    maskPadded(g, g, ids, rows, cols);
    reluBackward(g, g, y, n);
    const dBias = new Float64Array(cols);
    biasBackward(dBias, g, rows, cols);
    expectClose(g, numericGrad(f, x), 1e-8, 'dx');
    expectClose(dBias, numericGrad(f, bias), 1e-8, 'dbias');
  });

  it('dropout: backward is the same call, drops about p, scales kept values by 1 / (1 − p), and p = 0 is the identity', () => {
    const n = 4001;
    const drop: DropoutSpec = { p: 0.25, key: { seed: 3, step: 17, site: 5 } };
    const x = new Float64Array(n).fill(1);
    const y = new Float64Array(n);
    dropout(y, x, n, drop);
    const kept = y.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 4 / 3) < 1e-12)).toBe(true);
    expect(Math.abs(kept.length / n - 0.75)).toBeLessThan(0.03);
    const g = new Float64Array(n).fill(2);
    dropout(g, g, n, drop);
    for (let i = 0; i < n; i++) expect(g[i]).toBe(2 * y[i]!);
    const other = new Float64Array(n);
    dropout(other, x, n, { ...drop, key: { ...drop.key, step: 18 } });
    expect(other).not.toEqual(y);
    dropout(other, x, n, { ...drop, p: 0 });
    expect(other).toEqual(x);
  });
});

describe('adam', () => {
  it('takes the bias-corrected step of Kingma & Ba', () => {
    const param = Float64Array.from([1, -2]);
    const m = new Float64Array(2), v = new Float64Array(2);
    const hp = { lr: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-8 };
    adamStep(param, m, v, Float64Array.from([0.5, -3]), 2, { ...hp, step: 1 }, null);
    // First step: m̂ = g, v̂ = g², so each parameter moves by lr · sign(g) (up to eps).
    expectClose(param, [0.9, -1.9], 1e-7);
    const before = param[1]!;
    adamStep(param, m, v, Float64Array.from([0.5, 1]), 2, { ...hp, step: 2 }, null);
    const m2 = 0.9 * 0.1 * -3 + 0.1 * 1, v2 = 0.98 * 0.02 * 9 + 0.02 * 1;
    const want = before - (0.1 * (m2 / (1 - 0.81))) / (Math.sqrt(v2 / (1 - 0.98 ** 2)) + 1e-8);
    expectClose([param[1]!], [want], 1e-12);
    expectClose([param[0]!], [0.8], 1e-7);
  });

  it('with the step counters: step counters[0] + 1, the gradient of a sum divided by counters[1]', () => {
    const hp = { lr: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-8, step: 99 };
    const a = { p: Float64Array.from([1, -2, 3]), m: Float64Array.from([0.1, 0, -0.2]), v: Float64Array.from([0.01, 0.2, 0.05]) };
    const b = { p: Float64Array.from(a.p), m: Float64Array.from(a.m), v: Float64Array.from(a.v) };
    const mean = Float64Array.from([0.5, -3, 0.25]);
    adamStep(a.p, a.m, a.v, mean, 3, { ...hp, step: 5 }, null);
    adamStep(b.p, b.m, b.v, Float64Array.from(mean, (g) => 7 * g), 3, hp, Int32Array.of(4, 7));
    expectClose(b.p, a.p, 1e-14);
    expectClose(b.m, a.m, 1e-14);
  });
});
