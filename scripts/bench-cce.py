"""CCE kernels on the GPU: correctness against a float64 reference, timing against PyTorch.

Runs on the device machine (CuPy + PyTorch, no Node.js): loads the compiled kernels/cce.cu module,
checks every entry point on fresh random bf16-rounded inputs of awkward shapes (outputs poisoned
first), then times forward+backward on the issue's shapes next to torch cross-entropy over
materialised bf16 logits (the baseline). Prints a short table last; full results go to --out as JSON.

  python3 scripts/bench-cce.py --module kernels/ptx/cce.sm90a.cubin --check --bench --out $OUT

The launch logic mirrors src/backend/cuda (tile shapes of CceShape in kernels/cce.cu).
"""
import argparse
import json
import math
import os
import sys
import time

import cupy as cp
import numpy as np
import torch
import torch.nn.functional as F

# Tile shapes of kernels/cce.cu, D: (WARPS, BS, DO): CceShape (mma.sync) and CceShapeWg (wgmma, sm_90a).
SHAPES = {32: (8, 64, 32), 64: (8, 128, 64), 128: (8, 64, 128), 256: (8, 64, 256), 512: (4, 64, 256)}
SHAPES_WG = {64: (4, 128, 64), 128: (4, 128, 128), 256: (4, 64, 256)}
FAMILIES = {"mma": SHAPES, "wg": SHAPES_WG}
FILTER_LOG2_EPS = -12.0  # eps = 2^-12: bf16 epsilon / 32, the reference CCE's filter
U64 = np.uint64
I32 = np.int32
F32 = np.float32


def ptr(t):
    return U64(0) if t is None else U64(t.data_ptr())


