"""A PyTorch SASRec trainer for `grid run`, built on gridrec_trainer (python/gridrec_trainer.py).

`grid` sweeps it like its built-in trainer: each trial's config arrives in the trial file, every
epoch's validation metrics and peak memory go back as events, and early stopping follows the sweep's
objective. Run it through the grid file next to this script (from this folder):

    grid run sasrec.yaml

Config sections (all optional but `dataset.path`):
  dataset: {path: FILE}           MovieLens ratings.csv, or one user per line: `user item1 item2 ...`
  model:   {hidden 64, blocks 2, heads 1, dropout 0.2, max_seq_len 50}
  train:   {loss ce | ce-, negatives 256, batch_size 128, lr 1e-3, epochs 20, patience 4, seed 42}
  eval:    {k [10]}

Model (Kang & McAuley 2018): item embedding scaled by sqrt(d) plus learned positions, dropout, a stack
of pre-norm blocks (causal multi-head attention, point-wise feed-forward), a final layer norm, scores
by the item table (tied output). Split: leave-one-out (the last item of a user is the test target,
the one before the validation target, the rest trains with next-item targets at every position).
Evaluation over the full catalogue, the user's earlier items excluded: NDCG@k, HR@k. Loss `ce` is the
full softmax; `ce-` a sampled softmax over uniform negatives with the log-Q correction.
"""
import csv
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import gridrec_trainer as gt  # noqa: E402

DEFAULTS = {
    "model": {"hidden": 64, "blocks": 2, "heads": 1, "dropout": 0.2, "max_seq_len": 50},
    "train": {"loss": "ce", "negatives": 256, "batch_size": 128, "lr": 1e-3, "epochs": 20, "patience": 4, "seed": 42},
    "eval": {"k": [10]},
}


def settings(config):
    """The config with defaults filled in; unknown or bad values are invalid_config errors."""
    out = {}
    for section, defaults in DEFAULTS.items():
        given = dict(config.get(section) or {})
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise gt.InvalidConfig("%s.%s: unknown key; allowed: %s" % (section, unknown[0], ", ".join(sorted(defaults))))
        out[section] = {**defaults, **given}
    m, t = out["model"], out["train"]
    if m["hidden"] % m["heads"] != 0:
        raise gt.InvalidConfig("model.heads: must divide model.hidden (%d), got %d" % (m["hidden"], m["heads"]))
    if t["loss"] not in ("ce", "ce-"):
        raise gt.InvalidConfig('train.loss: expected "ce" or "ce-", got %r' % (t["loss"],))
    path = (config.get("dataset") or {}).get("path")
    if not isinstance(path, str):
        raise gt.InvalidConfig("dataset.path: required (a file of `user item1 item2 ...` lines)")
    out["path"] = path
    return out


# ----------------------------------------------------------------------------- data
def load_sequences(path):
    """Users' item sequences, items renumbered 1..V in sorted order of their raw ids (0 = padding).

    A `.csv` file has a header with userId, movieId and timestamp columns (MovieLens); any other file
    holds one user per line, `user item1 item2 ...`, in time order. Users with fewer than 3 items
    (train, validation and test need one each) are left out.
    """
    if not os.path.isfile(path):
        raise gt.DataProblem("%s: no such file" % path)
    by_user = {}
    with open(path, encoding="utf-8", newline="") as fh:
        if path.endswith(".csv"):
            rows = csv.DictReader(fh)
            missing = {"userId", "movieId", "timestamp"} - set(rows.fieldnames or [])
            if missing:
                raise gt.DataProblem("%s: no column %s" % (path, ", ".join(sorted(missing))))
            for n, row in enumerate(rows, 2):
                try:
                    by_user.setdefault(int(row["userId"]), []).append((int(row["timestamp"]), n, int(row["movieId"])))
                except ValueError:
                    raise gt.DataProblem("%s:%d: userId, movieId and timestamp must be integers" % (path, n)) from None
            raw = [[item for _, _, item in sorted(events)] for events in by_user.values()]
        else:
            raw = []
            for n, line in enumerate(fh, 1):
                try:
                    raw.append([int(x) for x in line.split()[1:]])
                except ValueError:
                    raise gt.DataProblem("%s:%d: item ids must be integers" % (path, n)) from None
    seqs = [s for s in raw if len(s) >= 3]
    if not seqs:
        raise gt.DataProblem("%s: no user with 3 or more items" % path)
    ids = {item: k + 1 for k, item in enumerate(sorted({i for s in seqs for i in s}))}
    return [[ids[i] for i in s] for s in seqs], len(ids)


