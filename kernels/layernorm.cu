// @variants sm80
// layernorm: layer normalisation over the last dimension (src/backend/cpu/layernorm.ts is the reference),
// forward then backward. Launchers: src/backend/cuda/layernorm-kernels.ts.
//
// SHAPES   rows × cols, row-major
//   x, out      [rows × cols]  f32|bf16 (each its own flag: 1 = bf16)
//   dout        [rows × cols]  f32|bf16;  dout2 [rows × cols] f32 or null (a second incoming gradient)
//   weight, bias [cols]        f32
//   mean, rstd  [rows]         f32
//   dx          [rows × cols]  f32 (+=, or = with overwrite);  d_weight, d_bias [cols] f32 (+=)
//
// FORWARD  layer_norm_forward, a warp per row: mean = Σx / cols, var = Σ(x - mean)² / cols (biased, two
//          passes, as the reference), rstd = 1 / sqrt(var + eps) (IEEE sqrt and division);
//          out = (x - mean) · rstd · weight + bias (overwrite). SAVED for backward: mean, rstd (overwrite).
//          out_copy, x_copy (bf16 [rows × cols] or null; overwrite): out and x rounded to bf16 (nearest
//          even) in the same pass, the narrow operands of the GEMMs that read them; 0 on padding rows.
// BACKWARD two stages, no float atomics, with x̂ = (x - mean) · rstd, dy = dout (+ dout2: the fp32 sum,
//          what ew_add of two f32 gradients stores) and g = dy · weight:
//          a CTA per chunk of rows_per_chunk rows: dx (+=, or = with overwrite: dx is then not read)
//            rstd · (g - mean_c(g) - x̂ · mean_c(g · x̂)), and, in the same pass over dout and x, the chunk's
//            column sums Σ dy · x̂ and Σ dy into partial[chunk, 0 .. cols) (weight) and partial[chunk, cols
//            .. 2·cols) (bias) (overwrite; f32 scratch owned by the backend), by one of two kernels:
//          layer_norm_backward_narrow (cols ≤ LN_NARROW_COLS: SASRec's d): a team of T lanes per row (T the
//            least power of two with 4·V·T ≥ cols; V = 1 up to 128 columns, else 2), lane t holding columns
//            4·(t + T·v) .. +3 of its rows in registers, loaded with 16-byte (f32) or 8-byte (bf16)
//            accesses; a warp holds 32 / T teams, a CTA slots = warps · 32 / T, and slot s takes the
//            chunk's rows s, s + slots, … in increasing order, 4 / V of them per round of loads (16 floats
//            of each tensor per lane in flight). Row means: each lane's columns in increasing order, then
//            an xor butterfly over the team. Column sums: each lane keeps its columns' sums over the
//            slot's rows (in order) in registers, then the CTA adds the slots' sums in slot order.
//          layer_norm_backward (any cols): a warp per row (LN_BWD_ROWS rows of a warp at a time), lane l
//            holding columns l, l + 32, …, each row read twice (the second time from L1 or L2). Row
//            means: each lane's columns in increasing order, then a 32-lane butterfly. Column sums: each
//            warp adds its rows in order into its own shared-memory row of 2·cols floats, then the CTA
//            adds the warps' rows in order.
//          Both compute the same expressions per element; only the order of the sums differs.
//          Either part alone: dx = null computes the column sums only (dx neither read nor written);
//            d_weight = null (then d_bias, partial and counters unused) computes dx only, with no column
//            sums and no second stage. Each part's bits are those of the two together at the same plan,
//            and dx's do not depend on rows_per_chunk.
//          Then d_weight[c] (+=) Σ_k partial[k, c] and d_bias[c] (+=) Σ_k partial[k, cols + c] over the
//            chunks k in column_sums.cuh's fixed order: by the CTA that finishes last (counters != null:
//            counters[0], u32, 0 before the launch and left 0; one launch) or by layer_norm_backward_sum
//            (counters = null: a second launch, for partials too many for one CTA). With a single chunk
//            (partial = null) the first kernel adds into d_weight and d_bias itself.
//          Every sum's order depends on rows, cols, rows_per_chunk, the kernel and the CTA's warps (the
//            launcher derives all from rows and cols): bit-identical run to run and on every GPU.
// PADDING ROWS (ids != null, i32 per row): a row whose id is 0 is padding. The forward writes out = 0,
// mean = rstd = 0 there; the backward reads neither gradient there, leaves its dx as it is (writes 0 with
// overwrite) and its terms out of the column sums (the models pass the ids where padding rows' dout is
// zero, so the sums are those of every row).
// Warp sums use an xor butterfly: every lane ends with the same bits (addition is commutative), so the
// reductions are deterministic too. Arithmetic is fp32; bf16 stores round to nearest even.

