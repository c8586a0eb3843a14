// @variants sm80
// Scalable Cross-Entropy (sce; backend/sce.ts defines the loss, backend/cpu/loss-sce.ts is the
// reference). n_b buckets, each of kx = min(b_x, N) rows and ky = min(b_y, V) items; N rows of h [N × d]
// with targets [N] (0 = padding); the item table [(V+1) × d], row 0 never scored. h and the table are
// f32 or bf16 (flag 1 = bf16); arithmetic in fp32. Never an [N × V] matrix.
//
// FORWARD (the launcher's order)
//   sce_directions_mix    grid (n_b, ⌈d/32⌉), block 256   omega [n_b × d] = Σ_{valid r} G[r, b] · h_r,
//                         G[r, b] = sce_normal(r·n_b + b); 8 warps take rows r ≡ w (mod 8), lanes the
//                         columns; the warps' sums are added in warp order (fixed).        OVERWRITES
//   sce_directions_plain  grid-stride over n_b·d        omega[b, c] = sce_normal(c·n_b + b). OVERWRITES
//   sce_project           grid (⌈n/64⌉, ⌈G/16⌉), block 256: scores [G × (n+1)] of buckets b0..b0+G-1:
//                         column 0 and masked candidates (mask[i] == 0) -Infinity, column 1 + i the dot
//                         of candidate row x[x_row0 + i] with omega[b0 + g] (one thread per output, a
//                         fixed order over d). The topk family then keeps each bucket's best kx rows
//                         (ids r + 1) or ky items.                                       OVERWRITES
//   sce_slot_forward      grid ⌈n_b·kx / 8⌉, block 256, a warp per slot (b, s): lse and slot_loss
//                         [n_b × kx] of the softmax over the bucket's items other than the row's target
//                         plus the target; empty slots (id 0 or a padding row): lse 0, loss -Infinity.
//   sce_best_keys         a thread per slot: keys [N] (u64, zeroed by the launcher) = the max over the
//                         row's slots of (order(loss) << 32 | ~slot): the largest loss, ties to the
//                         lowest slot, NaN above all (integer atomicMax: deterministic).
//   sce_row_loss          a thread per row: best [N] (slot, or -1) and row_loss [N] (0 in no bucket).
//                         cce.cu's cce_loss_reduce then writes loss[0] = Σ row_loss / M.
// SAVED FOR BACKWARD: omega, the buckets (rows, items), lse, best. No logits.
//
// BACKWARD
//   sce_hidden_grad       a warp per row: dh[r] = scale·(Σ_j p_j E_j + (p_t - 1) E_t) over the items of
//                         the row's best bucket other than t (0 for rows in none); pos_grad [N × d] =
//                         scale·(p_t - 1)·h_r, the target's share of the table gradient.   OVERWRITES
//   sce_item_grad         a warp per (b, j): item_grad [n_b·ky × d] = scale · Σ_s p_{s,j} h_{r_s} over
//                         the slots s of bucket b that are their row's best (t_s ≠ item).  OVERWRITES
//   sce_count, sce_scan_tiles, sce_scan_sums, sce_scan_apply, sce_fill, sce_sort: the CSR of those
//                         n_b·ky + N vectors by item (vector e < n_b·ky: item items[e]; else the target
//                         of row e - n_b·ky, where it has a best slot), each item's entries sorted by e.
//   sce_table_grad        a warp per item: dtable[i] (+=) the sum of its vectors in entry order.
//                         ACCUMULATES (f32 or bf16 table gradient); row 0 never touched.
// DETERMINISM: every sum has a fixed order; the only atomics are integer (counts, the CSR cursor, whose
// nondeterministic fill order the sort undoes, and the max of the row keys).
// SHAPES: d ≤ SCE_MAX_D (lanes hold d/32 columns each); n_b·kx, n_b·ky + N, (V+1)·d and N·d below
// 2^31; the random matrix's index r·n_b + b (or c·n_b + b) is taken mod 2^32 (uint32), as on the CPU.

#include <stdint.h>
#include <cuda_bf16.h>

#include "philox.cuh"
#include "step.cuh"

#define SCE_MAX_D 512
#define SCE_CHUNKS (SCE_MAX_D / 32)
#define SCE_WARPS 8
#define SCE_SCAN_THREADS 1024
#define SCE_SCAN_TILE (4 * SCE_SCAN_THREADS)

