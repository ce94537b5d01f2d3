#!/usr/bin/python3
"""The training step of `halo bench step`, in plain PyTorch, for a side-by-side comparison.

One step = forward + backward of a Llama model (a minimal LlamaForCausalLM written here: transformers is not
installed; same graph as transformers' modeling_llama: RMSNorm, rotate_half RoPE, grouped-query causal
attention, SwiGLU MLP, untied lm_head, mean cross-entropy over shifted targets) on a random batch, then
torch.optim.AdamW and zero_grad. Configurations: fp32, and bf16 autocast (torch.autocast on CPU: matmuls in
bf16, weights and optimizer in fp32). Tokens/s counts every position of the batch (B*T), as halo does.

FP32 matmuls go through the BLAS that libblas.so.3 resolves to: on Debian that is the reference BLAS (about
0.004 TFLOPS here) unless libopenblas0 is installed, so compare with an optimised one (e.g. LD_LIBRARY_PATH to
an OpenBLAS directory; `halo bench compare --torch-blas DIR` does that). Each row reports the BLAS it loaded.

Each configuration runs in its own subprocess (so its peak RSS is its own); the JSON result is the last line
on stdout, progress goes to stderr. Runs with Debian's python3-torch; needs nothing else.

  /usr/bin/python3 bench/torch_step.py [--quick] [--threads 2] [--configs fp32,bf16] [--steps 3]
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

# Sleeping (not spinning) OpenMP workers, as halo's addon uses (src/backend/native/binding.ts): on a small or
# shared machine spinning workers of libgomp and OpenBLAS fight each other and everything else; measured here
# (2 cores, load ~15) a PyTorch FP32 step took 5.4 s spinning vs 0.10 s passive. Must be set before torch
# loads libgomp; an explicit setting wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT = dict(layers=4, hidden=1024, intermediate=2816, heads=16, kv_heads=4, seq=512, batch=4, vocab=32000)
QUICK = dict(layers=2, hidden=256, intermediate=704, heads=4, kv_heads=2, seq=128, batch=2, vocab=2048)
CONFIGS = ("fp32", "bf16")
IGNORE = -100


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Block(nn.Module):
    def __init__(self, s, eps):
        super().__init__()
        C, I, Hq, Hkv = s["hidden"], s["intermediate"], s["heads"], s["kv_heads"]
        self.Hq, self.Hkv, self.D = Hq, Hkv, C // Hq
        self.input_layernorm = RMSNorm(C, eps)
        self.q_proj = nn.Linear(C, Hq * self.D, bias=False)
        self.k_proj = nn.Linear(C, Hkv * self.D, bias=False)
        self.v_proj = nn.Linear(C, Hkv * self.D, bias=False)
        self.o_proj = nn.Linear(Hq * self.D, C, bias=False)
        self.post_attention_layernorm = RMSNorm(C, eps)
        self.gate_proj = nn.Linear(C, I, bias=False)
        self.up_proj = nn.Linear(C, I, bias=False)
        self.down_proj = nn.Linear(I, C, bias=False)

    def forward(self, x, cos, sin, causal):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.Hq, self.D).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.Hq // self.Hkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.D) + causal
        attn = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        a = torch.matmul(attn, v).transpose(1, 2).reshape(B, T, self.Hq * self.D)
        x = x + self.o_proj(a)
        h2 = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h2)) * self.up_proj(h2))


class Llama(nn.Module):
    def __init__(self, s, eps=1e-5, theta=10000.0):
        super().__init__()
        self.embed_tokens = nn.Embedding(s["vocab"], s["hidden"])
        self.layers = nn.ModuleList(Block(s, eps) for _ in range(s["layers"]))
        self.norm = RMSNorm(s["hidden"], eps)
        self.lm_head = nn.Linear(s["hidden"], s["vocab"], bias=False)
        D = s["hidden"] // s["heads"]
        inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        freqs = torch.outer(torch.arange(s["seq"], dtype=torch.float32), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        T = s["seq"]
        causal = torch.full((T, T), float("-inf")).triu(1)
        self.register_buffer("causal", causal, persistent=False)
        # transformers' _init_weights: N(0, 0.02) for linears and embeddings, norms 1
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, targets):
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.causal)
        logits = self.lm_head(self.norm(x))
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1), ignore_index=IGNORE)


def loaded_blas():
    """Path of the BLAS library this process mapped (torch's fp32 matmuls go through it; Debian's default
    libblas.so.3 is the unoptimised reference BLAS unless an OpenBLAS/BLIS alternative is installed)."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                name = path.rsplit("/", 1)[-1]
                if "blas" in name or "mkl_rt" in name or "blis" in name:
                    libs.add(path)
    except OSError:
        return None
    return sorted(libs) or None