#include <cuda_bf16.h>
#include <stdint.h>

#include "column_sums.cuh"

typedef __nv_bfloat16 bf16;

// Warps (rows) per CTA of the forward.
#define LN_ROW_WARPS 8
// Backward: rows a warp of layer_norm_backward handles at once, and the most warps of a CTA (fewer for
// wide rows, whose per-warp column sums take 8·cols bytes of shared memory each; the narrow kernel
// always has LN_BWD_MAX_WARPS); the widest rows of layer_norm_backward_narrow (8 columns per lane).
#define LN_BWD_ROWS 2
#define LN_BWD_MAX_WARPS 8
#define LN_NARROW_COLS 256

__device__ __forceinline__ float load_x(const void* p, int is_bf16, long long i) {
  return is_bf16 ? __bfloat162float(static_cast<const bf16*>(p)[i]) : static_cast<const float*>(p)[i];
}

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(bf16 v) { return __bfloat162float(v); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

extern "C" __global__ void __launch_bounds__(32 * LN_ROW_WARPS)
    layer_norm_forward(void* __restrict__ out, int out_bf16, float* __restrict__ mean, float* __restrict__ rstd,
                       const void* __restrict__ x, int x_bf16, const float* __restrict__ weight, const float* __restrict__ bias,
                       int rows, int cols, float eps, const int* __restrict__ ids, bf16* __restrict__ out_copy,
                       bf16* __restrict__ x_copy) {
  const int lane = threadIdx.x & 31;
  const int warps = (gridDim.x * blockDim.x) >> 5;
  for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const long long o = static_cast<long long>(r) * cols;
    if (ids != nullptr && ids[r] == 0) {
      for (int c = lane; c < cols; c += 32) {
        if (out_bf16) static_cast<bf16*>(out)[o + c] = __float2bfloat16_rn(0.0f);
        else static_cast<float*>(out)[o + c] = 0.0f;
        if (out_copy != nullptr) out_copy[o + c] = __float2bfloat16_rn(0.0f);
        if (x_copy != nullptr) x_copy[o + c] = __float2bfloat16_rn(0.0f);
      }
      if (lane == 0) mean[r] = rstd[r] = 0.0f;
      continue;
    }
    float s = 0.0f;
    for (int c = lane; c < cols; c += 32) s += load_x(x, x_bf16, o + c);
    const float mu = warp_sum(s) / cols;
    float q = 0.0f;
    for (int c = lane; c < cols; c += 32) {
      const float dv = load_x(x, x_bf16, o + c) - mu;
      q = fmaf(dv, dv, q);
    }
    const float rs = 1.0f / sqrtf(warp_sum(q) / cols + eps);
    for (int c = lane; c < cols; c += 32) {
      const float xv = load_x(x, x_bf16, o + c);
      const float v = fmaf((xv - mu) * rs, weight[c], bias[c]);
      if (out_bf16) static_cast<bf16*>(out)[o + c] = __float2bfloat16_rn(v);
      else static_cast<float*>(out)[o + c] = v;
      if (out_copy != nullptr) out_copy[o + c] = __float2bfloat16_rn(v);
      if (x_copy != nullptr) x_copy[o + c] = __float2bfloat16_rn(xv);
    }
    if (lane == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}


// The end of a backward chunk: acc holds `parts` rows of 2·cols column sums (warps' or slots'); the CTA
// adds them in order (row 0's, plus row 1's, …) and writes partial[chunk, 0 .. 2·cols) (overwrite), or
// with a single chunk (partial = null) adds them into d_weight and d_bias; then, in one launch
// (counters != null), the last CTA to finish adds every chunk's partials (the branch is the same for the CTA).
__device__ __forceinline__ void finish_chunk(float* __restrict__ d_weight, float* __restrict__ d_bias, float* __restrict__ partial,
                                             unsigned* __restrict__ counters, const float* acc, int parts, int cols) {
  const int width = 2 * cols;
  __syncthreads();
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    float s = acc[i];
    for (int w = 1; w < parts; ++w) s += acc[w * width + i];
    if (partial != nullptr) partial[static_cast<long long>(blockIdx.x) * width + i] = s;
    else if (i < cols) d_weight[i] += s;
    else d_bias[i - cols] += s;
  }
  if (partial != nullptr && counters != nullptr && colsum_last_arrival(counters, gridDim.x)) {
    colsum_tail(d_weight, d_bias, cols, partial, width, 0, width, gridDim.x);
  }
}

// layer_norm_backward's chunk of rows (any cols): dx, and the chunk's column sums into acc (dynamic shared
// memory, warps × 2·cols floats), each row read twice.
template <typename TD, typename TX>
__device__ __forceinline__ void backward_chunk(float* __restrict__ dx, float* __restrict__ d_weight, float* __restrict__ d_bias,
                                               float* __restrict__ partial, unsigned* __restrict__ counters, const TD* __restrict__ dout,
                                               const float* __restrict__ dout2, const TX* __restrict__ x,
                                               const float* __restrict__ weight, const float* __restrict__ mean,
                                               const float* __restrict__ rstd, int rows, int cols, int rows_per_chunk, int overwrite,
                                               float* acc, const int* __restrict__ ids) {
  const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int width = 2 * cols;
  // dx = null: the column sums alone; d_weight = null: dx alone (no shared memory, no second stage).
  const bool want_dx = dx != nullptr, want_sums = d_weight != nullptr;
  if (want_sums) {
    for (int i = threadIdx.x; i < warps * width; i += blockDim.x) acc[i] = 0.0f;
    __syncthreads();
  }
  // This warp's Σ dout · x̂ and Σ dout per column; lane l owns columns l, l + 32, …, so no other thread
  // touches them until the barrier in finish_chunk.
  float* const sum_w = acc + warp * width;
  float* const sum_b = sum_w + cols;
  const long long r0 = static_cast<long long>(blockIdx.x) * rows_per_chunk;
  const long long r1 = min(r0 + rows_per_chunk, static_cast<long long>(rows));
  // The incoming gradient at element i: dout, or dout + dout2 (no + 0.f without dout2: a -0 stays -0).
  auto grad = [&](long long i) { return dout2 != nullptr ? to_float(dout[i]) + dout2[i] : to_float(dout[i]); };
  // Rows base, base + warps, … (LN_BWD_ROWS of them): each warp visits rows r0 + warp + i·warps in
  // increasing order, which is the order of its column sums.
  for (long long base = r0 + warp; base < r1; base += static_cast<long long>(LN_BWD_ROWS) * warps) {
    bool live[LN_BWD_ROWS];
    long long o[LN_BWD_ROWS];
    float mu[LN_BWD_ROWS], rs[LN_BWD_ROWS], mg[LN_BWD_ROWS], mgx[LN_BWD_ROWS];
#pragma unroll
    for (int j = 0; j < LN_BWD_ROWS; ++j) {
      const long long r = base + static_cast<long long>(j) * warps;
      live[j] = r < r1 && (ids == nullptr || ids[r] != 0);
      o[j] = r * cols;
      // A padding row's dx (=) is 0.
      if (want_dx && overwrite && r < r1 && !live[j]) {
        for (int c = lane; c < cols; c += 32) dx[o[j] + c] = 0.0f;
      }
      mu[j] = live[j] ? mean[r] : 0.0f;
      rs[j] = live[j] ? rstd[r] : 0.0f;
      mg[j] = 0.0f;
      mgx[j] = 0.0f;
    }
    // Two columns per step: with LN_BWD_ROWS rows, 8 loads in flight per lane (64 registers, 4 CTAs per SM).
    // The row means serve dx only.
#pragma unroll 2
    for (int c = lane; c < cols; c += 32) {
      const float w = weight[c];
#pragma unroll
      for (int j = 0; j < LN_BWD_ROWS; ++j) {
        if (want_dx && live[j]) {
          const float g = grad(o[j] + c) * w;
          const float xh = (to_float(x[o[j] + c]) - mu[j]) * rs[j];
          mg[j] += g;
          mgx[j] = fmaf(g, xh, mgx[j]);
        }
      }
    }
    // Every lane takes part (live is the same across the warp); a dead row's sums are zeros.
#pragma unroll
    for (int j = 0; j < LN_BWD_ROWS; ++j) {
      mg[j] = warp_sum(mg[j]) / cols;
      mgx[j] = warp_sum(mgx[j]) / cols;
    }
    // The second read of the rows comes from L1 or L2: the warp read them just above.
#pragma unroll 2
    for (int c = lane; c < cols; c += 32) {
      const float w = weight[c];
      float sw = want_sums ? sum_w[c] : 0.0f, sb = want_sums ? sum_b[c] : 0.0f;
#pragma unroll
      for (int j = 0; j < LN_BWD_ROWS; ++j) {
        if (live[j]) {
          const float dy = grad(o[j] + c);
          const float xh = (to_float(x[o[j] + c]) - mu[j]) * rs[j];
          if (want_dx) {
            const float v = rs[j] * (dy * w - mg[j] - xh * mgx[j]);
            dx[o[j] + c] = overwrite ? v : dx[o[j] + c] + v;
          }
          sw = fmaf(dy, xh, sw);
          sb += dy;
        }
      }
      if (want_sums) {
        sum_w[c] = sw;
        sum_b[c] = sb;
      }
    }
  }
  if (want_sums) finish_chunk(d_weight, d_bias, partial, counters, acc, warps, cols);
}

__device__ __forceinline__ bool aligned_to(const void* p, unsigned bytes) { return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0; }

// Elements i .. i+3 of a row whose first n (may be ≥ 4, or ≤ 0) exist, into v (0 past the row's end): one
// 16-byte (f32) or 8-byte (bf16) load when vec (then n ≥ 4 and the address is aligned), else element by
// element. The values are the same either way.
__device__ __forceinline__ void load4(float (&v)[4], const float* __restrict__ p, long long i, int n, bool vec) {
  if (vec) {
    const float4 q = *reinterpret_cast<const float4*>(p + i);
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
  } else {
#pragma unroll
    for (int e = 0; e < 4; ++e) v[e] = e < n ? p[i + e] : 0.0f;
  }
}
__device__ __forceinline__ void load4(float (&v)[4], const bf16* __restrict__ p, long long i, int n, bool vec) {
  if (vec) {
    // Element i in the low half of the first word; a bf16 is the high 16 bits of its float.
    const uint2 q = *reinterpret_cast<const uint2*>(p + i);
    v[0] = __uint_as_float(q.x << 16);
    v[1] = __uint_as_float(q.x & 0xffff0000u);
    v[2] = __uint_as_float(q.y << 16);
    v[3] = __uint_as_float(q.y & 0xffff0000u);
  } else {
#pragma unroll
    for (int e = 0; e < 4; ++e) v[e] = e < n ? __bfloat162float(p[i + e]) : 0.0f;
  }
}
__device__ __forceinline__ void store4(float* __restrict__ p, long long i, const float (&v)[4], int n, bool vec) {
  if (vec) {
    *reinterpret_cast<float4*>(p + i) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if (e < n) p[i + e] = v[e];
    }
  }
}