// Element i of the step's random matrix (backend/sce.ts sceNormal): the centred sum of the top 23 bits
// of the four words, an integer below 2^24 in magnitude (exact in fp32), times 2^-23.
__device__ __forceinline__ float sce_normal(uint32_t seed, uint32_t step, uint32_t i) {
  const uint4 w = philox4x32(i, 0u, 0u, PHILOX_SCE_STREAM, seed, step);
  const int sum = static_cast<int>(w.x >> 9) + static_cast<int>(w.y >> 9) + static_cast<int>(w.z >> 9) + static_cast<int>(w.w >> 9);
  return static_cast<float>(sum - 16777214) * 1.1920928955078125e-7f;
}

__device__ __forceinline__ float load_x(const void* p, size_t i, int is_bf16) {
  return is_bf16 ? __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]) : static_cast<const float*>(p)[i];
}

// Lane-held row: column c = lane + 32k in v[k], zero past d.
__device__ __forceinline__ void load_row(float (&v)[SCE_CHUNKS], const void* p, size_t row, int d, int is_bf16, int lane) {
#pragma unroll
  for (int k = 0; k < SCE_CHUNKS; ++k) {
    const int c = lane + 32 * k;
    v[k] = c < d ? load_x(p, row * static_cast<size_t>(d) + c, is_bf16) : 0.0f;
  }
}

// The dot of a lane-held row with row `row` of p, reduced in a fixed order and broadcast from lane 0,
// so every lane holds the same bits.
__device__ __forceinline__ float warp_dot(const float (&v)[SCE_CHUNKS], const void* p, size_t row, int d, int is_bf16, int lane) {
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < SCE_CHUNKS; ++k) {
    const int c = lane + 32 * k;
    if (c < d) s = fmaf(v[k], load_x(p, row * static_cast<size_t>(d) + c, is_bf16), s);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
  return __shfl_sync(0xffffffffu, s, 0);
}

// ---------------------------------------------------------------------------------------------------
// Forward: directions, projections, slot losses, row maxima.

extern "C" __global__ void __launch_bounds__(256) sce_directions_mix(float* __restrict__ omega, const void* __restrict__ h, int h_bf16,
                                                                    const int* __restrict__ targets, int N, int d, int nb,
                                                                    uint32_t seed, uint32_t step, const int* counters) {
  __shared__ float part_s[SCE_WARPS][32];
  const int b = blockIdx.x, c = blockIdx.y * 32 + (threadIdx.x & 31), warp = threadIdx.x >> 5;
  const uint32_t st = step_of(step, counters);
  float acc = 0.0f;
  for (int r = warp; r < N; r += SCE_WARPS) {
    if (targets[r] == 0) continue;
    const float g = sce_normal(seed, st, static_cast<uint32_t>(r) * static_cast<uint32_t>(nb) + static_cast<uint32_t>(b));
    if (c < d) acc = fmaf(g, load_x(h, static_cast<size_t>(r) * d + c, h_bf16), acc);
  }
  part_s[warp][threadIdx.x & 31] = acc;
  __syncthreads();
  if (warp == 0 && c < d) {
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < SCE_WARPS; ++w) s += part_s[w][threadIdx.x];
    omega[static_cast<size_t>(b) * d + c] = s;
  }
}

extern "C" __global__ void sce_directions_plain(float* __restrict__ omega, int d, int nb, uint32_t seed, uint32_t step, const int* counters) {
  const uint32_t st = step_of(step, counters);
  const int n = nb * d;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const int b = i / d, c = i - b * d;
    omega[i] = sce_normal(seed, st, static_cast<uint32_t>(c) * static_cast<uint32_t>(nb) + static_cast<uint32_t>(b));
  }
}

// 64 candidates × 16 buckets per CTA; thread t: candidate t % 64, buckets 4·(t / 64) .. +3.
extern "C" __global__ void __launch_bounds__(256) sce_project(float* __restrict__ scores, const void* __restrict__ x, int x_bf16, int x_row0,
                                                             const int* __restrict__ mask, const float* __restrict__ omega,
                                                             int b0, int G, int n, int d) {
  __shared__ float xs[64][33];
  __shared__ float os[16][33];
  const int t = threadIdx.x, ci = t & 63, bg = t >> 6;
  const int i0 = blockIdx.x * 64, g0 = blockIdx.y * 16;
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int c0 = 0; c0 < d; c0 += 32) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int idx = t + 256 * k, row = idx >> 5, col = idx & 31;
      const int i = i0 + row, c = c0 + col;
      xs[row][col] = i < n && c < d ? load_x(x, static_cast<size_t>(x_row0 + i) * d + c, x_bf16) : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      const int idx = t + 256 * k, row = idx >> 5, col = idx & 31;
      const int g = g0 + row, c = c0 + col;
      os[row][col] = g < G && c < d ? omega[static_cast<size_t>(b0 + g) * d + c] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < 32; ++kk) {
      const float xv = xs[ci][kk];
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[q] = fmaf(xv, os[bg * 4 + q][kk], acc[q]);
    }
    __syncthreads();
  }
  const int i = i0 + ci;
  const bool masked = i < n && mask != nullptr && mask[i] == 0;
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const int g = g0 + bg * 4 + q;
    if (g >= G) continue;
    float* row = scores + static_cast<size_t>(g) * (n + 1);
    if (i < n) row[1 + i] = masked ? -INFINITY : acc[q];
    if (blockIdx.x == 0 && ci == 0) row[0] = -INFINITY;
  }
}

