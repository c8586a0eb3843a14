/**
 * The CPU backend's loss entries (ops.ts, "losses"): the workspace each loss saves between forward and
 * backward, and the dispatch onto the partitioned kernels. The workspace is where the losses differ in
 * memory, and what the peak bytes show (backend/loss-kinds.ts: what each kind holds): the materialised
 * kinds their logits, the streamed cce and cce- a block or a row per thread. bce+ and gbce, streamed on
 * CUDA, hold their rows here: they share ce-'s row kernels. sce holds its buckets and one bucket's logits
 * per thread (loss-sce.ts). Sampled kinds and sce with more than one thread add a private dE [(V+1) × d]
 * per extra thread.
 */
import type { TensorSpec } from '../memory-plan.js';
import { uniformSampler, type NegativeSampler, type PopularitySampler } from '../negatives.js';
import type { LossDims, LossParams, NegativeParams, PopularityTables, SceParams, TensorGroup } from '../ops.js';
import { gbceBeta } from '../gbce.js';
import { sceShape } from '../sce.js';
import type { FloatArray } from './arrays.js';
import { CpuTensor } from './cpu-memory.js';
import { cceBlockShape } from './loss-cce.js';
import type { LogQ, NegativeDraws } from './loss-sampled.js';
import { sceBlockFloats, sceReduceRows, type SceArrays } from './loss-sce.js';
import type { WorkerPool } from './pool.js';

/** The arrays of one loss call, unwrapped from tensors by the backend. */
export interface LossArrays {
  readonly h: FloatArray;
  readonly table: FloatArray;
  readonly targets: Int32Array;
}

/** The workspace specs of a loss on a backend running `parts` threads. */
export function cpuLossWorkspace(params: Pick<LossParams, 'kind' | 'negatives' | 'sce'>, dims: LossDims, parts: number): TensorSpec[] {
  const { rows: N, items: V, hidden: d } = dims;
  const n = params.negatives?.count ?? 0;
  const partials: TensorSpec[] = parts > 1 ? [{ name: 'dtable_partials', shape: [parts - 1, V + 1, d], dtype: 'f32' }] : [];
  switch (params.kind) {
    case 'ce':
    case 'bce':
      return [{ name: 'logits', shape: [N, V], dtype: 'f32' }];
    case 'cce': {
      const [rb, vb] = cceBlockShape(N, V);
      return [{ name: 'lse', shape: [N], dtype: 'f32' }, { name: 'blocks', shape: [parts, rb, vb], dtype: 'f32' }];
    }
    case 'ce-':
    case 'bce+':
    case 'gbce':
      return [
        { name: 'negatives', shape: [N, n], dtype: 'i32' },
        { name: 'logits', shape: [N, n + 1], dtype: 'f32' },
        ...partials,
      ];
    case 'cce-':
      return [
        { name: 'row_negatives', shape: [parts, n], dtype: 'i32' },
        { name: 'row_logits', shape: [parts, n + 1], dtype: 'f32' },
        ...partials,
      ];
    case 'sce': {
      const shape = sceShape(sceOf(params), N, V);
      const { buckets: nb, rows: bx, items: by } = shape;
      return [
        { name: 'sce_omega', shape: [d, nb], dtype: 'f32' },
        { name: 'sce_rows', shape: [nb, bx], dtype: 'i32' },
        { name: 'sce_items', shape: [nb, by], dtype: 'i32' },
        { name: 'sce_lse', shape: [nb, bx], dtype: 'f32' },
        { name: 'sce_slot_loss', shape: [nb, bx], dtype: 'f32' },
        { name: 'sce_best', shape: [N], dtype: 'i32' },
        { name: 'sce_block', shape: [parts, sceBlockFloats(shape, d)], dtype: 'f32' },
        ...partials,
      ];
    }
  }
}

function sceOf(params: Pick<LossParams, 'kind' | 'sce'>): SceParams {
  if (params.sce === undefined) throw new Error(`loss ${params.kind} needs its buckets (params.sce)`);
  return params.sce;
}

