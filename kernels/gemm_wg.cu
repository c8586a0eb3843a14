// @variants sm80 sm90a
// Hopper GEMM on wgmma for the linear layers: out[m × n] (= or +=) alpha · op(a)[m × k] · op(b)[k × n] (+ bias)
// with f32 or bf16 operands, an f32 one rounded to bf16 (nearest even, gemm.cu's pack_bf16) as it is staged:
// gemm.cu's 'bf16' math, the same bf16 values multiplied, only the order of the fp32 sums differs. The
// kernels exist in the sm_90a module only (the sm80 PTX of this family is empty); every other GPU, and
// every product these kernels do not take, runs kernels/gemm.cu.
//
// CONTRACT (kernels/gemm.cu's for what the two share: ops.ts matmul, CPU reference src/backend/cpu/gemm.ts)
//   a    nt, nn: [m × k] (lda = k)      tn: [k × m] (lda = m)        f32 or bf16 (the entry point's name)
//   b    nt: [n × k] (ldb = k)          nn, tn: [k × n] (ldb = n)    f32 or bf16 (the entry point's name)
//   out  [m × n] (ldc = n), f32 or bf16 (out_bf16), read at its dtype when accumulating.
//   bias [n] f32 or null, added to every row after alpha scales the product.
//   grid (⌈m/128⌉ · ⌈n/BN⌉, 1, S); blockIdx.z takes depth [z·k_per_split, min(k, (z+1)·k_per_split)),
//   k_per_split a multiple of 64.
//     partial == null (S = 1):  out = alpha · acc + bias[c] (+ out when accumulate), at out's dtype (bf16
//                               rounded to nearest even), in gemm.cu's order of float operations.
//     partial != null:          partial[z · m·n + r·n + c] = acc (f32, unscaled, no bias), OVERWRITES; out is
//                               untouched and gemm.cu's gemm_splitk_reduce (same layout) then writes
//                               out = alpha · Σ_z partial[z] + bias (+ out), adding the splits in a fixed order,
//                               with the EPILOGUE as it writes.
//   EPILOGUE (EPILOGUE_PARAMS after the bias; kernels/gemm.cu's contract, never with accumulate): padding rows
//        (out_ids), ReLU, dropout, the gate, the residual, by gemm_epilogue.cuh's code: given the same values
//        of alpha · acc + bias as stored, the same bits as gemm.cu (the same Philox element index r·n + c).
//        An unsplit tile of nt or nn without the norm in the tile applies it in registers as it stores (THE
//        EPILOGUE below); the others (the norm in the tile, tn, a gate with a residual, n not a multiple of 4
//        or a tensor not quad_aligned) store alpha · acc + bias, then epilogue_tile_pass, gemm.cu's own
//        post-pass, applies the rest to the tile as stored. Either way the same bits.
//   LAYER NORM (NORM_PARAMS, every kernel; ln_out != null only for nt and nn, unsplit, n ≤ BN: the tile spans
//        whole rows): after the epilogue, epilogue_tile_norm_pass, gemm.cu's: the bits of layer_norm_forward
//        over out as written. Elsewhere (n > BN, a split, tn) the launcher launches layer_norm_forward after
//        the GEMM, as gemm-kernels.ts matmul does.
//   No zero-row skipping (a_ids): every row is multiplied (ops.ts allows it).
// ACCUMULATES: out when accumulate = 1 (k = 0 then adds the bias only); OVERWRITES otherwise.
// Nothing is saved (a GEMM has no backward of its own). Deterministic: no atomics; each output element is
// summed by one thread in a fixed order of k.
//
// REQUIREMENTS (the launcher checks them): 16-byte aligned base pointers and leading dimensions that are
// multiples of 8 elements (whole 16-byte bf16 chunks, so a chunk of 8 columns is wholly in or out; an f32
// row is then 32-byte aligned): nt k; nn k and n; tn m and n (tn's k, the rows of both operands, is free).
// m, n ≥ 1, k ≥ 0 (k = 0 multiplies nothing: out = bias (+ out)). Rows past m, columns past n and depth
// past the split's end are zero-filled in shared memory (cp.async with a source size of 0; an f32 operand's
// masked loads give zeros), so they add nothing; stores are masked to r < m, c < n. Global offsets are
// 64-bit (m · k may exceed 2^31); m, n, k and the grid are int32.
//
// KERNELS  gemm_wg_{nt,nn,tn}_{128,256}_{bf16,f32}_{bf16,f32} (layout, BN, a's dtype, b's dtype; templated
//   rather than flagged, so that a bf16 operand's kernel holds no f32 staging registers: see REGISTERS):
//   CTA tile 128 × BN (BN = 128 or 256 columns), k steps of BK = 64.
//   256 threads = two warpgroups; warpgroup w multiplies rows [64w, 64w + 64) of the tile by all BN columns
//   with wgmma.m64nBNk16 (4 per k step), both operands read from shared memory through descriptors, fp32
//   accumulators in registers (BN/2 a thread). Every thread also copies: a k step's tile of a bf16 operand
//   goes to shared memory with cp.async, STAGES - 1 steps ahead of the one multiplied (the classic
//   multistage pipeline; one __syncthreads a step, wgmma waited within its step). An f32 operand's tile goes
//   through registers one step ahead (F32Stager): float4 loads of step + 1 issued before step's wgmma,
//   rounded to bf16 and stored (8-byte halves of the swizzled chunks, the same bits cp.async would have
//   copied from the rounded values) while it runs; its loads' latency overlaps one step of tensor-core work.
//   SHARED LAYOUT: a stage holds the a tile, then the b tile, each in the canonical 128-byte-swizzle layout
//   of wgmma (kernels/cce.cu's, panels 1024-byte aligned): an operand whose depth is contiguous in memory
//   (K-major: a of nt/nn, b of nt) as [rows × 64 depth] = one panel of 128-byte rows; one whose rows are
//   contiguous (MN-major: b of nn and tn, a of tn) as [64 depth × cols], cols/64 panels of [64 × 128 bytes],
//   8 KiB apart. MN-major operands use wgmma's transpose bits (imm-trans-a / imm-trans-b = 1): nothing is
//   transposed by hand. 16-byte chunks of a row are XOR-swizzled by (row mod 8).
//       BN    STAGES   shared bytes (STAGES · (128 + BN) · 64 · 2 + 1024 to align)   CTAs per SM
//       128   3        99,328                                                      2 (1 with an f32 operand)
//       256   4        197,632                                                     1
//   REGISTERS (ptxas -arch=sm_90a -v, nvcc 13.0; no spills, no stack anywhere), a · b dtypes, a kernel's count
//   with the post-pass it calls (CODE SIZE); in brackets the counts with the register epilogue unrolled (before
//   CODE SIZE's changes):
//                  bf16·bf16   f32·bf16    bf16·f32    f32·f32
//       nt 128    122 (124)   138 (211)   138 (211)   164 (211)
//       nt 256    168 (221)   203 (221)   232 (229)   254 (252)
//       nn 128    122 (124)   142 (215)   148 (215)   168 (215)
//       nn 256    176 (226)   206 (226)   254 (248)   254 (254)
//       tn 128    122 (105)   154 (140)   154 (140)   166 (168)
//       tn 256    181 (178)   230 (210)   255 (245)   251 (251)
//   BN = 128 with bf16 operands is bounded to 128 registers by its launch bounds (two CTAs of 256 threads an
//   SM); an f32 operand adds its tile's floats a thread (32 for a, BN/4 for b) to the 64 accumulators, which
//   would spill at 128, so those kernels ask for one CTA an SM. The global addresses of a k step are
//   recomputed each step (opaque) rather than held across the loop. The register epilogue (THE EPILOGUE) holds
//   a round's 8 chunks of the gate or the residual (32 floats a thread) and a few Philox groups once the
//   accumulators are in its slots. Where a count rose, the kernel runs one CTA an SM whatever it is (launch
//   bounds, or BN = 256's shared memory; the called post-pass's registers count in the kernel's): no
//   occupancy changed.
//   CODE SIZE: the driver compiles this PTX on a machine's first use of the module (ptxas: 17 s of one core on
//   the build machine for the whole file). 5.09 MB, 17 s (from 13.4 MB, 54 s with every per-fragment step
//   unrolled; the largest entry 475 KB, from 897): an entry point holds one unrolled copy of what must index
//   the accumulators (registers) and little more. The plain stores (store_tile_pairs: the hot path, every
//   model shape) are one unrolled loop of store_pair's paired branch, its tile-wide flags (out's dtype,
//   accumulate, the bias) tested at each pair as uniform branches, hidden from the compiler (opaque_flags),
//   which otherwise copied the whole unrolled loop for each combination of them; a split's partials one more
//   loop.
//   Where a fragment's work is long (THE EPILOGUE; the odd n of store_tile_elements), an unrolled loop writes
//   the fragment's 4 values to this thread's own slots in shared memory (16 bytes each, the pipeline's stages
//   being free once every warpgroup is past its last wgmma: one __syncthreads) and a loop not unrolled reads
//   them back and does the rest (THE EPILOGUE: 4 copies of its code in the model's bounded kernels, 2 in the
//   others, where every round's chunk had one). The post-passes (the norm in the tile, tn's
//   or an unaligned tensor's epilogue) are gemm_epilogue.cuh's __noinline__ copies (epilogue_tile,
//   epilogue_tile_norm: 4 functions in the file), called as gemm.cu calls them, but in nn and tn at BN = 256
//   with two f32 operands, whose 251-254 registers the call took to 16-40 bytes of stack and spills: they
//   inline them (WgInlinePostPass).
// EXPECTED (H200: 989 TFLOP/s dense bf16, 4.8 TB/s HBM, 132 SMs). The linear layers at d = 256 are bound by
// bytes, not flops: y = x·Wᵀ over N = 27,648 rows is 3.6 GFLOP (3.7 µs of tensor cores) against 14.2 MB of x
// read and 14.2 (bf16) or 28.3 (f32) MB of out written, 5.9-8.8 µs of HBM. One k step of a 128 × 128 CTA is
// 2.1 MFLOP (0.28 µs at an SM's 7.5 TFLOP/s) against 16 KiB of a from HBM: two CTAs per SM with two steps of
// copies in flight each (64 KiB of a per SM) cover ~1.5 µs of latency at 40 GB/s an SM, and one CTA's stores
// overlap the other's loads. Expect ~70% of HBM bandwidth plus a partial last wave (432 CTAs on 264 slots):
// 10-14 µs a call (260-360 TFLOP/s) against 54-76 µs for gemm.cu's mma.sync kernels. BN = 256 (one CTA
// per SM, no overlap of its stores with the next CTA's loads) is expected no faster; the launcher defaults
// to 128 and both are kept to be measured. The weight gradient (tn, 256 × 256 × 27,648) splits k 62 ways on
// 4 tiles (248 CTAs of 7 k steps): 28.3 MB of operands, 16 MB of partials written (mostly into the 50 MB L2)
// and read back by gemm_splitk_reduce: ~8-10 µs plus the reduction's ~9 µs, against ~52 + 9 µs today.
// Measured (call 45, single launches, bf16 operands): nt 55 / 43 µs, nn 38 / 43, tn 40 / 44 (BN = 128 / 256),
// far from the bytes' bound: the figures carry the host's launch cost.
// f32 OPERANDS double the bytes of each: x (or ln's out) and dy are 28.3 MB instead of 14.2; W (256 KiB) stays
// in L2. Register staging keeps one step of loads in flight per CTA (32 KiB of a, f32) instead of two steps
// of cp.async, and an f32 kernel runs one CTA an SM: the launcher defaults to BN = 256 for them (one a tile
// read for 256 columns). Expected in a graph: nt (28.3 MB of x in, 14.2 or 28.3 MB out) 15-20 µs; nn
// (28.3 MB of dy, out f32 += read and written, 56.6 MB) 20-25 µs; tn (56.6 MB of dy and x; 2 tiles × 62
// splits, 124 CTAs of 7 steps) 15-20 µs plus the reduction's ~9: all still below gemm.cu's mma.sync kernels
// with the same f32 operands (54-76, ~64, 52 + 9 µs in the recorded ML-20M step, call 44).
// THE EPILOGUE in registers (store_tile_epilogue; nt and nn, an unsplit tile, no norm in the tile). It
// replaces a post-pass that, after a __syncthreads, read the CTA's stored tile back and wrote it again (an
// extra write and read of the tile a CTA, not overlapped): on an H200 inside the ML-20M step (27,648 × 256 ×
// 256, gemm_wg_nt_128_bf16_bf16, 432 CTAs; ncu) the plain product took ~30 µs and the epilogue calls 49-58:
// attn_out (f32 out, f32 residual, padding) 54, ffn1 (bf16 out, ReLU, dropout, padding) 49-50, ffn2 (f32
// out, dropout, f32 residual, padding) 58. Now each value is first what store_pair would store: alpha · acc
// + bias by the same float operations in the same order (wg_value: __fmul_rn then __fadd_rn, which ptxas
// may not fuse, on every store path of this file; store_pair's SASS has no FFMA either), rounded to bf16 and
// back for a bf16 out (the value the post-pass read back). Lanes 2i and 2i + 1 hold the same 4 columns of rows g and g + 8, two
// pairs each; swapping one pair (two shuffles) leaves the even lane with row g's 4 columns and the odd lane
// with row g + 8's: a chunk at element index idx = r·n + c, a multiple of 4 (n is), exactly one Philox group,
// on which the post-pass's own steps run (epilogue_rest_quad: a padding row's 0, ReLU, dropout by word
// (idx + q) & 3 of group idx >> 2, the gate, the residual; store_quad): the post-pass's bits. The residual's add
// is __fadd_rn there: PTX lets ptxas fuse alpha's unrounded multiply into a plain add that uses it directly (no
// bias, nothing between), which it did on a probe (one FFMA), and which the post-pass, adding to the value read
// back, never did. A thread's chunks are all in one row: the padding id is read once, and a padding row reads
// no gate or residual. The chunks wait in this thread's slots in shared memory (CODE SIZE); the gate or
// residual (one of them: a case with both keeps the post-pass) is read in rounds of 8 chunks (32 floats a
// thread; 2 rounds at BN = 128, where the bounded kernels took 4 of 4 before the slots), each round's loads
// issued together and parked in slots of their own, then its chunks' epilogue and stores, 4 at a time in the
// bounded kernels (their Philox chains interleaved, as in the rounds before), 2 in the others. Its part of
// the tile is prefetched to L2 before the main loop (prefetch.L2, 1-4 lines of 128 bytes a thread), so that
// the rounds, which wait one after the other, find it there.
// EXPECTED at the ML-20M shape above: no write, barrier and read back of the tile; ffn1 adds to the product 16
// Philox groups a thread (~45 instructions each) and 64 dropouts in double (two conversions and a DMUL each),
// ~2.5-4 µs of issue over the grid, much of it beside the other CTA's copies and wgmma: ~31-34 µs. attn_out
// reads 28.3 MB of f32 residual and writes a 28.3 MB f32 out beside x's 14.2 MB (70.8 MB, against 28.4 for
// the plain product with a bf16 out; ~20 µs of HBM, under the product's ~30 µs of latency): ~33-37 µs. ffn2,
// the same bytes and ffn1's Philox: ~35-39 µs. Against 49-58 µs with the post-pass (scripts/bench-gemm-wg.ts,
// the model's rows, and ncu in the step, to be measured).

