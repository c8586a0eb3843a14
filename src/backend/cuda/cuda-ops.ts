/**
 * The CUDA backend: every op of ops.ts on our own kernels (kernels/*.cu, one family per op family,
 * each with its launcher beside this file), on the stream that the backend owns, and the ops of a fork
 * (Ops.fork), the loss's table gradient and attention backward's dk/dv kernel on side streams, ordered
 * against it by events. Nothing here waits for the device except the reads (`readF32`, `readI32`), so
 * the host queues whole steps ahead.
 *
 * Memory: every group is one allocation of the context's allocator (peak accounted as torch's
 * max_memory_allocated); the backend itself holds one scratch per stream (the GEMMs' split-K partials
 * and tile counters, and the column reductions' partials: the ops of one stream run one at a time, so
 * they share it), and the CUDA context holds its own memory: all are `reservedBytes`, which a trial adds
 * to its planned peak.
 */
import { CudaContext } from '../../cuda/context.js';
import { CudaGraph } from '../../cuda/graph.js';
import { download } from '../../cuda/memory.js';
import { CudaEvent, Stream } from '../../cuda/stream.js';
import { ForkLedger } from '../fork-ledger.js';
import type { TensorSpec } from '../memory-plan.js';
import type {
  AdamParams, AttentionMask, DropoutSpec, EmbedBackwardOptions, Forked, ForkOptions, LossBackwardOptions, LayerNormBackwardOptions, LayerNormCopies, PaddingRows, LossDims, LossParams, MatmulOptions, MemoryStats, Ops, RecordedStep,
  SequenceRows, Tensor, TensorGroup, TensorLookup,
} from '../ops.js';
import { fromBf16Bits, toBf16Bits } from '../bf16.js';
import { PinnedStaging } from './pinned-staging.js';
import { DEFAULT_PRECISION, PRECISION_PRESETS, type PrecisionName, type PrecisionPreset } from '../precision.js';
import { adamStep } from './adam-kernels.js';
import { attentionBackward, attentionForward, attentionLastForward, attentionWorkspace, type AttentionBeside } from './attention-kernels.js';
import { cudaLossBackward, cudaLossForward, cudaLossWorkspace, separableGradients } from './cuda-losses.js';
import type { LossGradients } from './materialised-losses.js';
import { allocCudaGroup, CudaTensorGroup, deviceTensor } from './cuda-tensor.js';
import * as ew from './elementwise-kernels.js';
import { clearReduceCounters, REDUCE_COUNTERS, REDUCE_SCRATCH_FLOATS } from './elementwise-kernels.js';
import { embedForward, embedGroupRows, embeddingWorkspace, embedItemSums, embedPositionSums } from './embedding-kernels.js';
import { clearGemmCounters, GEMM_MIN_SCRATCH_FLOATS, GEMM_SCRATCH_FLOATS, GEMM_TILE_COUNTERS, matmul, narrowOperandsPay, scoreItems } from './gemm-kernels.js';
import { layerNormBackward, layerNormForward } from './layernorm-kernels.js';
import { topK } from './topk-kernels.js';

/** Options of the CUDA backend. */
export interface CudaOpsOptions {
  /** CUDA device ordinal (after CUDA_VISIBLE_DEVICES). @default 0 */
  readonly ordinal?: number;
  /** Precision preset (backend/precision.ts). @default "bf16" */
  readonly precision?: PrecisionName;
  /**
   * Whether Ops.fork's work (and lossBackward's table gradient, and attentionBackward's dk/dv kernel)
   * runs on side streams, beside the ops after it (false: at once, on the one stream, without the side
   * streams' scratches). @default true, unless GRID_SIDE_STREAM is 0
   */
  readonly sideStream?: boolean;
}

/** Environment variable that turns the side streams off (0) for comparisons; read by `CudaOps.create`. */
export const SIDE_STREAM_ENV = 'GRID_SIDE_STREAM';

