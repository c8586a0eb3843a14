/**
 * The loss oracle: any loss of ops.ts computed single-threaded on plain arrays, Float64Array or
 * Float32Array, through the same kernels as the CPU backend. Gradient checks and the GPU tests use it
 * as the reference: one call gives the mean loss, dH and dE for dLoss = 1.
 */
import { gbceBeta } from '../gbce.js';
import { sceShape, type SceSettings } from '../sce.js';
import type { NegativeSampler } from '../negatives.js';
import type { LossKind } from '../ops.js';
import { sameKind, type FloatArray } from './arrays.js';
import { cceBlockShape, cceBackwardItemsPart, cceBackwardRowsPart, cceForwardPart } from './loss-cce.js';
import { fullLossBackwardItemsPart, fullLossBackwardRowsPart, fullLossForwardPart } from './loss-full.js';
import {
  cceMinusBackwardPart, cceMinusForwardPart, sampledBackwardPart, sampledForwardPart, type LogQ, type NegativeDraws, type SampledKind,
} from './loss-sampled.js';
import { sceBackwardPart, sceBlockFloats, sceBucketLosses, sceForwardPart, sceReduceRows, type SceArrays, type SceKey } from './loss-sce.js';

/** One loss evaluation on host arrays. */
export interface ReferenceLossInput {
  readonly kind: LossKind;
  /** [N × d] hidden states. */
  readonly h: FloatArray;
  /** [(V+1) × d] item embeddings, row 0 the padding id. */
  readonly table: FloatArray;
  /** [N] targets, 0 = padding position. */
  readonly targets: Int32Array;
  readonly N: number;
  readonly V: number;
  readonly d: number;
  /** Required for ce-, cce-, bce+, gbce: n negatives per row drawn by `sampler` at (seed, step). */
  readonly negatives?: { readonly count: number; readonly sampler: NegativeSampler; readonly seed: number; readonly step: number };
  /** gbce's calibration t (backend/gbce.ts); required for gbce. */
  readonly gbceT?: number;
  /** sce's buckets and the key of their projections; required for sce. */
  readonly sce?: SceSettings & SceKey;
  /**
   * sce only: each bucket's rows [n_b × b_x] and items [n_b × b_y] as another backend selected them;
   * the loss is then computed over these buckets instead of selecting its own (a GPU test's oracle).
   */
  readonly sceBuckets?: { readonly rows: Int32Array; readonly items: Int32Array };
}

/** The loss's mean and its gradients for dLoss = 1 (dTable accumulated from zero). */
export interface ReferenceLossOutput {
  readonly loss: number;
  readonly dH: FloatArray;
  readonly dTable: FloatArray;
  /** sce only: the buckets' rows and items it used, and each row's best slot (−1 for rows in none). */
  readonly sce?: { readonly rows: Int32Array; readonly items: Int32Array; readonly best: Int32Array };
}

/** The log-Q correction of a sampler: uniform + log(V−1) − log(n), popularity − log(n · p_j). */
export function logQOf(sampler: NegativeSampler, n: number): LogQ {
  return sampler.kind === 'uniform'
    ? { logQConst: Math.log(sampler.numItems - 1) - Math.log(n), logProb: null }
    : { logQConst: -Math.log(n), logProb: sampler.logP };
}