#include <cuda_bf16.h>
#include <stdint.h>

#include "gemm_epilogue.cuh"

#define WG_BM 128
#define WG_BK 64
#define WG_THREADS 256

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

// ---------------------------------------------------------------------------------------------------
// PTX helpers (kernels/cce.cu's)

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global → shared; src_bytes = 0 writes 16 zero bytes and reads nothing.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int PENDING>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING) : "memory"); }

// Makes this thread's completed shared-memory writes (cp.async) visible to the async proxy, through which
// wgmma reads its operands.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

#include "wgmma.cuh"

// d[64 × 128] += A (smem descriptor) · B (smem descriptor); TA / TB: the operand is MN-major (transposed).
template <int TA, int TB>
__device__ __forceinline__ void wgmma_n128(float (&d)[16][4], uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, %66, %67;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]), "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]), "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]), "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]), "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]), "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
      : "l"(desc_a), "l"(desc_b), "n"(TA), "n"(TB));
}

// d[64 × 256] += A (smem descriptor) · B (smem descriptor); TA / TB: the operand is MN-major (transposed).
template <int TA, int TB>
__device__ __forceinline__ void wgmma_n256(float (&d)[32][4], uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1, %130, %131;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]), "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]), "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]), "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]), "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]), "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3]), "+f"(d[16][0]), "+f"(d[16][1]), "+f"(d[16][2]), "+f"(d[16][3]), "+f"(d[17][0]), "+f"(d[17][1]), "+f"(d[17][2]), "+f"(d[17][3]), "+f"(d[18][0]), "+f"(d[18][1]), "+f"(d[18][2]), "+f"(d[18][3]), "+f"(d[19][0]), "+f"(d[19][1]), "+f"(d[19][2]), "+f"(d[19][3]), "+f"(d[20][0]), "+f"(d[20][1]), "+f"(d[20][2]), "+f"(d[20][3]), "+f"(d[21][0]), "+f"(d[21][1]), "+f"(d[21][2]), "+f"(d[21][3]), "+f"(d[22][0]), "+f"(d[22][1]), "+f"(d[22][2]), "+f"(d[22][3]), "+f"(d[23][0]), "+f"(d[23][1]), "+f"(d[23][2]), "+f"(d[23][3]), "+f"(d[24][0]), "+f"(d[24][1]), "+f"(d[24][2]), "+f"(d[24][3]), "+f"(d[25][0]), "+f"(d[25][1]), "+f"(d[25][2]), "+f"(d[25][3]), "+f"(d[26][0]), "+f"(d[26][1]), "+f"(d[26][2]), "+f"(d[26][3]), "+f"(d[27][0]), "+f"(d[27][1]), "+f"(d[27][2]), "+f"(d[27][3]), "+f"(d[28][0]), "+f"(d[28][1]), "+f"(d[28][2]), "+f"(d[28][3]), "+f"(d[29][0]), "+f"(d[29][1]), "+f"(d[29][2]), "+f"(d[29][3]), "+f"(d[30][0]), "+f"(d[30][1]), "+f"(d[30][2]), "+f"(d[30][3]), "+f"(d[31][0]), "+f"(d[31][1]), "+f"(d[31][2]), "+f"(d[31][3])
      : "l"(desc_a), "l"(desc_b), "n"(TA), "n"(TB));
}

