/**
 * Launchers of kernels/embedding.cu: SASRec's input embedding over a batch layout (ops.SequenceRows), a
 * gather forward onto the rows the sequences own and a deterministic backward that groups the rows of
 * items 1..V by id (count, scan, fill, rank; padding rows add nothing) so that every item's gradient is
 * summed over its rows in ascending order, and sums each position's gradient over the sequences that
 * hold it in a fixed order: bit-identical run to run (the kernel file's header holds the contract).
 * Arguments as the ops methods: outputs, inputs, dimensions, after the stream.
 */
import { fillBytes } from '../../cuda/memory.js';
import type { KernelFunction } from '../../cuda/kernel-function.js';
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { DType, TensorSpec } from '../memory-plan.js';
import type { EmbedBackwardOptions, SequenceRows, Tensor, TensorLookup } from '../ops.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { bf16Flag, checkCount, kernelOf, multiprocessors, strideGrid } from './launch.js';

const SIGNATURES = {
  forward: [
    'out:ptr', 'out_bf16:i32', 'ids:ptr', 'items:ptr', 'positions:ptr', 'scale:f32', 'seqs:ptr', 'rows:i32', 'B:i32', 'L:i32', 'V:i32', 'd:i32',
  ],
  count: ['counts:ptr', 'ids:ptr', 'N:i32', 'V:i32'],
  scanTiles: ['tile_sums:ptr', 'counts:ptr', 'n:i32'],
  scanApply: ['offsets:ptr', 'cursor:ptr', 'counts:ptr', 'tile_sums:ptr', 'n:i32'],
  fill: ['entries:ptr', 'cursor:ptr', 'ids:ptr', 'N:i32', 'V:i32'],
  rankSmall: ['sorted:ptr', 'large:ptr', 'counts:ptr', 'entries:ptr', 'offsets:ptr', 'ids:ptr', 'V:i32'],
  rankLarge: ['sorted:ptr', 'large:ptr', 'counts:ptr', 'entries:ptr', 'offsets:ptr', 'N:i32', 'V:i32'],
  itemSums: [
    'd_items:ptr', 'partials:ptr', 'dout:ptr', 'dout_bf16:i32', 'sorted:ptr', 'offsets:ptr', 'ids:ptr', 'scale:f32', 'V:i32', 'd:i32',
  ],
  itemCombine: ['d_items:ptr', 'partials:ptr', 'large:ptr', 'counts:ptr', 'offsets:ptr', 'scale:f32', 'V:i32', 'd:i32'],
  positionSums: ['d_positions:ptr', 'dout:ptr', 'dout_bf16:i32', 'seqs:ptr', 'rows:i32', 'B:i32', 'L:i32', 'd:i32'],
} as const satisfies Record<string, KernelSignature>;

/** EMB_SCAN_TILE and EMB_SCAN_THREADS of the .cu: counts per scan tile, threads of the scan kernels. */
const SCAN_TILE = 4096;
const SCAN_THREADS = 1024;
/** EMB_SMALL: ids of more rows are ranked by a CTA each (listed in `large`). */
const SMALL = 32;
/** EMB_RANK_THREADS and EMB_COMBINE_THREADS: threads of the CTA-per-id kernels. */
const RANK_THREADS = 1024;
const COMBINE_THREADS = 1024;
/** EMB_CHUNK: rows one warp sums in order. */
const CHUNK = 64;
/**
 * CTAs per SM of embed_item_sums (a warp per sorted position, grid-stride): one resident wave of 8-warp
 * CTAs, since how many positions there are (the rows not padding) is known on the device only.
 */
const ITEM_SUMS_CTAS_PER_SM = 4;
/** EMB_POS_PHASES: phases of embed_position_sums (each sums every 8th sequence's row of a position). */
const POSITION_PHASES = 8;
/** Threads of the one-thread-per-row kernels and of the warp-per-row / warp-per-positions ones. */
const THREADS = 256;
const WARPS = THREADS / 32;

/** The widest d the backward's workspace holds chunk sums for (SASRec's d ≤ 512). */
export const EMBED_MAX_WIDTH = 512;

