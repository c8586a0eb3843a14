/**
 * The CPU reference backend: every op of ops.ts over TypedArrays, exact first (JavaScript doubles
 * accumulate, float32 stores) and reasonably fast second (blocked gemm, the heavy kernels split over a
 * small worker pool). Each method checks its tensors' kinds and sizes, then calls the kernel of the
 * same name with the same argument order.
 */
import { cpus } from 'node:os';
import type { TensorSpec } from '../memory-plan.js';
import { ForkLedger } from '../fork-ledger.js';
import { checkMatmulEpilogue } from '../matmul-epilogue.js';
import { paddingRowCount } from '../padding-rows.js';
import type {
  AdamParams, AttentionMask, DropoutSpec, Forked, LayerNormBackwardOptions, LayerNormCopies, PaddingRows, LossDims, LossParams, MatmulOptions, MemoryStats, Ops, RecordedStep,
  SequenceRows, Tensor, TensorGroup, TensorLookup,
} from '../ops.js';
import { adamStep } from './adam.js';
import { addPaddingKeyGrads, type AttentionRows } from './attention.js';
import type { FloatArray } from './arrays.js';
import { addPartials, PartialsScratch, sumChunks } from './column-sums.js';
import { CpuGroup, CpuMemory, CpuTensor, type CpuPrecision } from './cpu-memory.js';
import { cpuLossBackward, cpuLossForward, cpuLossWorkspace } from './cpu-losses.js';
import * as ew from './elementwise.js';
import { checkSequenceRows, embedBackward, embedForward } from './embedding.js';
import { denseLayout } from './gemm.js';
import { layerNormAddPartials } from './layernorm.js';
import { defaultThreads, MIN_WORK_PER_PART, WorkerPool } from './pool.js';
import { topK } from './topk.js';

/** Options of the CPU backend. */
export interface CpuOpsOptions {
  /** Threads (main + workers) for the heavy kernels. @default min(2, cores) */
  readonly threads?: number;
  /** Storage of f32 tensors: 'f64' holds them in float64, for gradient checks and oracles. @default "f32" */
  readonly precision?: CpuPrecision;
}

function tensor(t: Tensor, what: string, dtype: 'f32' | 'i32', need: number): CpuTensor {
  if (!(t instanceof CpuTensor)) throw new Error(`${what}: expected a CPU tensor, got ${String(t?.name)}`);
  if (t.group.freed) throw new Error(`${what}: tensor "${t.name}" belongs to a freed group`);
  if (t.dtype !== dtype) throw new Error(`${what}: tensor "${t.name}" is ${t.dtype}, expected ${dtype}`);
  if (t.size < need) throw new Error(`${what}: tensor "${t.name}" holds ${t.size} elements, needs ${need}`);
  return t;
}

function f32(t: Tensor, what: string, need: number): FloatArray {
  return tensor(t, what, 'f32', need).data as FloatArray;
}

function i32(t: Tensor, what: string, need: number): Int32Array {
  return tensor(t, what, 'i32', need).data as Int32Array;
}

/** An element op's padding rows as the workers read them: (ids, cols), or (null, 1). */
function paddingArgs(op: string, padding: PaddingRows | undefined, n: number): [Int32Array | null, number] {
  if (padding === undefined) return [null, 1];
  return [i32(padding.ids, `${op}.padding.ids`, paddingRowCount(op, padding, n)), padding.cols];
}

/** The (first_b, len_b) pairs of `layout` for B sequences of at most L positions, checked (checkSequenceRows). */
function sequenceRows(op: string, layout: SequenceRows, B: number, L: number): Int32Array {
  const seqs = i32(layout.seqs, `${op}.layout.seqs`, 2 * B);
  checkSequenceRows(op, seqs, layout.rows, B, L);
  return seqs;
}

/** A row op's padding ids as the workers read them, or null. */
function rowIds(op: string, ids: Tensor | undefined, rows: number): Int32Array | null {
  return ids === undefined ? null : i32(ids, `${op}.ids`, rows);
}

/**
 * The attention mask as the workers read it, checked: seqs [B × 2] whose sequences fit in L positions
 * and in the layout's rows, and the padding vectors [D] where padding keys are seen.
 */