def left_pad(seq, length):
    seq = seq[-length:]
    return [0] * (length - len(seq)) + seq


class Split:
    """Leave-one-out tensors: training inputs/targets, and validation and test inputs, targets and histories."""

    def __init__(self, seqs, max_len, device):
        tensor = lambda rows: torch.tensor(rows, dtype=torch.long, device=device)  # noqa: E731
        self.train_in = tensor([left_pad(s[:-3], max_len) for s in seqs])
        self.train_out = tensor([left_pad(s[1:-2], max_len) for s in seqs])
        self.valid_in = tensor([left_pad(s[:-2], max_len) for s in seqs])
        self.valid_target = tensor([s[-2] for s in seqs])
        self.test_in = tensor([left_pad(s[:-1], max_len) for s in seqs])
        self.test_target = tensor([s[-1] for s in seqs])
        # Items seen before each target, excluded from the ranking (the whole history, not the window).
        self.valid_seen = [s[:-2] for s in seqs]
        self.test_seen = [s[:-1] for s in seqs]


# ----------------------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, d, heads, dropout):
        super().__init__()
        self.attn_norm = nn.LayerNorm(d, eps=1e-8)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ff_norm = nn.LayerNorm(d, eps=1e-8)
        self.ff = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d, d), nn.Dropout(dropout))

    def forward(self, x, causal, keep):
        q = self.attn_norm(x)
        a, _ = self.attn(q, x, x, attn_mask=causal, need_weights=False)
        x = q + a
        x = self.ff_norm(x)
        return (x + self.ff(x)) * keep


class SasRec(nn.Module):
    def __init__(self, items, d, blocks, heads, dropout, max_len):
        super().__init__()
        self.items = nn.Embedding(items + 1, d, padding_idx=0)
        self.positions = nn.Embedding(max_len, d)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(d, heads, dropout) for _ in range(blocks)])
        self.norm = nn.LayerNorm(d, eps=1e-8)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.xavier_normal_(p)
        with torch.no_grad():
            self.items.weight[0].zero_()
        self.register_buffer("causal", ~torch.tril(torch.ones(max_len, max_len, dtype=torch.bool)), persistent=False)

    def forward(self, seq):
        keep = (seq != 0).unsqueeze(-1)
        L = seq.size(1)
        x = self.items(seq) * math.sqrt(self.items.embedding_dim) + self.positions.weight[:L]
        x = self.dropout(x) * keep
        for block in self.blocks:
            x = block(x, self.causal[:L, :L], keep)
        return self.norm(x)


def loss_of(model, h, target, kind, negatives):
    """Mean next-item loss over the real positions (target 0 is padding)."""
    real = target != 0
    h, target = h[real], target[real]
    table = model.items.weight
    if kind == "ce":
        return F.cross_entropy(h @ table[1:].T, target - 1)
    V = table.size(0) - 1
    neg = torch.randint(1, V + 1, (h.size(0), negatives), device=h.device)
    pos = (h * table[target]).sum(-1, keepdim=True)
    # log-Q correction of uniform sampling; a negative equal to the target does not count.
    negs = torch.einsum("nd,nkd->nk", h, table[neg]) - math.log(negatives / max(V - 1, 1))
    negs = negs.masked_fill(neg == target.unsqueeze(1), float("-inf"))
    logits = torch.cat([pos, negs], 1)
    return (torch.logsumexp(logits, 1) - logits[:, 0]).mean()


