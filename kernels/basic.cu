// @variants sm80
//
// basic: the proof kernels of the node-cuda path. Each has a launcher of the same name in
// src/cuda/basic-kernels.ts and a CPU reference in src/cuda/basic-reference.ts, with the same
// argument order: outputs, inputs, dimensions.
//
//   fill_f32(out[n], value, n)               out = value                        (overwrites out)
//   axpy_f32(y[n], x[n], a, n)               y = fma(a, x, y)                   (accumulates into y)
//   sum_partials_f32(partials[G], x[n], n)   partials[b] = sum of block b's share of x
//   sum_final_f32(out[1], partials[G], G)    out[0] = sum of partials          (overwrites out)
//
// All use grid-stride loops over n, so any grid size covers any n. The sum is deterministic for a
// given grid size G: each thread adds its strided elements in order, then blocks reduce in a fixed
// tree. Both sum kernels must be launched with SUM_THREADS threads a block.

#define SUM_THREADS 256

extern "C" __global__ void fill_f32(float* __restrict__ out, float value, unsigned long long n) {
  const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    out[i] = value;
  }
}

extern "C" __global__ void axpy_f32(float* __restrict__ y, const float* __restrict__ x, float a, unsigned long long n) {
  const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    y[i] = fmaf(a, x[i], y[i]);
  }
}

// Sum of v over the block (SUM_THREADS threads); the result is valid in thread 0.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[SUM_THREADS / 32];
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < SUM_THREADS / 32 ? warp_sums[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  return v;
}

extern "C" __global__ void __launch_bounds__(SUM_THREADS)
sum_partials_f32(float* __restrict__ partials, const float* __restrict__ x, unsigned long long n) {
  const unsigned long long stride = (unsigned long long)gridDim.x * SUM_THREADS;
  float acc = 0.0f;
  for (unsigned long long i = (unsigned long long)blockIdx.x * SUM_THREADS + threadIdx.x; i < n; i += stride) acc += x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

extern "C" __global__ void __launch_bounds__(SUM_THREADS)
sum_final_f32(float* __restrict__ out, const float* __restrict__ partials, unsigned int count) {
  float acc = 0.0f;
  for (unsigned int i = threadIdx.x; i < count; i += SUM_THREADS) acc += partials[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[0] = acc;
}
