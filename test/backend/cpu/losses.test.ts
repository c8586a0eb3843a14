/**
 * The losses on the CPU: each against its naive definition (ops.ts LossParams), finite-difference
 * gradients in float64, the two-ways equalities ce = cce and ce- = cce-, and gbce at t = 0 = bce+.
 */
import { describe, expect, it } from 'vitest';
import { referenceLoss, type ReferenceLossInput } from '../../../src/backend/cpu/loss-reference.js';
import { gbceBeta } from '../../../src/backend/gbce.js';
import { negativeAt, popularitySampler, uniformSampler, type NegativeSampler } from '../../../src/backend/negatives.js';
import type { LossKind } from '../../../src/backend/ops.js';
import { expectClose, numericGrad, randArray, rng } from '../../helpers/numeric.js';

// Odd shapes: N = 9 rows (3 padding), V = 11 items, d = 5, n = 6 negatives.
const N = 9, V = 11, d = 5, n = 6;
const TARGETS = Int32Array.from([3, 0, 11, 1, 1, 0, 7, 0, 5]);
const COUNTS = Float64Array.from([0, 5, 1, 9, 2, 2, 30, 1, 4, 7, 3, 6]);
// gbce's calibration in the tests: β = 1 + T(n/(V−1) − 1) = 1 + 0.6(0.6 − 1) = 0.76.
const T = 0.6;

function input(kind: LossKind, sampler: NegativeSampler, seed = 1): ReferenceLossInput & { h: Float64Array; table: Float64Array } {
  const next = rng(seed);
  return {
    kind, N, V, d, targets: TARGETS,
    h: randArray(next, N * d), table: randArray(next, (V + 1) * d),
    negatives: { count: n, sampler, seed: 42, step: 3 },
    gbceT: T,
  };
}

function dot(x: ReferenceLossInput, r: number, item: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += x.h[r * d + c]! * x.table[item * d + c]!;
  return s;
}

const softplus = (z: number): number => Math.log(1 + Math.exp(z));

/** Each loss written out the slow obvious way, from its definition in ops.ts. */
function naive(x: ReferenceLossInput): number {
  const { sampler } = x.negatives!;
  let total = 0;
  let M = 0;
  for (let r = 0; r < N; r++) {
    const t = x.targets[r]!;
    if (t === 0) continue;
    M++;
    const negs: number[] = [];
    for (let j = 0; j < n; j++) negs.push(negativeAt(sampler, 42, 3, r, j));
    const kept = negs.filter((id) => id !== t);
    switch (x.kind) {
      case 'ce':
      case 'cce': {
        let z = 0;
        for (let i = 1; i <= V; i++) z += Math.exp(dot(x, r, i));
        total += Math.log(z) - dot(x, r, t);
        break;
      }
      case 'ce-':
      case 'cce-': {
        const corr = (id: number): number => (sampler.kind === 'uniform' ? Math.log(V - 1) - Math.log(n) : -Math.log(n * sampler.p[id]!));
        let z = Math.exp(dot(x, r, t));
        for (const id of kept) z += Math.exp(dot(x, r, id) + corr(id));
        total += Math.log(z) - dot(x, r, t);
        break;
      }
      case 'bce':
        total += softplus(-dot(x, r, t));
        for (let i = 1; i <= V; i++) if (i !== t) total += softplus(dot(x, r, i));
        break;
      case 'bce+':
        total += softplus(-dot(x, r, t));
        for (const id of kept) total += softplus(dot(x, r, id));
        break;
      case 'gbce': {
        // gSASRec: −log σ(s⁺)^β − Σ log(1 − σ(s⁻)), α = n/(V−1), β = α(t(1 − 1/α) + 1/α).
        const alpha = n / (V - 1);
        const beta = alpha * (T * (1 - 1 / alpha) + 1 / alpha);
        total -= Math.log(Math.pow(1 / (1 + Math.exp(-dot(x, r, t))), beta));
        for (const id of kept) total -= Math.log(1 - 1 / (1 + Math.exp(-dot(x, r, id))));
        break;
      }
    }
  }
  return total / M;
}

const KINDS: LossKind[] = ['ce', 'cce', 'ce-', 'cce-', 'bce', 'bce+', 'gbce'];
const sampledKind = (kind: LossKind): boolean => kind.endsWith('-') || kind === 'bce+' || kind === 'gbce';
const SAMPLERS: [string, NegativeSampler][] = [['uniform', uniformSampler(V)], ['popularity', popularitySampler(COUNTS)]];

