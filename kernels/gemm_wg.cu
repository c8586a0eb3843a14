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
//        (out_ids), ReLU, dropout, the gate, the residual. An unsplit tile applies it after its stores with
//        gemm_epilogue.cuh's epilogue_tile_pass, gemm.cu's own post-pass: given the same values of
//        alpha · acc + bias as stored, the same bits as gemm.cu (the same Philox element index r·n + c).
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
//   REGISTERS (ptxas -arch=sm_90a -v, nvcc 13.0; no spills, no stack anywhere), a · b dtypes; in brackets the
//   counts before the epilogue was added (the post-pass inlined after the body: gemm_wg_finish):
//                  bf16·bf16   f32·bf16    bf16·f32    f32·f32
//       nt 128    122 (123)   136 (158)   136 (156)   163 (164)
//       nt 256    168 (172)   202 (206)   229 (236)   250 (254)
//       nn 128    122 (122)   142 (160)   140 (158)   168 (174)
//       nn 256    178 (181)   212 (212)   247 (255)   254 (255)
//       tn 128    105 (122)   140 (154)   140 (154)   168 (166)
//       tn 256    180 (180)   210 (230)   245 (255)   251 (255)
//   BN = 128 with bf16 operands is bounded to 128 registers by its launch bounds (two CTAs of 256 threads an
//   SM); an f32 operand adds its tile's floats a thread (32 for a, BN/4 for b) to the 64 accumulators, which
//   would spill at 128, so those kernels ask for one CTA an SM. The global addresses of a k step are
//   recomputed each step (opaque) rather than held across the loop.
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
// THE EPILOGUE's post-pass runs after the CTA's main loop and is not overlapped with another CTA's where one
// CTA fills an SM (every kernel with an f32 operand: the model's, W being f32): it adds its own time. At
// ML-20M (BN = 256, 216 CTAs in 1.64 waves) a CTA's pass reads its 128 KiB tile back from L2 and the
// residual or gate from HBM, and writes the tile (and the norm's out) again: ~8 rounds of dependent loads
// of ~1-1.5 µs a CTA: a prediction of ~15-25 µs a call on top of the product's 30-40 µs, to be measured
// (scripts/bench-gemm-wg.ts, the model's rows).

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
// `load` issues the loads (their registers stay live until `store`); `store` converts and writes: the body
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

// ---------------------------------------------------------------------------------------------------
// The kernel body. TA: a is stored [k × m] (MN-major in shared memory); TB: b is stored [n × k] (K-major).
// AF / BF: a / b is f32 (staged through registers, F32Stager), else bf16 (cp.async, load_tile).

template <int BN, bool TA, bool TB, bool AF, bool BF>
__device__ __forceinline__ void gemm_wg_body(void* out, float* partial, const void* __restrict__ a, const void* __restrict__ b,
                                             int m, int n, int k, int k_per_split, int out_bf16, float alpha, int accumulate,
                                             const float* __restrict__ bias) {
  using T = WgTile<BN>;
  constexpr int STAGES = T::STAGES;
  // Each operand's tile as stored in memory: WIDTH columns (contiguous) × ROWS rows (header: SHARED LAYOUT).
  constexpr int A_WIDTH = TA ? WG_BM : WG_BK, A_ROWS = TA ? WG_BK : WG_BM;  // tn: [64 depth × 128 of m]; else [128 of m × 64 depth]
  constexpr int B_WIDTH = TB ? WG_BK : BN, B_ROWS = TB ? BN : WG_BK;        // nt: [BN of n × 64 depth]; else [64 depth × BN of n]
  extern __shared__ unsigned char wg_smem_raw[];
  // The 1024-byte aligned start of dynamic shared memory (the swizzle atom; the launcher adds 1 KiB).
  const uint32_t smem = (smem_u32(wg_smem_raw) + 1023u) & ~1023u;

  // Consecutive CTAs take the column tiles of one row tile: they share its a tile in L2.
  const int tiles_n = (n + BN - 1) / BN;
  const int tm = blockIdx.x / tiles_n;
  const int m0 = tm * WG_BM, n0 = (blockIdx.x - tm * tiles_n) * BN;
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

  float acc[BN / 8][4];
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

  // Accumulator layout of wgmma m64nBN (per warp that of mma.sync m16n8): warp q of the warpgroup holds rows
  // 16q .. 16q + 15; acc[j] holds (row g, cols 8j + 2t, +1) and (row g + 8, same cols), g = lane / 4, t = lane % 4.
  const int lane = threadIdx.x & 31;
  const int r = m0 + wg * 64 + ((threadIdx.x >> 5) & 3) * 16 + (lane >> 2);
  const int c = n0 + 2 * (lane & 3);
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) {
    store_pair(out, out_bf16, partial, bias, r, c + 8 * j, m, n, true, acc[j][0], acc[j][1], alpha, accumulate);
    store_pair(out, out_bf16, partial, bias, r + 8, c + 8 * j, m, n, true, acc[j][2], acc[j][3], alpha, accumulate);
  }
}

