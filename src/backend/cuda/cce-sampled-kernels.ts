/**
 * Launchers of kernels/cce_sampled.cu: CCE- (softmax over the positive and n sampled negatives, log-Q
 * corrected) and BCE+ (sampled sigmoid), streamed: the forward draws each row's negatives with Philox
 * (backend/negatives.ts's scheme) and keeps the row gradient; the backward groups the draws by item
 * (count, scan, fill: a CSR of row indices) and accumulates the table gradient item by item.
 */
import type { KernelFunction } from '../../cuda/kernel-function.js';
import type { KernelSignature, PointerArg } from '../../cuda/kernel-signature.js';
import { fillBytes, type DeviceRegion } from '../../cuda/memory.js';
import type { Stream } from '../../cuda/stream.js';
import { kernelOf, NULL_PTR, strideGrid } from './launch.js';

/** MODE of the kernels: the softmax loss (cce-) or the sigmoid one (bce+). */
export type SampledLoss = 'cce-' | 'bce+';

/** Where the negatives come from: null prob/alias pointers mean uniform. */
export interface SamplerArgs {
  readonly count: number;
  readonly seed: number;
  readonly step: number;
  /** The step's counters on the device (replayed steps read the step there), or null. */
  readonly counters: PointerArg | null;
  /** [V] alias acceptance thresholds (uint32 bits), popularity only. */
  readonly prob: PointerArg | null;
  /** [V] alias columns, popularity only. */
  readonly alias: PointerArg | null;
  /** [V + 1] log p_i, popularity only. */
  readonly logProb: PointerArg | null;
}

const SAMPLER = ['n_neg:i32', 'seed:u32', 'step:u32', 'counters:ptr', 'prob:ptr', 'alias:ptr'] as const;
const SIGNATURES = {
  forward: [
    'lse_out:ptr', 'row_loss:ptr', 'dh_raw:ptr', 'h:ptr', 'table:ptr', 'targets:ptr', 'N:i32', 'V:i32', 'd:i32',
    ...SAMPLER, 'log_p:ptr', 'uniform_corr:f32', 'log_n:f32', 'pos_weight:f32',
  ],
  count: ['counts:ptr', 'targets:ptr', 'N:i32', 'V:i32', ...SAMPLER],
  fill: ['entries:ptr', 'cursor:ptr', 'targets:ptr', 'N:i32', 'V:i32', ...SAMPLER],
  scanTiles: ['tile_sums:ptr', 'counts:ptr', 'n:i32'],
  scanSums: ['tile_sums:ptr', 'tiles:i32'],
  scanApply: ['offsets:ptr', 'cursor:ptr', 'counts:ptr', 'tile_sums:ptr', 'n:i32'],
  tableGrad: [
    'dtable:ptr', 'h:ptr', 'table:ptr', 'lse:ptr', 'offsets:ptr', 'entries:ptr', 'V:i32', 'd:i32', 'chunk:i32',
    'uniform:i32', 'log_p:ptr', 'uniform_corr:f32', 'log_n:f32', 'scale:f32', 'pos_weight:f32',
  ],
  hiddenGrad: ['dh_f32:ptr', 'dh_bf16:ptr', 'dh_raw:ptr', 'n:i64', 'scale:f32'],
  lossReduce: ['loss:ptr', 'row_loss:ptr', 'N:i32', 'M:i32'],
} as const satisfies Record<string, KernelSignature>;

const WIDTHS = [32, 64, 128, 256, 512] as const;
/** Rows per forward CTA (SAMPLED_WARPS warps, one row each). */
const ROWS_PER_CTA = 4;
/** Elements per scan tile (SCAN_TILE) and threads of the scan kernels. */
export const SCAN_TILE = 4096;
const SCAN_THREADS = 1024;
/** Entries of the CSR per warp of the table gradient. */
const CHUNK = 256;
const NULL = NULL_PTR;

function kernel<K extends keyof typeof SIGNATURES>(name: string, kind: K): KernelFunction<(typeof SIGNATURES)[K]> {
  return kernelOf('cce_sampled', name, SIGNATURES[kind]);
}

/** The kernel name suffix of width d: "a256" (aligned rows) or "u33". */
function suffix(d: number): string {
  const D = WIDTHS.find((w) => d <= w);
  if (D === undefined || d < 1) throw new RangeError(`Expected a hidden size d in 1..512 for sampled losses, got ${d}`);
  return `${d % 8 === 0 ? 'a' : 'u'}${D}`;
}

function prefix(loss: SampledLoss): string {
  return loss === 'cce-' ? 'cce' : 'bce';
}

/** Scan tiles of the (V + 1) item counts: the length of the tile-sums workspace. */
export function scanTiles(V: number): number {
  return Math.ceil((V + 2) / SCAN_TILE);
}

/** Draws per Philox call of each sampler (uniform 4, popularity 2): threads of the count and fill kernels. */
function callsPerRow(s: SamplerArgs): number {
  return Math.ceil(s.count / (s.prob === null ? 4 : 2));
}

/** log-Q constants: uniform + log(V-1) - log(n); popularity - log(n) - log p_j (per item, on the device). */
function corrections(V: number, n: number): { uniform: number; logN: number } {
  return { uniform: Math.log(V - 1) - Math.log(n), logN: Math.log(n) };
}