function sceArrays(ws: TensorGroup): SceArrays {
  return {
    omega: f32(ws, 'sce_omega'),
    rows: i32(ws, 'sce_rows'),
    items: i32(ws, 'sce_items'),
    lse: f32(ws, 'sce_lse'),
    slotLoss: f32(ws, 'sce_slot_loss'),
    best: i32(ws, 'sce_best'),
    block: f32(ws, 'sce_block'),
  };
}

function cpu(t: unknown, what: string): CpuTensor {
  if (!(t instanceof CpuTensor)) throw new Error(`${what}: not a CPU tensor`);
  return t;
}

/** Host views of popularity tables, built once per prob tensor (the tables are written once per trial). */
const popularityCache = new WeakMap<object, PopularitySampler>();

function popularityFromTables(tables: PopularityTables, V: number): PopularitySampler {
  const cached = popularityCache.get(tables.prob);
  if (cached !== undefined) return cached;
  const prob = cpu(tables.prob, 'popularity.prob').data;
  const logProb = cpu(tables.logProb, 'popularity.logProb').data;
  const logP = new Float64Array(new SharedArrayBuffer(8 * (V + 1)));
  const p = new Float64Array(new SharedArrayBuffer(8 * (V + 1)));
  for (let i = 1; i <= V; i++) {
    logP[i] = logProb[i]!;
    p[i] = Math.exp(logP[i]!);
  }
  logP[0] = -Infinity;
  const sampler: PopularitySampler = {
    kind: 'popularity',
    numItems: V,
    prob: new Uint32Array(prob.buffer, prob.byteOffset, V),
    alias: cpu(tables.alias, 'popularity.alias').data as Int32Array,
    p,
    logP,
  };
  popularityCache.set(tables.prob, sampler);
  return sampler;
}

function draws(neg: NegativeParams, V: number): NegativeDraws {
  let sampler: NegativeSampler;
  if (neg.sampling === 'uniform') sampler = uniformSampler(V);
  else if (neg.popularity === undefined) throw new Error('popularity sampling needs its tables (negatives.popularity)');
  else sampler = popularityFromTables(neg.popularity, V);
  return { sampler, seed: neg.seed, step: neg.step };
}

function logQ(neg: NegativeParams, V: number): LogQ {
  if (neg.sampling === 'uniform') return { logQConst: Math.log(V - 1) - Math.log(neg.count), logProb: null };
  const logProb = neg.popularity === undefined ? null : (cpu(neg.popularity.logProb, 'popularity.logProb').data as FloatArray);
  return { logQConst: -Math.log(neg.count), logProb };
}

function negativesOf(params: LossParams): NegativeParams {
  if (params.negatives === undefined) throw new Error(`loss ${params.kind} needs negatives`);
  return params.negatives;
}

/** The weight of the positive's term: gbce's β, 1 for the other sampled losses. */
function positiveWeight(params: LossParams, n: number, V: number): number {
  if (params.kind !== 'gbce') return 1;
  if (params.gbceT === undefined) throw new Error('loss gbce needs its calibration (gbceT)');
  return gbceBeta(params.gbceT, n, V);
}

function f32(ws: TensorGroup, name: string): FloatArray {
  return cpu(ws.get(name), name).data as FloatArray;
}

function i32(ws: TensorGroup, name: string): Int32Array {
  return cpu(ws.get(name), name).data as Int32Array;
}