template <int BN, int TA, int TB>
__device__ __forceinline__ void wgmma_tile(float (&d)[BN / 8][4], uint64_t desc_a, uint64_t desc_b) {
  if constexpr (BN == 256) wgmma_n256<TA, TB>(d, desc_a, desc_b);
  else wgmma_n128<TA, TB>(d, desc_a, desc_b);
}

// ---------------------------------------------------------------------------------------------------
// Shared-memory tiles

// x, hidden from the compiler's loop-invariant code motion: the global addresses a k step derives from a
// leading dimension are recomputed at each step (a few integer multiply-adds) instead of being held in
// registers across the main loop, where the accumulators and the f32 staging need them.
__device__ __forceinline__ long long opaque(long long x) {
  asm volatile("" : "+l"(x));
  return x;
}

// Element offset of 16-byte chunk `chunk` of row `row` in a tile of ROWS rows × WIDTH bf16 (WIDTH a
// multiple of 64): WIDTH/64 panels of ROWS rows × 128 bytes, the chunks of a row XOR-swizzled by row mod 8.
template <int WIDTH, int ROWS>
__device__ __forceinline__ int swz(int row, int chunk) {
  static_assert(WIDTH % 64 == 0, "whole 128-byte panels");
  return ((chunk >> 3) * ROWS + row) * 64 + (((chunk & 7) ^ (row & 7)) << 3);
}

// Copies rows [row0, row0 + ROWS) × columns [col0, col0 + WIDTH) of a row-major bf16 matrix (ld elements a
// row) into the swizzled tile at shared address `tile` with cp.async (the caller commits and waits); rows at
// or past row_end and chunks at or past col_end become zeros. A chunk is 8 columns: col_end - col0 is a
// multiple of 8 or at least WIDTH (the launcher's alignment rule), so a chunk is wholly in or out. Thread t
// copies chunk t mod (WIDTH/8) of every (256·8/WIDTH)-th row, so a warp reads whole 128-byte lines.
template <int WIDTH, int ROWS>
__device__ __forceinline__ void load_tile(uint32_t tile, const bf16* src, long long ld, int row0, int row_end, int col0, int col_end) {
  constexpr int CPR = WIDTH / 8;          // chunks per row
  constexpr int STEP = WG_THREADS / CPR;  // rows between a thread's chunks
  static_assert(WG_THREADS % CPR == 0 && ROWS % STEP == 0, "tile shape");
  const int c = threadIdx.x % CPR;
  const int r0 = threadIdx.x / CPR;
  const bool col_ok = col0 + c * 8 < col_end;
  const bf16* g = src + static_cast<long long>(row0 + r0) * ld + col0 + c * 8;
#pragma unroll
  for (int i = 0; i < ROWS / STEP; ++i) {
    const int r = r0 + i * STEP;
    const bool ok = col_ok && row0 + r < row_end;
    cp_async16(tile + 2 * swz<WIDTH, ROWS>(r, c), ok ? g + static_cast<long long>(i) * STEP * ld : src, ok ? 16 : 0);
  }
}