describe('losses (float64 reference)', () => {
  for (const kind of KINDS) {
    for (const [sname, sampler] of sampledKind(kind) ? SAMPLERS : SAMPLERS.slice(0, 1)) {
      const label = sampledKind(kind) ? `${kind} (${sname})` : kind;

      it(`${label}: equals its definition`, () => {
        const x = input(kind, sampler);
        expect(referenceLoss(x).loss).toBeCloseTo(naive(x), 12);
      });

      it(`${label}: gradients match finite differences; padding rows and row 0 of E get none`, () => {
        const x = input(kind, sampler, 2);
        const out = referenceLoss(x);
        const f = (): number => referenceLoss(x).loss;
        expectClose(out.dH, numericGrad(f, x.h), 1e-7, 'dH');
        expectClose(out.dTable, numericGrad(f, x.table), 1e-7, 'dE');
        for (let c = 0; c < d; c++) {
          expect(out.dTable[c]).toBe(0);
          expect(out.dH[1 * d + c]).toBe(0);
        }
      });
    }
  }

  it('gbce at t = 0 is bce+ with the same negatives, loss and gradients', () => {
    for (const [, sampler] of SAMPLERS) {
      const x = input('bce+', sampler, 4);
      const plus = referenceLoss(x);
      const g = referenceLoss({ ...x, kind: 'gbce', gbceT: 0 });
      expect(g.loss).toBe(plus.loss);
      expect(Array.from(g.dH)).toEqual(Array.from(plus.dH));
      expect(Array.from(g.dTable)).toEqual(Array.from(plus.dTable));
      // t > 0 with n < V − 1 weighs the positive less (β < 1): a different loss.
      expect(referenceLoss({ ...x, kind: 'gbce', gbceT: 0.75 }).loss).not.toBeCloseTo(plus.loss, 6);
    }
  });

  it('gbce: β is 1 at t = 0 and α = n/(V−1) at t = 1; bad arguments are named', () => {
    expect(gbceBeta(0, 256, 3417)).toBeCloseTo(1, 15);
    expect(gbceBeta(1, 256, 3417)).toBeCloseTo(256 / 3416, 15);
    expect(gbceBeta(0.75, 256, 3417)).toBeCloseTo(1 + 0.75 * (256 / 3416 - 1), 15);
    expect(() => gbceBeta(1.5, 4, 10)).toThrow(/t must be in \[0, 1\], got 1.5/);
    expect(() => gbceBeta(0.5, 0, 10)).toThrow(/negatives must be a positive integer, got 0/);
    expect(() => gbceBeta(0.5, 4, 1)).toThrow(/at least 2 items, got 1/);
    expect(() => referenceLoss({ ...input('gbce', SAMPLERS[0]![1]), gbceT: undefined })).toThrow(/gbceT is required/);
  });

  it('a batch of padding only has loss 0 and zero gradients', () => {
    const x = { ...input('ce', SAMPLERS[0]![1]), targets: new Int32Array(N) };
    for (const kind of KINDS) {
      const out = referenceLoss({ ...x, kind });
      expect(out.loss).toBe(0);
      expect(out.dH.every((v) => v === 0)).toBe(true);
      expect(out.dTable.every((v) => v === 0)).toBe(true);
    }
  });

  it('a negative equal to the target is dropped from the sampled softmax', () => {
    // V = 2: every negative of a row with target 1 is item 2 or a rejected 1.
    const x: ReferenceLossInput = {
      kind: 'ce-', N: 1, V: 2, d: 1, targets: Int32Array.from([1]),
      h: Float64Array.from([1]), table: Float64Array.from([0, 0.5, -0.25]),
      negatives: { count: 8, sampler: uniformSampler(2), seed: 5, step: 0 },
    };
    let kept = 0;
    for (let j = 0; j < 8; j++) if (negativeAt(uniformSampler(2), 5, 0, 0, j) === 2) kept++;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(8);
    // log(V-1) - log(n) = -log 8 per kept negative.
    const want = Math.log(Math.exp(0.5) + kept * Math.exp(-0.25 - Math.log(8))) - 0.5;
    expect(referenceLoss(x).loss).toBeCloseTo(want, 12);
  });
});

describe('one loss computed two ways (float32)', () => {
  const big = { N: 150, V: 1100, d: 24, n: 64 }; // several CCE row and item blocks, ragged edges
  function f32Input(kind: LossKind, seed: number): ReferenceLossInput {
    const next = rng(seed);
    const targets = new Int32Array(big.N);
    for (let r = 0; r < big.N; r++) targets[r] = r % 7 === 0 ? 0 : 1 + Math.floor(next() * big.V);
    return {
      kind, N: big.N, V: big.V, d: big.d, targets,
      h: Float32Array.from(randArray(next, big.N * big.d, 2)),
      table: Float32Array.from(randArray(next, (big.V + 1) * big.d, 0.5)),
      negatives: { count: big.n, sampler: uniformSampler(big.V), seed: 7, step: 11 },
    };
  }

  it('cce equals ce: loss and gradients to float32 rounding', () => {
    const ce = referenceLoss(f32Input('ce', 3));
    const cce = referenceLoss(f32Input('cce', 3));
    expect(cce.loss).toBeCloseTo(ce.loss, 5);
    expectClose(cce.dH, ce.dH, 1e-6, 'dH');
    expectClose(cce.dTable, ce.dTable, 1e-6, 'dE');
  });

  it('cce- equals ce- given the same negatives: loss and gradients to float32 rounding', () => {
    const ce = referenceLoss(f32Input('ce-', 4));
    const cce = referenceLoss(f32Input('cce-', 4));
    expect(cce.loss).toBeCloseTo(ce.loss, 5);
    expectClose(cce.dH, ce.dH, 1e-6, 'dH');
    expectClose(cce.dTable, ce.dTable, 1e-6, 'dE');
  });
});
