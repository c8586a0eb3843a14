// @variants sm80
// layernorm: layer normalisation over the last dimension (src/backend/cpu/layernorm.ts is the reference),
// forward then backward. Launchers: src/backend/cuda/layernorm-kernels.ts.
//
// SHAPES   rows × cols, row-major
//   x, out      [rows × cols]  f32|bf16 (each its own flag: 1 = bf16)
//   dout        [rows × cols]  f32|bf16
//   weight, bias [cols]        f32
//   mean, rstd  [rows]         f32
//   dx          [rows × cols]  f32 (+=);  d_weight, d_bias [cols] f32 (+=)
//
// FORWARD  layer_norm_forward, a warp per row: mean = Σx / cols, var = Σ(x - mean)² / cols (biased, two
//          passes, as the reference), rstd = 1 / sqrt(var + eps) (IEEE sqrt and division);
//          out = (x - mean) · rstd · weight + bias (overwrite). SAVED for backward: mean, rstd (overwrite).
// BACKWARD layer_norm_backward_dx, a warp per row, with x̂ = (x - mean) · rstd and g = dout · weight:
//            dx (+=) rstd · (g - mean_c(g) - x̂ · mean_c(g · x̂))
//          layer_norm_backward_params, a CTA per strip of LN_STRIP columns: d_weight[c] (+=) Σ_r dout · x̂,
//            d_bias[c] (+=) Σ_r dout. Each thread sums the rows ≡ its phase (mod LN_PHASES) in order, then
//            the CTA adds the phases in a fixed tree: deterministic, with no atomics and no workspace.
// Warp sums use an xor butterfly: every lane ends with the same bits (addition is commutative), so the
// reductions are deterministic too. Arithmetic is fp32; bf16 stores round to nearest even.

#include <cuda_bf16.h>

typedef __nv_bfloat16 bf16;

// Warps (rows) per CTA of the row kernels.
#define LN_ROW_WARPS 8
// Columns per CTA of the parameter gradients (8 f32 = one 32-byte sector per row), threads per CTA, and
// the row phases that gives.
#define LN_STRIP 8
#define LN_PARAM_THREADS 1024
#define LN_PHASES (LN_PARAM_THREADS / LN_STRIP)

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
                       int rows, int cols, float eps) {
  const int lane = threadIdx.x & 31;
  const int warps = (gridDim.x * blockDim.x) >> 5;
  for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const long long o = static_cast<long long>(r) * cols;
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

extern "C" __global__ void __launch_bounds__(32 * LN_ROW_WARPS)
    layer_norm_backward_dx(float* __restrict__ dx, const void* __restrict__ dout, int dout_bf16, const void* __restrict__ x,
                           int x_bf16, const float* __restrict__ weight, const float* __restrict__ mean,
                           const float* __restrict__ rstd, int rows, int cols) {
  const int lane = threadIdx.x & 31;
  const int warps = (gridDim.x * blockDim.x) >> 5;
  for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const long long o = static_cast<long long>(r) * cols;
    const float mu = mean[r], rs = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (int c = lane; c < cols; c += 32) {
      const float g = load_x(dout, dout_bf16, o + c) * weight[c];
      const float xh = (load_x(x, x_bf16, o + c) - mu) * rs;
      sg += g;
      sgx = fmaf(g, xh, sgx);
    }
    const float mg = warp_sum(sg) / cols;
    const float mgx = warp_sum(sgx) / cols;
    for (int c = lane; c < cols; c += 32) {
      const float g = load_x(dout, dout_bf16, o + c) * weight[c];
      const float xh = (load_x(x, x_bf16, o + c) - mu) * rs;
      dx[o + c] += rs * (g - mg - xh * mgx);
    }
  }
}

// w_s, b_s: LN_PARAM_THREADS floats of shared memory each.
template <typename TD, typename TX>
__device__ __forceinline__ void param_grads(float* __restrict__ d_weight, float* __restrict__ d_bias, const TD* __restrict__ dout,
                                            const TX* __restrict__ x, const float* __restrict__ mean,
                                            const float* __restrict__ rstd, int rows, int cols, float* w_s, float* b_s) {
  const int lane_col = threadIdx.x % LN_STRIP;
  const int c = blockIdx.x * LN_STRIP + lane_col;
  float aw = 0.0f, ab = 0.0f;
  if (c < cols) {
#pragma unroll 4
    for (int r = threadIdx.x / LN_STRIP; r < rows; r += LN_PHASES) {
      const long long i = static_cast<long long>(r) * cols + c;
      const float dy = to_float(dout[i]);
      const float xh = (to_float(x[i]) - mean[r]) * rstd[r];
      aw = fmaf(dy, xh, aw);
      ab += dy;
    }
  }
  w_s[threadIdx.x] = aw;
  b_s[threadIdx.x] = ab;
  __syncthreads();
  // Halving keeps each thread on its own column (the halves are multiples of LN_STRIP).
#pragma unroll
  for (int half = LN_PARAM_THREADS / 2; half >= LN_STRIP; half >>= 1) {
    if (threadIdx.x < half) {
      w_s[threadIdx.x] += w_s[threadIdx.x + half];
      b_s[threadIdx.x] += b_s[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x < LN_STRIP && c < cols) {
    d_weight[c] += w_s[threadIdx.x];
    d_bias[c] += b_s[threadIdx.x];
  }
}

extern "C" __global__ void __launch_bounds__(LN_PARAM_THREADS)
    layer_norm_backward_params(float* __restrict__ d_weight, float* __restrict__ d_bias, const void* __restrict__ dout,
                               int dout_bf16, const void* __restrict__ x, int x_bf16, const float* __restrict__ mean,
                               const float* __restrict__ rstd, int rows, int cols) {
  __shared__ float w_s[LN_PARAM_THREADS];
  __shared__ float b_s[LN_PARAM_THREADS];
  const float* df = static_cast<const float*>(dout);
  const bf16* db = static_cast<const bf16*>(dout);
  const float* xf = static_cast<const float*>(x);
  const bf16* xb = static_cast<const bf16*>(x);
  if (dout_bf16) {
    if (x_bf16) param_grads(d_weight, d_bias, db, xb, mean, rstd, rows, cols, w_s, b_s);
    else param_grads(d_weight, d_bias, db, xf, mean, rstd, rows, cols, w_s, b_s);
  } else {
    if (x_bf16) param_grads(d_weight, d_bias, df, xb, mean, rstd, rows, cols, w_s, b_s);
    else param_grads(d_weight, d_bias, df, xf, mean, rstd, rows, cols, w_s, b_s);
  }
}