function attentionRows(mask: AttentionMask, op: string, B: number, L: number, D: number): AttentionRows {
  const seqs = sequenceRows(op, mask.layout, B, L);
  if (mask.keyPadding) return { seqs, causal: mask.causal, keyPadding: true, padK: null, padV: null };
  const pad = mask.padKeys;
  if (pad === undefined) throw new Error(`${op}: padding keys are seen (keyPadding false), so mask.padKeys is required`);
  return { seqs, causal: mask.causal, keyPadding: false, padK: f32(pad.k, `${op}.mask.padKeys.k`, D), padV: f32(pad.v, `${op}.mask.padKeys.v`, D) };
}

/** The CPU implementation of the ops interface. */
export class CpuOps implements Ops {
  readonly backend = 'cpu' as const;
  readonly deviceName: string;
  /** The CPU holds f32 and i32 only: activations are f32 whatever the preset. */
  readonly activationDType = 'f32' as const;
  readonly reservedBytes = 0;
  readonly #memory: CpuMemory;
  readonly #pool: WorkerPool;
  /** The per-chunk partials of the column sums (biasBackward, layerNormBackward); see column-sums.ts. */
  readonly #partials = new PartialsScratch();
  readonly #forks = new ForkLedger<null>();

  /** Starts a CPU backend (its worker threads ready). */
  static async create(options: CpuOpsOptions = {}): Promise<CpuOps> {
    return new CpuOps(await WorkerPool.start(options.threads ?? defaultThreads()), options.precision ?? 'f32');
  }

  private constructor(pool: WorkerPool, precision: CpuPrecision) {
    this.#pool = pool;
    this.#memory = new CpuMemory(precision);
    const threads = pool.parts;
    this.deviceName = `${cpus()[0]?.model.trim() ?? 'CPU'} (${threads} thread${threads === 1 ? '' : 's'})`;
  }

  /** Threads the heavy kernels are split over. */
  get threads(): number {
    return this.#pool.parts;
  }

  close(): void {
    this.#pool.close();
  }

  allocGroup(name: string, specs: readonly TensorSpec[]): TensorGroup {
    return this.#memory.alloc(name, specs);
  }

  freeGroup(group: TensorGroup): void {
    if (!(group instanceof CpuGroup)) throw new Error(`freeGroup: "${group.plan.name}" is not a CPU group`);
    this.#memory.free(group);
  }

  memory(): MemoryStats {
    return this.#memory.stats();
  }

  resetPeak(): void {
    this.#memory.resetPeak();
  }

  write(dst: Tensor, src: Float32Array | Int32Array, offset = 0): void {
    const t = tensor(dst, 'write', src instanceof Int32Array ? 'i32' : 'f32', offset + src.length);
    t.data.set(src, offset);
  }

  async readF32(src: Tensor): Promise<Float32Array> {
    this.#forks.requireJoined('readF32', () => undefined);
    return Float32Array.from(f32(src, 'readF32', 0));
  }

  async readI32(src: Tensor): Promise<Int32Array> {
    this.#forks.requireJoined('readI32', () => undefined);
    return i32(src, 'readI32', 0).slice();
  }

  /** The CPU computes as it goes: a replay runs the step again. */
  recordStep(record: () => void): RecordedStep {
    const replay = (): void => {
      record();
      this.#forks.requireJoined('recordStep', () => undefined);
    };
    return { replay, close: () => undefined };
  }

  /** Runs `work` at once: the CPU backend has one sequence of ops. */
  fork(work: () => void): Forked {
    return this.#forks.open(work, () => null);
  }

  join(forked: Forked): void {
    this.#forks.close(forked);
  }

  /** The CPU's GEMMs read f32 operands as they are: no narrow copies. */
  narrowOperands(): boolean {
    return false;
  }

  fill(out: Tensor, value: number, n: number): void {
    tensor(out, 'fill', out.dtype === 'i32' ? 'i32' : 'f32', n).data.fill(value, 0, n);
  }

  copy(out: Tensor, x: Tensor, n: number): void {
    f32(out, 'copy.out', n).set(f32(x, 'copy.x', n).subarray(0, n));
  }

  axpy(y: Tensor, x: Tensor, alpha: number, n: number): void {
    const yy = f32(y, 'axpy.y', n);
    const xx = f32(x, 'axpy.x', n);
    for (let i = 0; i < n; i++) yy[i] = yy[i]! + alpha * xx[i]!;
  }