// An f32 operand's tile staged through registers: the same rows × columns as load_tile, read as float4
// (16-byte loads; a warp reads whole rows of 256 or 512 bytes), rounded to bf16 (gemm_epilogue.cuh's
// pack_bf16, gemm.cu's: an f32 operand enters the product as the same bf16 values on both families) and written as 8-byte halves
// of the swizzled chunks, so the shared tile is bit for bit what load_tile would copy from the bf16 values.
// `load` issues the loads (their registers stay live until `store`); `store` converts and writes: the product
// puts the next step's wgmma between the two, so the loads' latency overlaps the tensor cores' work.
// Rows at or past row_end and units at or past col_end become zeros; a unit is 4 columns, wholly in or out
// (col_end - col0 is a multiple of 8 or at least WIDTH, the launcher's alignment rule).
template <int WIDTH, int ROWS>
struct F32Stager {
  static constexpr int UPR = WIDTH / 4;          // float4 units per row
  static constexpr int STEP = WG_THREADS / UPR;  // rows between a thread's units
  static constexpr int UNITS = ROWS / STEP;      // units (4 registers each) per thread
  static_assert(WG_THREADS % UPR == 0 && ROWS % STEP == 0, "tile shape");
  float4 v[UNITS];

  __device__ __forceinline__ void load(const float* src, long long ld, int row0, int row_end, int col0, int col_end) {
    const int u = threadIdx.x % UPR;
    const int r0 = threadIdx.x / UPR;
    const bool col_ok = col0 + u * 4 < col_end;
    const float* g = src + static_cast<long long>(row0 + r0) * ld + col0 + u * 4;
#pragma unroll
    for (int i = 0; i < UNITS; ++i) {
      const bool ok = col_ok && row0 + r0 + i * STEP < row_end;
      v[i] = ok ? __ldg(reinterpret_cast<const float4*>(g + static_cast<long long>(i) * STEP * ld)) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  }

  __device__ __forceinline__ void store(uint32_t tile) const {
    const int u = threadIdx.x % UPR;
    const int r0 = threadIdx.x / UPR;
#pragma unroll
    for (int i = 0; i < UNITS; ++i) {
      const uint32_t dst = tile + 2 * (swz<WIDTH, ROWS>(r0 + i * STEP, u >> 1) + (u & 1) * 4);
      asm volatile("st.shared.v2.b32 [%0], {%1, %2};\n" ::"r"(dst), "r"(pack_bf16(v[i].x, v[i].y)), "r"(pack_bf16(v[i].z, v[i].w)) : "memory");
    }
  }
};

// Tile shape of a BN: pipeline stages, CTAs per SM with bf16 operands (an f32 operand's kernels ask for one:
// header REGISTERS), bytes (gemm-wg-kernels.ts mirrors SHARED_BYTES and the CTAs per SM).
template <int BN>
struct WgTile {
  static constexpr int STAGES = BN == 256 ? 4 : 3;
  static constexpr int MIN_BLOCKS = BN == 256 ? 1 : 2;
  static constexpr int A_BYTES = WG_BM * WG_BK * 2;
  static constexpr int B_BYTES = BN * WG_BK * 2;
  static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
  static constexpr int SHARED_BYTES = STAGES * STAGE_BYTES + 1024;
  static_assert(A_BYTES % 1024 == 0 && B_BYTES % 1024 == 0, "panels 1024-byte aligned");
};

// The CTA's output tile's first row (x) and column (y). Consecutive CTAs take the column tiles of one row
// tile: they share its a tile in L2.
template <int BN>
__device__ __forceinline__ int2 tile_origin(int n) {
  const int tiles_n = (n + BN - 1) / BN;
  const int tm = blockIdx.x / tiles_n;
  return make_int2(tm * WG_BM, (blockIdx.x - tm * tiles_n) * BN);
}

// ---------------------------------------------------------------------------------------------------
// The product. TA: a is stored [k × m] (MN-major in shared memory); TB: b is stored [n × k] (K-major).
// AF / BF: a / b is f32 (staged through registers, F32Stager), else bf16 (cp.async, load_tile). The
// accumulators come out of it in acc (their layout: gemm_wg_epilogue's section).

template <int BN, bool TA, bool TB, bool AF, bool BF>
__device__ __forceinline__ void gemm_wg_product(float (&acc)[BN / 8][4], const void* __restrict__ a, const void* __restrict__ b, int m,
                                                int n, int k, int k_per_split) {
  using T = WgTile<BN>;
  constexpr int STAGES = T::STAGES;
  // Each operand's tile as stored in memory: WIDTH columns (contiguous) × ROWS rows (header: SHARED LAYOUT).
  constexpr int A_WIDTH = TA ? WG_BM : WG_BK, A_ROWS = TA ? WG_BK : WG_BM;  // tn: [64 depth × 128 of m]; else [128 of m × 64 depth]
  constexpr int B_WIDTH = TB ? WG_BK : BN, B_ROWS = TB ? BN : WG_BK;        // nt: [BN of n × 64 depth]; else [64 depth × BN of n]
  extern __shared__ unsigned char wg_smem_raw[];
  // The 1024-byte aligned start of dynamic shared memory (the swizzle atom; the launcher adds 1 KiB).
  const uint32_t smem = (smem_u32(wg_smem_raw) + 1023u) & ~1023u;

  const int2 origin = tile_origin<BN>(n);
  const int m0 = origin.x, n0 = origin.y;
  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(k, k_begin + k_per_split);
  const int steps = k_end > k_begin ? (k_end - k_begin + WG_BK - 1) / WG_BK : 0;
  const int wg = threadIdx.x >> 7;
  const long long lda_ = TA ? m : k, ldb_ = TB ? k : n;

  // Stage s's tiles; k step `step`'s depth begins at k0 (step).
  auto a_tile = [&](int s) { return smem + s * T::STAGE_BYTES; };
  auto b_tile = [&](int s) { return smem + s * T::STAGE_BYTES + T::A_BYTES; };
  auto k0_of = [&](int step) { return k_begin + step * WG_BK; };

  // The bf16 operands' tiles of k step `step` into stage s, by cp.async (the caller commits).
  auto copy_stage = [&](int s, int step) {
    const int k0 = k0_of(step);
    const long long lda = opaque(lda_), ldb = opaque(ldb_);
    if constexpr (!AF) {
      const bf16* p = static_cast<const bf16*>(a);
      if constexpr (TA) load_tile<A_WIDTH, A_ROWS>(a_tile(s), p, lda, k0, k_end, m0, m);
      else load_tile<A_WIDTH, A_ROWS>(a_tile(s), p, lda, m0, m, k0, k_end);
    }
    if constexpr (!BF) {
      const bf16* p = static_cast<const bf16*>(b);
      if constexpr (TB) load_tile<B_WIDTH, B_ROWS>(b_tile(s), p, ldb, n0, n, k0, k_end);
      else load_tile<B_WIDTH, B_ROWS>(b_tile(s), p, ldb, k0, k_end, n0, n);
    }
  };
  // The f32 operands' tiles of k step `step` into registers (stage_f32 writes them). An unused stager (a
  // bf16 operand's) is never touched, so it takes no registers.
  F32Stager<A_WIDTH, A_ROWS> fa;
  F32Stager<B_WIDTH, B_ROWS> fb;
  auto fetch_f32 = [&](int step) {
    const int k0 = k0_of(step);
    const long long lda = opaque(lda_), ldb = opaque(ldb_);
    if constexpr (AF) {
      const float* p = static_cast<const float*>(a);
      if constexpr (TA) fa.load(p, lda, k0, k_end, m0, m);
      else fa.load(p, lda, m0, m, k0, k_end);
    }
    if constexpr (BF) {
      const float* p = static_cast<const float*>(b);
      if constexpr (TB) fb.load(p, ldb, n0, n, k0, k_end);
      else fb.load(p, ldb, k0, k_end, n0, n);
    }
  };
  auto stage_f32 = [&](int s) {
    if constexpr (AF) fa.store(a_tile(s));
    if constexpr (BF) fb.store(b_tile(s));
  };

#pragma unroll
  for (int j = 0; j < BN / 8; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

  // Prologue: the f32 tiles of step 0 (their loads in flight beside the first copies), and the bf16 tiles of
  // steps 0 .. STAGES - 2 in flight, one commit group each (empty past the last step, so that the group
  // count, and with it the wait below, is the same for every step).
  if constexpr (AF || BF) {
    if (steps > 0) fetch_f32(0);
  }
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < steps) copy_stage(s, s);
    cp_async_commit();
  }
  if constexpr (AF || BF) {
    if (steps > 0) stage_f32(0);
  }
  for (int step = 0; step < steps; ++step) {
    // Groups 0 .. step are complete (STAGES - 2 younger ones may be pending): step's bf16 tiles are written;
    // its f32 tiles were stored by this CTA's threads in the previous step (or the prologue). Each thread's
    // fence makes its own writes, of both kinds, visible to wgmma (the async proxy); the barrier, everyone's.
    cp_async_wait<STAGES - 2>();
    fence_proxy_async();
    __syncthreads();
    // The stage of step - 1 is free: both warpgroups waited for its wgmma before the barrier.
    const int next = step + STAGES - 1;
    if (next < steps) copy_stage(next % STAGES, next);
    cp_async_commit();
    // The f32 tiles of step + 1: loads issued now, stored after this step's wgmma is issued (into stage
    // (step + 1) mod STAGES, which neither this step's wgmma nor the copies above touch: STAGES ≥ 3).
    const bool f32_next = (AF || BF) && step + 1 < steps;
    if constexpr (AF || BF) {
      if (f32_next) fetch_f32(step + 1);
    }

    const uint32_t sa = a_tile(step % STAGES), sb = b_tile(step % STAGES);
    // This warpgroup's 64 rows of m: rows 64·wg of a K-major tile, panel wg of an MN-major one (8 KiB both).
    const uint32_t a0 = sa + wg * 8192;
    fence_acc(acc);
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < WG_BK / 16; ++kk) {
      // K-major: 16 depth = 32 bytes along the 128-byte row, 8-row groups 1024 bytes apart (the leading
      // offset unused). MN-major: 16 depth = 16 rows of 128 bytes; 64-column panels 8 KiB apart (leading),
      // 8-row groups 1024 bytes apart (stride).
      const uint64_t da = TA ? wg_desc(a0 + kk * 2048, 8192, 1024) : wg_desc(a0 + kk * 32, 16, 1024);
      const uint64_t db = TB ? wg_desc(sb + kk * 32, 16, 1024) : wg_desc(sb + kk * 2048, 8192, 1024);
      wgmma_tile<BN, TA ? 1 : 0, TB ? 0 : 1>(acc, da, db);
    }
    wg_commit();
    // While the tensor cores multiply: wait for the f32 loads, round them to bf16 and store them.
    if constexpr (AF || BF) {
      if (f32_next) stage_f32((step + 1) % STAGES);
    }
    wg_wait_all();
    fence_acc(acc);
  }
  // Retire the (empty) groups still counted, so that no copy is pending when the CTA exits.
  cp_async_wait<0>();
}