// After the body (its registers dead by then), over an unsplit tile: the rest of the epilogue where asked, or
// with the layer norm (NORM: the nt and nn kernels; the launcher passes a norm, ln.out != null, only to those,
// unsplit and of n ≤ BN, so that the tile spans whole rows and n0 = 0). gemm_epilogue.cuh's post-passes,
// gemm.cu's gemm_finish's: the same code, after a __syncthreads, on out as store_pair wrote it. Inlined here
// (gemm.cu calls them): the call took the 255-register f32 · f32 BN = 256 nn and tn kernels to 12-28 bytes
// of spills; inlined after the barrier they leave every kernel's count at or below the body's alone (header
// REGISTERS). A split tile (partial != null) does nothing: the reduction (gemm_splitk_reduce) applies the
// epilogue as it writes out.
template <int BN, bool NORM>
__device__ __forceinline__ void gemm_wg_finish(void* out, int out_bf16, const float* partial, int m, int n, const Epilogue& ep,
                                               const EpilogueNorm& ln) {
  if (partial != nullptr) return;
  const int tiles_n = (n + BN - 1) / BN;
  const int tm = blockIdx.x / tiles_n;
  const int m0 = tm * WG_BM, n0 = (blockIdx.x - tm * tiles_n) * BN;
  if (NORM && ln.out != nullptr) epilogue_tile_norm_pass<WG_BM, BN>(out, out_bf16, ep, ln, m0, m, n);
  else if (epilogue_extra(ep)) epilogue_tile_pass<WG_BM, BN>(out, out_bf16, ep, m0, n0, m, n);
}

// gemm_wg_{layout}_{BN}_{a dtype}_{b dtype}: one entry point per layout, tile and operand dtypes (templated
// rather than flagged: a bf16 operand's kernel carries no f32 staging registers, header REGISTERS).
#define GEMM_WG_ENTRY(NAME, BN, TA, TB, AT, AF, BT, BF)                                                                     \
  extern "C" __global__ void __launch_bounds__(WG_THREADS, (AF || BF) ? 1 : WgTile<BN>::MIN_BLOCKS) gemm_wg_##NAME##_##BN##_##AT##_##BT(   \
      void* out, float* partial, const void* a, const void* b, int m, int n, int k, int k_per_split, int out_bf16,          \
      float alpha, int accumulate, const float* bias, EPILOGUE_PARAMS, NORM_PARAMS) {                                      \
    gemm_wg_body<BN, TA, TB, AF, BF>(out, partial, a, b, m, n, k, k_per_split, out_bf16, alpha, accumulate, bias);         \
    gemm_wg_finish<BN, !TA>(out, out_bf16, partial, m, n, EPILOGUE_OF_PARAMS, NORM_OF_PARAMS);                             \
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
