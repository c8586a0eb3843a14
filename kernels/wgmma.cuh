// Warpgroup (wgmma, sm_90a) helpers shared by kernels/cce.cu and kernels/gemm_wg.cu: the shared-memory
// matrix descriptor of a 128-byte-swizzled operand, the fence / commit / wait of an async wgmma group, and
// the register fence that keeps the compiler off accumulators a wgmma in flight writes. Included inside
// each file's sm_90a guard (the instructions exist there only).
#pragma once

#include <stdint.h>

// Matrix descriptor of a 128-byte-swizzled operand: start address, leading and stride byte offsets.
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) | (static_cast<uint64_t>((lbo & 0x3FFFF) >> 4) << 16) |
         (static_cast<uint64_t>((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }

// Registers an async wgmma reads or writes must not be touched (or reused) across its issue and its wait.
template <int J>
__device__ __forceinline__ void fence_acc(float (&d)[J][4]) {
#pragma unroll
  for (int j = 0; j < J; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j][e])::"memory");
}
