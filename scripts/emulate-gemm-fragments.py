# Host emulation of kernels/gemm.cu's bf16 kernels (gemm_tiled_body, and gemm_bf16_body as the 128 × 64 shape):
# the shared layout the Stager writes, the lane addresses of frag_a / frag_b, ldmatrix (.trans) and the
# mma.sync m16n8k16 fragment layouts (PTX ISA), and the epilogue's coordinates, over one BK = 32 step of a
# full CTA tile with small integers, against numpy's product: exact equality, every output written once.
#
#   python3 scripts/emulate-gemm-fragments.py
import numpy as np
BK, PAD = 32, 8
rng = np.random.default_rng(1)

def ldsm(smem, addrs, trans):
    regs = np.zeros((32, 4, 2))
    for i in range(4):
        M = np.stack([smem[addrs[8 * i + j]: addrs[8 * i + j] + 8] for j in range(8)])
        for t in range(32):
            g, q = t // 4, t % 4
            regs[t, i] = (M[2 * q][g], M[2 * q + 1][g]) if trans else (M[g][2 * q], M[g][2 * q + 1])
    return regs

def frag_a(smem, dc, outer, r0, k0):
    lanes = np.arange(32)
    if dc:
        addr = (r0 + (lanes & 15)) * (BK + PAD) + k0 + ((lanes >> 4) << 3)
    else:
        addr = (k0 + (lanes & 7) + ((lanes >> 4) << 3)) * (outer + PAD) + r0 + (((lanes >> 3) & 1) << 3)
    return ldsm(smem, addr, not dc)

def frag_b(smem, dc, outer, c0, k0):
    lanes = np.arange(32)
    if dc:
        addr = (c0 + (lanes & 7) + ((lanes >> 4) << 3)) * (BK + PAD) + k0 + (((lanes >> 3) & 1) << 3)
    else:
        addr = (k0 + (lanes & 7) + (((lanes >> 3) & 1) << 3)) * (outer + PAD) + c0 + ((lanes >> 4) << 3)
    return ldsm(smem, addr, not dc)

def mma(acc, fa, b0, b1):
    A = np.zeros((16, 16)); B = np.zeros((16, 8))
    for t in range(32):
        g, q = t // 4, t % 4
        A[g, 2*q:2*q+2] = fa[t, 0]; A[g+8, 2*q:2*q+2] = fa[t, 1]; A[g, 2*q+8:2*q+10] = fa[t, 2]; A[g+8, 2*q+8:2*q+10] = fa[t, 3]
        B[2*q:2*q+2, g] = b0[t]; B[2*q+8:2*q+10, g] = b1[t]
    D = A @ B
    for t in range(32):
        g, q = t // 4, t % 4
        acc[t] += (D[g, 2*q], D[g, 2*q+1], D[g+8, 2*q], D[g+8, 2*q+1])

def stage(op, outer, dc):
    # op: the logical [outer × BK] slice (a: rows × depth; b: columns × depth)
    if dc:
        s = np.zeros((outer, BK + PAD)); s[:, :BK] = op
    else:
        s = np.zeros((BK, outer + PAD)); s[:, :outer] = op.T
    return s.ravel()

def check(BM, BN, WARPS_M, TA, TB):
    WARPS_N = 8 // WARPS_M; WM, WN = BM // WARPS_M, BN // WARPS_N; MI, NJ = WM // 16, WN // 16
    Aop = rng.integers(-4, 5, (BM, BK)).astype(float); Bop = rng.integers(-4, 5, (BK, BN)).astype(float)
    sa = stage(Aop, BM, not TA); sb = stage(Bop.T, BN, TB)
    assert sa.size == (BM * (BK + PAD) if not TA else BK * (BM + PAD))
    out = np.full((BM, BN), np.nan); written = np.zeros((BM, BN), int)
    for warp in range(8):
        wm, wn = (warp % WARPS_M) * WM, (warp // WARPS_M) * WN
        acc = np.zeros((MI, 2 * NJ, 32, 4))
        for kk in (0, 16):
            fa = [frag_a(sa, not TA, BM, wm + 16 * i, kk) for i in range(MI)]
            fb = [frag_b(sb, TB, BN, wn + 16 * j, kk) for j in range(NJ)]
            for i in range(MI):
                for j in range(NJ):
                    mma(acc[i, 2 * j], fa[i], fb[j][:, 0], fb[j][:, 1])
                    mma(acc[i, 2 * j + 1], fa[i], fb[j][:, 2], fb[j][:, 3])
        for t in range(32):
            g, q = t >> 2, t & 3
            for i in range(MI):
                for j in range(2 * NJ):
                    r, c = wm + 16 * i + g, wn + 8 * j + 2 * q
                    for rr, cc, v in ((r, c, 0), (r, c + 1, 1), (r + 8, c, 2), (r + 8, c + 1, 3)):
                        out[rr, cc] = acc[i, j, t, v]; written[rr, cc] += 1
    assert (written == 1).all(), 'every output written once'
    assert np.array_equal(out, Aop @ Bop), (BM, BN, TA, TB)
    print(f'ok {BM}x{BN} warps {WARPS_M}x{WARPS_N} ({WM}x{WN}) trans {int(TA)}{int(TB)}')

for cfg in ((128, 128, 2), (64, 64, 2), (128, 64, 4)):
    for TA in (False, True):
        for TB in (False, True):
            check(*cfg, TA, TB)
