#!/usr/bin/env python3
"""Independent PyTorch reference for halo's Llama / Qwen2 / Mistral model (src/models/llama.ts).

Reads a Hugging Face model folder (config.json + model.safetensors or shards) and a JSON batch, runs a
plain-PyTorch forward of LlamaForCausalLM / Qwen2ForCausalLM / MistralForCausalLM, the mean next-token
cross-entropy, and loss.backward(); writes logits, loss and every parameter's gradient to a safetensors file.

Why it exists: halo's forward/backward is hand-written (llm.c style), and its tests compare it with finite
differences of itself. This file is a second implementation written from the architecture, with autograd
for the backward, so a shared misunderstanding of the model (RoPE pairing, GQA head mapping, padding mask,
label shift, tied lm_head) shows up as a mismatch. transformers is deliberately not used (it is often not
installable); only torch (and numpy for bytes out) are needed. Everything runs in float64 by default so the
comparison can be tight.

Usage:
  python3 tools/torch_llama_reference.py MODEL_DIR BATCH_JSON OUT_SAFETENSORS [--dtype float64|float32]
                                         [--loss-only] [--threads N]

BATCH_JSON: {"input_ids": [[...], ...], "labels": [[...], ...], "attention_mask": [[...], ...],
             "position_ids": [[...], ...] (optional, default 0..T-1)}
  labels are aligned with input_ids (not shifted), -100 = no loss, as in transformers.
OUT_SAFETENSORS: "logits" [B*T, V], "grad/<hf name>" for every parameter; metadata loss_mean, loss_sum, tokens.
  With --loss-only (a checkpoint at real sizes: test/models/preset-torch-parity.test.ts) the forward runs without
  autograd and the file holds only the metadata. Weights may be stored as F64, F32, F16 or BF16; each is converted
  to --dtype as it is read.

The math follows transformers' modeling_llama.py / modeling_qwen2.py / modeling_rope_utils.py:
https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

IGNORE_INDEX = -100

# ---------------------------------------------------------------------------------------------------------
# safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, data.

ST_DTYPES = {'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16}


def read_safetensors(path, dtype=None):
    """All tensors of one file as {name: tensor}, each read on its own (and converted to `dtype` right away when
    given), so a large checkpoint never sits in memory twice, raw and converted."""
    out = {}
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(n))
        start = 8 + n
        for name, e in header.items():
            if name == '__metadata__':
                continue
            if e['dtype'] not in ST_DTYPES:
                raise SystemExit(f'{path}: tensor {name} has dtype {e["dtype"]}; this reader handles {sorted(ST_DTYPES)}')
            begin, end = e['data_offsets']
            dt = ST_DTYPES[e['dtype']]
            if end > begin:
                f.seek(start + begin)
                t = torch.frombuffer(bytearray(f.read(end - begin)), dtype=dt)
            else:
                t = torch.empty(0, dtype=dt)
            t = t.reshape(e['shape'])
            out[name] = t.to(dtype) if dtype is not None and dtype != dt else t
    return out


def write_safetensors(path, tensors, metadata):
    """Writes {name: float64 tensor} with string metadata; the header is space-padded to 8-byte alignment."""
    header, chunks, offset = {'__metadata__': metadata}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float64).contiguous().numpy().tobytes()
        header[name] = {'dtype': 'F64', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def load_folder_weights(model_dir, dtype=None):
    index = os.path.join(model_dir, 'model.safetensors.index.json')
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)['weight_map'].values()))
    else:
        files = ['model.safetensors']
    weights = {}
    for name in files:
        weights.update(read_safetensors(os.path.join(model_dir, name), dtype))
    return weights


# ---------------------------------------------------------------------------------------------------------
# config.json → the few numbers the forward needs.

def read_config(model_dir):
    with open(os.path.join(model_dir, 'config.json')) as f:
        c = json.load(f)
    model_type = c.get('model_type', 'llama')
    if model_type not in ('llama', 'qwen2', 'mistral'):
        raise SystemExit(f'config.json: model_type {model_type!r} is not llama, qwen2 or mistral')
    heads = c['num_attention_heads']
    # transformers >= 5 folds rope_theta and rope_scaling into rope_parameters.
    rope = c.get('rope_parameters') or {}
    theta = rope.get('rope_theta', c.get('rope_theta', 10000.0))
    scaling = rope if rope else c.get('rope_scaling')
    if scaling and scaling.get('rope_type', scaling.get('type', 'default')) == 'default':
        scaling = None
    if scaling and scaling.get('rope_type', scaling.get('type')) != 'llama3':
        raise SystemExit(f'config.json: rope scaling {scaling!r} is not supported here (llama3 or default)')
    window = None
    if model_type == 'mistral' or (model_type == 'qwen2' and c.get('use_sliding_window', False)):
        window = c.get('sliding_window')
    return {
        'layers': c['num_hidden_layers'],
        'heads': heads,
        'kv_heads': c.get('num_key_value_heads') or heads,
        'head_dim': c.get('head_dim') or c['hidden_size'] // heads,
        'eps': c.get('rms_norm_eps', 1e-6),
        'theta': float(theta),
        'scaling': scaling,
        'tied': bool(c.get('tie_word_embeddings', False)),
        'window': window,
    }


# ---------------------------------------------------------------------------------------------------------
# The model, one function per piece.

def rms_norm(x, w, eps):
    # x [B, T, C], w [C]
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def inv_frequencies(D, theta, scaling, dtype):
    """[D/2] rotary frequencies; llama3 scaling stretches low frequencies by `factor` (Llama 3.1+)."""
    inv = 1.0 / theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D)
    if scaling:
        factor, lo, hi = scaling['factor'], scaling['low_freq_factor'], scaling['high_freq_factor']
        ctx = scaling['original_max_position_embeddings']
        wavelen = 2 * math.pi / inv
        smooth = (ctx / wavelen - lo) / (hi - lo)
        between = (1 - smooth) * inv / factor + smooth * inv
        inv = torch.where(wavelen > ctx / lo, inv / factor, torch.where(wavelen < ctx / hi, inv, between))
    return inv.to(dtype)


def rotate_half(x):
    # dimension i is paired with i + D/2 (transformers' convention, not Meta's interleaved pairs)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, cos, sin):
    # x [B, H, T, D]; cos, sin [B, 1, T, D]
    return x * cos + rotate_half(x) * sin


def attention(q, k, v, key_mask, window):
    """Causal GQA attention. q [B, Hq, T, D], k/v [B, Hkv, T, D], key_mask [B, T] (True = real token)."""
    B, Hq, T, D = q.shape
    rep = Hq // k.shape[1]
    # query head h reads kv head h // rep (repeat_kv)
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)  # [B, Hq, T, T]
    t = torch.arange(T)
    allowed = t[None, :] <= t[:, None]  # [T(query), T(key)]
    if window is not None:
        allowed = allowed & (t[:, None] - t[None, :] < window)
    allowed = allowed[None, None] & key_mask[:, None, None, :]
    # A query that sees no key at all (a padding query whose window holds only padding) attends to nothing:
    # output 0 and no gradient, as halo's attention op documents. transformers leaves such rows to the kernel
    # (eager: a uniform average; softmax of all -inf: NaN); they never reach a loss either way.
    visible = allowed.any(dim=-1, keepdim=True)
    scores = torch.where(visible, scores.masked_fill(~allowed, float('-inf')), torch.zeros_like(scores))
    return (torch.softmax(scores, dim=-1) * visible) @ v


def linear(params, prefix, x):
    """y = x Wᵀ (+ b when the checkpoint has <prefix>.bias, e.g. Qwen2's q/k/v)."""
    y = x @ params[prefix + '.weight'].T
    b = params.get(prefix + '.bias')
    return y if b is None else y + b


def forward(params, cfg, ids, key_mask, positions):
    """Logits [B, T, V] for ids [B, T]."""
    B, T = ids.shape
    Hq, Hkv, D = cfg['heads'], cfg['kv_heads'], cfg['head_dim']
    dtype = params['model.embed_tokens.weight'].dtype
    inv = inv_frequencies(D, cfg['theta'], cfg['scaling'], torch.float64)
    angles = positions.to(torch.float64)[..., None] * inv  # [B, T, D/2]
    angles = torch.cat((angles, angles), dim=-1)[:, None]   # [B, 1, T, D]
    cos, sin = angles.cos().to(dtype), angles.sin().to(dtype)

    x = params['model.embed_tokens.weight'][ids]
    for l in range(cfg['layers']):
        p = f'model.layers.{l}'
        h = rms_norm(x, params[f'{p}.input_layernorm.weight'], cfg['eps'])
        q = linear(params, f'{p}.self_attn.q_proj', h).view(B, T, Hq, D).transpose(1, 2)
        k = linear(params, f'{p}.self_attn.k_proj', h).view(B, T, Hkv, D).transpose(1, 2)
        v = linear(params, f'{p}.self_attn.v_proj', h).view(B, T, Hkv, D).transpose(1, 2)
        a = attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v, key_mask, cfg['window'])
        x = x + linear(params, f'{p}.self_attn.o_proj', a.transpose(1, 2).reshape(B, T, Hq * D))
        h = rms_norm(x, params[f'{p}.post_attention_layernorm.weight'], cfg['eps'])
        gate = linear(params, f'{p}.mlp.gate_proj', h)
        up = linear(params, f'{p}.mlp.up_proj', h)
        x = x + linear(params, f'{p}.mlp.down_proj', torch.nn.functional.silu(gate) * up)
    x = rms_norm(x, params['model.norm.weight'], cfg['eps'])
    head = params['model.embed_tokens.weight'] if cfg['tied'] else params['lm_head.weight']
    return x @ head.T