// layer_norm_backward_narrow's chunk of rows (cols ≤ 4·V·32 ≤ LN_NARROW_COLS): a row belongs to a team of T lanes (the
// least power of two with 4·V·T ≥ cols), lane t of the team holding columns 4·(t + T·v) + e (v < V,
// e < 4) of its rows in registers; a warp holds 32 / T teams, the CTA slots = warps · 32 / T of them, and
// slot s (= warp · 32 / T + team) takes rows r0 + s + slots·i, i = 0, 1, …, R = 4 / V at a time: the
// R rows' dout (+ dout2), x (and dx for +=) in one round of 16-byte loads (16 floats of each per lane),
// while the next step's ids, mean and rstd load too (the round's loads wait for nothing). The row means
// are each lane's columns in increasing order, then an xor butterfly over the team (T / 2, …, 1); each
// lane keeps its columns' Σ dy · x̂ and Σ dy over the slot's rows (increasing) in registers and leaves
// them in acc[slot] (slots × 2·cols floats) at the end, for finish_chunk.
template <int V, typename TD, typename TX>
__device__ __forceinline__ void narrow_chunk(float* __restrict__ dx, float* __restrict__ d_weight, float* __restrict__ d_bias,
                                             float* __restrict__ partial, unsigned* __restrict__ counters, const TD* __restrict__ dout,
                                             const float* __restrict__ dout2, const TX* __restrict__ x,
                                             const float* __restrict__ weight, const float* __restrict__ mean,
                                             const float* __restrict__ rstd, int rows, int cols, int rows_per_chunk, int overwrite,
                                             float* acc, const int* __restrict__ ids) {
  constexpr int R = 4 / V;
  int team = 1;
  while (4 * V * team < cols) team <<= 1;
  const int teams = 32 / team, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = lane & (team - 1);
  const int slots = (blockDim.x >> 5) * teams, slot = warp * teams + lane / team;
  const int width = 2 * cols;
  // 16-byte (f32) and 8-byte (bf16) accesses need cols % 4 == 0 (every row then starts aligned) and
  // aligned bases: always for the backend's views (256-byte aligned).
  const bool vec = (cols & 3) == 0 && aligned_to(dout, 4 * sizeof(TD)) && aligned_to(x, 4 * sizeof(TX)) && aligned_to(dx, 16) &&
                   (dout2 == nullptr || aligned_to(dout2, 16));
  // dx = null: the column sums alone; d_weight = null: dx alone (no shared memory, no second stage).
  const bool want_dx = dx != nullptr, want_sums = d_weight != nullptr;
  const long long r0 = static_cast<long long>(blockIdx.x) * rows_per_chunk;
  const long long r1 = min(r0 + rows_per_chunk, static_cast<long long>(rows));
  const long long step = static_cast<long long>(slots) * R;
  int c0[V];
  float w[V][4], sw[V][4], sb[V][4];
#pragma unroll
  for (int v = 0; v < V; ++v) {
    c0[v] = 4 * (t + team * v);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      w[v][e] = c0[v] + e < cols ? weight[c0[v] + e] : 0.0f;
      sw[v][e] = 0.0f;
      sb[v][e] = 0.0f;
    }
  }
  // The next step's rows: in the chunk, live (not padding), their statistics (0 where not live).
  bool in_n[R], live_n[R];
  float mu_n[R], rs_n[R];
  auto fetch = [&](long long first) {
#pragma unroll
    for (int j = 0; j < R; ++j) {
      const long long r = first + static_cast<long long>(j) * slots;
      in_n[j] = r < r1;
      live_n[j] = in_n[j] && (ids == nullptr || ids[r] != 0);
      mu_n[j] = live_n[j] ? mean[r] : 0.0f;
      rs_n[j] = live_n[j] ? rstd[r] : 0.0f;
    }
  };
  long long base = r0 + slot;
  fetch(base);
  // The warp's first slot decides the steps, so every lane of the warp takes every step's shuffles (a
  // later team's rows past r1 are dead).
  for (long long first = r0 + warp * teams; first < r1; first += step, base += step) {
    bool in[R], live[R];
    float mu[R], rs[R];
    long long o[R];
#pragma unroll
    for (int j = 0; j < R; ++j) {
      in[j] = in_n[j];
      live[j] = live_n[j];
      mu[j] = mu_n[j];
      rs[j] = rs_n[j];
      o[j] = (base + static_cast<long long>(j) * slots) * cols;
    }
    float dy[R][V][4], xv[R][V][4];
#pragma unroll
    for (int j = 0; j < R; ++j) {
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const int n = cols - c0[v];
        if (live[j] && n > 0) {
          load4(dy[j][v], dout, o[j] + c0[v], n, vec);
          // dy = dout + dout2 (their fp32 sum; no + 0.f without dout2: a -0 stays -0).
          if (dout2 != nullptr) {
            float d2[4];
            load4(d2, dout2, o[j] + c0[v], n, vec);
#pragma unroll
            for (int e = 0; e < 4; ++e) dy[j][v][e] += d2[e];
          }
          load4(xv[j][v], x, o[j] + c0[v], n, vec);
        } else {
#pragma unroll
          for (int e = 0; e < 4; ++e) dy[j][v][e] = xv[j][v][e] = 0.0f;
        }
      }
    }
    fetch(base + step);
    // The generic kernel's expressions: mean_c(g) and mean_c(g · x̂) of each row (for dx only).
    float mg[R], mgx[R];