// ---------------------------------------------------------------------------------------------------
// The stores and the epilogue. Accumulator layout of wgmma m64nBN (per warp that of mma.sync m16n8): warp q
// of the warpgroup holds rows 16q .. 16q + 15; acc[j] holds (row g, cols 8j + 2t, +1) and (row g + 8, same
// cols), g = lane / 4, t = lane % 4.

// The tile's results pass through shared memory wherever a thread's per-fragment work would otherwise be
// unrolled over its BN/8 accumulator fragments (the epilogue in registers, and the rare stores of odd n or
// an unaligned out): an unrolled loop, which alone may index the accumulators (registers), writes each
// fragment's 4 values as one 16-byte slot of this thread's own; a loop that is not unrolled then reads them
// back and does the rest once in code (header: CODE SIZE). The slots, fragment j of thread t at
// 16 · (j · 256 + t) bytes (a warp's 512 consecutive bytes: no bank conflict), take BN · 512 bytes of the
// pipeline's stages, 64 or 128 KiB of 96 or 192; a thread reads only its own, so that only the first write
// waits, for the other warpgroup's last wgmma, which may still read its operands there (wg_slots_acquire).
static_assert(WgTile<128>::SHARED_BYTES - 1024 >= 128 * 512 && WgTile<256>::SHARED_BYTES - 1024 >= 256 * 512, "slots fit the stages");

// This thread's slot of fragment j (16 bytes, as float4), in the 1024-byte aligned dynamic shared memory.
__device__ __forceinline__ float4* wg_slot(int j) {
  extern __shared__ unsigned char wg_smem_raw[];
  float4* base = reinterpret_cast<float4*>(wg_smem_raw + ((1024u - (smem_u32(wg_smem_raw) & 1023u)) & 1023u));
  return base + j * WG_THREADS + threadIdx.x;
}

// Before the first write of a slot: every thread of the CTA is past its last wgmma (the stages are free).
__device__ __forceinline__ void wg_slots_acquire() { __syncthreads(); }

// What store_pair computes from an accumulator before any read of out: alpha · acc, then + bias[c] (bias
// non-null, c < n), each rounded on its own (__fmul_rn, __fadd_rn: ptxas may fuse neither, so every path of
// this file gives the same bits, the register epilogue's as the plain store's).
__device__ __forceinline__ float wg_value(float acc, float alpha, const float* bias, int c) {
  const float v = __fmul_rn(acc, alpha);
  return bias != nullptr ? __fadd_rn(v, bias[c]) : v;
}

// x, hidden from the compiler where it is used (as opaque): a test of a tile-wide flag stays a branch where
// it is written, in each copy of an unrolled loop, instead of being hoisted out with a copy of the whole loop
// for each value (code size; the branch is uniform and cheap).
__device__ __forceinline__ int opaque_flags(int x) {
  asm volatile("" : "+r"(x));
  return x;
}
__device__ __forceinline__ void opaque_flags(int& x, int& y, int& z) { asm volatile("" : "+r"(x), "+r"(y), "+r"(z)); }

