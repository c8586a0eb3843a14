// column_sums.cuh: the second stage of the two-stage column reductions (ew_bias_backward in
// elementwise.cu, layer_norm_backward in layernorm.cu): a column's sum over its per-chunk partials
// partial[k · stride + column], k = 0 .. chunks - 1, in ONE fixed order, whoever computes it:
//   phase p (0 .. COLSUM_PHASES - 1) sums chunks p, p + 32, p + 64, … in increasing order from 0.f;
//   then a tree: for half = 16, 8, 4, 2, 1, phase p < half adds phase p + half; phase 0 is the sum.
// Either a kernel of its own (colsum_phase_tree: a CTA of 32 columns × 32 phases) or the CTA of the first
// stage that arrives last (colsum_last_arrival, then colsum_tail: one launch instead of two) computes it;
// both give the same bits, so the choice (the launcher's, from the shapes) changes no result.
#pragma once

#define COLSUM_PHASES 32
// colsum_phase_tree's CTA: COLSUM_LANES columns × COLSUM_PHASES phases.
#define COLSUM_LANES 32

// dst[column] (+=) the sum of `column`'s partials, a CTA of COLSUM_LANES × COLSUM_PHASES threads over
// columns first + blockIdx.x · COLSUM_LANES + lane (< first + ncols): thread (lane, phase) sums its phase,
// then the shared-memory tree. dst is indexed from `first`'s column: dst[c - first].
__device__ __forceinline__ void colsum_phase_tree(float* __restrict__ dst, const float* __restrict__ partial, long long stride,
                                                  long long first, int ncols, int chunks) {
  __shared__ float part[COLSUM_PHASES][COLSUM_LANES];
  const int lane = threadIdx.x % COLSUM_LANES, phase = threadIdx.x / COLSUM_LANES;
  const int c = blockIdx.x * COLSUM_LANES + lane;
  float acc = 0.f;
  if (c < ncols) {
#pragma unroll 4
    for (int k = phase; k < chunks; k += COLSUM_PHASES) acc += partial[k * stride + first + c];
  }
  part[phase][lane] = acc;
  __syncthreads();
#pragma unroll
  for (int half = COLSUM_PHASES / 2; half > 0; half >>= 1) {
    if (phase < half) part[phase][lane] += part[phase + half][lane];
    __syncthreads();
  }
  if (phase == 0 && c < ncols) dst[c] += part[0][lane];
}

// Called by every thread of a first-stage CTA after its stores to the partials: true, in every thread,
// in the CTA that is the last of `total` to count itself on *counter; that CTA sets the counter back to
// 0 (every CTA has counted by then), so the next launch and every CUDA graph replay find 0. Each thread
// fences its partial stores before the barrier that precedes the count; the last CTA fences again
// before it reads them (with ld.global.cg: L2, never a stale L1 line). As splitk_tail in gemm.cu.
__device__ __forceinline__ bool colsum_last_arrival(unsigned* counter, unsigned total) {
  __shared__ int last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    last = atomicAdd(counter, 1u) == total - 1;
    if (last) *counter = 0u;
  }
  __syncthreads();
  const bool is_last = last != 0;
  if (is_last) __threadfence();
  return is_last;
}