#pragma unroll
    for (int j = 0; j < R; ++j) {
      mg[j] = 0.0f;
      mgx[j] = 0.0f;
#pragma unroll
      for (int v = 0; v < V; ++v) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          if (want_dx && live[j] && c0[v] + e < cols) {
            const float g = dy[j][v][e] * w[v][e];
            const float xh = (xv[j][v][e] - mu[j]) * rs[j];
            mg[j] += g;
            mgx[j] = fmaf(g, xh, mgx[j]);
          }
        }
      }
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) {
        if (off < team) {
          mg[j] += __shfl_xor_sync(0xffffffffu, mg[j], off);
          mgx[j] += __shfl_xor_sync(0xffffffffu, mgx[j], off);
        }
      }
      mg[j] = mg[j] / cols;
      mgx[j] = mgx[j] / cols;
    }
    // dx (+=) is read only now, a round of its own: loaded with the others it held 16 more registers
    // through the butterflies, past the 128 that keep 2 CTAs on an SM (the models' calls overwrite).
    float dxv[R][V][4];
#pragma unroll
    for (int j = 0; j < R; ++j) {
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const int n = cols - c0[v];
        if (want_dx && !overwrite && live[j] && n > 0) load4(dxv[j][v], dx, o[j] + c0[v], n, vec);
        else {
#pragma unroll
          for (int e = 0; e < 4; ++e) dxv[j][v][e] = 0.0f;
        }
      }
    }