// The unsplit tile's results with the whole epilogue applied in registers (header: THE EPILOGUE), for an
// epilogue without accumulate and without the layer norm in the tile, where epilogue_quads holds. Each value
// is first what store_pair would store, alpha · acc + bias by the same float operations in the same order
// (__fmul_rn, __fadd_rn, as wg_value), then for a bf16 out rounded by store_pair's pair conversion and read
// back as the post-pass reads it (as_stored's value). Lanes 2i and 2i + 1 hold columns 8j + 4i' .. + 3 (i' = i mod 2) of rows g and g + 8 as two pairs
// each; one exchange of a pair (two shuffles) leaves the even lane with row g's 4 columns and the odd lane
// with row g + 8's: a chunk of 4 columns at element index idx = r·n + c, a multiple of 4, as
// epilogue_tile_pass's chunks. Those chunks go to this thread's slots (the unrolled part); then, in rounds of
// QUADS chunks (columns 8j, j0 ≤ j < j0 + QUADS; a loop not unrolled), the round's gate or residual loads
// first (parked in QUADS slots after the tile's), then each chunk read back from its slot, ILP a pass of a
// loop, takes epilogue_tile_pass's own steps (epilogue_rest_quad:
// the padding row's 0, ReLU, the dropout by Philox group idx >> 2, the gate, the residual; store_quad), so
// the bits are the post-pass's. The row's id is read once (a thread's chunks are all in one row), and a
// padding row reads neither gate nor residual (its results are 0 whatever they hold).
template <int BN, int QUADS, int ILP>
__device__ __forceinline__ void store_tile_epilogue(float (&acc)[BN / 8][4], void* out, int out_bf16, const Epilogue& ep, int r, int c, int m,
                                                    int n, float alpha) {
  static_assert((BN / 8) % QUADS == 0, "whole rounds");
  static_assert((BN / 8 + QUADS) * WG_THREADS * 16 <= WgTile<BN>::SHARED_BYTES - 1024, "the slots and a round's aux slots fit the stages");
  const bool odd = (threadIdx.x & 1) != 0;
  wg_slots_acquire();
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) {
    // store_pair's value of (r, cj), (r, cj + 1) and (r + 8, the same columns), then as stored. out_bf16 is
    // hidden at each fragment (opaque_flags): one copy of this loop, not one per dtype; both values of
    // as_stored computed and one selected (no branch).
    const int bf16_out = opaque_flags(out_bf16);
    const int cj = c + 8 * j;
    const bool has_bias = ep.bias != nullptr && cj < n;
    float b[2] = {0.f, 0.f};
    if (has_bias) {
      b[0] = ep.bias[cj];
      b[1] = ep.bias[cj + 1];
    }
    float v[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const float x = __fmul_rn(acc[j][q], alpha);
      v[q] = has_bias ? __fadd_rn(x, b[q & 1]) : x;
    }
    // A bf16 out's values as stored: each pair rounded by store_pair's conversion (pack_bf16), read back as
    // the post-pass reads them (load_quad: a bf16's bits << 16).
    const uint32_t w[2] = {pack_bf16(v[0], v[1]), pack_bf16(v[2], v[3])};
    float p[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const uint32_t bits = w[q >> 1];
      p[q] = bf16_out ? __uint_as_float((q & 1) ? bits & 0xffff0000u : bits << 16) : v[q];
    }
    // Every lane shuffles (the masked ones too): the even lane sends its row g + 8 pair, the odd its row g pair.
    const float y0 = __shfl_xor_sync(0xffffffffu, odd ? p[0] : p[2], 1);
    const float y1 = __shfl_xor_sync(0xffffffffu, odd ? p[1] : p[3], 1);
    *wg_slot(j) = odd ? make_float4(y0, y1, p[2], p[3]) : make_float4(p[0], p[1], y0, y1);
  }
  // After the exchange: row rq, columns cq + 8j .. cq + 8j + 3 (n is a multiple of 4 and so is cq: a chunk is
  // wholly inside the row or wholly past n).
  const int rq = odd ? r + 8 : r;
  const int cq = odd ? c - 2 : c;
  const bool row_live = rq < m;
  const int id = ep.ids != nullptr && row_live ? ep.ids[rq] : 1;
  const long long row = static_cast<long long>(rq) * n;
  // The one tensor read beside out: the gate or the residual (never both: gemm_wg_epilogue's rule), or none.
  const void* aux = ep.gate != nullptr ? ep.gate : ep.residual;
  const int aux_bf16 = ep.gate != nullptr ? ep.gate_bf16 : ep.residual_bf16;
#pragma unroll 1
  for (int j0 = 0; j0 < BN / 8; j0 += QUADS) {
    // The round's loads, all issued before any is used, then parked in the round's aux slots.
    float x[QUADS][4];
#pragma unroll
    for (int i = 0; i < QUADS; ++i) {
      const int col = cq + 8 * (j0 + i);
#pragma unroll
      for (int q = 0; q < 4; ++q) x[i][q] = 0.f;
      if (aux != nullptr && row_live && col < n && id != 0) load_quad(x[i], aux, aux_bf16, row + col);
    }
#pragma unroll
    for (int i = 0; i < QUADS; ++i) *wg_slot(BN / 8 + i) = make_float4(x[i][0], x[i][1], x[i][2], x[i][3]);
    // ILP chunks a pass of the loop: their Philox chains interleave (each is serial).
#pragma unroll ILP
    for (int i = 0; i < QUADS; ++i) {
      const int col = cq + 8 * (j0 + i);
      if (row_live && col < n) {
        const float4 s = *wg_slot(j0 + i);
        const float4 t = *wg_slot(BN / 8 + i);
        float v[4] = {s.x, s.y, s.z, s.w};
        const float g[4] = {t.x, t.y, t.z, t.w};
        // g is the gate's or the residual's chunk; epilogue_rest_quad reads only the one that is present.
        epilogue_rest_quad<true>(ep, row + col, id, g, g, v);
        store_quad(out, out_bf16, row + col, v);
      }
    }
  }
}

// Whether gemm_wg_epilogue applies the epilogue in registers (store_tile_epilogue): a kernel that has that
// path (REGISTERS: nt and nn; the weight gradients, tn, never take an epilogue in the model, and the unrolled
// path would add its code, ~6,600 PTX lines at BN = 128 and ~13,000 at 256, to each of their eight kernels for
// nothing: they keep the post-pass), an unsplit tile with an epilogue, no accumulate (the launcher's rule; an
// epilogue never comes with it), no layer norm in the tile (it needs the whole rows: the post-pass keeps it),
// not both the gate and the residual (a round loads one of them; no caller passes both), and chunks of 4
// columns (epilogue_quads: every model shape).
template <bool NORM, bool REGISTERS>
__device__ __forceinline__ bool epilogue_in_registers(const void* out, int out_bf16, const float* partial, int accumulate, int n, const Epilogue& ep,
                                                      const EpilogueNorm& ln) {
  return REGISTERS && partial == nullptr && accumulate == 0 && !(NORM && ln.out != nullptr) && epilogue_extra(ep) &&
         !(ep.gate != nullptr && ep.residual != nullptr) && epilogue_quads(out, out_bf16, ep, n);
}

