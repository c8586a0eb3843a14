/**
 * Launchers of kernels/gemm_wg.cu: Hopper's wgmma GEMM for the products of the linear layers, with f32 or
 * bf16 operands (an f32 one rounded to bf16 as it is staged, as gemm.cu's 'bf16' math does; the kernel
 * file's header holds the contract, the tiles and the expected speed) and matmul's epilogue (ops.ts
 * MatmulEpilogue, its layer norm included: kernels/gemm_epilogue.cuh, gemm.cu's code). The kernels exist in the sm_90a
 * module only: `wgGemmEligible` says whether a product may run here, else it stays on kernels/gemm.cu
 * (gemm-kernels.ts matmul, which calls wgGemm itself under the 'wgmma' kernel set). A deep product with few output tiles (the weight gradient, tn)
 * splits k over grid z, writes per-split partials to the caller's scratch and adds them with gemm.cu's
 * gemm_splitk_reduce in a fixed order: every result is deterministic.
 *
 * This module imports nothing of gemm-kernels.ts, so that matmul there may call it without an import cycle;
 * the reduction's signature is therefore restated here (SIGNATURES.splitkReduce, checked against the PTX
 * when the kernel is loaded), and the epilogue's arguments come from gemm-epilogue-args.ts, which both import.
 */
import { currentContext } from '../../cuda/context.js';
import type { KernelSignature, PointerArg } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import { checkMatmulEpilogue } from '../matmul-epilogue.js';
import type { DType } from '../memory-plan.js';
import type { MatmulOptions, Tensor } from '../ops.js';
import { deviceTensor, type CudaTensor } from './cuda-tensor.js';
import { epilogueArgs, EPILOGUE_SIGNATURE, NO_NORM, normArgs, NORM_SIGNATURE } from './gemm-epilogue-args.js';
import { bf16Flag, checkCount, kernelOf, multiprocessors, NULL_PTR } from './launch.js';
import { layerNormForward } from './layernorm-kernels.js';

/** The kernel family (kernels/gemm_wg.cu). */
const FAMILY = 'gemm_wg';

const SIGNATURES = {
  gemm: [
    'out:ptr', 'partial:ptr', 'a:ptr', 'b:ptr', 'm:i32', 'n:i32', 'k:i32', 'k_per_split:i32', 'out_bf16:i32', 'alpha:f32',
    'accumulate:i32', 'bias:ptr', ...EPILOGUE_SIGNATURE, ...NORM_SIGNATURE,
  ],
  splitkReduce: [
    'out:ptr', 'partial:ptr', 'mn:i64', 'splits:i32', 'out_bf16:i32', 'alpha:f32', 'accumulate:i32', 'bias:ptr', 'n:i32', ...EPILOGUE_SIGNATURE,
  ],
} as const satisfies Record<string, KernelSignature>;

/** Columns of a CTA tile (the kernels' BN); every tile is 128 rows (WG_BM) by 64 depth a step (WG_BK). */
export type WgTileN = 128 | 256;

const TILE_M = 128;
const TILE_K = 64;
const THREADS = 256;

/**
 * Dynamic shared bytes of a tile (kernels/gemm_wg.cu WgTile::SHARED_BYTES): STAGES k steps of the a tile
 * [128 × 64] and the b tile [BN × 64] in bf16 (whatever the operands' dtypes: f32 ones are rounded as they
 * are staged), plus 1 KiB to align them to the 1024-byte swizzle atom. BN = 128 keeps three stages so that
 * two CTAs fit an SM (2 × 99,328 bytes) when both operands are bf16; an f32 operand's staging registers
 * (kernels/gemm_wg.cu REGISTERS: 154-174 a thread) leave room for one. BN = 256 takes four stages, one CTA.
 */
const TILES: Readonly<Record<WgTileN, { readonly stages: number; readonly ctasPerSm: number; readonly sharedBytes: number }>> = {
  128: { stages: 3, ctasPerSm: 2, sharedBytes: 3 * (128 + 128) * 64 * 2 + 1024 },
  256: { stages: 4, ctasPerSm: 1, sharedBytes: 4 * (128 + 256) * 64 * 2 + 1024 },
};

/**
 * The tile a product of bf16 operands takes unless told otherwise: two CTAs an SM, so one's stores overlap
 * the other's loads (fastest on an H200 for nn and tn: BENCHMARKS.md, call 45).
 */
export const WG_DEFAULT_TILE_N: WgTileN = 128;

/**
 * The tile an nt or nn product with an f32 operand takes unless told otherwise: at BN = 128 its kernels run
 * one CTA an SM (registers), and the wider tile, which reads each a tile once for twice the columns, wins
 * (H200, ML-20M's linear layer: nt 38.6 µs against 44.0, nn 40.7 against 46.9).
 */