#pragma unroll
    for (int j = 0; j < R; ++j) {
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const int n = cols - c0[v];
        // A padding row's dx (=) is 0; with (+=) it is left as it is.
        if (n <= 0 || !(live[j] || (in[j] && overwrite))) continue;
        float out[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          out[e] = 0.0f;
          if (live[j] && e < n) {
            const float d = dy[j][v][e];
            const float xh = (xv[j][v][e] - mu[j]) * rs[j];
            const float val = rs[j] * (d * w[v][e] - mg[j] - xh * mgx[j]);
            out[e] = overwrite ? val : dxv[j][v][e] + val;
            sw[v][e] = fmaf(d, xh, sw[v][e]);
            sb[v][e] += d;
          }
        }
        if (want_dx) store4(dx, o[j] + c0[v], out, n, vec);
      }
    }
  }
  if (!want_sums) return;
  // Every column of every slot is written (zeros where the slot had no rows): no clearing first.
  float* const sum_w = acc + slot * width;
#pragma unroll
  for (int v = 0; v < V; ++v) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if (c0[v] + e < cols) {
        sum_w[c0[v] + e] = sw[v][e];
        sum_w[cols + c0[v] + e] = sb[v][e];
      }
    }
  }
  finish_chunk(d_weight, d_bias, partial, counters, acc, slots, cols);
}