extern "C" __global__ void __launch_bounds__(256) sce_slot_forward(float* __restrict__ lse, float* __restrict__ slot_loss,
                                                                  const int* __restrict__ rows, const int* __restrict__ items,
                                                                  const void* __restrict__ h, int h_bf16, const void* __restrict__ table, int t_bf16,
                                                                  const int* __restrict__ targets, int nb, int kx, int ky, int d) {
  const int lane = threadIdx.x & 31;
  const int slot = blockIdx.x * SCE_WARPS + (threadIdx.x >> 5);
  if (slot >= nb * kx) return;
  const int b = slot / kx, id = rows[slot];
  const int t = id > 0 ? targets[id - 1] : 0;
  if (t == 0) {
    if (lane == 0) {
      lse[slot] = 0.0f;
      slot_loss[slot] = -INFINITY;
    }
    return;
  }
  float hv[SCE_CHUNKS];
  load_row(hv, h, id - 1, d, h_bf16, lane);
  const float st = warp_dot(hv, table, t, d, t_bf16, lane);
  float m = st, sum = 1.0f;
  for (int j = 0; j < ky; ++j) {
    const int it = items[static_cast<size_t>(b) * ky + j];
    if (it <= 0 || it == t) continue;
    const float s = warp_dot(hv, table, it, d, t_bf16, lane);
    if (s > m) {
      sum = sum * expf(m - s) + 1.0f;
      m = s;
    } else {
      sum += expf(s - m);
    }
  }
  if (lane == 0) {
    const float l = m + logf(sum);
    lse[slot] = l;
    slot_loss[slot] = l - st;
  }
}