  add(out: Tensor, a: Tensor, b: Tensor, n: number, padding?: PaddingRows): void {
    this.#pool.runSplit(n, 'add', f32(out, 'add.out', n), f32(a, 'add.a', n), f32(b, 'add.b', n), n, ...paddingArgs('add', padding, n));
  }

  sliceRows(out: Tensor, x: Tensor, rows: number, first: number, stride: number, cols: number): void {
    const need = rows === 0 ? 0 : (first + (rows - 1) * stride + 1) * cols;
    ew.sliceRows(f32(out, 'sliceRows.out', rows * cols), f32(x, 'sliceRows.x', need), rows, first, stride, cols);
  }

  lastRows(out: Tensor, x: Tensor, layout: SequenceRows, B: number, cols: number): void {
    // A sequence's length is bounded by its rows (first_b + len_b ≤ rows).
    const seqs = sequenceRows('lastRows', layout, B, layout.rows);
    ew.lastRows(f32(out, 'lastRows.out', B * cols), f32(x, 'lastRows.x', layout.rows * cols), seqs, B, cols);
  }

  maskPadded(out: Tensor, x: Tensor, ids: Tensor, rows: number, cols: number): void {
    ew.maskPadded(f32(out, 'maskPadded.out', rows * cols), f32(x, 'maskPadded.x', rows * cols), i32(ids, 'maskPadded.ids', rows), rows, cols);
  }

  dropout(out: Tensor, x: Tensor, n: number, drop: DropoutSpec, padding?: PaddingRows): void {
    // Only what the mask needs travels to the workers (a spec may carry more).
    const spec: DropoutSpec = { p: drop.p, key: { seed: drop.key.seed, step: drop.key.step, site: drop.key.site } };
    this.#pool.runSplit(n, 'dropout', f32(out, 'dropout.out', n), f32(x, 'dropout.x', n), n, spec, ...paddingArgs('dropout', padding, n));
  }

  reluForward(out: Tensor, x: Tensor, n: number): void {
    this.#pool.runSplit(n, 'reluForward', f32(out, 'reluForward.out', n), f32(x, 'reluForward.x', n), n);
  }

  reluBackward(dx: Tensor, dout: Tensor, out: Tensor, n: number): void {
    this.#pool.runSplit(n, 'reluBackward', f32(dx, 'reluBackward.dx', n), f32(dout, 'reluBackward.dout', n), f32(out, 'reluBackward.out', n), n, 1);
  }

  embedForward(
    out: Tensor, ids: Tensor, items: Tensor, positions: Tensor, scale: number, layout: SequenceRows, B: number, L: number, d: number,
  ): void {
    const seqs = sequenceRows('embedForward', layout, B, L);
    embedForward(
      f32(out, 'embedForward.out', layout.rows * d), i32(ids, 'embedForward.ids', layout.rows),
      f32(items, 'embedForward.items', d), f32(positions, 'embedForward.positions', L * d), scale, seqs, B, L, d,
    );
  }

  embeddingWorkspace(): readonly TensorSpec[] {
    return [];
  }

  embedBackward(
    dItems: Tensor, dPositions: Tensor, _workspace: TensorLookup,
    dout: Tensor, ids: Tensor, scale: number, layout: SequenceRows, B: number, L: number, V: number, d: number,
  ): void {
    const seqs = sequenceRows('embedBackward', layout, B, L);
    embedBackward(
      f32(dItems, 'embedBackward.dItems', (V + 1) * d), f32(dPositions, 'embedBackward.dPositions', L * d),
      f32(dout, 'embedBackward.dout', layout.rows * d), i32(ids, 'embedBackward.ids', layout.rows), scale, seqs, layout.rows, B, L, d,
    );
  }

  /** Nothing to group: embedBackward sums each id's rows in row order by itself. */
  embedGroupRows(_workspace: TensorLookup, ids: Tensor, rows: number): void {
    i32(ids, 'embedGroupRows.ids', rows);
  }