def run_one(s, config, steps, warmup, seed):
    torch.manual_seed(seed)
    model = Llama(s)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, s["vocab"], (s["batch"], s["seq"]), generator=g)
    targets = torch.full_like(ids, IGNORE)
    targets[:, :-1] = ids[:, 1:]
    fwd_bwd, optim, total, first_loss = [], [], [], None
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        if config == "bf16":
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
                loss = model(ids, targets)
        else:
            loss = model(ids, targets)
        loss.backward()
        t1 = time.perf_counter()
        opt.step()
        opt.zero_grad()
        t2 = time.perf_counter()
        if first_loss is None:
            first_loss = float(loss)
        if i >= warmup:
            fwd_bwd.append((t1 - t0) * 1e3)
            optim.append((t2 - t1) * 1e3)
            total.append((t2 - t0) * 1e3)
        print(f"  torch {config} step {i + 1}/{warmup + steps}: {(t2 - t0):.2f} s", file=sys.stderr, flush=True)
    tokens = s["batch"] * s["seq"]
    step_ms = statistics.median(total)
    return {
        "config": config,
        "label": "PyTorch FP32" if config == "fp32" else "PyTorch BF16 autocast",
        "tokens": tokens,
        "stepMs": step_ms,
        "minStepMs": min(total),
        "fwdBwdMs": statistics.median(fwd_bwd),
        "optimMs": statistics.median(optim),
        "tokensPerSec": tokens / (step_ms / 1e3),
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss": first_loss,
        "blas": loaded_blas(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for key, val in DEFAULT.items():
        ap.add_argument("--" + key.replace("_", "-"), type=int, default=None, help=f"default {val}")
    ap.add_argument("--quick", action="store_true", help="small shape for a smoke test")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--single", action="store_true", help=argparse.SUPPRESS)  # child mode: one config, one JSON row
    a = ap.parse_args()

    s = dict(QUICK if a.quick else DEFAULT)
    for key in DEFAULT:
        v = getattr(a, key)
        if v is not None:
            s[key] = v
    configs = [c for c in a.configs.split(",") if c]
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"unknown config {c!r}; use {', '.join(CONFIGS)}")
    if s["hidden"] % s["heads"] or s["heads"] % s["kv_heads"]:
        ap.error("heads must divide hidden and kv-heads must divide heads")
    if a.steps < 1 or a.warmup < 0 or a.threads < 1:
        ap.error("--steps must be >= 1, --warmup >= 0, --threads >= 1")

    torch.set_num_threads(a.threads)
    if a.single:
        print(json.dumps(run_one(s, configs[0], a.steps, a.warmup, a.seed)), flush=True)
        return
    rows = []
    for c in configs:
        argv = [sys.executable, __file__, "--single", "--configs", c, "--steps", str(a.steps), "--warmup", str(a.warmup),
                "--threads", str(a.threads), "--seed", str(a.seed)]
        for key in DEFAULT:
            argv += ["--" + key.replace("_", "-"), str(s[key])]
        out = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "shape": s, "rows": rows}), flush=True)


if __name__ == "__main__":
    main()