function kernel<K extends keyof typeof SIGNATURES>(name: string, kind: K): KernelFunction<(typeof SIGNATURES)[K]> {
  return kernelOf('embedding', name, SIGNATURES[kind]);
}

/** Scan tiles over the V + 2 offsets (offsets[V+1], the total, may open a tile of its own). */
function scanTiles(V: number): number {
  return Math.ceil((V + 2) / SCAN_TILE);
}

/** Chunk-sum slots of ids longer than one chunk (the .cu header's slot map): 2 per CHUNK rows. */
function partialSlots(N: number): number {
  return 2 * Math.ceil(N / CHUNK);
}

/** Ids of more than SMALL rows there can be among N rows. */
function largeCapacity(N: number): number {
  return Math.floor(N / (SMALL + 1));
}

/** The workspace tensor `name`, checked. */
function scratch(workspace: TensorLookup, name: string, dtype: DType, size: number): CudaTensor {
  return deviceTensor(workspace.get(name), `embedBackward.workspace.${name}`, [dtype], size);
}

/**
 * layout.seqs checked for B sequences of L positions, and layout.rows and B·L as counts (the kernels
 * bound every span by rows; their loops walk the B·L pairs of a sequence and a position).
 */
function sequenceRows(op: string, layout: SequenceRows, B: number, L: number): CudaTensor {
  checkCount(`${op}: layout.rows`, layout.rows);
  checkCount(`${op}: B·L`, B * L);
  return deviceTensor(layout.seqs, `${op}.layout.seqs`, ['i32'], 2 * B);
}

/**
 * The scratch of embedBackward for up to `rows` ids over V items (pure arithmetic, no context): O(V)
 * int32 for the per-id counts and offsets, O(rows) for the grouped rows, and chunk sums for d up to
 * EMBED_MAX_WIDTH (2·⌈rows/64⌉·512 floats: 8 MiB at 131,072 rows).
 */
export function embeddingWorkspace(rows: number, V: number): TensorSpec[] {
  checkCount('embeddingWorkspace: rows', rows);
  checkCount('embeddingWorkspace: V + 2', V + 2);
  return [
    { name: 'embed_counts', shape: [V + 2], dtype: 'i32' },
    { name: 'embed_offsets', shape: [V + 2], dtype: 'i32' },
    { name: 'embed_cursor', shape: [V + 1], dtype: 'i32' },
    { name: 'embed_tile_sums', shape: [scanTiles(V)], dtype: 'i32' },
    { name: 'embed_entries', shape: [Math.max(1, rows)], dtype: 'i32' },
    { name: 'embed_sorted', shape: [Math.max(1, rows)], dtype: 'i32' },
    { name: 'embed_large', shape: [Math.max(1, largeCapacity(rows))], dtype: 'i32' },
    { name: 'embed_partials', shape: [Math.max(1, partialSlots(rows)), EMBED_MAX_WIDTH], dtype: 'f32' },
  ];
}

/**
 * out[r, :] = scale · items[ids[r], :] + positions[t, :] (overwrite) for every row r that `layout` gives
 * a sequence's position t (B sequences of L positions); rows no sequence owns are not written. out
 * [layout.rows × d] f32 or bf16; items [(V+1) × d] and positions [L × d] f32; ids [layout.rows] i32 in
 * 0..V (V from the size of items; a row whose id lies outside comes out NaN); a malformed sequence
 * (kernels/embedding.cu's header) is taken as empty.
 */
export function embedForward(
  stream: Stream, out: Tensor, ids: Tensor, items: Tensor, positions: Tensor,
  scale: number, layout: SequenceRows, B: number, L: number, d: number,
): void {
  const seqs = sequenceRows('embedForward', layout, B, L);
  const rows = layout.rows;
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`embedForward: expected a width d ≥ 1, got ${d}`);
  const o = deviceTensor(out, 'embedForward.out', ['f32', 'bf16'], rows * d);
  const rowIds = deviceTensor(ids, 'embedForward.ids', ['i32'], rows);
  const table = deviceTensor(items, 'embedForward.items', ['f32'], d);
  const pos = deviceTensor(positions, 'embedForward.positions', ['f32'], L * d);
  const V = Math.floor(table.size / d) - 1;
  if (B * L === 0 || rows === 0) return;
  // A warp per (sequence, position) pair, grid-stride.
  kernel('embed_forward', 'forward').launch(
    { grid: strideGrid(B * L, WARPS), block: THREADS, stream }, o, bf16Flag(o), rowIds, table, pos, scale, seqs, rows, B, L, V, d,
  );
}