export const WG_DEFAULT_TILE_N_F32: WgTileN = 256;

/**
 * The tile a weight gradient (tn) takes unless told otherwise, whatever its operands: 38.5 µs against
 * 43.7 alone with f32 operands, and inside a step, where it runs beside the input gradients, BN = 256's
 * one CTA of 197 KB an SM left them no room (BENCHMARKS.md, session 7).
 */
export const WG_WEIGHT_GRADIENT_TILE_N: WgTileN = 128;

/** CTAs of a tile an SM holds: TILES' figure, or one for an f32 operand's kernels (their launch bounds). */
function ctasPerSm(tileN: WgTileN, operands: WgOperandDtypes): number {
  return operands.a === 'f32' || operands.b === 'f32' ? 1 : TILES[tileN].ctasPerSm;
}

/** The least depth of one split, in k steps: a split's m·n partials should stay small against its operand reads. */
const MIN_STEPS_PER_SPLIT = 4;

/** The largest grid.z (CUDA's limit). */
const MAX_GRID_Z = 65_535;

/** gemm_splitk_reduce's launch (kernels/gemm.cu REDUCE_MAX_WARPS; gemm-kernels.ts's grid: 32 elements a CTA, up to 8 CTAs an SM). */
const REDUCE_WARPS = 8;
const REDUCE_CTAS_PER_SM = 8;

/** The dtypes of a product's operands (each f32 or bf16 for a kernel to exist). */
export interface WgOperandDtypes {
  readonly a: DType;
  readonly b: DType;
}

/** The dtypes of a product's tensors. */
export interface WgGemmDtypes extends WgOperandDtypes {
  readonly out: DType;
}

/** Which operand layout a product has, as the kernels name it (nt: the forward; nn: the input gradient; tn: the weight gradient). */
export type WgLayout = 'nt' | 'nn' | 'tn';

/** The layout of `options`' transposes, or undefined for tt (no kernel). */
function layoutOf(options: Pick<MatmulOptions, 'transA' | 'transB'>): WgLayout | undefined {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  if (transA) return transB ? undefined : 'tn';
  return transB ? 'nt' : 'nn';
}

/**
 * Why the wgmma kernels cannot run this product, or undefined where they can: a and b each f32 or bf16, an
 * f32 or bf16 out, no transposes but nt, nn or tn, every operand row 16-byte aligned (the leading dimensions
 * of the header's REQUIREMENTS multiples of 8), and `wgmma` (the sm_90a module is the one loaded:
 * wgmmaAvailable). Any epilogue is taken (its layer norm runs in the tile or after it, as matmul's does);
 * one that cannot apply (with accumulate) is refused by wgGemm's checks as by matmul's. options.rowIds is
 * allowed and ignored: every row is multiplied, which ops.ts permits ("may be taken as a zero row").
 */
export function wgGemmIneligibility(
  m: number, n: number, k: number, options: MatmulOptions, dtypes: WgGemmDtypes, wgmma: boolean,
): string | undefined {
  if (!wgmma) return 'the sm_90a module of gemm_wg is not loaded (a Hopper GPU, compute capability 9.0, has it)';
  if (dtypes.a === 'i32' || dtypes.b === 'i32') return `a and b must be f32 or bf16, got ${dtypes.a} and ${dtypes.b}`;
  if (dtypes.out === 'i32') return 'out must be f32 or bf16, got i32';
  const layout = layoutOf(options);
  if (layout === undefined) return 'no kernel for transA with transB';
  const aligned = (what: string, x: number): string | undefined => (x % 8 === 0 ? undefined : `${what} = ${x} is not a multiple of 8 (16-byte rows)`);
  if (layout === 'nt') return aligned('k', k);
  if (layout === 'nn') return aligned('k', k) ?? aligned('n', n);
  return aligned('m', m) ?? aligned('n', n);
}

/** Whether the wgmma kernels can run this product (wgGemmIneligibility gives the reason when not). */
export function wgGemmEligible(m: number, n: number, k: number, options: MatmulOptions, dtypes: WgGemmDtypes, wgmma = wgmmaAvailable()): boolean {
  return wgGemmIneligibility(m, n, k, options, dtypes, wgmma) === undefined;
}

/** Per context's modules: whether they load gemm_wg's sm_90a variant (variantOf lists the PTX directory: once, not per GEMM). */
const wgmmaOf = new WeakMap<object, boolean>();

/** Whether the current context loads the sm_90a module of gemm_wg (the one that has the kernels). */
export function wgmmaAvailable(): boolean {
  const modules = currentContext().modules;
  let known = wgmmaOf.get(modules);
  if (known === undefined) {
    known = modules.variantOf(FAMILY) === 'sm90a';
    wgmmaOf.set(modules, known);
  }
  return known;
}