function checkSampler(N: number, V: number, s: SamplerArgs): void {
  if (!Number.isInteger(s.count) || s.count < 1) throw new RangeError(`Expected at least one negative, got ${s.count}`);
  if (!Number.isInteger(V) || V < 2) throw new RangeError(`Expected a catalogue of at least 2 items for sampled losses, got ${V}`);
  if (N * (s.count + 1) >= 2 ** 31) throw new RangeError(`Expected N·(n+1) < 2^31 draws, got ${N} × ${s.count + 1}`);
  if ((s.prob === null) !== (s.alias === null) || (s.prob === null) !== (s.logProb === null)) {
    throw new TypeError('popularity sampling needs prob, alias and logProb together');
  }
}

/**
 * lse[N], rowLoss[N] and the unscaled row gradient dhRaw[N × d] (f32) of a sampled loss, from h and the
 * table (bf16) and targets (i32, 0 = padding).
 * @param posWeight bce+'s weight of the positive's term (gSASRec's β for gbce); cce- ignores it. @default 1
 */
export function sampledForward(
  stream: Stream, loss: SampledLoss, lse: PointerArg, rowLoss: PointerArg, dhRaw: PointerArg,
  h: PointerArg, table: PointerArg, targets: PointerArg,
  N: number, V: number, d: number, sampler: SamplerArgs, posWeight = 1,
): void {
  checkSampler(N, V, sampler);
  const c = corrections(V, sampler.count);
  kernel(`${prefix(loss)}_sampled_forward_${suffix(d)}`, 'forward').launch(
    { grid: Math.ceil(N / ROWS_PER_CTA), block: 32 * ROWS_PER_CTA, stream },
    lse, rowLoss, dhRaw, h, table, targets, N, V, d, sampler.count, sampler.seed >>> 0, sampler.step >>> 0, sampler.counters ?? NULL,
    sampler.prob ?? NULL, sampler.alias ?? NULL, sampler.logProb ?? NULL, c.uniform, c.logN, posWeight,
  );
}

/** The CSR workspace of the table gradient. */
export interface SampledCsr {
  /** [V + 1] i32, zeroed here. */
  readonly counts: DeviceRegion;
  /** [V + 2] i32. */
  readonly offsets: PointerArg;
  /** [V + 1] i32. */
  readonly cursor: PointerArg;
  /** [scanTiles(V)] i32. */
  readonly tileSums: PointerArg;
  /** [N · (n + 1)] i32. */
  readonly entries: PointerArg;
}

/**
 * dTable[1..V] (+=) scale · Σ G·h over every (row, draw) pair, G recomputed from the forward's lse;
 * dTable is f32 (items whose draws span several warps accumulate atomically).
 */
export function sampledTableGrad(
  stream: Stream, loss: SampledLoss, dTable: PointerArg, csr: SampledCsr,
  h: PointerArg, table: PointerArg, targets: PointerArg, lse: PointerArg,
  N: number, V: number, d: number, sampler: SamplerArgs, scale: number, posWeight = 1,
): void {
  checkSampler(N, V, sampler);
  const draws = [sampler.count, sampler.seed >>> 0, sampler.step >>> 0, sampler.counters ?? NULL, sampler.prob ?? NULL, sampler.alias ?? NULL] as const;
  const threads = N * callsPerRow(sampler);
  const tiles = scanTiles(V);
  fillBytes(csr.counts, 0, stream);
  kernel('cce_sampled_count', 'count').launch({ grid: Math.ceil(threads / 256), block: 256, stream }, csr.counts, targets, N, V, ...draws);
  kernel('cce_sampled_scan_tiles', 'scanTiles').launch({ grid: tiles, block: SCAN_THREADS, stream }, csr.tileSums, csr.counts, V + 1);
  kernel('cce_sampled_scan_sums', 'scanSums').launch({ grid: 1, block: SCAN_THREADS, stream }, csr.tileSums, tiles);
  kernel('cce_sampled_scan_apply', 'scanApply').launch({ grid: tiles, block: SCAN_THREADS, stream }, csr.offsets, csr.cursor, csr.counts, csr.tileSums, V + 1);
  kernel('cce_sampled_fill', 'fill').launch({ grid: Math.ceil(threads / 256), block: 256, stream }, csr.entries, csr.cursor, targets, N, V, ...draws);
  const warps = Math.ceil((N * (sampler.count + 1)) / CHUNK);
  const c = corrections(V, sampler.count);
  kernel(`${prefix(loss)}_sampled_table_grad_${suffix(d)}`, 'tableGrad').launch(
    { grid: Math.ceil((warps * 32) / 256), block: 256, stream },
    dTable, h, table, lse, csr.offsets, csr.entries, V, d, CHUNK, sampler.prob === null ? 1 : 0, sampler.logProb ?? NULL, c.uniform, c.logN, scale, posWeight,
  );
}

/** dH = scale · dhRaw over n elements (f32 or bf16 output). */
export function sampledHiddenGrad(stream: Stream, dH: PointerArg, dHBf16: boolean, dhRaw: PointerArg, n: number, scale: number): void {
  kernel('cce_hidden_grad', 'hiddenGrad').launch({ grid: strideGrid(n), block: 256, stream }, dHBf16 ? NULL : dH, dHBf16 ? dH : NULL, dhRaw, n, scale);
}

/** loss[0] = Σ rowLoss[0..N) / M (0 when M = 0). */
export function sampledLossReduce(stream: Stream, loss: PointerArg, rowLoss: PointerArg, N: number, M: number): void {
  kernel('cce_loss_reduce', 'lossReduce').launch({ grid: 1, block: 1024, stream }, loss, rowLoss, N, M);
}
