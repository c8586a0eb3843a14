// @variants sm80
//
// adam: one bias-corrected Adam step (Kingma & Ba, no weight decay), the optimiser of the ops interface
// (src/backend/ops.ts adamStep), with its launcher in src/backend/cuda/adam-kernels.ts and its CPU
// reference in src/backend/cpu/adam.ts (same formula, same order of operations):
//
//   m = beta1·m + (1 - beta1)·g
//   v = beta2·v + (1 - beta2)·g²
//   param = param - lr·(m / c1) / (sqrt(v / c2) + eps),   c1 = 1 - beta1^step, c2 = 1 - beta2^step
//
//   adam_step   param[n], m[n], v[n] (all updated in place), grad[n]; all f32, n 64-bit.
//               The host computes 1 - beta1, 1 - beta2, c1 and c2 in doubles and passes them rounded
//               to f32; the kernel computes in fp32 with IEEE division and square root (the CPU in
//               doubles: after one step params agree to ~1e-7 relative, m and v to a few ulp).
//               vec4 = 1 promises that param, m, v and grad are 16-byte aligned: groups of four move
//               as float4, the n % 4 tail element by element; vec4 = 0 moves every element alone.
//               counters (null: the host's constants hold): the step's counters on the device, i32
//               {global step (0-based), valid targets M} — a replayed step reads them instead of its
//               launch's constants: step = counters[0] + 1 gives c1 and c2 (in doubles, from beta1_d and
//               beta2_d), and the gradient is the loss SUM's, divided here by M (the mean's gradient).
//               narrow (bf16 [n] or null): the updated param rounded to bf16 (nearest even), written in
//               the same pass (vec4 = 1 also promises it 8-byte aligned): the GEMMs' narrow weights.
// ACCUMULATES: nothing (+= in the ops sense); param, m and v are read and overwritten in place; narrow
// is overwritten.

// Threads per CTA and CTAs resident per multiprocessor (≤ 48 registers a thread: four float4 operands
// and the hyperparameters fit without spills); the launcher's grid holds at most ADAM_CTAS_PER_SM CTAs
// per multiprocessor, so it runs in one wave. 5 × 256 threads, 64 bytes in flight each, are ~80 KB per
// multiprocessor in flight: ample for full memory bandwidth.
#include <cuda_bf16.h>

#define ADAM_THREADS 256
#define ADAM_CTAS_PER_SM 5

struct AdamHyper {
  float lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, c1, c2, grad_scale;
};

__device__ __forceinline__ void adam_update(float& p, float& m, float& v, float g_raw, const AdamHyper& h) {
  // g_raw · 1 exactly when no counters are given: the arithmetic is the CPU's then.
  const float g = g_raw * h.grad_scale;
  m = h.beta1 * m + h.one_minus_beta1 * g;
  v = h.beta2 * v + h.one_minus_beta2 * g * g;
  p = p - (h.lr * (m / h.c1)) / (sqrtf(v / h.c2) + h.eps);
}

extern "C" __global__ void __launch_bounds__(ADAM_THREADS, ADAM_CTAS_PER_SM) adam_step(float* __restrict__ param, float* __restrict__ m, float* __restrict__ v,
                                     const float* __restrict__ grad, long long n, float lr, float beta1, float beta2,
                                     float one_minus_beta1, float one_minus_beta2, float eps, float c1, float c2, int vec4,
                                     const int* __restrict__ counters, double beta1_d, double beta2_d,
                                     __nv_bfloat16* __restrict__ narrow) {
  AdamHyper h = {lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, c1, c2, 1.0f};
  if (counters != nullptr) {
    const double step = static_cast<double>(counters[0]) + 1.0;
    h.c1 = static_cast<float>(1.0 - pow(beta1_d, step));
    h.c2 = static_cast<float>(1.0 - pow(beta2_d, step));
    h.grad_scale = 1.0f / static_cast<float>(counters[1]);
  }
  const long long first = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  const long long groups = vec4 ? n >> 2 : 0;
  for (long long k = first; k < groups; k += stride) {
    float4 p4 = reinterpret_cast<const float4*>(param)[k];
    float4 m4 = reinterpret_cast<const float4*>(m)[k];
    float4 v4 = reinterpret_cast<const float4*>(v)[k];
    const float4 g4 = reinterpret_cast<const float4*>(grad)[k];
    adam_update(p4.x, m4.x, v4.x, g4.x, h);
    adam_update(p4.y, m4.y, v4.y, g4.y, h);
    adam_update(p4.z, m4.z, v4.z, g4.z, h);
    adam_update(p4.w, m4.w, v4.w, g4.w, h);
    reinterpret_cast<float4*>(param)[k] = p4;
    reinterpret_cast<float4*>(m)[k] = m4;
    reinterpret_cast<float4*>(v)[k] = v4;
    if (narrow != nullptr) {
      reinterpret_cast<__nv_bfloat162*>(narrow)[2 * k] = __floats2bfloat162_rn(p4.x, p4.y);
      reinterpret_cast<__nv_bfloat162*>(narrow)[2 * k + 1] = __floats2bfloat162_rn(p4.z, p4.w);
    }
  }
  for (long long i = 4 * groups + first; i < n; i += stride) {
    float p = param[i], mi = m[i], vi = v[i];
    adam_update(p, mi, vi, grad[i], h);
    param[i] = p;
    m[i] = mi;
    v[i] = vi;
    if (narrow != nullptr) narrow[i] = __float2bfloat16_rn(p);
  }
}