// Both entry points: layer_norm_backward takes any cols (≤ 12,288: the launcher's shared-memory bound),
// layer_norm_backward_narrow cols ≤ LN_NARROW_COLS with the rows in registers (V = 1 up to 128 columns,
// 2 beyond). Two kernels, not one, so that the wide path keeps its 64 registers (4 CTAs per SM)
// while the narrow one takes up to 128 (2 CTAs per SM).
#define LN_DISPATCH(CHUNK)                                                                                                      \
  extern __shared__ float acc[];                                                                                                \
  const float* df = static_cast<const float*>(dout);                                                                            \
  const bf16* db = static_cast<const bf16*>(dout);                                                                              \
  const float* xf = static_cast<const float*>(x);                                                                               \
  const bf16* xb = static_cast<const bf16*>(x);                                                                                 \
  if (dout_bf16) {                                                                                                              \
    if (x_bf16) CHUNK(db, xb);                                                                                                  \
    else CHUNK(db, xf);                                                                                                         \
  } else {                                                                                                                      \
    if (x_bf16) CHUNK(df, xb);                                                                                                  \
    else CHUNK(df, xf);                                                                                                         \
  }

#define LN_BWD_PARAMS                                                                                                                   \
  float *__restrict__ dx, float *__restrict__ d_weight, float *__restrict__ d_bias, float *__restrict__ partial,                       \
      unsigned *__restrict__ counters, const void *__restrict__ dout, int dout_bf16, const float *__restrict__ dout2,                 \
      const void *__restrict__ x, int x_bf16, const float *__restrict__ weight, const float *__restrict__ mean,                       \
      const float *__restrict__ rstd, int rows, int cols, int rows_per_chunk, int overwrite, const int *__restrict__ ids