/** Forward of any loss: returns the mean over the M valid rows. */
export function cpuLossForward(pool: WorkerPool, ws: TensorGroup, x: LossArrays, dims: LossDims, params: LossParams): number {
  const { rows: N, items: V, hidden: d } = dims;
  const { h, table, targets } = x;
  let sum: number;
  switch (params.kind) {
    case 'ce':
    case 'bce':
      sum = pool.run('fullLossForward', params.kind, f32(ws, 'logits'), h, table, targets, N, V, d);
      break;
    case 'cce':
      sum = pool.run('cceForward', f32(ws, 'lse'), f32(ws, 'blocks'), h, table, targets, N, V, d);
      break;
    case 'ce-':
    case 'bce+':
    case 'gbce': {
      const neg = negativesOf(params);
      const beta = positiveWeight(params, neg.count, V);
      sum = pool.run('sampledForward', params.kind, f32(ws, 'logits'), i32(ws, 'negatives'), h, table, targets, draws(neg, V), N, neg.count, d, logQ(neg, V), beta);
      break;
    }
    case 'cce-': {
      const neg = negativesOf(params);
      sum = pool.run('cceMinusForward', i32(ws, 'row_negatives'), f32(ws, 'row_logits'), h, table, targets, draws(neg, V), N, neg.count, d, logQ(neg, V));
      break;
    }
    case 'sce': {
      const sce = sceOf(params);
      const shape = sceShape(sce, N, V);
      const a = sceArrays(ws);
      const settings = { buckets: sce.buckets, bucketRows: sce.bucketRows, bucketItems: sce.bucketItems, mix: sce.mix };
      pool.run('sceForward', a, h, table, targets, N, V, d, shape, settings, { seed: sce.seed, step: sce.step });
      sum = sceReduceRows(a, N, shape);
      break;
    }
  }
  return params.validRows > 0 ? sum / params.validRows : 0;
}

/** Backward of any loss after its forward: dH (overwrite), dTable (+=). */
export function cpuLossBackward(
  pool: WorkerPool, dH: FloatArray, dTable: FloatArray, ws: TensorGroup, x: LossArrays,
  dims: LossDims, params: LossParams, dLoss: number,
): void {
  const { rows: N, items: V, hidden: d } = dims;
  const { h, table, targets } = x;
  const scale = params.validRows > 0 ? dLoss / params.validRows : 0;
  switch (params.kind) {
    case 'ce':
    case 'bce':
      pool.run('fullLossBackwardRows', dH, f32(ws, 'logits'), table, N, V, d, scale);
      pool.run('fullLossBackwardItems', dTable, f32(ws, 'logits'), h, N, V, d);
      return;
    case 'cce':
      pool.run('cceBackwardRows', dH, f32(ws, 'lse'), f32(ws, 'blocks'), h, table, targets, N, V, d, scale);
      pool.run('cceBackwardItems', dTable, f32(ws, 'lse'), f32(ws, 'blocks'), h, table, targets, N, V, d, scale);
      return;
    case 'ce-':
    case 'bce+':
    case 'gbce': {
      const n = negativesOf(params).count;
      const partials = pool.parts > 1 ? f32(ws, 'dtable_partials') : dTable.subarray(0, 0);
      pool.run('sampledBackward', dH, dTable, partials, f32(ws, 'logits'), i32(ws, 'negatives'), h, table, targets, N, V, n, d, scale);
      reducePartials(dTable, partials, pool.parts, (V + 1) * d);
      return;
    }
    case 'cce-': {
      const neg = negativesOf(params);
      const partials = pool.parts > 1 ? f32(ws, 'dtable_partials') : dTable.subarray(0, 0);
      pool.run('cceMinusBackward', dH, dTable, partials, i32(ws, 'row_negatives'), f32(ws, 'row_logits'), h, table, targets, draws(neg, V), N, V, neg.count, d, scale, logQ(neg, V));
      reducePartials(dTable, partials, pool.parts, (V + 1) * d);
      return;
    }
    case 'sce': {
      const partials = pool.parts > 1 ? f32(ws, 'dtable_partials') : dTable.subarray(0, 0);
      // Rows in no bucket keep dH = 0; every other row is written by the one part owning its best slot.
      dH.fill(0, 0, N * d);
      pool.run('sceBackward', dH, dTable, partials, sceArrays(ws), h, table, targets, V, d, sceShape(sceOf(params), N, V), scale);
      reducePartials(dTable, partials, pool.parts, (V + 1) * d);
    }
  }
}

/** dTable += partials[0] + partials[1] + … in order (deterministic for a given thread count). */
function reducePartials(dTable: FloatArray, partials: FloatArray, parts: number, size: number): void {
  for (let p = 1; p < parts; p++) {
    const o = (p - 1) * size;
    for (let i = 0; i < size; i++) dTable[i] = dTable[i]! + partials[o + i]!;
  }
}
