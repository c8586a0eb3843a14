// Philox4x32-10 (Salmon et al., SC 2011; Random123's constants) on the device, exactly as
// src/backend/philox.ts computes it on the host, and the counter words that name its streams: one
// definition for every kernel family that draws (dropout masks, negatives), so CPU and GPU agree bit
// for bit.
#pragma once

#include <stdint.h>

// Counter word c3 of dropout masks ("DROP", backend/philox.ts DROPOUT_STREAM).
#define PHILOX_DROPOUT_STREAM 0x44524f50u
// Counter word c3 of negative draws ("NEG!", backend/philox.ts NEGATIVES_STREAM).
#define PHILOX_NEGATIVES_STREAM 0x4e454721u
// Counter word c3 of sce's random projections ("SCE!", backend/philox.ts SCE_STREAM).
#define PHILOX_SCE_STREAM 0x53434521u

__device__ __forceinline__ uint4 philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const uint32_t lo0 = c0 * 0xD2511F53u, hi0 = __umulhi(c0, 0xD2511F53u);
    const uint32_t lo1 = c2 * 0xCD9E8D57u, hi1 = __umulhi(c2, 0xCD9E8D57u);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return make_uint4(c0, c1, c2, c3);
}

// Word i (0..3) of a Philox output.
__device__ __forceinline__ uint32_t word_of(const uint4& w, int i) {
  return i == 0 ? w.x : i == 1 ? w.y : i == 2 ? w.z : w.w;
}