// Order bits of a loss: unsigned comparison orders the floats; every NaN above +Infinity (a NaN sticks).
__device__ __forceinline__ uint32_t sce_order(float x) {
  const uint32_t bits = __float_as_uint(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return 0xffffffffu;
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

extern "C" __global__ void sce_best_keys(unsigned long long* __restrict__ keys, const float* __restrict__ slot_loss,
                                         const int* __restrict__ rows, const int* __restrict__ targets, int slots) {
  for (int slot = blockIdx.x * blockDim.x + threadIdx.x; slot < slots; slot += gridDim.x * blockDim.x) {
    const int id = rows[slot];
    if (id <= 0 || targets[id - 1] == 0) continue;
    const unsigned long long key = (static_cast<unsigned long long>(sce_order(slot_loss[slot])) << 32) | (0xffffffffu - static_cast<uint32_t>(slot));
    atomicMax(keys + (id - 1), key);
  }
}

extern "C" __global__ void sce_row_loss(int* __restrict__ best, float* __restrict__ row_loss, const unsigned long long* __restrict__ keys,
                                        const float* __restrict__ slot_loss, int N) {
  for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < N; r += gridDim.x * blockDim.x) {
    const unsigned long long key = keys[r];
    if (key == 0ull) {
      best[r] = -1;
      row_loss[r] = 0.0f;
    } else {
      const int slot = static_cast<int>(0xffffffffu - static_cast<uint32_t>(key & 0xffffffffull));
      best[r] = slot;
      row_loss[r] = slot_loss[slot];
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Backward.

extern "C" __global__ void __launch_bounds__(256) sce_hidden_grad(void* __restrict__ dh, int dh_bf16, float* __restrict__ pos_grad,
                                                                 const int* __restrict__ best, const float* __restrict__ lse,
                                                                 const int* __restrict__ items, const void* __restrict__ h, int h_bf16,
                                                                 const void* __restrict__ table, int t_bf16, const int* __restrict__ targets,
                                                                 int N, int kx, int ky, int d, float scale) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * SCE_WARPS + (threadIdx.x >> 5);
  if (r >= N) return;
  const int slot = best[r];
  float acc[SCE_CHUNKS];
  float hv[SCE_CHUNKS];
#pragma unroll
  for (int k = 0; k < SCE_CHUNKS; ++k) acc[k] = hv[k] = 0.0f;
  float pt = 0.0f;
  if (slot >= 0) {
    const int b = slot / kx, t = targets[r];
    const float l = lse[slot];
    load_row(hv, h, r, d, h_bf16, lane);
    for (int j = 0; j < ky; ++j) {
      const int it = items[static_cast<size_t>(b) * ky + j];
      if (it <= 0 || it == t) continue;
      const float p = expf(warp_dot(hv, table, it, d, t_bf16, lane) - l);
#pragma unroll
      for (int k = 0; k < SCE_CHUNKS; ++k) {
        const int c = lane + 32 * k;
        if (c < d) acc[k] = fmaf(p, load_x(table, static_cast<size_t>(it) * d + c, t_bf16), acc[k]);
      }
    }
    pt = expf(warp_dot(hv, table, t, d, t_bf16, lane) - l) - 1.0f;
#pragma unroll
    for (int k = 0; k < SCE_CHUNKS; ++k) {
      const int c = lane + 32 * k;
      if (c < d) acc[k] = fmaf(pt, load_x(table, static_cast<size_t>(t) * d + c, t_bf16), acc[k]);
    }
  }
  // Rows in no bucket write zeros (acc, pt and hv are 0).
#pragma unroll
  for (int k = 0; k < SCE_CHUNKS; ++k) {
    const int c = lane + 32 * k;
    if (c >= d) continue;
    const size_t o = static_cast<size_t>(r) * d + c;
    const float g = scale * acc[k];
    if (dh_bf16) static_cast<__nv_bfloat16*>(dh)[o] = __float2bfloat16_rn(g);
    else static_cast<float*>(dh)[o] = g;
    pos_grad[o] = scale * pt * hv[k];
  }
}

extern "C" __global__ void __launch_bounds__(256) sce_item_grad(float* __restrict__ item_grad, const int* __restrict__ rows,
                                                               const int* __restrict__ items, const int* __restrict__ best,
                                                               const float* __restrict__ lse, const void* __restrict__ h, int h_bf16,
                                                               const void* __restrict__ table, int t_bf16, const int* __restrict__ targets,
                                                               int nb, int kx, int ky, int d, float scale) {
  const int lane = threadIdx.x & 31;
  const int e = blockIdx.x * SCE_WARPS + (threadIdx.x >> 5);
  if (e >= nb * ky) return;
  const int b = e / ky, it = items[e];
  float acc[SCE_CHUNKS];
#pragma unroll
  for (int k = 0; k < SCE_CHUNKS; ++k) acc[k] = 0.0f;
  if (it > 0) {
    float ev[SCE_CHUNKS];
    load_row(ev, table, it, d, t_bf16, lane);
    for (int s = 0; s < kx; ++s) {
      const int slot = b * kx + s, id = rows[slot];
      if (id <= 0) continue;
      const int r = id - 1;
      if (best[r] != slot || targets[r] == it) continue;
      const float p = expf(warp_dot(ev, h, r, d, h_bf16, lane) - lse[slot]);
#pragma unroll
      for (int k = 0; k < SCE_CHUNKS; ++k) {
        const int c = lane + 32 * k;
        if (c < d) acc[k] = fmaf(p, load_x(h, static_cast<size_t>(r) * d + c, h_bf16), acc[k]);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < SCE_CHUNKS; ++k) {
    const int c = lane + 32 * k;
    if (c < d) item_grad[static_cast<size_t>(e) * d + c] = scale * acc[k];
  }
}

// The item whose table row vector e adds to: items[e] for a bucket item, the row's target for a row
// with a best slot, else 0 (nothing).
__device__ __forceinline__ int sce_vector_item(int e, const int* items, const int* best, const int* targets, int nby) {
  if (e < nby) return items[e];
  const int r = e - nby;
  return best[r] >= 0 ? targets[r] : 0;
}

extern "C" __global__ void sce_count(int* __restrict__ counts, const int* __restrict__ items, const int* __restrict__ best,
                                     const int* __restrict__ targets, int nby, int N) {
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < nby + N; e += gridDim.x * blockDim.x) {
    const int it = sce_vector_item(e, items, best, targets, nby);
    if (it > 0) atomicAdd(counts + it, 1);
  }
}

// Exclusive block scan of one value per thread; the block total through *total.
__device__ __forceinline__ int sce_block_scan(int v, int* total) {
  __shared__ int warp_s[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) warp_s[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int w = lane < (blockDim.x >> 5) ? warp_s[lane] : 0;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += y;
    }
    warp_s[lane] = w;
  }
  __syncthreads();
  const int before = (warp > 0 ? warp_s[warp - 1] : 0) + x - v;
  *total = warp_s[(blockDim.x >> 5) - 1];
  __syncthreads();
  return before;
}

// tile_sums[t] = Σ counts over tile t of SCE_SCAN_TILE elements (n counts).
extern "C" __global__ void __launch_bounds__(SCE_SCAN_THREADS) sce_scan_tiles(int* __restrict__ tile_sums, const int* __restrict__ counts, int n) {
  const int base = blockIdx.x * SCE_SCAN_TILE + threadIdx.x * 4;
  int v = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) v += base + k < n ? counts[base + k] : 0;
  int total;
  sce_block_scan(v, &total);
  if (threadIdx.x == 0) tile_sums[blockIdx.x] = total;
}

// tile_sums → exclusive prefix sums in place (one CTA, any number of tiles).
extern "C" __global__ void __launch_bounds__(SCE_SCAN_THREADS) sce_scan_sums(int* __restrict__ tile_sums, int tiles) {
  int carry = 0;
  for (int t0 = 0; t0 < tiles; t0 += SCE_SCAN_THREADS) {
    const int i = t0 + threadIdx.x;
    const int v = i < tiles ? tile_sums[i] : 0;
    int total;
    const int before = sce_block_scan(v, &total);
    if (i < tiles) tile_sums[i] = carry + before;
    carry += total;
  }
}

// offsets[i] = cursor[i] = Σ_{k<i} counts[k] for i < n, and offsets[n] = the total.
extern "C" __global__ void __launch_bounds__(SCE_SCAN_THREADS) sce_scan_apply(int* __restrict__ offsets, int* __restrict__ cursor,
                                                                             const int* __restrict__ counts, const int* __restrict__ tile_sums, int n) {
  const int base = blockIdx.x * SCE_SCAN_TILE + threadIdx.x * 4;
  int c[4];
  int v = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    c[k] = base + k < n ? counts[base + k] : 0;
    v += c[k];
  }
  int total;
  int run = tile_sums[blockIdx.x] + sce_block_scan(v, &total);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    if (base + k <= n) {
      offsets[base + k] = run;
      if (base + k < n) cursor[base + k] = run;
    }
    run += c[k];
  }
}