/** A stream and the scratch of the ops queued on it. */
interface Lane {
  readonly stream: Stream;
  readonly scratch: CudaTensorGroup;
}

/**
 * The context's own memory where NVML cannot measure it: what a CUDA 13 context with our modules takes
 * on a Hopper card, rounded up, so that GPU admission errs on the safe side.
 */
const CONTEXT_FALLBACK_BYTES = 600 * 2 ** 20;

/** Floats of the one stream's scratch without a side stream: the GEMMs' full split-K and the column reductions. */
const SCRATCH_FLOATS = Math.max(GEMM_SCRATCH_FLOATS, REDUCE_SCRATCH_FLOATS);
/**
 * With side streams, three scratches: the main stream's ops need the column reductions' partials and the
 * input gradients' shallow splits; the loss's table gradient at most a GEMM's least scratch (ce's, split
 * over the batch's rows); the forks' weight gradients split deep (k = the batch's rows) and keep the full
 * scratch (with less, ML-20M's d = 256 weight gradients split half as deep: 0.45 ms more per step on an
 * H200, BENCHMARKS.md). 8 MiB more than one stream's.
 */
const MAIN_SCRATCH_FLOATS = Math.max(GEMM_MIN_SCRATCH_FLOATS, REDUCE_SCRATCH_FLOATS + GEMM_TILE_COUNTERS);
const LOSS_SCRATCH_FLOATS = GEMM_MIN_SCRATCH_FLOATS;
const SIDE_SCRATCH_FLOATS = SCRATCH_FLOATS;

/** Bytes per element of the host arrays `write` and the reads move. */
const HOST_BYTES = 4;

/** The CUDA implementation of the ops interface. */
export class CudaOps implements Ops {
  readonly backend = 'cuda' as const;
  readonly deviceName: string;
  readonly activationDType: 'bf16' | 'f32';
  readonly reservedBytes: number;
  /** The preset this backend runs. */
  readonly precision: PrecisionPreset;
  readonly #context: CudaContext;
  readonly #stream: Stream;
  readonly #main: Lane;
  /** The forks' stream and scratch; null when forks run at once on the main stream. */
  readonly #side: Lane | null;
  /** The loss's table gradient's (lossBackward with tableBeside), beside the forks; null likewise. */
  readonly #lossSide: Lane | null;
  /**
   * attentionBackward's dk/dv stream and its two events (null likewise): a stream of its own, not a
   * fork's lane, because the forks' stream is usually still busy with weight gradients when attention's
   * backward starts, and dk/dv would queue behind them. Attention takes no scratch.
   */
  readonly #attentionSide: AttentionBeside | null;
  /** Where ops are queued now: the side lane while a fork's work is, else the main one. */
  #lane: Lane;
  /** Recorded on the main stream at each fork, for the side stream to wait on (a wait binds at once). */
  readonly #forkEvent: CudaEvent;
  /** Each pending fork's end, recorded on the side stream (null without it); events return to the pool once joined. */
  readonly #forks = new ForkLedger<CudaEvent | null>();
  readonly #eventPool: CudaEvent[] = [];
  readonly #staging: PinnedStaging;

  /** Opens the device's context, its streams and the backend's scratches. */
  static create(options: CudaOpsOptions = {}): CudaOps {
    const context = CudaContext.open(options.ordinal ?? 0);
    const side = options.sideStream ?? process.env[SIDE_STREAM_ENV] !== '0';
    try {
      return new CudaOps(context, PRECISION_PRESETS[options.precision ?? DEFAULT_PRECISION], side);
    } catch (error) {
      context.close();
      throw error;
    }
  }