class Cce:
    """Launchers for the full-softmax CCE entry points (the Python twin of the TypeScript ones)."""

    def __init__(self, module_path):
        self.mod = cp.RawModule(path=module_path)
        self.sms = torch.cuda.get_device_properties(0).multi_processor_count
        self.kernels = {}
        try:
            self.mod.get_function("cce_forward_grad_wg64")
            self.has_wg = True
        except cp.cuda.driver.CUDADriverError:
            self.has_wg = False

    def fn(self, name, smem=0):
        k = self.kernels.get(name)
        if k is None:
            k = self.mod.get_function(name)
            if smem > 48 * 1024:
                k.max_dynamic_shared_size_bytes = smem
            self.kernels[name] = k
        return k

    def supports(self, impl, d):
        if impl == "mma":
            return True
        return self.has_wg and d % 8 == 0 and self.width(d) in FAMILIES[impl]

    @staticmethod
    def width(d):
        for D in (32, 64, 128, 256, 512):
            if d <= D:
                return D
        raise ValueError(f"d = {d} > 512")

    def plan(self, N, V, d, impl="auto"):
        """Entry-point tag, tile shape, and the table gradient's split of N (partial buffer when > 1)."""
        D = self.width(d)
        aligned = d % 8 == 0
        if impl in ("auto", "wg") and aligned and D in SHAPES_WG and self.has_wg:
            table, tag = SHAPES_WG, f"wg{D}"
        elif impl in ("auto", "mma"):
            table, tag = SHAPES, str(D)
        else:
            raise ValueError(f"no {impl} kernel for d = {d}")
        w, bs, do = table[D]
        R = 16 * w
        chunks = D // do
        tiles = (V + R - 1) // R
        target = 2 * self.sms
        splits = max(1, min((target + tiles * chunks - 1) // (tiles * chunks), (N + bs - 1) // bs))
        per = ((N + splits - 1) // splits + bs - 1) // bs * bs
        splits = (N + per - 1) // per if N > 0 else 1
        smem = (16 * w + 2 * bs) * D * 2 + 2 * bs * 8 + 1024
        return dict(D=D, tag=tag, aligned=int(aligned), R=R, block=32 * w, chunks=chunks, splits=splits, per=per, smem=smem)

    def workspace(self, N, V, d, impl="auto"):
        p = self.plan(N, V, d, impl)
        dev = "cuda"
        return dict(lse=torch.empty(N, dtype=torch.float32, device=dev), row_loss=torch.empty(N, dtype=torch.float32, device=dev),
                    dh_raw=torch.empty(N * d, dtype=torch.float32, device=dev),
                    partial=torch.empty(p["splits"] * V * d, dtype=torch.float32, device=dev) if p["splits"] > 1 else None)

    def forward(self, loss, ws, h, table, targets, N, V, d, M, log2_eps=-math.inf, impl="auto"):
        p = self.plan(N, V, d, impl)
        grid = ((N + p["R"] - 1) // p["R"], p["chunks"], 1)
        block = (p["block"],)
        smem = p["smem"]
        self.fn(f"cce_forward_grad_{p['tag']}", smem)(grid, block, (ptr(ws["lse"]), ptr(ws["row_loss"]), ptr(ws["dh_raw"]), ptr(h), ptr(table), ptr(targets), I32(N), I32(V), I32(d), I32(p["aligned"]), F32(log2_eps)), shared_mem=smem)
        self.fn("cce_loss_reduce")((1, 1, 1), (1024,), (ptr(loss), ptr(ws["row_loss"]), I32(N), I32(M)))

    def backward(self, dh, dtable, ws, h, table, targets, N, V, d, M, g, log2_eps=-math.inf, impl="auto"):
        p = self.plan(N, V, d, impl)
        smem = p["smem"]
        scale = F32(g / M) if M > 0 else F32(0)
        dt32 = dtable if dtable.dtype == torch.float32 else None
        dt16 = dtable if dtable.dtype == torch.bfloat16 else None
        grid = ((V + p["R"] - 1) // p["R"], p["chunks"], p["splits"])
        block = (p["block"],)
        partial = ws["partial"] if p["splits"] > 1 else None
        self.fn(f"cce_table_grad_{p['tag']}", smem)(grid, block, (ptr(dt32), ptr(dt16), ptr(partial), ptr(h), ptr(table), ptr(targets), ptr(ws["lse"]), I32(N), I32(V), I32(d), I32(p["aligned"]), I32(p["per"]), scale, F32(log2_eps)), shared_mem=smem)
        if partial is not None:
            self.fn("cce_table_grad_reduce")((4 * self.sms,), (256,), (ptr(dt32), ptr(dt16), ptr(partial), I32(p["splits"]), I32(V), I32(d), scale))
        dh32 = dh if dh.dtype == torch.float32 else None
        dh16 = dh if dh.dtype == torch.bfloat16 else None
        self.fn("cce_hidden_grad")((4 * self.sms,), (256,), (ptr(dh32), ptr(dh16), ptr(ws["dh_raw"]), np.int64(N * d), scale))


def make_inputs(N, V, d, sigma=1.0, pad_frac=0.1, seed=0):
    """bf16 h [N × d] ~ N(0, 1), table [(V+1) × d] ~ N(0, sigma²/d) (logits of std ≈ sigma), targets with padding."""
    gen = torch.Generator(device="cuda").manual_seed(seed)
    h = torch.randn(N, d, device="cuda", generator=gen).bfloat16()
    table = (torch.randn(V + 1, d, device="cuda", generator=gen) * (sigma / math.sqrt(d))).bfloat16()
    t = torch.randint(1, V + 1, (N,), device="cuda", generator=gen, dtype=torch.int32)
    pad = torch.rand(N, device="cuda", generator=gen) < pad_frac
    t[pad] = 0
    if N > 2:
        t[1] = V  # the last item and the first are targets somewhere
        t[2] = 1
    return h, table, t


def reference(h, table, t, g):
    """float64 loss, dh, dtable (rows 1..V; row 0 zero) of the contract."""
    H = h.double()
    E = table.double()
    S = H @ E[1:].T
    valid = t != 0
    M = int(valid.sum())
    lse = torch.logsumexp(S, dim=1)
    rows = torch.arange(len(t), device=t.device)
    idx = (t.long() - 1).clamp(min=0)
    st = S[rows, idx]
    loss = ((lse - st)[valid]).sum() / max(M, 1)
    G = torch.softmax(S, dim=1)
    G[rows, idx] -= 1.0
    G[~valid] = 0
    G *= g / max(M, 1)
    dh = G @ E[1:]
    dtab = torch.zeros_like(E)
    dtab[1:] = G.T @ H
    return loss.item(), dh, dtab, M


def rel(a, b):
    a = a.double()
    b = b.double()
    return (torch.linalg.norm(a - b) / torch.linalg.norm(b)).item()


CHECK_IMPLS = ("mma", "wg")


def check(cce, log):
    cases = [
        # N, V, d, sigma, g
        (1037, 3001, 64, 1.0, 1.0),
        (515, 777, 33, 1.0, 0.37),
        (999, 5003, 256, 1.0, 1.0),
        (300, 1000, 512, 1.0, 2.0),
        (257, 100, 128, 1.0, 1.0),
        (129, 2049, 32, 1.0, 1.0),
        (77, 1500, 100, 1.0, 1.0),
        (2048, 40000, 64, 1.0, 1.0),
        (1031, 20011, 256, 4.0, 1.0),  # peaked: the filter skips most tiles
        (700, 12345, 128, 8.0, 1.0),
        (300, 50, 128, 1.0, 1.0),  # a single item tile
        (65, 64, 256, 1.0, 1.0),  # a single tile each way
    ]
    ok = True
    for (N, V, d, sigma, g) in cases:
        h, table, t = make_inputs(N, V, d, sigma, seed=N * 7 + V)
        ref_loss, ref_dh, ref_dt, M = reference(h, table, t, g)
        impls = [i for i in CHECK_IMPLS if cce.supports(i, d)]
        for impl in impls:
            for mode, le in (("exact", -math.inf), ("filter", FILTER_LOG2_EPS)):
                for out_dtype in ((torch.float32, torch.bfloat16) if mode == "exact" and N < 1100 else (torch.float32,)):
                    rec = check_one(cce, h, table, t, N, V, d, M, g, impl, le, out_dtype, ref_loss, ref_dh, ref_dt)
                    rec.update(sigma=sigma, mode=mode)
                    ok &= rec["ok"]
                    log.append(rec)
                    print(("PASS " if rec["ok"] else "FAIL ") + json.dumps(rec), flush=True)
    return ok


def check_one(cce, h, table, t, N, V, d, M, g, impl, le, out_dtype, ref_loss, ref_dh, ref_dt):
    """One run of forward + backward with poisoned outputs, against the float64 reference."""
    ws = cce.workspace(N, V, d, impl=impl)
    for v in ws.values():
        if v is not None:
            v.fill_(float("nan"))
    loss = torch.full((1,), float("nan"), device="cuda")
    dh = torch.full((N, d), float("nan"), device="cuda", dtype=out_dtype)
    # f32 accumulates onto random content; bf16 onto zeros (a bf16 sum would round the gradient away).
    base = torch.randn(V + 1, d, device="cuda") * 0.01 if out_dtype == torch.float32 else torch.zeros(V + 1, d, device="cuda", dtype=out_dtype)
    dtab = base.clone()
    cce.forward(loss, ws, h, table, t, N, V, d, M, log2_eps=le, impl=impl)
    cce.backward(dh, dtab, ws, h, table, t, N, V, d, M, g, log2_eps=le, impl=impl)
    torch.cuda.synchronize()
    row0_ok = torch.equal(dtab[0], base[0])  # row 0 untouched; the rest is base + gradient
    grad_dt = dtab.double() - base.double()
    e_loss = abs(loss.item() - ref_loss) / abs(ref_loss)
    e_dh = rel(dh, ref_dh)
    e_dt = rel(grad_dt[1:], ref_dt[1:])
    nan = bool(torch.isnan(dh).any() or torch.isnan(dtab).any() or math.isnan(loss.item()))
    zero_rows = int(((grad_dt[1:] == 0).all(dim=1) & (ref_dt[1:] != 0).any(dim=1)).sum())
    lim = 3e-3 if le == -math.inf else 1e-2
    if out_dtype == torch.bfloat16:
        lim = 8e-3  # one more bf16 rounding of every output element (2^-9 relative)
    good = (not nan) and row0_ok and e_loss <= 1e-5 and e_dh <= lim and e_dt <= lim
    return dict(N=N, V=V, d=d, g=g, impl=impl, out=str(out_dtype).split(".")[-1], splits=cce.plan(N, V, d, impl)["splits"],
                loss_rel=e_loss, dh_rel=e_dh, dtable_rel=e_dt, nan=nan, row0_untouched=row0_ok,
                zeroed_rows=zero_rows, ok=good)


def bench_ms(fn, reps=20, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2], times[0], times[-1]


def bench(cce, log, shapes, reps, impls):
    rows = []
    for (N, d, V, modes, with_torch) in shapes:
        h, table, t = make_inputs(N, V, d, 1.0, pad_frac=0.0, seed=1)
        M = int((t != 0).sum())
        loss = torch.empty(1, device="cuda")
        dh = torch.empty(N, d, device="cuda")
        dtab = torch.zeros(V + 1, d, device="cuda")
        flops = 6.0 * N * d * V
        for impl in impls:
            if not cce.supports(impl, d):
                continue
            ws = cce.workspace(N, V, d, impl=impl)
            ws_bytes = sum(v.numel() * v.element_size() for v in ws.values() if v is not None)
            for mode in modes:
                le = -math.inf if mode == "exact" else FILTER_LOG2_EPS

                def step():
                    cce.forward(loss, ws, h, table, t, N, V, d, M, log2_eps=le, impl=impl)
                    cce.backward(dh, dtab, ws, h, table, t, N, V, d, M, 1.0, log2_eps=le, impl=impl)

                med, lo, hi = bench_ms(step, reps)
                fwd, _, _ = bench_ms(lambda: cce.forward(loss, ws, h, table, t, N, V, d, M, log2_eps=le, impl=impl), reps)
                rec = dict(impl=impl, mode=mode, N=N, d=d, V=V, ms=med, ms_min=lo, ms_max=hi, fwd_grad_ms=fwd,
                           tflops=flops / med / 1e9, extra_bytes=ws_bytes)
                log.append(rec)
                rows.append(rec)
                print(json.dumps(rec), flush=True)
            del ws
        if with_torch:
            rows.append(torch_baseline(h, table, t, N, d, V, reps, log))
        del dh, dtab, h, table, t
        torch.cuda.empty_cache()
    return rows


def torch_baseline(h, table, t, N, d, V, reps, log):
    """torch CE over materialised bf16 logits, fwd+bwd; peak memory beyond inputs and gradients."""
    H = h.clone().requires_grad_(True)
    E = table.clone().requires_grad_(True)
    tgt = (t.long() - 1)

    def step():
        logits = H @ E[1:].T
        loss = F.cross_entropy(logits, tgt, ignore_index=-1)
        loss.backward()
        H.grad = None
        E.grad = None

    rec = dict(impl="torch", mode="bf16 logits", N=N, d=d, V=V)
    try:
        torch.cuda.synchronize()
        step()  # warm; also sizes the peak
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated() + H.numel() * 2 + E.numel() * 2  # inputs held + gradients
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        med, lo, hi = bench_ms(step, reps)
        rec.update(ms=med, ms_min=lo, ms_max=hi, tflops=6.0 * N * d * V / med / 1e9, extra_bytes=peak)
    except torch.OutOfMemoryError:
        rec.update(ms=None, error="out of memory")
    H.grad = None
    E.grad = None
    del H, E
    torch.cuda.empty_cache()
    log.append(rec)
    print(json.dumps(rec), flush=True)
    return rec


def ceilings(log):
    x = torch.randn(8192, 8192, device="cuda").bfloat16()
    y = torch.randn(8192, 8192, device="cuda").bfloat16()
    med, _, _ = bench_ms(lambda: x @ y, 10)
    a = torch.empty(2 * 1024**3 // 4, device="cuda")
    b = torch.empty_like(a)
    cmed, _, _ = bench_ms(lambda: b.copy_(a), 10)
    rec = dict(matmul_tflops=2 * 8192**3 / med / 1e9, copy_tbs=2 * a.numel() * 4 / cmed / 1e9)
    log.append(rec)
    print(json.dumps(rec), flush=True)
    del x, y, a, b
    torch.cuda.empty_cache()


BENCH_SHAPES = {
    # N, d, V, modes, torch baseline
    "s1": (65536, 64, 3706, ("exact", "filter"), True),
    "s2": (65536, 256, 15405, ("exact", "filter"), True),
    "s3": (65536, 64, 176450, ("exact", "filter"), True),
    "s4": (65536, 256, 176450, ("exact", "filter"), True),
    "s5": (32768, 256, 1661327, ("exact", "filter"), False),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", required=True)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bench", default="")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--ceilings", action="store_true")
    ap.add_argument("--impls", default="mma,wg", help="kernel families to time: mma (mma.sync), wg (wgmma)")
    ap.add_argument("--torch", action="store_true", help="time the torch baseline too")
    ap.add_argument("--profile", default="", help="SHAPE:IMPL:MODE: run fwd+bwd 3 times untimed (for ncu)")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args()
    log = []
    dev = torch.cuda.get_device_name(0)
    print(f"device: {dev}; module {a.module}", flush=True)
    t0 = time.time()
    cce = Cce(a.module)
    ok = True
    if a.ceilings:
        ceilings(log)
    if a.check:
        ok = check(cce, log)
        print(f"check: {'ALL PASS' if ok else 'FAILURES'} ({time.time() - t0:.1f} s)", flush=True)
    if a.profile:
        name, impl, mode = a.profile.split(":")
        N, d, V = BENCH_SHAPES[name][:3]
        h, table, t = make_inputs(N, V, d, 1.0, pad_frac=0.0, seed=1)
        ws = cce.workspace(N, V, d, impl=impl)
        loss, dh, dtab = torch.empty(1, device="cuda"), torch.empty(N, d, device="cuda"), torch.zeros(V + 1, d, device="cuda")
        le = -math.inf if mode == "exact" else FILTER_LOG2_EPS
        for _ in range(3):
            cce.forward(loss, ws, h, table, t, N, V, d, N, log2_eps=le, impl=impl)
            cce.backward(dh, dtab, ws, h, table, t, N, V, d, N, 1.0, log2_eps=le, impl=impl)
        torch.cuda.synchronize()
    rows = []
    if a.bench:
        names = list(BENCH_SHAPES) if a.bench == "all" else a.bench.split(",")
        shapes = [BENCH_SHAPES[n][:4] + (BENCH_SHAPES[n][4] and a.torch,) for n in names]
        rows = bench(cce, log, shapes, a.reps, a.impls.split(","))
    with open(os.path.join(a.out, "bench-cce.json"), "w") as f:
        json.dump(dict(device=dev, results=log), f, indent=1)
    if rows:
        print(f"\n{dev}: fwd+bwd, median of {a.reps} after warm-up (CUDA events)")
        print(f"{'impl':6} {'mode':12} {'N':>6} {'d':>4} {'V':>8} {'ms':>9} {'fwd ms':>8} {'TFLOP/s':>8} {'extra MB':>9}")
        for r in rows:
            ms = f"{r['ms']:.2f}" if r.get("ms") else r.get("error", "-")
            fw = f"{r['fwd_grad_ms']:.2f}" if "fwd_grad_ms" in r else "-"
            tf = f"{r['tflops']:.0f}" if r.get("ms") else "-"
            mb = f"{r['extra_bytes'] / 1e6:.0f}" if "extra_bytes" in r else "-"
            print(f"{r['impl']:6} {r['mode']:12} {r['N']:>6} {r['d']:>4} {r['V']:>8} {ms:>9} {fw:>8} {tf:>8} {mb:>9}")
    print(f"total {time.time() - t0:.1f} s; check {'ok' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
