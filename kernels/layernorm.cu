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
// BACKWARD two stages, no float atomics, with x̂ = (x - mean) · rstd, dy = dout (+ dout2: the fp32 sum,
//          what ew_add of two f32 gradients stores) and g = dy · weight:
//          layer_norm_backward (any cols) or layer_norm_backward_narrow (cols ≤ 32·LN_BWD_REG), a CTA per
//            chunk of rows_per_chunk rows, a warp per row (LN_BWD_ROWS rows of a warp at a time, for loads
//            in flight): dx (+=, or = with overwrite: dx is then not read) rstd · (g - mean_c(g) - x̂ ·
//            mean_c(g · x̂)),
//            and, in the same pass over dout and x, the chunk's column sums Σ dy · x̂ and Σ dy: each
//            warp adds its rows in order into its own shared-memory row of 2·cols floats, then the CTA
//            adds the warps' rows in order and writes partial[chunk, 0 .. cols) (weight) and
//            partial[chunk, cols .. 2·cols) (bias) (overwrite; f32 scratch owned by the backend). Rows of
//            at most 32·LN_BWD_REG columns are loaded once into registers (dout, x and dx of a warp's
//            LN_BWD_ROWS rows in one round of loads, latency paid once); wider rows are read twice, the
//            second time from L1 or L2. Both paths compute the same expressions in the same order.
//          Then d_weight[c] (+=) Σ_k partial[k, c] and d_bias[c] (+=) Σ_k partial[k, cols + c] over the
//            chunks k in column_sums.cuh's fixed order: by the CTA that finishes last (counters != null:
//            counters[0], u32, 0 before the launch and left 0; one launch) or by layer_norm_backward_sum
//            (counters = null: a second launch, for partials too many for one CTA). With a single chunk
//            (partial = null) the first kernel adds into d_weight and d_bias itself.
//          Every sum's order depends on rows, cols, rows_per_chunk and the CTA's warps (the launcher
//            derives both from rows and cols): bit-identical run to run and on every GPU.
// PADDING ROWS (ids != null, i32 per row): a row whose id is 0 is padding. The forward writes out = 0,
// mean = rstd = 0 there; the backward reads neither gradient there, leaves its dx as it is (writes 0 with
// overwrite) and its terms out of the column sums (the models pass the ids where padding rows' dout is
// zero, so the sums are those of every row).
// Warp sums use an xor butterfly: every lane ends with the same bits (addition is commutative), so the
// reductions are deterministic too. Arithmetic is fp32; bf16 stores round to nearest even.

#include <cuda_bf16.h>

#include "column_sums.cuh"

typedef __nv_bfloat16 bf16;