/** How one product runs on the wgmma kernels. */
export interface WgGemmPlan {
  /** The entry point: gemm_wg_{nt,nn,tn}_{128,256}_{a's dtype}_{b's dtype}. */
  readonly kernel: string;
  readonly tileN: WgTileN;
  /** Output tiles (grid x): ⌈m / 128⌉ · ⌈n / tileN⌉. */
  readonly tiles: number;
  /** Shares of k (grid z); > 1 writes `splits · m · n` partial floats and runs gemm_splitk_reduce. */
  readonly splits: number;
  /** Depth of each share, a multiple of 64 (the last share may be shorter, never empty). */
  readonly kPerSplit: number;
  readonly sharedBytes: number;
}

/** The tile of a product with these operands and this layout unless told otherwise. */
export function wgDefaultTileN(operands: WgOperandDtypes, layout: WgLayout): WgTileN {
  if (layout === 'tn') return WG_WEIGHT_GRADIENT_TILE_N;
  return operands.a === 'f32' || operands.b === 'f32' ? WG_DEFAULT_TILE_N_F32 : WG_DEFAULT_TILE_N;
}

/**
 * The plan of a product of these operands on `multiprocessorCount` SMs: the tile (`tileN`, @default
 * wgDefaultTileN), and the split of k that fills one wave of CTAs where the output tiles alone do not, each
 * share at least MIN_STEPS_PER_SPLIT k steps deep and all partials within `partialFloats` (the scratch's room).
 */
export function wgGemmPlanFor(
  m: number, n: number, k: number, layout: WgLayout, operands: WgOperandDtypes, multiprocessorCount: number, partialFloats: number,
  tileN: WgTileN = wgDefaultTileN(operands, layout),
): WgGemmPlan {
  const tile = TILES[tileN];
  const tiles = Math.ceil(m / TILE_M) * Math.ceil(n / tileN);
  const steps = Math.max(1, Math.ceil(k / TILE_K));
  const slots = ctasPerSm(tileN, operands) * multiprocessorCount;
  const wanted = Math.max(1, Math.min(Math.ceil(slots / Math.max(tiles, 1)), Math.floor(steps / MIN_STEPS_PER_SPLIT),
    Math.floor(partialFloats / Math.max(m * n, 1)), MAX_GRID_Z));
  const kPerSplit = Math.ceil(steps / wanted) * TILE_K;
  const splits = Math.max(1, Math.ceil(k / kPerSplit));
  return { kernel: `gemm_wg_${layout}_${tileN}_${operands.a}_${operands.b}`, tileN, tiles, splits, kPerSplit, sharedBytes: tile.sharedBytes };
}

/**
 * Whether the GEMM of this plan does the epilogue's layer norm itself (kernels/gemm_wg.cu LAYER NORM; the
 * rule of gemm-kernels.ts normInTile): unsplit, its tile spanning whole rows (n ≤ tileN), a kernel without
 * transA (tn's kernels have no norm). Otherwise wgGemm launches layerNormForward after the GEMM.
 */
export function wgNormInTile(plan: Pick<WgGemmPlan, 'splits' | 'tileN'>, n: number, layout: WgLayout): boolean {
  return plan.splits === 1 && plan.tileN >= n && layout !== 'tn';
}

/** How wgGemm launches (benchmarks and tests; the defaults are the production choice). */
export interface WgGemmLaunch {
  /** Floats at the head of `scratch` the split-K partials may use. @default scratch.size */
  readonly partialFloats?: number;
  /** The CTA tile's columns. @default wgDefaultTileN of the operands and layout */
  readonly tileN?: WgTileN;
}

/** Throws unless the tensor's address is 16-byte aligned (cp.async copies and f32 loads move 16-byte chunks; views are 256-byte aligned). */
function check16(t: CudaTensor, what: string): void {
  if (t.ptr % 16n !== 0n) throw new RangeError(`${what}: "${t.name}" is not 16-byte aligned`);
}