extern "C" __global__ void sce_fill(int* __restrict__ entries, int* __restrict__ cursor, const int* __restrict__ items,
                                    const int* __restrict__ best, const int* __restrict__ targets, int nby, int N) {
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < nby + N; e += gridDim.x * blockDim.x) {
    const int it = sce_vector_item(e, items, best, targets, nby);
    if (it > 0) entries[atomicAdd(cursor + it, 1)] = e;
  }
}

// Each item's entries in increasing order (insertion sort, a thread per item): the fill's order varies
// from run to run, the sum's must not. A segment holds at most n_b bucket entries plus the rows whose
// target the item is.
extern "C" __global__ void sce_sort(int* __restrict__ entries, const int* __restrict__ offsets, int V) {
  for (int i = 1 + blockIdx.x * blockDim.x + threadIdx.x; i <= V; i += gridDim.x * blockDim.x) {
    const int lo = offsets[i], hi = offsets[i + 1];
    for (int k = lo + 1; k < hi; ++k) {
      const int v = entries[k];
      int m = k - 1;
      while (m >= lo && entries[m] > v) {
        entries[m + 1] = entries[m];
        --m;
      }
      entries[m + 1] = v;
    }
  }
}

extern "C" __global__ void __launch_bounds__(256) sce_table_grad(void* __restrict__ dtable, int dt_bf16, const int* __restrict__ entries,
                                                                const int* __restrict__ offsets, const float* __restrict__ item_grad,
                                                                const float* __restrict__ pos_grad, int nby, int V, int d) {
  const int lane = threadIdx.x & 31;
  const int i = 1 + blockIdx.x * SCE_WARPS + (threadIdx.x >> 5);
  if (i > V) return;
  const int lo = offsets[i], hi = offsets[i + 1];
  if (lo == hi) return;
  for (int c = lane; c < d; c += 32) {
    float s = 0.0f;
    for (int k = lo; k < hi; ++k) {
      const int e = entries[k];
      s += e < nby ? item_grad[static_cast<size_t>(e) * d + c] : pos_grad[static_cast<size_t>(e - nby) * d + c];
    }
    const size_t o = static_cast<size_t>(i) * d + c;
    if (dt_bf16) {
      __nv_bfloat16* p = static_cast<__nv_bfloat16*>(dtable) + o;
      *p = __float2bfloat16_rn(__bfloat162float(*p) + s);
    } else {
      static_cast<float*>(dtable)[o] += s;
    }
  }
}