@torch.no_grad()
def evaluate(model, inputs, targets, seen, ks, batch=256):
    """NDCG@k and HR@k over the full catalogue, each user's earlier items excluded."""
    model.eval()
    sums = {f"{m}@{k}": 0.0 for k in ks for m in ("ndcg", "hr")}
    table = model.items.weight[1:]
    for start in range(0, inputs.size(0), batch):
        h = model(inputs[start:start + batch])[:, -1, :]
        scores = h @ table.T
        target = targets[start:start + batch] - 1
        target_score = scores.gather(1, target.unsqueeze(1))
        for row, items in enumerate(seen[start:start + batch]):
            scores[row, torch.tensor(items, device=scores.device) - 1] = -float("inf")
        rank = (scores > target_score).sum(1).float()
        for k in ks:
            hit = rank < k
            sums[f"hr@{k}"] += hit.float().sum().item()
            sums[f"ndcg@{k}"] += (hit.float() / torch.log2(rank + 2)).sum().item()
    model.train()
    return {name: total / inputs.size(0) for name, total in sums.items()}


# ----------------------------------------------------------------------------- the trial
def train(trial, events):
    s = settings(trial.config)
    m, t, ks = s["model"], s["train"], sorted(set(s["eval"]["k"]))
    cuda = trial.device["backend"] == "cuda" and torch.cuda.is_available()
    device = torch.device(f"cuda:{trial.device['ordinal']}" if cuda else "cpu")
    torch.manual_seed(t["seed"])
    seqs, V = load_sequences(s["path"])
    split = Split(seqs, m["max_seq_len"], device)
    model = SasRec(V, m["hidden"], m["blocks"], m["heads"], m["dropout"], m["max_seq_len"]).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=t["lr"], betas=(0.9, 0.98))
    events.hello("pytorch-sasrec", version=torch.__version__, backend="cuda" if cuda else "cpu",
                 device_name=torch.cuda.get_device_name(device) if cuda else "cpu")
    if trial.probe:
        return None

    # Early stopping follows the sweep's objective (its metric must be one this trainer reports).
    objective = (trial.objective or {}).get("metric", f"ndcg@{ks[0]}")
    sign = -1.0 if objective == "loss" or (trial.objective or {}).get("direction") == "min" else 1.0
    peak = lambda: torch.cuda.max_memory_allocated(device) if cuda else 0  # noqa: E731
    users = split.train_in.size(0)
    steps = math.ceil(users / t["batch_size"])
    best_epoch, best_value, best_metrics, best_state, times = 0, -math.inf, {}, None, []
    started = time.perf_counter()
    for epoch in range(1, t["epochs"] + 1):
        t0 = time.perf_counter()
        order = torch.randperm(users, device=device)
        total, tokens = 0.0, 0
        for step in range(steps):
            rows = order[step * t["batch_size"]:(step + 1) * t["batch_size"]]
            target = split.train_out[rows]
            if not bool((target != 0).any()):
                continue  # users with 3 items train on nothing (their items are validation and test)
            loss = loss_of(model, model(split.train_in[rows]), target, t["loss"], t["negatives"])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            n = int((target != 0).sum())
            total, tokens = total + loss.item() * n, tokens + n
            events.progress(epoch, step + 1, steps)
        train_seconds = time.perf_counter() - t0
        metrics = evaluate(model, split.valid_in, split.valid_target, split.valid_seen, ks)
        seconds = time.perf_counter() - t0
        times.append(seconds)
        train_loss = total / max(tokens, 1)
        events.epoch(epoch, train_loss=train_loss, metrics=metrics, epoch_seconds=seconds, peak_bytes=peak(),
                     tokens_per_second=tokens / max(train_seconds, 1e-9))
        value = sign * (train_loss if objective == "loss" else metrics.get(objective, math.nan))
        if value > best_value:  # NaN never improves
            best_epoch, best_value, best_metrics = epoch, value, metrics
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= t["patience"]:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    test = evaluate(model, split.test_in, split.test_target, split.test_seen, ks)
    return gt.Result(best_epoch=best_epoch, test=test, validation=best_metrics, peak_bytes=peak(),
                     mean_epoch_seconds=sum(times) / max(len(times), 1), total_seconds=time.perf_counter() - started)


if __name__ == "__main__":
    gt.run(train, trainer="pytorch-sasrec")