/** The workspace's tensors that group rows by id, and the ids, checked. */
interface RowGroups {
  readonly rowIds: CudaTensor;
  readonly counts: CudaTensor;
  readonly offsets: CudaTensor;
  readonly cursor: CudaTensor;
  readonly tileSums: CudaTensor;
  readonly entries: CudaTensor;
  readonly sorted: CudaTensor;
  readonly large: CudaTensor;
}

function rowGroups(what: string, workspace: TensorLookup, ids: Tensor, N: number, V: number): RowGroups {
  checkCount(`${what}: V + 2`, V + 2);
  return {
    rowIds: deviceTensor(ids, `${what}.ids`, ['i32'], N),
    counts: scratch(workspace, 'embed_counts', 'i32', V + 2),
    offsets: scratch(workspace, 'embed_offsets', 'i32', V + 2),
    cursor: scratch(workspace, 'embed_cursor', 'i32', V + 1),
    tileSums: scratch(workspace, 'embed_tile_sums', 'i32', scanTiles(V)),
    entries: scratch(workspace, 'embed_entries', 'i32', N),
    sorted: scratch(workspace, 'embed_sorted', 'i32', N),
    large: scratch(workspace, 'embed_large', 'i32', largeCapacity(N)),
  };
}

/** CTAs of embed_rank_large and embed_item_combine: one per listed id, at most two an SM (0 when N ≤ SMALL: no id can be large). */
function largeIdCtas(N: number): number {
  return Math.min(largeCapacity(N), 2 * multiprocessors());
}

/** Groups N ≥ 1 rows by id: counts (the last one counts the ids embed_rank_large takes), offsets, each id's rows in ascending order. */
function groupRows(stream: Stream, g: RowGroups, N: number, V: number): void {
  const tiles = scanTiles(V);
  fillBytes(g.counts, 0, stream);
  const perRow = { grid: Math.ceil(N / THREADS), block: THREADS, stream };
  kernel('embed_count', 'count').launch(perRow, g.counts, g.rowIds, N, V);
  kernel('embed_scan_tiles', 'scanTiles').launch({ grid: tiles, block: SCAN_THREADS, stream }, g.tileSums, g.counts, V + 1);
  kernel('embed_scan_apply', 'scanApply').launch({ grid: tiles, block: SCAN_THREADS, stream }, g.offsets, g.cursor, g.counts, g.tileSums, V + 1);
  kernel('embed_fill', 'fill').launch(perRow, g.entries, g.cursor, g.rowIds, N, V);
  // Each id's rows in ascending order. Ids of more than SMALL rows (a CTA each) exist only from N > SMALL.
  kernel('embed_rank_small', 'rankSmall').launch(perRow, g.sorted, g.large, g.counts, g.entries, g.offsets, g.rowIds, V);
  const perLargeId = largeIdCtas(N);
  if (perLargeId > 0) {
    kernel('embed_rank_large', 'rankLarge').launch({ grid: perLargeId, block: RANK_THREADS, stream }, g.sorted, g.large, g.counts, g.entries, g.offsets, N, V);
  }
}

/**
 * Groups `rows` rows by their ids (i32 [rows], ids 1..V; others are skipped) into `workspace`
 * (embeddingWorkspace(rows', V), rows' ≥ rows): what embedBackward with options.grouped then reads.
 * It reads only the ids, so a step may queue it on another stream long before the backward.
 */
export function embedGroupRows(stream: Stream, workspace: TensorLookup, ids: Tensor, rows: number, V: number): void {
  checkCount('embedGroupRows: rows', rows);
  const groups = rowGroups('embedGroupRows', workspace, ids, rows, V);
  if (rows > 0) groupRows(stream, groups, rows, V);
}