def causal_lm_loss(logits, labels):
    """Mean cross-entropy of logits[:, t] against labels[:, t + 1] over labels that are not -100."""
    V = logits.shape[-1]
    shifted = logits[:, :-1].reshape(-1, V)
    targets = labels[:, 1:].reshape(-1)
    lse = torch.logsumexp(shifted, dim=-1)
    counted = targets != IGNORE_INDEX
    picked = shifted.gather(1, targets.clamp(min=0)[:, None])[:, 0]
    per_token = torch.where(counted, lse - picked, torch.zeros_like(lse))
    tokens = int(counted.sum())
    loss_sum = per_token.sum()
    return loss_sum / max(tokens, 1), loss_sum, tokens


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('model_dir')
    ap.add_argument('batch_json')
    ap.add_argument('out')
    ap.add_argument('--dtype', choices=['float64', 'float32'], default='float64')
    ap.add_argument('--loss-only', action='store_true',
                    help='forward only: no backward, and OUT holds only the metadata (for checkpoints at real sizes)')
    ap.add_argument('--threads', type=int, default=0, help='torch CPU threads (0 = torch default)')
    args = ap.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    torch.set_default_dtype(dtype)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    cfg = read_config(args.model_dir)
    raw = load_folder_weights(args.model_dir, dtype)
    # rotary inv_freq buffers are not parameters; a tied model's lm_head.weight (if stored) is ignored, as in HF
    params = {n: t.requires_grad_(not args.loss_only) for n, t in raw.items()
              if not n.endswith('rotary_emb.inv_freq') and not (cfg['tied'] and n == 'lm_head.weight')}
    del raw

    with open(args.batch_json) as f:
        batch = json.load(f)
    ids = torch.tensor(batch['input_ids'], dtype=torch.long)
    labels = torch.tensor(batch['labels'], dtype=torch.long)
    key_mask = torch.tensor(batch['attention_mask'], dtype=torch.long) != 0
    B, T = ids.shape
    positions = torch.tensor(batch['position_ids'], dtype=torch.long) if 'position_ids' in batch else torch.arange(T).expand(B, T)

    with torch.set_grad_enabled(not args.loss_only):
        logits = forward(params, cfg, ids, key_mask, positions)
        loss, loss_sum, tokens = causal_lm_loss(logits, labels)
    out = {}
    if not args.loss_only:
        loss.backward()
        out['logits'] = logits.reshape(B * T, -1)
        for n, p in params.items():
            out['grad/' + n] = p.grad if p.grad is not None else torch.zeros_like(p)
    write_safetensors(args.out, out, {
        'loss_mean': repr(loss.item()), 'loss_sum': repr(loss_sum.item()), 'tokens': str(tokens),
        'dtype': args.dtype, 'torch': torch.__version__,
    })


if __name__ == '__main__':
    main(sys.argv[1:])
