// Shared by the CCE kernel families (cce.cu: full softmax; cce_sampled.cu: CCE- and BCE+): types,
// constants, and the two small kernels both loss paths end with. Each family's module carries its own
// copy of these entry points.
#pragma once

#include <cuda_bf16.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

#define CCE_LOG2E 1.4426950408889634f
#define CCE_LN2 0.6931471805599453f

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// dh = scale · dh_raw over n elements (f32 or bf16 output; f32 may alias dh_raw).
extern "C" __global__ void cce_hidden_grad(float* dh_f32, bf16* __restrict__ dh_bf16, const float* dh_raw, long long n,
                                           float scale) {
  for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<long long>(gridDim.x) * blockDim.x) {
    const float v = scale * dh_raw[k];
    if (dh_f32 != nullptr) dh_f32[k] = v;
    else dh_bf16[k] = __float2bfloat16_rn(v);
  }
}

// loss[0] = Σ row_loss / M (0 when M = 0), summed in fp64 in a fixed order. One CTA of 1024 threads:
// thread t adds rows t, t + 1024, … in increasing order, CCE_REDUCE_LOADS of them loaded at a time (one
// load after another, each waiting on the last add, took ~9 µs at N = 17,152).
#define CCE_REDUCE_LOADS 8
extern "C" __global__ void __launch_bounds__(1024) cce_loss_reduce(float* __restrict__ loss, const float* __restrict__ row_loss,
                                                                   int N, int M) {
  __shared__ double part[32];
  double sum = 0.0;
  for (int base = threadIdx.x; base < N; base += CCE_REDUCE_LOADS * blockDim.x) {
    float v[CCE_REDUCE_LOADS];
#pragma unroll
    for (int u = 0; u < CCE_REDUCE_LOADS; ++u) {
      const int k = base + u * static_cast<int>(blockDim.x);
      v[u] = k < N ? row_loss[k] : 0.f;
    }
#pragma unroll
    for (int u = 0; u < CCE_REDUCE_LOADS; ++u) {
      if (base + u * static_cast<int>(blockDim.x) < N) sum += v[u];
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    sum = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.0;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (threadIdx.x == 0) loss[0] = M > 0 ? static_cast<float>(sum / M) : 0.f;
  }
}