// The same sums by one CTA (blockDim.x a multiple of 32), G ≥ 2 adjacent lanes per column: lane g of a
// column's group holds phases g, g + G, … (A = 32 / G ≤ 16 accumulators: chunk k = base + 32·r + g + G·a
// is phase g + G·a), adding its chunks in increasing order; the tree's levels half ≥ G stay in the
// thread, the last log2(G) go through shuffles down the group. Every thread keeps COLSUM_TAIL_LOADS loads
// in flight (R rounds of A chunks), which with ≤ 16 accumulators holds the callee near 40 registers, so
// that its callers' register counts barely move. Columns c < ncols of the span starting at `first`:
// c < split into dst0[c], the others into dst1[c - split] (+=). Not inlined: once per module, not once
// per dtype variant of the caller, and its registers are not live during the caller's main loop.
#define COLSUM_TAIL_LOADS 16
template <int G>
__device__ __noinline__ void colsum_tail_g(float* dst0, float* dst1, int split, const float* partial, long long stride, long long first,
                                           int ncols, int chunks) {
  constexpr int A = COLSUM_PHASES / G;
  constexpr int R = COLSUM_TAIL_LOADS / A;
  static_assert(G >= 2 && R >= 1, "G from 2 to 32");
  const int g = threadIdx.x % G;
  const int per_pass = blockDim.x / G;
  // Every thread runs every pass (c0 is the same across the CTA): the shuffles below see full warps.
  for (int c0 = 0; c0 < ncols; c0 += per_pass) {
    const int c = c0 + static_cast<int>(threadIdx.x) / G;
    const bool on = c < ncols;
    const float* p = partial + first + (on ? c : 0);
    float acc[A];
#pragma unroll
    for (int a = 0; a < A; ++a) acc[a] = 0.f;
    for (int base = 0; base < chunks; base += COLSUM_PHASES * R) {
      float v[R][A];
#pragma unroll
      for (int r = 0; r < R; ++r) {
#pragma unroll
        for (int a = 0; a < A; ++a) {
          const int k = base + COLSUM_PHASES * r + g + G * a;
          v[r][a] = on && k < chunks ? __ldcg(p + k * stride) : 0.f;
        }
      }
#pragma unroll
      for (int r = 0; r < R; ++r) {
#pragma unroll
        for (int a = 0; a < A; ++a) {
          if (base + COLSUM_PHASES * r + g + G * a < chunks) acc[a] += v[r][a];
        }
      }
    }
    // Tree levels half ≥ G: phases p = g + G·a and p + half = g + G·(a + half / G), both this thread's
    // (h = half / G; indices spelled so that the unrolled loop addresses registers, not a local array).
#pragma unroll
    for (int h = A / 2; h > 0; h /= 2) {
#pragma unroll
      for (int a = 0; a < A / 2; ++a) {
        if (a < h) acc[a] += acc[a + h];
      }
    }
    // Levels half < G: lane g < half adds lane g + half's phase (the same group: g + half < G).
    float s = acc[0];
#pragma unroll
    for (int half = G / 2; half > 0; half >>= 1) {
      const float o = __shfl_down_sync(0xffffffffu, s, half);
      if (g < half) s += o;
    }
    if (on && g == 0) {
      if (c < split) dst0[c] += s;
      else dst1[c - split] += s;
    }
  }
}

// colsum_tail_g with the fewest lanes per column (a power of two from 2 to 32) that still give every
// thread of the CTA a column where there are enough columns: the most loads per thread go to work. Not
// inlined either: a call is all the caller pays for it (inlined, the five variants took the layer-norm
// kernels to 128 registers and spills; called, 112 → 114 for the narrow one, while the callers at 64
// registers report 8–16 bytes of spill stores, where ptxas saves registers around the call).
__device__ __noinline__ void colsum_tail(float* dst0, float* dst1, int split, const float* partial, long long stride, long long first,
                                            int ncols, int chunks) {
  int g = 2;
  while (g < 32 && ncols * g < static_cast<int>(blockDim.x)) g <<= 1;
  switch (g) {
    case 2: colsum_tail_g<2>(dst0, dst1, split, partial, stride, first, ncols, chunks); break;
    case 4: colsum_tail_g<4>(dst0, dst1, split, partial, stride, first, ncols, chunks); break;
    case 8: colsum_tail_g<8>(dst0, dst1, split, partial, stride, first, ncols, chunks); break;
    case 16: colsum_tail_g<16>(dst0, dst1, split, partial, stride, first, ncols, chunks); break;
    default: colsum_tail_g<32>(dst0, dst1, split, partial, stride, first, ncols, chunks); break;
  }
}