  private constructor(context: CudaContext, precision: PrecisionPreset, sideStream: boolean) {
    this.#context = context;
    this.precision = precision;
    this.activationDType = precision.narrow === 'bf16' ? 'bf16' : 'f32';
    this.deviceName = context.device.name;
    // Non-blocking: nothing of ours waits on, or is waited on by, the legacy default stream.
    this.#stream = Stream.create({ nonBlocking: true });
    this.#staging = new PinnedStaging(this.#stream);
    this.#forkEvent = CudaEvent.create({ timing: false });
    this.#main = { stream: this.#stream, scratch: this.#allocScratch('scratch', sideStream ? MAIN_SCRATCH_FLOATS : SCRATCH_FLOATS) };
    this.#side = sideStream ? this.#sideLane('side-scratch', SIDE_SCRATCH_FLOATS) : null;
    this.#lossSide = sideStream ? this.#sideLane('loss-scratch', LOSS_SCRATCH_FLOATS) : null;
    this.#attentionSide = sideStream
      ? { stream: Stream.create({ nonBlocking: true }), start: CudaEvent.create({ timing: false }), done: CudaEvent.create({ timing: false }) }
      : null;
    this.#lane = this.#main;
    const scratchBytes = [this.#main, this.#side, this.#lossSide].reduce((sum, lane) => sum + (lane?.scratch.plan.bytes ?? 0), 0);
    this.reservedBytes = (context.contextOverheadBytes ?? CONTEXT_FALLBACK_BYTES) + scratchBytes;
  }

  /** Narrow operands where this preset's GEMMs round to bf16 and the kernel set runs them on wgmma (gemm-kernels.ts narrowOperandsPay). */
  narrowOperands(rows: number, width: number): boolean {
    return this.precision.gemm === 'bf16' && narrowOperandsPay(rows, width);
  }

  /** A side stream (non-blocking, as the main one) and its scratch. */
  #sideLane(name: string, floats: number): Lane {
    return { stream: Stream.create({ nonBlocking: true }), scratch: this.#allocScratch(name, floats) };
  }

  /** One stream's scratch of `floats`, its counters zeroed (on the main stream, before anything else is queued). */
  #allocScratch(name: string, floats: number): CudaTensorGroup {
    const scratch = allocCudaGroup(this.#context.allocator, name, [
      { name: 'splits', shape: [floats], dtype: 'f32' },
      { name: 'reduceCounters', shape: [REDUCE_COUNTERS], dtype: 'i32' },
    ]);
    // The split GEMMs' output-tile counters (the scratch's tail) and the one-launch column reductions'
    // counters start at 0; every GEMM and every reduction leaves them so.
    clearGemmCounters(scratch.get('splits'), this.#stream);
    clearReduceCounters(scratch.get('reduceCounters'), this.#stream);
    return scratch;
  }

  /** The stream every op is queued on. */
  get stream(): Stream {
    return this.#stream;
  }

  close(): void {
    const sides = [this.#side, this.#lossSide].filter((lane) => lane !== null);
    const attention = this.#attentionSide;
    this.#stream.synchronize();
    for (const lane of sides) lane.stream.synchronize();
    attention?.stream.synchronize();
    this.#staging.close();
    for (const lane of [this.#main, ...sides]) lane.scratch.free();
    for (const lane of sides) lane.stream.destroy();
    attention?.stream.destroy();
    for (const event of [this.#forkEvent, ...this.#eventPool]) event.destroy();
    if (attention !== null) for (const event of [attention.start, attention.done]) event.destroy();
    this.#stream.destroy();
    this.#context.close();
  }

  // ---- memory ----

  allocGroup(name: string, specs: readonly TensorSpec[]): TensorGroup {
    return allocCudaGroup(this.#context.allocator, name, specs);
  }

  freeGroup(group: TensorGroup): void {
    if (!(group instanceof CudaTensorGroup)) throw new TypeError(`freeGroup: "${group.plan.name}" is not a CUDA group`);
    this.#requireJoined('freeGroup');
    // Work queued on the group's buffers must finish before the allocator may hand them out again.
    this.#stream.synchronize();
    group.free();
  }

  memory(): MemoryStats {
    const s = this.#context.allocator.stats();
    return { liveBytes: s.allocatedBytes, peakBytes: s.peakAllocatedBytes };
  }

  resetPeak(): void {
    this.#context.allocator.resetPeak();
  }

  write(dst: Tensor, src: Float32Array | Int32Array, offset = 0): void {
    const want = src instanceof Int32Array ? ['i32' as const] : ['f32' as const, 'bf16' as const];
    const t = deviceTensor(dst, 'write', want, offset + src.length);
    // Through pinned memory: the host goes on (to the next batch) while the stream works.
    if (t.dtype === 'bf16') this.#staging.write(t, toBf16Bits(src as Float32Array), offset * 2);
    else this.#staging.write(t, src, offset * HOST_BYTES);
  }

  async readF32(src: Tensor): Promise<Float32Array> {
    this.#requireJoined('readF32');
    const t = deviceTensor(src, 'readF32', ['f32', 'bf16'], 0);
    if (t.dtype === 'bf16') {
      const bits = new Uint16Array(t.size);
      download(bits, t, 0, this.#stream);
      this.#stream.synchronize();
      return fromBf16Bits(bits);
    }
    const out = new Float32Array(t.size);
    download(out, t, 0, this.#stream);
    this.#stream.synchronize();
    return out;
  }

  async readI32(src: Tensor): Promise<Int32Array> {
    this.#requireJoined('readI32');
    const t = deviceTensor(src, 'readI32', ['i32'], 0);
    const out = new Int32Array(t.size);
    download(out, t, 0, this.#stream);
    this.#stream.synchronize();
    return out;
  }

  /**
   * Captures the step as one CUDA graph on the backend's stream (forks become parallel branches, joined
   * before the capture ends); a replay is one cuGraphLaunch.
   */
  recordStep(record: () => void): RecordedStep {
    const graph = CudaGraph.capture(this.#stream, () => {
      record();
      this.#requireJoined('recordStep');
    });
    return { replay: () => graph.launch(this.#stream), close: () => graph.destroy() };
  }

  // ---- concurrency ----

  /**
   * Queues `work` on a side stream after everything queued so far on the main one (or runs it on the main
   * stream without side streams): the forks' stream, or with options.lane 'second' the loss's.
   */
  fork(work: () => void, options: ForkOptions = {}): Forked {
    return this.#forkOn(options.lane === 'second' ? this.#lossSide : this.#side, work);
  }

  /** `fork` on a given side lane (null: at once, on the main stream). */
  #forkOn(side: Lane | null, work: () => void): Forked {
    if (side === null || this.#forks.inFork) return this.#forks.open(work, () => null);
    this.#forkEvent.record(this.#stream);
    side.stream.waitFor(this.#forkEvent);
    this.#lane = side;
    return this.#forks.open(
      () => {
        try {
          work();
        } finally {
          this.#lane = this.#main;
        }
      },
      () => {
        const done = this.#eventPool.pop() ?? CudaEvent.create({ timing: false });
        done.record(side.stream);
        return done;
      },
    );
  }

  join(forked: Forked): void {
    const done = this.#forks.close(forked);
    if (done !== null) this.#waitFor(done);
  }

  /** The main stream waits for a fork's end; the event goes back to the pool (the wait has bound it). */
  #waitFor(done: CudaEvent | null): void {
    if (done === null) return;
    this.#stream.waitFor(done);
    this.#eventPool.push(done);
  }

  /** Throws, naming `what`, unless every fork is joined (joining the pending ones first). */
  #requireJoined(what: string): void {
    this.#forks.requireJoined(what, (events) => events.forEach((e) => this.#waitFor(e)));
  }

  // ---- elementwise ----

  fill(out: Tensor, value: number, n: number): void {
    ew.fill(this.#lane.stream, out, value, n);
  }

  copy(out: Tensor, x: Tensor, n: number): void {
    ew.copy(this.#lane.stream, out, x, n);
  }

  axpy(y: Tensor, x: Tensor, alpha: number, n: number): void {
    ew.axpy(this.#lane.stream, y, x, alpha, n);
  }

  add(out: Tensor, a: Tensor, b: Tensor, n: number, padding?: PaddingRows): void {
    ew.add(this.#lane.stream, out, a, b, n, padding);
  }

  sliceRows(out: Tensor, x: Tensor, rows: number, first: number, stride: number, cols: number): void {
    ew.sliceRows(this.#lane.stream, out, x, rows, first, stride, cols);
  }

  lastRows(out: Tensor, x: Tensor, layout: SequenceRows, B: number, cols: number): void {
    ew.lastRows(this.#lane.stream, out, x, layout, B, cols);
  }

  maskPadded(out: Tensor, x: Tensor, ids: Tensor, rows: number, cols: number): void {
    ew.maskPadded(this.#lane.stream, out, x, ids, rows, cols);
  }

  dropout(out: Tensor, x: Tensor, n: number, drop: DropoutSpec, padding?: PaddingRows): void {
    ew.dropout(this.#lane.stream, out, x, n, drop, padding);
  }

  reluForward(out: Tensor, x: Tensor, n: number): void {
    ew.reluForward(this.#lane.stream, out, x, n);
  }

  reluBackward(dx: Tensor, dout: Tensor, out: Tensor, n: number): void {
    ew.reluBackward(this.#lane.stream, dx, dout, out, n);
  }

  // ---- embeddings ----

  embedForward(
    out: Tensor, ids: Tensor, items: Tensor, positions: Tensor, scale: number, layout: SequenceRows, B: number, L: number, d: number,
  ): void {
    embedForward(this.#lane.stream, out, ids, items, positions, scale, layout, B, L, d);
  }

  embeddingWorkspace(rows: number, V: number): readonly TensorSpec[] {
    return embeddingWorkspace(rows, V);
  }

  embedBackward(
    dItems: Tensor, dPositions: Tensor, workspace: TensorLookup,
    dout: Tensor, ids: Tensor, scale: number, layout: SequenceRows, B: number, L: number, V: number, d: number,
    options: EmbedBackwardOptions = {},
  ): void {
    // The positions' sums share nothing with the items' but dout: beside them, on the forks' stream
    // (idle here at the end of the backward), joined before the op returns.
    const positions = this.#forkOn(this.#side, () => embedPositionSums(this.#lane.stream, dPositions, dout, layout, B, L, d));
    embedItemSums(this.#lane.stream, dItems, workspace, dout, ids, scale, layout.rows, V, d, options);
    this.join(positions);
  }

  embedGroupRows(workspace: TensorLookup, ids: Tensor, rows: number, V: number): void {
    embedGroupRows(this.#lane.stream, workspace, ids, rows, V);
  }

  // ---- dense ----

  matmul(out: Tensor, a: Tensor, b: Tensor, m: number, n: number, k: number, options: MatmulOptions = {}): void {
    matmul(this.#lane.stream, out, a, b, m, n, k, options, this.precision.gemm, this.#lane.scratch.get('splits'));
  }

  biasAdd(out: Tensor, bias: Tensor, rows: number, cols: number, ids?: Tensor): void {
    ew.biasAdd(this.#lane.stream, out, bias, rows, cols, ids);
  }

  biasBackward(dBias: Tensor, dout: Tensor, rows: number, cols: number, ids?: Tensor): void {
    ew.biasBackward(this.#lane.stream, dBias, dout, rows, cols, this.#lane.scratch.get('splits'), this.#lane.scratch.get('reduceCounters'), ids);
  }

  layerNormForward(
    out: Tensor, mean: Tensor, rstd: Tensor, x: Tensor, weight: Tensor, bias: Tensor, rows: number, cols: number, eps: number, ids?: Tensor,
    copies?: LayerNormCopies,
  ): void {
    layerNormForward(this.#lane.stream, out, mean, rstd, x, weight, bias, rows, cols, eps, ids, copies);
  }

  layerNormBackward(
    dx: Tensor, dWeight: Tensor, dBias: Tensor,
    dout: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor,
    rows: number, cols: number, ids?: Tensor, options?: LayerNormBackwardOptions,
  ): void {
    const scratch = this.#lane.scratch.get('splits');
    const counters = this.#lane.scratch.get('reduceCounters');
    layerNormBackward(this.#lane.stream, dx, dWeight, dBias, dout, x, weight, mean, rstd, rows, cols, scratch, counters, ids, options);
  }

  // ---- attention ----

  attentionWorkspace(B: number, L: number, H: number, hd: number): readonly TensorSpec[] {
    return attentionWorkspace(B, L, H, hd);
  }

  attentionForward(
    out: Tensor, saved: TensorLookup, q: Tensor, k: Tensor, v: Tensor,
    B: number, L: number, H: number, hd: number, mask: AttentionMask, drop: DropoutSpec,
  ): void {
    attentionForward(this.#lane.stream, out, saved, q, k, v, B, L, H, hd, mask, drop);
  }

  attentionLastForward(out: Tensor, q: Tensor, k: Tensor, v: Tensor, B: number, L: number, H: number, hd: number, mask: AttentionMask): void {
    attentionLastForward(this.#lane.stream, out, q, k, v, B, L, H, hd, mask);
  }

  attentionBackward(
    dq: Tensor, dk: Tensor, dv: Tensor, dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, saved: TensorLookup,
    B: number, L: number, H: number, hd: number, mask: AttentionMask, drop: DropoutSpec,
  ): void {
    // dk/dv beside dq on the attention's own side stream (attention-kernels.ts AttentionBeside).
    attentionBackward(this.#lane.stream, dq, dk, dv, dout, q, k, v, out, saved, B, L, H, hd, mask, drop, this.#attentionSide ?? undefined);
  }

  // ---- optimiser ----

  adamStep(param: Tensor, m: Tensor, v: Tensor, grad: Tensor, n: number, hp: AdamParams): void {
    adamStep(this.#lane.stream, param, m, v, grad, n, hp);
  }

  // ---- losses ----

  lossWorkspace(params: Pick<LossParams, 'kind' | 'negatives' | 'gradientFilter' | 'sce'>, dims: LossDims): readonly TensorSpec[] {
    // The model hands the loss f32 hidden states (its residual stream) and the f32 master table.
    return cudaLossWorkspace(params, dims, 'f32', this.precision.gemm);
  }

  lossForward(loss: Tensor, workspace: TensorGroup, h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, params: LossParams): void {
    cudaLossForward(this.#lane.stream, loss, workspace, this.#lane.scratch.get('splits'), h, table, targets, dims, params, this.precision.gemm);
  }

  /** With `tableBeside`, the table gradient is forked onto a side stream of its own, beside Ops.fork's. */
  lossBackward(
    dH: Tensor, dTable: Tensor, workspace: TensorGroup, h: Tensor, table: Tensor, targets: Tensor,
    dims: LossDims, params: LossParams, dLoss: number, options: LossBackwardOptions = {},
  ): Forked | null {
    const run = (part: LossGradients): void => cudaLossBackward(
      this.#lane.stream, dH, dTable, workspace, this.#lane.scratch.get('splits'), h, table, targets, dims, params, dLoss, this.precision.gemm, part,
    );
    if (options.tableBeside !== true || !separableGradients(params.kind)) {
      run('both');
      return null;
    }
    const tableGrad = this.#forkOn(this.#lossSide, () => run('table'));
    run('hidden');
    return tableGrad;
  }

  // ---- evaluation ----

  scoreItems(scores: Tensor, h: Tensor, table: Tensor, B: number, V: number, d: number): void {
    scoreItems(this.#lane.stream, scores, h, table, B, V, d, this.precision.gemm, this.#lane.scratch.get('splits'));
  }

  topK(
    outItems: Tensor, scores: Tensor, historyOffsets: Tensor, historyItems: Tensor,
    rowStart: number | Tensor, B: number, V: number, K: number,
  ): void {
    topK(this.#lane.stream, outItems, scores, historyOffsets, historyItems, rowStart, B, V, K);
  }
}