// Before the main loop, where the epilogue goes in registers with a gate or a residual: the tile's part of it
// (rows m0 .. m0 + 127 below m, columns n0 .. n0 + BN - 1 below n) into L2 (prefetch.L2 of generic addresses
// inside those rows, one a line of 128 bytes, 1 to 4 a thread), so that store_tile_epilogue's rounds of loads,
// which wait one after the other, find it there while the product runs. A hint: nothing waits for it, and no
// result depends on it.
template <int BN, bool NORM, bool REGISTERS>
__device__ __forceinline__ void prefetch_epilogue_tile(const void* out, int out_bf16, const float* partial, int accumulate, int m, int n,
                                                       const Epilogue& ep, const EpilogueNorm& ln) {
  const void* aux = ep.gate != nullptr ? ep.gate : ep.residual;
  if (aux == nullptr || !epilogue_in_registers<NORM, REGISTERS>(out, out_bf16, partial, accumulate, n, ep, ln)) return;
  const int size = (ep.gate != nullptr ? ep.gate_bf16 : ep.residual_bf16) ? 2 : 4;
  const int2 o = tile_origin<BN>(n);
  const int rows = min(WG_BM, m - o.x);
  const int lines = (min(BN, n - o.y) * size + 127) / 128;  // of a row's part
#pragma unroll 1
  for (int e = threadIdx.x; e < rows * lines; e += WG_THREADS) {
    const int lr = e / lines;
    const char* p = static_cast<const char*>(aux) + (static_cast<long long>(o.x + lr) * n + o.y) * size + 128 * (e - lr * lines);
    asm volatile("prefetch.L2 [%0];\n" ::"l"(p));
  }
}

// Whether store_tile_pairs can write the tile (header: CODE SIZE): n even, so that every pair of columns
// (c, c + 1) a thread holds (c even) is wholly inside the row or wholly past n, and the destination (a
// split's partials, f32; else out) aligned for one 8-byte (f32) or 4-byte (bf16) access a pair: store_pair's
// paired branch at every pair. Every model shape.
__device__ __forceinline__ bool pairs_aligned(const void* out, int out_bf16, const float* partial, int n) {
  const uintptr_t p = partial != nullptr ? reinterpret_cast<uintptr_t>(partial) : reinterpret_cast<uintptr_t>(out);
  return (n & 1) == 0 && (p & (partial == nullptr && out_bf16 ? 3u : 7u)) == 0;
}

// The tile's results where pairs_aligned holds (the hot path: every product of the model): store_pair's
// paired branch, unrolled over the fragments, its checks (a split, the alignment) made once for the tile:
// a split's raw sums to its partials (f32, unscaled), else wg_value (+ out at its dtype when accumulating)
// to out at its dtype, a bf16 pair rounded to nearest even by one conversion. Rows r and r + 8, columns
// c + 8j and the next (acc[j]'s layout: gemm_wg_epilogue's section): a row's pairs are at fixed offsets
// from its first.
template <int BN>
__device__ __forceinline__ void store_tile_pairs(const float (&acc)[BN / 8][4], void* out, int out_bf16, float* partial, const float* bias, int r,
                                                 int c, int m, int n, float alpha, int accumulate) {
  const bool live[2] = {r < m, r + 8 < m};
  const long long first[2] = {static_cast<long long>(r) * n + c, static_cast<long long>(r + 8) * n + c};
  if (partial != nullptr) {
    float* p = partial + static_cast<long long>(blockIdx.z) * m * n;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (live[h] && c + 8 * j < n) *reinterpret_cast<float2*>(p + first[h] + 8 * j) = make_float2(acc[j][2 * h], acc[j][2 * h + 1]);
      }
    }
    return;
  }
  // The tile's flags, hidden from the compiler at each pair (opaque_flags, as ints: the bias pointer keeps its
  // global loads): tested there, uniform branches as store_pair's, rather than hoisted, which copied the
  // whole unrolled loop for each of their combinations. A bf16 out's old pair is read as its bits (exact).
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      int is_bf16 = out_bf16, add_old = accumulate, add_bias = bias != nullptr;
      opaque_flags(is_bf16, add_old, add_bias);
      const int col = c + 8 * j;
      if (!live[h] || col >= n) continue;
      const long long idx = first[h] + 8 * j;
      float v0 = __fmul_rn(acc[j][2 * h], alpha);
      float v1 = __fmul_rn(acc[j][2 * h + 1], alpha);
      if (add_bias != 0) {
        v0 = __fadd_rn(v0, bias[col]);
        v1 = __fadd_rn(v1, bias[col + 1]);
      }
      if (is_bf16 != 0) {
        uint32_t* o = reinterpret_cast<uint32_t*>(static_cast<bf16*>(out) + idx);
        if (add_old != 0) {
          // A bf16's value is its bits << 16, as __bfloat162float gives it.
          const uint32_t old = *o;
          v0 = __fadd_rn(v0, __uint_as_float(old << 16));
          v1 = __fadd_rn(v1, __uint_as_float(old & 0xffff0000u));
        }
        *o = pack_bf16(v0, v1);
      } else {
        float2* o = reinterpret_cast<float2*>(static_cast<float*>(out) + idx);
        if (add_old != 0) {
          const float2 old = *o;
          v0 = __fadd_rn(v0, old.x);
          v1 = __fadd_rn(v1, old.y);
        }
        *o = make_float2(v0, v1);
      }
    }
  }
}

// The tile's results elsewhere (n odd, or an out or partials not aligned for pairs: no model shape): the
// accumulators to this thread's slots, then one element at a time in a loop not unrolled, store_pair's
// values and bits (its unpaired branch: a bf16 element rounded to nearest even on its own, as a pair's).
template <int BN>
__device__ __forceinline__ void store_tile_elements(const float (&acc)[BN / 8][4], void* out, int out_bf16, float* partial, const float* bias,
                                                    int r, int c, int m, int n, float alpha, int accumulate) {
  wg_slots_acquire();
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) *wg_slot(j) = make_float4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]);
  float* p = partial != nullptr ? partial + static_cast<long long>(blockIdx.z) * m * n : nullptr;
#pragma unroll 1
  for (int e = 0; e < BN / 2; ++e) {
    // Element q of fragment j: row r (q < 2) or r + 8, column c + 8j + (q & 1).
    const int j = e >> 2, q = e & 3;
    const int row = r + 8 * (q >> 1), col = c + 8 * j + (q & 1);
    if (row >= m || col >= n) continue;
    const long long idx = static_cast<long long>(row) * n + col;
    const float a = reinterpret_cast<const float*>(wg_slot(j))[q];
    if (p != nullptr) {
      p[idx] = a;
      continue;
    }
    float v = wg_value(a, alpha, bias, col);
    if (out_bf16) {
      bf16* o = static_cast<bf16*>(out) + idx;
      if (accumulate) v = __fadd_rn(v, __bfloat162float(*o));
      *o = __float2bfloat16_rn(v);
    } else {
      float* o = static_cast<float*>(out) + idx;
      if (accumulate) v = __fadd_rn(v, *o);
      *o = v;
    }
  }
}