function checkWidth(what: string, d: number): void {
  if (!Number.isInteger(d) || d < 1 || d > EMBED_MAX_WIDTH) {
    throw new RangeError(`${what}: expected a width d in 1..${EMBED_MAX_WIDTH} (the workspace's chunk sums), got ${d}`);
  }
}

/**
 * The embedding backward's item part (Ops.embedBackward): dItems[ids[r], :] (+=) scale · dout[r, :] over the
 * N rows whose id is not 0 (padding rows add nothing; row 0 of dItems is left as it is). Deterministic: each
 * item's rows are summed in ascending order (in chunks of 64 rows, the chunk sums then in a fixed tree).
 * dItems [(V+1) × d] f32; dout [N × d] f32 or bf16; ids [N] i32 (rows whose id lies outside 1..V are skipped);
 * `workspace` holds embeddingWorkspace(rows', V)'s tensors for some rows' ≥ N. d ≤ EMBED_MAX_WIDTH. The rows
 * are grouped by id first, unless options.grouped: embedGroupRows has already grouped these ids into the
 * workspace (on any stream, ordered before this call), and only the sums run.
 */
export function embedItemSums(
  stream: Stream, dItems: Tensor, workspace: TensorLookup, dout: Tensor, ids: Tensor, scale: number, N: number, V: number, d: number,
  options: EmbedBackwardOptions = {},
): void {
  checkCount('embedBackward: rows', N);
  checkWidth('embedBackward', d);
  const gItems = deviceTensor(dItems, 'embedBackward.dItems', ['f32'], (V + 1) * d);
  const g = deviceTensor(dout, 'embedBackward.dout', ['f32', 'bf16'], N * d);
  const groups = rowGroups('embedBackward', workspace, ids, N, V);
  const partials = scratch(workspace, 'embed_partials', 'f32', partialSlots(N) * d);
  if (N === 0) return;
  if (options.grouped !== true) groupRows(stream, groups, N, V);
  const { counts, offsets, sorted, large, rowIds } = groups;
  const perLargeId = largeIdCtas(N);
  // Chunks of each id's rows, then (ids of several chunks, all among the listed ones) the chunk sums.
  const perPositions = { grid: Math.min(Math.ceil(N / WARPS), ITEM_SUMS_CTAS_PER_SM * multiprocessors()), block: THREADS, stream };
  kernel('embed_item_sums', 'itemSums').launch(perPositions, gItems, partials, g, bf16Flag(g), sorted, offsets, rowIds, scale, V, d);
  if (perLargeId > 0) {
    kernel('embed_item_combine', 'itemCombine').launch({ grid: perLargeId, block: COMBINE_THREADS, stream }, gItems, partials, large, counts, offsets, scale, V, d);
  }
}

/**
 * The embedding backward's position part (Ops.embedBackward): dPositions[t, :] (+=) Σ_b dout[row of sequence
 * b's position t, :] over the sequences that hold t. Deterministic: each position's rows in 8 interleaved
 * phases of b order, then the phases in order. dPositions [L × d] f32; dout [layout.rows × d] f32 or bf16;
 * d ≤ EMBED_MAX_WIDTH. It shares nothing with embedItemSums but dout, so it may run beside it.
 */
export function embedPositionSums(
  stream: Stream, dPositions: Tensor, dout: Tensor, layout: SequenceRows, B: number, L: number, d: number,
): void {
  const seqs = sequenceRows('embedBackward', layout, B, L);
  const N = layout.rows;
  checkWidth('embedBackward', d);
  const gPositions = deviceTensor(dPositions, 'embedBackward.dPositions', ['f32'], L * d);
  const g = deviceTensor(dout, 'embedBackward.dout', ['f32', 'bf16'], N * d);
  // A CTA (32 columns × POSITION_PHASES sequence phases) per 32 elements of dPositions, grid-stride; no
  // rows or no sequence, no sum (the kernel would add 0 to every element).
  if (N === 0 || B === 0) return;
  kernel('embed_position_sums', 'positionSums').launch(
    { grid: strideGrid(L * d, 32), block: 32 * POSITION_PHASES, stream }, gPositions, g, bf16Flag(g), seqs, N, B, L, d,
  );
}