/**
 * out[m × n] = alpha · op(a)[m × k] · op(b)[k × n] + bias (+= with options.accumulate), ops.ts matmul's
 * contract for what the wgmma kernels take (wgGemmEligible; throws with the reason otherwise): a and b each
 * f32 or bf16, an f32 one rounded to bf16 (nearest even) as it is staged, so the result is gemm-kernels.ts
 * matmul's with 'bf16' math up to the order of the fp32 sums (nt: b stored [n × k]; nn: a [m × k],
 * b [k × n]; tn: a stored [k × m]), out f32 or bf16, bias f32 [n]. options.epilogue (ops.ts MatmulEpilogue,
 * checked as matmul checks it) runs in the GEMM's tile (unsplit) or in gemm_splitk_reduce (split) with
 * gemm.cu's code: the same bits as matmul's given the same values before it; its layer norm in the tile
 * where wgNormInTile says so, else by layerNormForward launched after the GEMM (the same bits either way).
 * scratch: f32, whose first `launch.partialFloats` elements a split product (tn with few output tiles)
 * overwrites with its partials; gemm-kernels.ts's matmul passes its GEMM scratch and the partials' capacity
 * (all but the tile counters at its tail, which this never touches).
 */
export function wgGemm(stream: Stream, out: Tensor, a: Tensor, b: Tensor, m: number, n: number, k: number, options: MatmulOptions,
  scratch: Tensor, launch: WgGemmLaunch = {}): void {
  checkCount('wgGemm.m', m);
  checkCount('wgGemm.n', n);
  checkCount('wgGemm.k', k);
  const o = deviceTensor(out, 'wgGemm.out', ['f32', 'bf16'], m * n);
  const da = deviceTensor(a, 'wgGemm.a', ['f32', 'bf16'], m * k);
  const db = deviceTensor(b, 'wgGemm.b', ['f32', 'bf16'], k * n);
  const s = deviceTensor(scratch, 'wgGemm.scratch', ['f32'], 0);
  const bias = options.bias === undefined ? null : deviceTensor(options.bias, 'wgGemm.bias', ['f32'], n);
  checkMatmulEpilogue(options, out);
  const epilogue = epilogueArgs(options.epilogue, m, n, 'wgGemm');
  const ln = options.epilogue?.layerNorm;
  const norm = ln === undefined ? null : normArgs(ln, m, n, 'wgGemm');
  const why = wgGemmIneligibility(m, n, k, options, { out: o.dtype, a: da.dtype, b: db.dtype }, wgmmaAvailable());
  if (why !== undefined) throw new RangeError(`wgGemm: not a product for the wgmma kernels: ${why}`);
  check16(da, 'wgGemm.a');
  check16(db, 'wgGemm.b');
  const accumulate = options.accumulate ?? false;
  const alpha = options.alpha ?? 1;
  // Nothing to write, or (k = 0 with accumulate and no bias) nothing to add.
  if (m === 0 || n === 0 || (k === 0 && accumulate && bias === null)) return;
  const partialFloats = launch.partialFloats ?? s.size;
  if (partialFloats > s.size) throw new RangeError(`wgGemm: partialFloats ${partialFloats} exceeds the scratch's ${s.size} floats`);
  const layout = layoutOf(options) as WgLayout;
  const plan = wgGemmPlanFor(m, n, k, layout, { a: da.dtype, b: db.dtype }, multiprocessors(), partialFloats, launch.tileN);
  if (plan.tiles >= 2 ** 31) throw new RangeError(`wgGemm: ${plan.tiles} output tiles exceed the grid's limit of 2^31 - 1`);
  const split = plan.splits > 1;
  // A norm with narrow copies runs as layer_norm_forward, which writes them (the tile's norm does not).
  const inTile = norm !== null && ln?.copies === undefined && wgNormInTile(plan, n, layout);
  // A split GEMM writes raw partials and no epilogue: the reduction adds the bias once and applies the
  // epilogue as it writes out (gemm-kernels.ts matmul's order), the norm following it.
  kernelOf(FAMILY, plan.kernel, SIGNATURES.gemm, plan.sharedBytes).launch(
    { grid: [plan.tiles, 1, plan.splits], block: THREADS, sharedBytes: plan.sharedBytes, stream },
    o, split ? s : NULL_PTR, da, db, m, n, k, plan.kPerSplit, bf16Flag(o), alpha, accumulate ? 1 : 0, bias ?? NULL_PTR, ...epilogue,
    ...(inTile ? norm : NO_NORM),
  );
  if (split) {
    const reduceBias: PointerArg = bias ?? NULL_PTR;
    kernelOf('gemm', 'gemm_splitk_reduce', SIGNATURES.splitkReduce).launch(
      { grid: Math.max(1, Math.min(Math.ceil((m * n) / 32), REDUCE_CTAS_PER_SM * multiprocessors())), block: 32 * REDUCE_WARPS, stream },
      o, s, m * n, plan.splits, bf16Flag(o), alpha, accumulate ? 1 : 0, reduceBias, n, ...epilogue,
    );
  }
  if (ln !== undefined && !inTile) layerNormForward(stream, ln.out, ln.mean, ln.rstd, out, ln.weight, ln.bias, m, n, ln.eps, ln.ids, ln.copies);
}