/** Computes one loss and its gradients single-threaded (ops.ts LossParams defines each loss). */
export function referenceLoss(x: ReferenceLossInput): ReferenceLossOutput {
  const { kind, h, table, targets, N, V, d } = x;
  let M = 0;
  for (let r = 0; r < N; r++) if (targets[r] !== 0) M++;
  const scale = M > 0 ? 1 / M : 0;
  const dH = sameKind(h, N * d);
  const dTable = sameKind(table, (V + 1) * d);
  const none = sameKind(h, 0);
  if (kind === 'sce') return referenceSce(x, M);
  let sum: number;
  if (kind === 'ce' || kind === 'bce') {
    const logits = sameKind(h, N * V);
    sum = fullLossForwardPart(kind, logits, h, table, targets, N, V, d, 0, 1);
    fullLossBackwardRowsPart(dH, logits, table, N, V, d, scale, 0, 1);
    fullLossBackwardItemsPart(dTable, logits, h, N, V, d, 0, 1);
  } else if (kind === 'cce') {
    const [rb, vb] = cceBlockShape(N, V);
    const lse = sameKind(h, N);
    const blocks = sameKind(h, rb * vb);
    sum = cceForwardPart(lse, blocks, h, table, targets, N, V, d, 0, 1);
    cceBackwardRowsPart(dH, lse, blocks, h, table, targets, N, V, d, scale, 0, 1);
    cceBackwardItemsPart(dTable, lse, blocks, h, table, targets, N, V, d, scale, 0, 1);
  } else {
    if (x.negatives === undefined) throw new Error(`referenceLoss(${kind}): negatives are required`);
    const { count: n, sampler, seed, step } = x.negatives;
    const draws: NegativeDraws = { sampler, seed, step };
    const logQ = logQOf(sampler, n);
    if (kind === 'cce-') {
      const rowNegs = new Int32Array(n);
      const rowLogits = sameKind(h, n + 1);
      sum = cceMinusForwardPart(rowNegs, rowLogits, h, table, targets, draws, N, n, d, logQ, 0, 1);
      cceMinusBackwardPart(dH, dTable, none, rowNegs, rowLogits, h, table, targets, draws, N, V, n, d, scale, logQ, 0, 1);
    } else {
      const negs = new Int32Array(N * n);
      const logits = sameKind(h, N * (n + 1));
      let beta = 1;
      if (kind === 'gbce') {
        if (x.gbceT === undefined) throw new Error('referenceLoss(gbce): gbceT is required');
        beta = gbceBeta(x.gbceT, n, V);
      }
      sum = sampledForwardPart(kind as SampledKind, logits, negs, h, table, targets, draws, N, n, d, logQ, beta, 0, 1);
      sampledBackwardPart(dH, dTable, none, logits, negs, h, table, targets, N, V, n, d, scale, 0, 1);
    }
  }
  return { loss: M > 0 ? sum / M : 0, dH, dTable };
}

/** sce on one thread: selects its buckets (or takes `sceBuckets`), then the loss and its gradients. */
function referenceSce(x: ReferenceLossInput, M: number): ReferenceLossOutput {
  const { h, table, targets, N, V, d } = x;
  if (x.sce === undefined) throw new Error('referenceLoss(sce): sce is required');
  const shape = sceShape(x.sce, N, V);
  const { buckets: nb, rows: bx, items: by } = shape;
  const a: SceArrays = {
    omega: sameKind(h, d * nb),
    rows: new Int32Array(nb * bx),
    items: new Int32Array(nb * by),
    lse: sameKind(h, nb * bx),
    slotLoss: sameKind(h, nb * bx),
    best: new Int32Array(N),
    block: sameKind(h, sceBlockFloats(shape, d)),
  };
  if (x.sceBuckets === undefined) {
    sceForwardPart(a, h, table, targets, N, V, d, shape, x.sce, x.sce, 0, 1);
  } else {
    a.rows.set(x.sceBuckets.rows.subarray(0, nb * bx));
    a.items.set(x.sceBuckets.items.subarray(0, nb * by));
    for (let b = 0; b < nb; b++) sceBucketLosses(a, h, table, targets, d, shape, b, 0);
  }
  const sum = sceReduceRows(a, N, shape);
  const dH = sameKind(h, N * d);
  const dTable = sameKind(table, (V + 1) * d);
  sceBackwardPart(dH, dTable, sameKind(h, 0), a, h, table, targets, V, d, shape, M > 0 ? 1 / M : 0, 0, 1);
  return { loss: M > 0 ? sum / M : 0, dH, dTable, sce: { rows: a.rows, items: a.items, best: a.best } };
}