  matmul(out: Tensor, a: Tensor, b: Tensor, m: number, n: number, k: number, options: MatmulOptions = {}): void {
    const lay = denseLayout(m, n, k, options.transA ?? false, options.transB ?? false);
    // rowIds is ignored: every row is multiplied, which gives what a skipped row would (0, then the bias)
    // wherever its operand row is zero.
    this.#pool.run(
      'gemm', f32(out, 'matmul.out', m * n), f32(a, 'matmul.a', m * k), f32(b, 'matmul.b', k * n),
      m, n, k, lay, options.alpha ?? 1, options.accumulate ?? false,
      options.bias === undefined ? null : f32(options.bias, 'matmul.bias', n),
    );
    this.#epilogue(out, m, n, options);
  }

  /** matmul's epilogue as the ops it stands for, in its order (their results exactly). */
  #epilogue(out: Tensor, m: number, n: number, options: MatmulOptions): void {
    checkMatmulEpilogue(options, out);
    const e = options.epilogue;
    if (e === undefined) return;
    const mn = m * n;
    const padding = e.padding === undefined ? undefined : { ids: e.padding, cols: n };
    const drop = e.dropout !== undefined && e.dropout.p > 0 ? e.dropout : undefined;
    if (e.relu === true) this.reluForward(out, out, mn);
    if (drop !== undefined) this.dropout(out, out, mn, drop, padding);
    if (e.gate !== undefined) {
      // The gate is reluBackward with the kept values scaled (elementwise.ts).
      const o = f32(out, 'matmul.out', mn);
      this.#pool.runSplit(mn, 'reluBackward', o, o, f32(e.gate.by, 'matmul.epilogue.gate.by', mn), mn, e.gate.scale);
    }
    if (e.residual !== undefined) this.add(out, e.residual, out, mn, padding);
    else if (e.padding !== undefined && drop === undefined) this.maskPadded(out, out, e.padding, m, n);
    const ln = e.layerNorm;
    if (ln !== undefined) this.layerNormForward(ln.out, ln.mean, ln.rstd, out, ln.weight, ln.bias, m, n, ln.eps, ln.ids, ln.copies);
  }

  biasAdd(out: Tensor, bias: Tensor, rows: number, cols: number, ids?: Tensor): void {
    this.#pool.runSplit(
      rows * cols, 'biasAdd', f32(out, 'biasAdd.out', rows * cols), f32(bias, 'biasAdd.bias', cols), rows, cols, rowIds('biasAdd', ids, rows),
    );
  }

  biasBackward(dBias: Tensor, dout: Tensor, rows: number, cols: number, ids?: Tensor): void {
    const { chunks } = sumChunks(rows);
    const partials = this.#partials.get(chunks * cols);
    const out = f32(dBias, 'biasBackward.dBias', cols);
    // One part per chunk of rows at most (column-sums.ts); the partials are added here, in chunk order.
    this.#pool.runSplit(Math.min(rows * cols, chunks * MIN_WORK_PER_PART), 'biasBackward', partials, f32(dout, 'biasBackward.dout', rows * cols), rows, cols, rowIds('biasBackward', ids, rows));
    addPartials(out, partials, chunks, cols, 0, cols);
  }

  layerNormForward(
    out: Tensor, mean: Tensor, rstd: Tensor, x: Tensor, weight: Tensor, bias: Tensor, rows: number, cols: number, eps: number, ids?: Tensor,
    copies: LayerNormCopies = {},
  ): void {
    const n = rows * cols;
    const pad = rowIds('layerNormForward', ids, rows);
    const xs = f32(x, 'layerNormForward.x', n);
    const o = f32(out, 'layerNormForward.out', n);
    this.#pool.runSplit(
      n, 'layerNormForward',
      o, f32(mean, 'layerNormForward.mean', rows), f32(rstd, 'layerNormForward.rstd', rows),
      xs, f32(weight, 'layerNormForward.weight', cols), f32(bias, 'layerNormForward.bias', cols),
      rows, cols, eps, pad,
    );
    // The narrow dtype is f32 here: the copies are the values themselves (0 on padding rows).
    if (copies.out !== undefined) f32(copies.out, 'layerNormForward.copies.out', n).set(o.subarray(0, n));
    if (copies.x !== undefined) {
      const xc = f32(copies.x, 'layerNormForward.copies.x', n);
      xc.set(xs.subarray(0, n));
      if (pad !== null) for (let r = 0; r < rows; r++) if (pad[r] === 0) xc.fill(0, r * cols, (r + 1) * cols);
    }
  }

  layerNormBackward(
    dx: Tensor, dWeight: Tensor, dBias: Tensor,
    dout: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor,
    rows: number, cols: number, ids?: Tensor, options: LayerNormBackwardOptions = {},
  ): void {
    const n = rows * cols;
    const { chunks } = sumChunks(rows);
    const dout2 = options.dout2 === undefined ? null : f32(options.dout2, 'layerNormBackward.dout2', n);
    const partials = this.#partials.get(chunks * 2 * cols);
    const dw = f32(dWeight, 'layerNormBackward.dWeight', cols);
    const db = f32(dBias, 'layerNormBackward.dBias', cols);
    // One part per chunk of rows at most (column-sums.ts): a part computes dx and the partial sums of its
    // chunks, or the one of them options.only names.
    this.#pool.runSplit(
      Math.min(n, chunks * MIN_WORK_PER_PART), 'layerNormBackward',
      options.only === 'params' ? new Float32Array(0) : f32(dx, 'layerNormBackward.dx', n), partials, f32(dout, 'layerNormBackward.dout', n),
      f32(x, 'layerNormBackward.x', n), f32(weight, 'layerNormBackward.weight', cols), f32(mean, 'layerNormBackward.mean', rows),
      f32(rstd, 'layerNormBackward.rstd', rows), rows, cols, rowIds('layerNormBackward', ids, rows), dout2, options.overwrite ?? false,
      options.only ?? null,
    );
    if (options.only !== 'input') layerNormAddPartials(dw, db, partials, rows, cols);
  }

  /** The CPU saves the probabilities themselves: [B × H × L × L]. */
  attentionWorkspace(B: number, L: number, H: number): readonly TensorSpec[] {
    return [{ name: 'probs', shape: [B, H, L, L], dtype: 'f32' }];
  }

  attentionForward(
    out: Tensor, saved: TensorLookup, q: Tensor, k: Tensor, v: Tensor,
    B: number, L: number, H: number, hd: number, mask: AttentionMask, drop: DropoutSpec,
  ): void {
    const D = H * hd;
    const n = mask.layout.rows * D;
    this.#pool.run(
      'attentionForward', f32(out, 'attentionForward.out', n), f32(saved.get('probs'), 'attentionForward.probs', B * H * L * L),
      f32(q, 'attentionForward.q', n), f32(k, 'attentionForward.k', n), f32(v, 'attentionForward.v', n),
      B, L, H, hd, attentionRows(mask, 'attentionForward', B, L, D), drop,
    );
  }

  attentionLastForward(out: Tensor, q: Tensor, k: Tensor, v: Tensor, B: number, L: number, H: number, hd: number, mask: AttentionMask): void {
    const D = H * hd;
    const n = mask.layout.rows * D;
    // Split by the keys' work, so that a small evaluation does not wake every thread.
    this.#pool.runSplit(
      B * L * D, 'attentionLast', f32(out, 'attentionLastForward.out', B * D), f32(q, 'attentionLastForward.q', B * D),
      f32(k, 'attentionLastForward.k', n), f32(v, 'attentionLastForward.v', n),
      B, L, H, hd, attentionRows(mask, 'attentionLastForward', B, L, D),
    );
  }

  attentionBackward(
    dq: Tensor, dk: Tensor, dv: Tensor, dout: Tensor, q: Tensor, k: Tensor, v: Tensor, _out: Tensor, saved: TensorLookup,
    B: number, L: number, H: number, hd: number, mask: AttentionMask, drop: DropoutSpec,
  ): void {
    const D = H * hd;
    const n = mask.layout.rows * D;
    const rows = attentionRows(mask, 'attentionBackward', B, L, D);
    let padDk: FloatArray | null = null;
    let padDv: FloatArray | null = null;
    if (!rows.keyPadding) {
      const pad = mask.padKeys;
      if (pad?.dk === undefined || pad.dv === undefined) throw new Error('attentionBackward: padding keys are seen, so mask.padKeys.dk and .dv are required');
      padDk = f32(pad.dk, 'attentionBackward.mask.padKeys.dk', D);
      padDv = f32(pad.dv, 'attentionBackward.mask.padKeys.dv', D);
    }
    // Each sequence's padding-key gradients in a row of its own (any part may write it), added in sequence order below.
    const padGrads = padDk === null ? null : this.#partials.get(2 * B * D);
    this.#pool.run(
      'attentionBackward',
      f32(dq, 'attentionBackward.dq', n), f32(dk, 'attentionBackward.dk', n), f32(dv, 'attentionBackward.dv', n), padGrads,
      f32(dout, 'attentionBackward.dout', n), f32(q, 'attentionBackward.q', n), f32(k, 'attentionBackward.k', n),
      f32(v, 'attentionBackward.v', n), f32(saved.get('probs'), 'attentionBackward.probs', B * H * L * L),
      B, L, H, hd, rows, drop,
    );
    if (padGrads !== null && padDk !== null && padDv !== null) addPaddingKeyGrads(padDk, padDv, padGrads, B, D);
  }

  adamStep(param: Tensor, m: Tensor, v: Tensor, grad: Tensor, n: number, hp: AdamParams): void {
    const counters = hp.counters === undefined ? null : i32(hp.counters, 'adamStep.counters', 2);
    const p = f32(param, 'adamStep.param', n);
    adamStep(p, f32(m, 'adamStep.m', n), f32(v, 'adamStep.v', n), f32(grad, 'adamStep.grad', n), n, hp, counters);
    // The narrow dtype is f32 here: the copy is the parameters themselves.
    if (hp.narrow !== undefined) f32(hp.narrow, 'adamStep.narrow', n).set(p.subarray(0, n));
  }

  lossWorkspace(params: Pick<LossParams, 'kind' | 'negatives' | 'sce'>, dims: LossDims): readonly TensorSpec[] {
    return cpuLossWorkspace(params, dims, this.#pool.parts);
  }

  lossForward(loss: Tensor, workspace: TensorGroup, h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, params: LossParams): void {
    const { rows: N, items: V, hidden: d } = dims;
    const x = { h: f32(h, 'lossForward.h', N * d), table: f32(table, 'lossForward.table', (V + 1) * d), targets: i32(targets, 'lossForward.targets', N) };
    f32(loss, 'lossForward.loss', 1)[0] = cpuLossForward(this.#pool, workspace, x, dims, params);
  }

  lossBackward(
    dH: Tensor, dTable: Tensor, workspace: TensorGroup, h: Tensor, table: Tensor, targets: Tensor,
    dims: LossDims, params: LossParams, dLoss: number,
  ): null {
    const { rows: N, items: V, hidden: d } = dims;
    const x = { h: f32(h, 'lossBackward.h', N * d), table: f32(table, 'lossBackward.table', (V + 1) * d), targets: i32(targets, 'lossBackward.targets', N) };
    cpuLossBackward(this.#pool, f32(dH, 'lossBackward.dH', N * d), f32(dTable, 'lossBackward.dTable', (V + 1) * d), workspace, x, dims, params, dLoss);
    // One sequence of ops: the table gradient is done, whatever options.tableBeside asked.
    return null;
  }

  scoreItems(scores: Tensor, h: Tensor, table: Tensor, B: number, V: number, d: number): void {
    const s = f32(scores, 'scoreItems.scores', B * (V + 1));
    this.#pool.run('gemm', s, f32(h, 'scoreItems.h', B * d), f32(table, 'scoreItems.table', (V + 1) * d), B, V + 1, d, denseLayout(B, V + 1, d, false, true), 1, false, null);
    for (let b = 0; b < B; b++) s[b * (V + 1)] = -Infinity;
  }

  topK(
    outItems: Tensor, scores: Tensor, historyOffsets: Tensor, historyItems: Tensor,
    rowStartAt: number | Tensor, B: number, V: number, K: number,
  ): void {
    const rowStart = typeof rowStartAt === 'number' ? rowStartAt : i32(rowStartAt, 'topK.rowStart', 1)[0]!;
    // A row start read on the device's terms: rows past the users are left out.
    const users = Math.min(Math.floor(outItems.size / K), historyOffsets.size - 1);
    const rows = typeof rowStartAt === 'number' ? B : Math.max(0, Math.min(B, users - rowStart));
    const offsets = i32(historyOffsets, 'topK.historyOffsets', rowStart + rows + 1);
    const s = f32(scores, 'topK.scores', B * (V + 1));
    // topk.ts ranks float32 scores; the f64 test mode rounds them first.
    topK(
      i32(outItems, 'topK.outItems', (rowStart + rows) * K).subarray(rowStart * K), s instanceof Float32Array ? s : Float32Array.from(s.subarray(0, B * (V + 1))),
      { offsets, items: i32(historyItems, 'topK.historyItems', 0) }, rowStart, rows, V, K,
    );
  }
}