#define LN_CHUNK_ARGS(D, X) \
  (dx, d_weight, d_bias, partial, counters, D, dout2, X, weight, mean, rstd, rows, cols, rows_per_chunk, overwrite, acc, ids)

extern "C" __global__ void __launch_bounds__(32 * LN_BWD_MAX_WARPS) layer_norm_backward(LN_BWD_PARAMS) {
#define LN_WIDE(D, X) backward_chunk LN_CHUNK_ARGS(D, X)
  LN_DISPATCH(LN_WIDE)
#undef LN_WIDE
}

extern "C" __global__ void __launch_bounds__(32 * LN_BWD_MAX_WARPS, 2) layer_norm_backward_narrow(LN_BWD_PARAMS) {
#define LN_NARROW(D, X)                                   \
  do {                                                    \
    if (cols <= 4 * 32) narrow_chunk<1> LN_CHUNK_ARGS(D, X); \
    else narrow_chunk<2> LN_CHUNK_ARGS(D, X);             \
  } while (0)
  LN_DISPATCH(LN_NARROW)
#undef LN_NARROW
}

// Stage 2 as a kernel of its own (counters = null): blockIdx.y = 0 sums the weight partials into
// d_weight, 1 the bias partials into d_bias, a CTA per COLSUM_LANES columns (column_sums.cuh's order).
extern "C" __global__ void __launch_bounds__(COLSUM_LANES * COLSUM_PHASES)
    layer_norm_backward_sum(float* __restrict__ d_weight, float* __restrict__ d_bias, const float* __restrict__ partial, int chunks,
                            int cols) {
  colsum_phase_tree(blockIdx.y == 0 ? d_weight : d_bias, partial, 2LL * cols, static_cast<long long>(blockIdx.y) * cols, cols, chunks);
}