// The tile's results. Where epilogue_in_registers holds, store_tile_epilogue applies the whole epilogue as it
// stores them. Otherwise store_tile_pairs (or, for odd n or an unaligned destination, store_tile_elements)
// writes alpha · acc + bias (+ out), or a split's raw partials; then, over an unsplit tile, the rest of the
// epilogue where asked, or with the layer norm (NORM: the nt and nn kernels; the launcher passes a norm,
// ln.out != null, only to those, unsplit and of n ≤ BN, so that the tile spans whole rows and n0 = 0):
// gemm_epilogue.cuh's post-passes, gemm.cu's gemm_finish's, the same code, after a __syncthreads, on out as
// stored: called (epilogue_tile, epilogue_tile_norm, one copy each in the module) or, where INLINE_POST
// (WgInlinePostPass: the call would spill), inlined. A split tile (partial != null) does nothing more: the
// reduction (gemm_splitk_reduce) applies the epilogue as it writes out.
template <int BN, bool NORM, bool REGISTERS, int QUADS, int ILP, bool INLINE_POST>
__device__ __forceinline__ void gemm_wg_epilogue(float (&acc)[BN / 8][4], void* out, float* partial, int m, int n, int out_bf16, float alpha,
                                                 int accumulate, const float* __restrict__ bias, const Epilogue& ep, const EpilogueNorm& ln) {
  const int2 o = tile_origin<BN>(n);
  const int lane = threadIdx.x & 31;
  const int r = o.x + (threadIdx.x >> 7) * 64 + ((threadIdx.x >> 5) & 3) * 16 + (lane >> 2);
  const int c = o.y + 2 * (lane & 3);
  if constexpr (REGISTERS) {
    if (epilogue_in_registers<NORM, REGISTERS>(out, out_bf16, partial, accumulate, n, ep, ln)) {
      store_tile_epilogue<BN, QUADS, ILP>(acc, out, out_bf16, ep, r, c, m, n, alpha);
      return;
    }
  }
  if (pairs_aligned(out, out_bf16, partial, n)) store_tile_pairs<BN>(acc, out, out_bf16, partial, bias, r, c, m, n, alpha, accumulate);
  else store_tile_elements<BN>(acc, out, out_bf16, partial, bias, r, c, m, n, alpha, accumulate);
  if (partial != nullptr) return;
  if (NORM && ln.out != nullptr) {
    if constexpr (INLINE_POST) epilogue_tile_norm_pass<WG_BM, BN>(out, out_bf16, ep, ln, o.x, m, n);
    else epilogue_tile_norm<WG_BM, BN>(out, out_bf16, ep, ln, o.x, m, n);
  } else if (epilogue_extra(ep)) {
    if constexpr (INLINE_POST) epilogue_tile_pass<WG_BM, BN>(out, out_bf16, ep, o.x, o.y, m, n);
    else epilogue_tile<WG_BM, BN>(out, out_bf16, ep, o.x, o.y, m, n);
  }
}

// The rounds of store_tile_epilogue (header REGISTERS, CODE SIZE): QUADS chunks of 4 columns loaded at once
// (8: 32 floats of the gate or the residual a thread; their aux slots and the tile's fill the stages at
// BN = 128), ILP of them a pass of the loop, each a copy of the epilogue's code: 4 in the kernels bounded to
// 128 registers (bf16 operands, BN = 128: the model's, two CTAs an SM), as many as their rounds held before
// the slots; 2 in the others (not the model's kernels).
template <int BN, bool F32_OPERAND>
struct WgEpilogueRounds {
  static constexpr int QUADS = 8;
  static constexpr int ILP = BN == 128 && !F32_OPERAND ? 4 : 2;
};

// Whether a kernel inlines the post-passes (epilogue_tile_pass, epilogue_tile_norm_pass) rather than call
// gemm_epilogue.cuh's one copy of each (epilogue_tile, epilogue_tile_norm, __noinline__ as gemm.cu calls
// them): only nn and tn at BN = 256 with two f32 operands (TB false), whose main loops take 251-254
// registers, and which the call took to 16-40 bytes of stack and spills (REGISTERS); the others call it
// without a spill.
template <int BN, bool TB, bool AF, bool BF>
struct WgInlinePostPass {
  static constexpr bool value = BN == 256 && !TB && AF && BF;
};

// gemm_wg_{layout}_{BN}_{a dtype}_{b dtype}: one entry point per layout, tile and operand dtypes (templated
// rather than flagged: a bf16 operand's kernel carries no f32 staging registers, header REGISTERS). The
// Epilogue is made twice from the parameters, before and after the main loop, so that nothing of it (the
// dropout's step, read from the step counters) is held across the loop. NORM and REGISTERS: the nt and nn
// kernels (!TA).
#define GEMM_WG_ENTRY(NAME, BN, TA, TB, AT, AF, BT, BF)                                                                     \
  extern "C" __global__ void __launch_bounds__(WG_THREADS, (AF || BF) ? 1 : WgTile<BN>::MIN_BLOCKS) gemm_wg_##NAME##_##BN##_##AT##_##BT(   \
      void* out, float* partial, const void* a, const void* b, int m, int n, int k, int k_per_split, int out_bf16,          \
      float alpha, int accumulate, const float* bias, EPILOGUE_PARAMS, NORM_PARAMS) {                                      \
    prefetch_epilogue_tile<BN, !TA, !TA>(out, out_bf16, partial, accumulate, m, n, EPILOGUE_OF_PARAMS, NORM_OF_PARAMS);        \
    float acc[BN / 8][4];                                                                                                  \
    gemm_wg_product<BN, TA, TB, AF, BF>(acc, a, b, m, n, k, k_per_split);                                                  \
    using R = WgEpilogueRounds<BN, AF || BF>;                                                                              \
    gemm_wg_epilogue<BN, !TA, !TA, R::QUADS, R::ILP, WgInlinePostPass<BN, TB, AF, BF>::value>(                              \
        acc, out, partial, m, n, out_bf16, alpha, accumulate, bias, EPILOGUE_OF_PARAMS, NORM_OF_PARAMS);                  \
  }

#define GEMM_WG_DTYPES(NAME, BN, TA, TB)                    \
  GEMM_WG_ENTRY(NAME, BN, TA, TB, bf16, false, bf16, false) \
  GEMM_WG_ENTRY(NAME, BN, TA, TB, f32, true, bf16, false)   \
  GEMM_WG_ENTRY(NAME, BN, TA, TB, bf16, false, f32, true)   \
  GEMM_WG_ENTRY(NAME, BN, TA, TB, f32, true, f32, true)

GEMM_WG_DTYPES(nt, 128, false, true)
GEMM_WG_DTYPES(nt, 256, false, true)
GEMM_WG_DTYPES(nn, 128, false, false)
GEMM_WG_DTYPES(nn, 256, false, false)
GEMM_WG_DTYPES(tn, 128, true, false)
GEMM_WG_DTYPES(tn, 256, true, false)

#endif  // __CUDA_ARCH_FEAT_SM90_ALL
