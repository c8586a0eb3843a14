"""CCE- and BCE+ kernels (kernels/cce_sampled.cu) on the GPU: correctness against a float64 reference that
draws the same negatives (Philox in numpy, the scheme of src/backend/negatives.ts), then timing.

  python3 scripts/bench-cce-sampled.py --module .cache/cce_sampled.sm90a.cubin --check --bench --out $OUT

Shares the helpers of scripts/bench-cce.py (input generation, timing, pointers).
"""
import argparse
import importlib.util
import json
import math
import os
import sys
import time

import cupy as cp
import numpy as np
import torch
import torch.nn.functional as F

_spec = importlib.util.spec_from_file_location("bench_cce", os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench-cce.py"))
bc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bc)
ptr, I32, F32, U64 = bc.ptr, bc.I32, bc.F32, bc.U64
U32 = np.uint32

MASK = np.uint64(0xFFFFFFFF)
NEG_STREAM = 0x4E454721
CHUNK = 256  # entries per warp in the table gradient
SCAN_TILE = 4096


def philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on uint64 arrays holding uint32 values."""
    c0, c1, c2, c3 = (np.asarray(x, dtype=np.uint64) for x in (c0, c1, c2, c3))
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    for _ in range(10):
        p0 = c0 * np.uint64(0xD2511F53)
        p1 = c2 * np.uint64(0xCD9E8D57)
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> np.uint64(32)) ^ c3 ^ k1) & MASK, p0 & MASK
        k0 = (k0 + np.uint64(0x9E3779B9)) & MASK
        k1 = (k1 + np.uint64(0xBB67AE85)) & MASK
    return c0, c1, c2, c3


def draw_negatives(N, n, V, seed, step, prob=None, alias=None):
    """[N × n] items of negatives.ts (rejection not applied)."""
    per = 4 if prob is None else 2
    calls = (n + per - 1) // per
    r = np.repeat(np.arange(N, dtype=np.uint64), calls)
    c = np.tile(np.arange(calls, dtype=np.uint64), N)
    w = philox(r, c, np.full_like(r, 0 if prob is None else 1), np.full_like(r, NEG_STREAM), seed, step)
    if prob is None:
        items = np.stack([1 + ((x * np.uint64(V)) >> np.uint64(32)) for x in w], axis=1)  # [N·calls, 4]
    else:
        cols = [(w[2 * k] * np.uint64(V)) >> np.uint64(32) for k in range(2)]
        items = np.stack([1 + np.where(w[2 * k + 1] < prob[cols[k].astype(np.int64)].astype(np.uint64), cols[k], alias[cols[k].astype(np.int64)].astype(np.uint64)) for k in range(2)], axis=1)
    return items.reshape(N, calls * per)[:, :n].astype(np.int64)


class Sampled:
    """Launchers of the sampled entry points (the Python twin of the TypeScript ones)."""

    def __init__(self, module_path):
        self.mod = cp.RawModule(path=module_path)
        self.sms = torch.cuda.get_device_properties(0).multi_processor_count
        self.kernels = {}

    def fn(self, name):
        k = self.kernels.get(name)
        if k is None:
            k = self.kernels[name] = self.mod.get_function(name)
        return k

    @staticmethod
    def tag(d):
        return ("a" if d % 8 == 0 else "u") + str(bc.Cce.width(d))

    def workspace(self, N, V, d, n):
        dev = "cuda"
        tiles = (V + 2 + SCAN_TILE - 1) // SCAN_TILE
        i32 = dict(dtype=torch.int32, device=dev)
        return dict(lse=torch.empty(N, dtype=torch.float32, device=dev), row_loss=torch.empty(N, dtype=torch.float32, device=dev),
                    dh_raw=torch.empty(N * d, dtype=torch.float32, device=dev), counts=torch.empty(V + 1, **i32),
                    offsets=torch.empty(V + 2, **i32), cursor=torch.empty(V + 1, **i32), tile_sums=torch.empty(tiles, **i32),
                    entries=torch.empty(N * (n + 1), **i32))

    @staticmethod
    def corrections(V, n):
        return F32(math.log(V - 1) - math.log(n)), F32(math.log(n))

    def forward(self, loss, ws, h, table, t, N, V, d, M, n, seed, step, pop, mode):
        prob, alias, log_p = pop if pop is not None else (None, None, None)
        uc, ln = self.corrections(V, n)
        name = f"{mode}_sampled_forward_{self.tag(d)}"
        self.fn(name)(((N + 3) // 4,), (128,), (ptr(ws["lse"]), ptr(ws["row_loss"]), ptr(ws["dh_raw"]), ptr(h), ptr(table), ptr(t),
                                                 I32(N), I32(V), I32(d), I32(n), U32(seed), U32(step), ptr(prob), ptr(alias), ptr(log_p), uc, ln))
        self.fn("cce_loss_reduce")((1,), (1024,), (ptr(loss), ptr(ws["row_loss"]), I32(N), I32(M)))

    def backward(self, dh, dtab, ws, h, table, t, N, V, d, M, n, seed, step, pop, mode, g):
        prob, alias, log_p = pop if pop is not None else (None, None, None)
        uc, ln = self.corrections(V, n)
        scale = F32(g / M) if M > 0 else F32(0)
        per = 4 if pop is None else 2
        calls = (n + per - 1) // per
        threads = N * calls
        ws["counts"].zero_()
        self.fn("cce_sampled_count")(((threads + 255) // 256,), (256,), (ptr(ws["counts"]), ptr(t), I32(N), I32(V), I32(n), U32(seed), U32(step), ptr(prob), ptr(alias)))
        tiles = ws["tile_sums"].numel()
        self.fn("cce_sampled_scan_tiles")((tiles,), (1024,), (ptr(ws["tile_sums"]), ptr(ws["counts"]), I32(V + 1)))
        self.fn("cce_sampled_scan_sums")((1,), (1024,), (ptr(ws["tile_sums"]), I32(tiles)))
        self.fn("cce_sampled_scan_apply")((tiles,), (1024,), (ptr(ws["offsets"]), ptr(ws["cursor"]), ptr(ws["counts"]), ptr(ws["tile_sums"]), I32(V + 1)))
        self.fn("cce_sampled_fill")(((threads + 255) // 256,), (256,), (ptr(ws["entries"]), ptr(ws["cursor"]), ptr(t), I32(N), I32(V), I32(n), U32(seed), U32(step), ptr(prob), ptr(alias)))
        warps = (N * (n + 1) + CHUNK - 1) // CHUNK
        self.fn(f"{mode}_sampled_table_grad_{self.tag(d)}")(((warps * 32 + 255) // 256,), (256,), (
            ptr(dtab), ptr(h), ptr(table), ptr(ws["lse"]), ptr(ws["offsets"]), ptr(ws["entries"]), I32(V), I32(d), I32(CHUNK),
            I32(1 if pop is None else 0), ptr(log_p), uc, ln, scale))
        self.fn("cce_hidden_grad")((4 * self.sms,), (256,), (ptr(dh), U64(0), ptr(ws["dh_raw"]), np.int64(N * d), scale))


def make_pop(V, seed):
    rng = np.random.default_rng(seed)
    prob = rng.integers(0, 2**32, size=V, dtype=np.uint64).astype(np.uint32)
    alias = rng.integers(0, V, size=V).astype(np.int32)
    log_p = np.concatenate([[0.0], rng.normal(-math.log(V), 1.0, size=V)]).astype(np.float32)
    return prob, alias, log_p


def reference(h, table, t, negs, n, V, g, mode, log_p=None):
    H = h.double()
    E = table.double()
    tt = t.long()
    ng = torch.from_numpy(negs).cuda()
    N, d = H.shape
    valid_row = tt != 0
    M = int(valid_row.sum())
    keep = (ng != tt[:, None]) & valid_row[:, None]
    s_pos = (H * E[tt]).sum(1)
    s_neg = torch.einsum("nd,nkd->nk", H, E[ng])
    if mode == "cce":
        corr = math.log(V - 1) - math.log(n) if log_p is None else -math.log(n) - torch.from_numpy(log_p).cuda().double()[ng]
        z = torch.where(keep, s_neg + corr, torch.full_like(s_neg, -math.inf))
        logits = torch.cat([s_pos[:, None], z], dim=1)
        lse = torch.logsumexp(logits, dim=1)
        row = lse - s_pos
        p = torch.softmax(logits, dim=1)
        g_pos = p[:, 0] - 1
        g_neg = p[:, 1:]
    else:
        row = F.softplus(-s_pos) + torch.where(keep, F.softplus(s_neg), torch.zeros_like(s_neg)).sum(1)
        g_pos = torch.sigmoid(s_pos) - 1
        g_neg = torch.where(keep, torch.sigmoid(s_neg), torch.zeros_like(s_neg))
    loss = row[valid_row].sum() / max(M, 1)
    sc = g / max(M, 1)
    g_pos = torch.where(valid_row, g_pos, torch.zeros_like(g_pos)) * sc
    g_neg = g_neg * keep * sc
    dh = g_pos[:, None] * E[tt] + torch.einsum("nk,nkd->nd", g_neg, E[ng])
    dt = torch.zeros_like(E)
    dt.index_add_(0, tt, g_pos[:, None] * H)
    dt.index_add_(0, ng.reshape(-1), (g_neg[:, :, None] * H[:, None, :]).reshape(-1, d))
    dt[0] = 0
    return loss.item(), dh, dt, M


def check(sm, log):
    cases = [
        # N, V, d, n, popularity, mode
        (1037, 3001, 64, 127, False, "cce"),
        (515, 777, 33, 100, True, "cce"),
        (999, 5003, 256, 511, False, "cce"),
        (300, 1000, 512, 31, True, "cce"),
        (77, 50, 100, 63, False, "cce"),  # tiny catalogue: many draws equal the target
        (257, 20011, 128, 1000, False, "cce"),
        (129, 2049, 32, 9, True, "cce"),
        (1037, 3001, 64, 127, False, "bce"),
        (515, 777, 33, 100, True, "bce"),
        (999, 5003, 256, 255, True, "bce"),
    ]
    ok = True
    for (N, V, d, n, popular, mode) in cases:
        h, table, t = bc.make_inputs(N, V, d, 1.0, seed=N + V + n)
        seed, step = 42 + N, 7 + n
        pop_np = make_pop(V, N) if popular else None
        negs = draw_negatives(N, n, V, seed, step, *(pop_np[:2] if popular else (None, None)))
        g = 0.73
        ref_loss, ref_dh, ref_dt, M = reference(h, table, t, negs, n, V, g, mode, pop_np[2] if popular else None)
        pop = tuple(torch.from_numpy(x.view(np.int32) if x.dtype == np.uint32 else x).cuda() for x in pop_np) if popular else None
        ws = sm.workspace(N, V, d, n)
        for v in ws.values():
            if v.dtype == torch.float32:
                v.fill_(float("nan"))
            else:
                v.fill_(-7)
        loss = torch.full((1,), float("nan"), device="cuda")
        dh = torch.full((N, d), float("nan"), device="cuda")
        base = torch.randn(V + 1, d, device="cuda") * 0.01
        dtab = base.clone()
        sm.forward(loss, ws, h, table, t, N, V, d, M, n, seed, step, pop, mode)
        sm.backward(dh, dtab, ws, h, table, t, N, V, d, M, n, seed, step, pop, mode, g)
        torch.cuda.synchronize()
        grad = dtab.double() - base.double()
        e_loss = abs(loss.item() - ref_loss) / abs(ref_loss)
        e_dh = bc.rel(dh, ref_dh)
        e_dt = bc.rel(grad[1:], ref_dt[1:])
        row0 = torch.equal(dtab[0], base[0])
        nan = bool(torch.isnan(dh).any() or torch.isnan(dtab).any() or math.isnan(loss.item()))
        total = int(ws["offsets"][V + 1].item())
        expect_total = int(((torch.from_numpy(negs).cuda() != t.long()[:, None]) & (t[:, None] != 0)).sum() + (t != 0).sum())
        good = not nan and row0 and e_loss <= 1e-5 and e_dh <= 3e-3 and e_dt <= 3e-3 and total == expect_total
        rec = dict(N=N, V=V, d=d, n=n, popularity=popular, mode=mode, loss_rel=e_loss, dh_rel=e_dh, dtable_rel=e_dt, nan=nan,
                   row0_untouched=row0, entries=total, expected_entries=expect_total, ok=good)
        ok &= good
        log.append(rec)
        print(("PASS " if good else "FAIL ") + json.dumps(rec), flush=True)
    return ok


def bench(sm, log, reps):
    rows = []
    for (N, d, V, n, mode) in ((65536, 256, 176450, 511, "cce"), (65536, 256, 176450, 511, "bce"), (65536, 64, 3706, 511, "cce"),
                               (32768, 256, 1661327, 1023, "cce")):
        h, table, t = bc.make_inputs(N, V, d, 1.0, pad_frac=0.0, seed=3)
        M = N
        ws = sm.workspace(N, V, d, n)
        ws_bytes = sum(v.numel() * v.element_size() for v in ws.values())
        loss = torch.empty(1, device="cuda")
        dh = torch.empty(N, d, device="cuda")
        dtab = torch.zeros(V + 1, d, device="cuda")
        state = dict(step=0)

        def fwd():
            sm.forward(loss, ws, h, table, t, N, V, d, M, n, 42, state["step"], None, mode)

        def step():
            state["step"] += 1  # fresh negatives each step, as in training
            fwd()
            sm.backward(dh, dtab, ws, h, table, t, N, V, d, M, n, 42, state["step"], None, mode, 1.0)

        med, lo, hi = bc.bench_ms(step, reps)
        fmed, _, _ = bc.bench_ms(fwd, reps)
        rec = dict(impl=mode + "-", N=N, d=d, V=V, n=n, ms=med, ms_min=lo, ms_max=hi, fwd_ms=fmed, extra_bytes=ws_bytes)
        log.append(rec)
        rows.append(rec)
        print(json.dumps(rec), flush=True)
        del ws, dh, dtab, h, table, t
        torch.cuda.empty_cache()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", required=True)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args()
    w = philox(np.array([0]), np.array([0]), np.array([0]), np.array([0]), 0, 0)
    assert [int(x[0]) for x in w] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8], "philox known answer"
    dev = torch.cuda.get_device_name(0)
    print(f"device: {dev}; module {a.module}", flush=True)
    t0 = time.time()
    sm = Sampled(a.module)
    log = []
    ok = True
    if a.check:
        ok = check(sm, log)
        print(f"sampled check: {'ALL PASS' if ok else 'FAILURES'} ({time.time() - t0:.1f} s)", flush=True)
    rows = bench(sm, log, a.reps) if a.bench else []
    with open(os.path.join(a.out, "bench-cce-sampled.json"), "w") as f:
        json.dump(dict(device=dev, results=log), f, indent=1)
    if rows:
        print(f"\n{dev}: sampled fwd+bwd (fresh negatives per step), median of {a.reps} (CUDA events)")
        print(f"{'loss':6} {'N':>6} {'d':>4} {'V':>8} {'n':>5} {'ms':>8} {'fwd ms':>8} {'extra MB':>9}")
        for r in rows:
            print(f"{r['impl']:6} {r['N']:>6} {r['d']:>4} {r['V']:>8} {r['n']:>5} {r['ms']:>8.2f} {r['fwd_ms']:>8.2f} {r['extra_bytes'] / 1e6:>9.0f}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
