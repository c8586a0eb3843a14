# Host emulation of kernels/gemm.cu's gemm_async_body data movement: RawStager.issue / convert (chunk
# ownership, the two planes, zero fill), the raw ring's slots, the double-buffered bf16 tiles and the
# cp.async group accounting (a copy lands only when cp.async.wait_group lets it; a raw slot is NaN until
# then, so reading it early fails). For one CTA over its k split it checks that the bf16 tile the mma of
# step s reads holds exactly op(a)[m0.., k0..] and op(b)[k0.., n0..] (zeros outside), on partial tiles, a
# split ending inside a k tile and the last split, for every tile shape and transpose. Fragment layouts:
# scripts/emulate-gemm-fragments.py.
#
#   python3 scripts/emulate-gemm-pipeline.py
import numpy as np
BK, PAD, THREADS, STAGES = 32, 8, 256, 2

class Raw:
    def __init__(s, rows, cols):
        s.rows, s.cols = rows, cols; s.cpr = cols // 8; s.total = rows * s.cpr; s.chunks = s.total // THREADS
        s.stride = cols + PAD; s.plane = s.total * 16  # bytes; we store floats per 4-byte word
    def issue(s, raw, M, row0, row_end, col0, col_end, pending, t):
        # raw: float array of RAW_BYTES/4 words (plane 0 words [0, plane/4), plane 1 after); bf16 values as floats
        for tid in range(THREADS):
            for c_ in range(s.chunks):
                chunk = tid + c_ * THREADS
                r = row0 + chunk // s.cpr; c = col0 + (chunk % s.cpr) * 8
                inside = r < row_end and c < col_end
                vals = [M[r, c + i] if inside and c + i < col_end else 0.0 for i in range(8)]
                lo = chunk * 4; hi = lo + s.plane // 4
                # async (pending until waited) for whole in-range chunks; synchronous otherwise
                dst = pending if (inside and c + 8 <= col_end) else None
                for i in range(4):
                    for (addr, v) in ((lo + i, vals[i]), (hi + i, vals[4 + i])):
                        if dst is None: raw[addr] = v
                        else: dst.append((t, raw, addr, v))
    def convert(s, tile, raw):
        for tid in range(THREADS):
            for c_ in range(s.chunks):
                chunk = tid + c_ * THREADS
                lo = chunk * 4; hi = lo + s.plane // 4
                v = [raw[lo + i] for i in range(4)] + [raw[hi + i] for i in range(4)]
                base = (chunk // s.cpr) * s.stride + (chunk % s.cpr) * 8
                assert not np.isnan(v).any(), 'read a slot whose copy has not landed'
                tile[base:base + 8] = v

def run(BM, BN, TA, TB, m, n, k, z, k_per_split, tm, tn):
    rng = np.random.default_rng(0)
    A = rng.integers(1, 9, (m, k)).astype(float); B = rng.integers(1, 9, (k, n)).astype(float)
    As = A.T.copy() if TA else A  # a as stored
    Bs = B.T.copy() if TB else B
    dcA, dcB = not TA, TB
    rawA = Raw(BM, BK) if dcA else Raw(BK, BM); rawB = Raw(BN, BK) if dcB else Raw(BK, BN)
    m0, n0 = tm * BM, tn * BN
    k_begin = z * k_per_split; k_end = min(k, k_begin + k_per_split)
    steps = (k_end - k_begin + BK - 1) // BK if k_end > k_begin else 0
    ringA = [np.full(rawA.plane // 2, np.nan) for _ in range(STAGES)]; ringB = [np.full(rawB.plane // 2, np.nan) for _ in range(STAGES)]
    tilesA = [np.full(rawA.rows * rawA.stride, np.nan) for _ in range(2)]; tilesB = [np.full(rawB.rows * rawB.stride, np.nan) for _ in range(2)]
    groups = []  # list of lists of pending writes, one per commit
    def issue(t):
        pend = []
        if t < steps:
            k0 = k_begin + t * BK; slot = t % STAGES
            ringA[slot][:] = np.nan; ringB[slot][:] = np.nan  # the slot's old contents are dead
            if dcA: rawA.issue(ringA[slot], As, m0, m, k0, k_end, pend, t)
            else: rawA.issue(ringA[slot], As, k0, k_end, m0, m, pend, t)
            if dcB: rawB.issue(ringB[slot], Bs, n0, n, k0, k_end, pend, t)
            else: rawB.issue(ringB[slot], Bs, k0, k_end, n0, n, pend, t)
        groups.append(pend)
    def wait(pending_allowed):
        while len([g for g in groups if g is not None]) > pending_allowed:
            i = next(i for i, g in enumerate(groups) if g is not None)
            for (_, raw, addr, v) in groups[i]: raw[addr] = v
            groups[i] = None
    def convert(t):
        wait(STAGES - 1); slot = t % STAGES
        rawA.convert(tilesA[t & 1], ringA[slot]); rawB.convert(tilesB[t & 1], ringB[slot]); issue(t + STAGES)
    for t in range(STAGES): issue(t)
    if steps > 0: convert(0)
    for s in range(steps):
        k0 = k_begin + s * BK
        # what the mma reads: op(a)[m0 + r, k0 + kk], zero outside
        wantA = np.zeros((BM, BK)); wantB = np.zeros((BK, BN))
        rr, kk = min(m, m0 + BM) - m0, min(k_end, k0 + BK) - k0
        wantA[:rr, :kk] = A[m0:m0 + rr, k0:k0 + kk]
        cc = min(n, n0 + BN) - n0
        wantB[:kk, :cc] = B[k0:k0 + kk, n0:n0 + cc]
        ta = tilesA[s & 1].reshape(rawA.rows, rawA.stride)[:, :rawA.cols]; tb = tilesB[s & 1].reshape(rawB.rows, rawB.stride)[:, :rawB.cols]
        gotA = ta if dcA else ta.T; gotB = tb.T if dcB else tb
        assert np.array_equal(gotA, wantA), ('A', s); assert np.array_equal(gotB, wantB), ('B', s)
        if s + 1 < steps: convert(s + 1)
    wait(0)
    return steps

for (BM, BN) in ((128, 128), (128, 64), (64, 64)):
    for TA in (False, True):
        for TB in (False, True):
            # a partial last m/n tile, a split whose end cuts a k tile, and the last split (ends at k)
            m, n, k = BM + 37, BN + 21, 333
            for z, kps in ((1, 96), (3, 96), (0, 333)):
                run(BM, BN, TA, TB, m, n, k, z, kps, 1, 1)
            run(BM, BN, TA, TB, m, n, k, 0, 333, 0, 0)
            print('ok', BM, BN, int(TA), int(TB))