// Warps (rows) per CTA of the forward.
#define LN_ROW_WARPS 8
// Backward: rows a warp handles at once, and the most warps of a CTA (fewer for wide rows, whose
// per-warp column sums take 8·cols bytes of shared memory each); columns per lane held in registers
// (rows of cols ≤ 32·LN_BWD_REG: SASRec's d ≤ 256).
#define LN_BWD_ROWS 2
#define LN_BWD_MAX_WARPS 8
#define LN_BWD_REG 8

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
                       int rows, int cols, float eps, const int* __restrict__ ids) {
  const int lane = threadIdx.x & 31;
  const int warps = (gridDim.x * blockDim.x) >> 5;
  for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const long long o = static_cast<long long>(r) * cols;
    if (ids != nullptr && ids[r] == 0) {
      for (int c = lane; c < cols; c += 32) {
        if (out_bf16) static_cast<bf16*>(out)[o + c] = __float2bfloat16_rn(0.0f);
        else static_cast<float*>(out)[o + c] = 0.0f;
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
      const float v = fmaf((load_x(x, x_bf16, o + c) - mu) * rs, weight[c], bias[c]);
      if (out_bf16) static_cast<bf16*>(out)[o + c] = __float2bfloat16_rn(v);
      else static_cast<float*>(out)[o + c] = v;
    }
    if (lane == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}


// One chunk of rows: dx, and the chunk's column sums into acc (dynamic shared memory, warps × 2·cols floats).
// REG > 0: cols ≤ 32·REG, each lane holds its REG columns of the warp's rows in registers; REG = 0: any cols.
template <int REG, typename TD, typename TX>
__device__ __forceinline__ void backward_chunk(float* __restrict__ dx, float* __restrict__ d_weight, float* __restrict__ d_bias,
                                               float* __restrict__ partial, unsigned* __restrict__ counters, const TD* __restrict__ dout,
                                               const float* __restrict__ dout2, const TX* __restrict__ x,
                                               const float* __restrict__ weight, const float* __restrict__ mean,
                                               const float* __restrict__ rstd, int rows, int cols, int rows_per_chunk, int overwrite,
                                               float* acc, const int* __restrict__ ids) {
  const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int width = 2 * cols;
  for (int i = threadIdx.x; i < warps * width; i += blockDim.x) acc[i] = 0.0f;
  __syncthreads();
  // This warp's Σ dout · x̂ and Σ dout per column; lane l owns columns l, l + 32, …, so no other thread
  // touches them until the barrier below.
  float* const sum_w = acc + warp * width;
  float* const sum_b = sum_w + cols;
  const long long r0 = static_cast<long long>(blockIdx.x) * rows_per_chunk;
  const long long r1 = min(r0 + rows_per_chunk, static_cast<long long>(rows));
  // The incoming gradient at element i: dout, or dout + dout2 (no + 0.f without dout2: a -0 stays -0).
  auto grad = [&](long long i) { return dout2 != nullptr ? to_float(dout[i]) + dout2[i] : to_float(dout[i]); };
  // The lane's columns of weight, for the register path (every row step uses them).
  float wv[REG > 0 ? REG : 1];
#pragma unroll
  for (int q = 0; q < REG; ++q) wv[q] = lane + 32 * q < cols ? weight[lane + 32 * q] : 0.0f;
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
      if (overwrite && r < r1 && !live[j]) {
        for (int c = lane; c < cols; c += 32) dx[o[j] + c] = 0.0f;
      }
      mu[j] = live[j] ? mean[r] : 0.0f;
      rs[j] = live[j] ? rstd[r] : 0.0f;
      mg[j] = 0.0f;
      mgx[j] = 0.0f;
    }
    if constexpr (REG > 0) {
      // One round of loads: the lane's columns of dout, x and dx of every row of the step.
      float dyv[LN_BWD_ROWS][REG], xv[LN_BWD_ROWS][REG], dxv[LN_BWD_ROWS][REG];
#pragma unroll
      for (int j = 0; j < LN_BWD_ROWS; ++j) {
#pragma unroll
        for (int q = 0; q < REG; ++q) {
          const int c = lane + 32 * q;
          const bool in = live[j] && c < cols;
          dyv[j][q] = in ? grad(o[j] + c) : 0.0f;
          xv[j][q] = in ? to_float(x[o[j] + c]) : 0.0f;
          dxv[j][q] = in && !overwrite ? dx[o[j] + c] : 0.0f;
        }
      }
      // The generic loops' expressions, columns in the same increasing order.
#pragma unroll
      for (int q = 0; q < REG; ++q) {
#pragma unroll
        for (int j = 0; j < LN_BWD_ROWS; ++j) {
          if (live[j] && lane + 32 * q < cols) {
            const float g = dyv[j][q] * wv[q];
            const float xh = (xv[j][q] - mu[j]) * rs[j];
            mg[j] += g;
            mgx[j] = fmaf(g, xh, mgx[j]);
          }
        }
      }
#pragma unroll
      for (int j = 0; j < LN_BWD_ROWS; ++j) {
        mg[j] = warp_sum(mg[j]) / cols;
        mgx[j] = warp_sum(mgx[j]) / cols;
      }
#pragma unroll
      for (int q = 0; q < REG; ++q) {
        const int c = lane + 32 * q;
        if (c >= cols) continue;
        float sw = sum_w[c], sb = sum_b[c];
#pragma unroll
        for (int j = 0; j < LN_BWD_ROWS; ++j) {
          if (live[j]) {
            const float dy = dyv[j][q];
            const float xh = (xv[j][q] - mu[j]) * rs[j];
            const float v = rs[j] * (dy * wv[q] - mg[j] - xh * mgx[j]);
            dx[o[j] + c] = overwrite ? v : dxv[j][q] + v;
            sw = fmaf(dy, xh, sw);
            sb += dy;
          }
        }
        sum_w[c] = sw;
        sum_b[c] = sb;
      }
      continue;  // the two-read loops below are REG = 0's
    }
    // Two columns per step: with LN_BWD_ROWS rows, 8 loads in flight per lane (64 registers, 4 CTAs per SM).
#pragma unroll 2
    for (int c = lane; c < cols; c += 32) {
      const float w = weight[c];
#pragma unroll
      for (int j = 0; j < LN_BWD_ROWS; ++j) {
        if (live[j]) {
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
      float sw = sum_w[c], sb = sum_b[c];
#pragma unroll
      for (int j = 0; j < LN_BWD_ROWS; ++j) {
        if (live[j]) {
          const float dy = grad(o[j] + c);
          const float xh = (to_float(x[o[j] + c]) - mu[j]) * rs[j];
          const float v = rs[j] * (dy * w - mg[j] - xh * mgx[j]);
          dx[o[j] + c] = overwrite ? v : dx[o[j] + c] + v;
          sw = fmaf(dy, xh, sw);
          sb += dy;
        }
      }
      sum_w[c] = sw;
      sum_b[c] = sb;
    }
  }
  __syncthreads();
  // The chunk's sums: warp 0's, plus warp 1's, … in order.
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    float s = acc[i];
    for (int w = 1; w < warps; ++w) s += acc[w * width + i];
    if (partial != nullptr) partial[static_cast<long long>(blockIdx.x) * width + i] = s;
    else if (i < cols) d_weight[i] += s;
    else d_bias[i - cols] += s;
  }
  // One launch: the last CTA to finish adds every chunk's partials (the branch is the same for the CTA).
  if (partial != nullptr && counters != nullptr && colsum_last_arrival(counters, gridDim.x)) {
    colsum_tail(d_weight, d_bias, cols, partial, width, 0, width, gridDim.x);
  }
}

// Both entry points: layer_norm_backward takes any cols (≤ 12,288: the launcher's shared-memory bound),
// layer_norm_backward_narrow cols ≤ 32·LN_BWD_REG with the rows in registers. Two kernels, not one, so
// that the wide path keeps its 64 registers (4 CTAs per SM) while the narrow one takes 114 (2 CTAs per SM,
// each lane with 48 loads in flight).
template <int REG>
__device__ __forceinline__ void backward_entry(float* __restrict__ dx, float* __restrict__ d_weight, float* __restrict__ d_bias,
                                               float* __restrict__ partial, unsigned* __restrict__ counters, const void* __restrict__ dout,
                                               int dout_bf16, const float* __restrict__ dout2, const void* __restrict__ x, int x_bf16,
                                               const float* __restrict__ weight, const float* __restrict__ mean,
                                               const float* __restrict__ rstd, int rows, int cols, int rows_per_chunk, int overwrite,
                                               const int* __restrict__ ids) {
  extern __shared__ float acc[];
  const float* df = static_cast<const float*>(dout);
  const bf16* db = static_cast<const bf16*>(dout);
  const float* xf = static_cast<const float*>(x);
  const bf16* xb = static_cast<const bf16*>(x);
#define LN_CHUNK(D, X) \
  backward_chunk<REG>(dx, d_weight, d_bias, partial, counters, D, dout2, X, weight, mean, rstd, rows, cols, rows_per_chunk, overwrite, acc, ids)
  if (dout_bf16) {
    if (x_bf16) LN_CHUNK(db, xb);
    else LN_CHUNK(db, xf);
  } else {
    if (x_bf16) LN_CHUNK(df, xb);
    else LN_CHUNK(df, xf);
  }
#undef LN_CHUNK
}

#define LN_BWD_PARAMS                                                                                                                   \
  float *__restrict__ dx, float *__restrict__ d_weight, float *__restrict__ d_bias, float *__restrict__ partial,                       \
      unsigned *__restrict__ counters, const void *__restrict__ dout, int dout_bf16, const float *__restrict__ dout2,                 \
      const void *__restrict__ x, int x_bf16, const float *__restrict__ weight, const float *__restrict__ mean,                       \
      const float *__restrict__ rstd, int rows, int cols, int rows_per_chunk, int overwrite, const int *__restrict__ ids
#define LN_BWD_ARGS \
  dx, d_weight, d_bias, partial, counters, dout, dout_bf16, dout2, x, x_bf16, weight, mean, rstd, rows, cols, rows_per_chunk, overwrite, ids

extern "C" __global__ void __launch_bounds__(32 * LN_BWD_MAX_WARPS) layer_norm_backward(LN_BWD_PARAMS) { backward_entry<0>(LN_BWD_ARGS); }

extern "C" __global__ void __launch_bounds__(32 * LN_BWD_MAX_WARPS) layer_norm_backward_narrow(LN_BWD_PARAMS) {
  backward_entry<LN_BWD_REG>(LN_BWD_ARGS);
}

// Stage 2 as a kernel of its own (counters = null): blockIdx.y = 0 sums the weight partials into
// d_weight, 1 the bias partials into d_bias, a CTA per COLSUM_LANES columns (column_sums.cuh's order).
extern "C" __global__ void __launch_bounds__(COLSUM_LANES * COLSUM_PHASES)
    layer_norm_backward_sum(float* __restrict__ d_weight, float* __restrict__ d_bias, const float* __restrict__ partial, int chunks,
                            int cols) {
  colsum_phase_tree(blockIdx.y == 0 ? d_weight : d_bias, partial, 2LL * cols, static_cast<long long>(blockIdx.y) * cols, cols, chunks);
}
