"""An independent Topoformer for the tests, written from the paper's description and the reference layout.

Nothing here imports toposcope: the state dicts are listed key by key as the reference code saves them
(``TransformerClassifier`` of TahaBinhuraib/topoformer; cramming's ``ScriptableLMForPreTraining`` with the
``bert-c5`` settings), and the forward passes are plain tensor algebra:

- the sheet: unit i at ``(i // s, i % s) / s``; per-axis distance ``|a - b|``, ``1 - d`` above 0.5 (a
  torus); a circular mask keeps distances ``<= sqrt(width / pi)``;
- spatial querying: ``q <- q @ (M / ||M||_F * w)`` (``w`` the learned per-unit weights, if any);
- spatial reweighting: ``y = x @ |W * M^T|^T + b``;
- single-head attention over the whole layer, ``softmax(q k^T / sqrt(n)) v``.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def torus_distances(n, wrap=True):
    side = math.isqrt(n)
    coords = np.indices((side, side)).reshape(2, n).T / side
    dx = np.abs(coords[:, None, 0] - coords[None, :, 0])
    dy = np.abs(coords[:, None, 1] - coords[None, :, 1])
    if wrap:
        dx = np.where(dx > 0.5, 1 - dx, dx)
        dy = np.where(dy > 0.5, 1 - dy, dy)
    return np.sqrt(dx**2 + dy**2)


def circular(n, width, wrap=True):
    """The reference's circular mask (bool as float), all zeros for width -1."""
    if width == -1:
        return torch.zeros(n, n)
    return torch.as_tensor(torus_distances(n, wrap) <= np.sqrt(width / np.pi), dtype=torch.float32)


def query_buffer(n, width, mask_type="circular"):
    """The LocalityMask buffer: the mask divided by its Frobenius norm (NaN for width -1)."""
    mask = torch.ones(n, n) if mask_type == "full" else circular(n, width)
    return mask / torch.norm(mask)


def classifier_state(n=16, vocab=30, max_len=12, sq=0.3, learned=False, qkv_bias=True, layers=1, seed=0,
                     expansion=4):
    """A random state dict with the keys and shapes of the reference TransformerClassifier."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.3
    state = {"encoder.word_embedding.weight": r(vocab, n), "encoder.position_embedding.weight": r(max_len, n)}
    for i in range(layers):
        p = f"encoder.layers.{i}."
        for proj in ("query", "key", "value"):
            state[f"{p}attention.head.{proj}.weight"] = r(n, n)
            if qkv_bias:
                state[f"{p}attention.head.{proj}.bias"] = r(n)
        if learned:
            state[f"{p}attention.head.locality_mask.locality_weight"] = r(n)
        state[f"{p}attention.head.locality_mask.locality_mask"] = query_buffer(n, sq)
        state[f"{p}attention.output_projection.weight"] = r(n, n)
        state[f"{p}attention.output_projection.bias"] = r(n)
        for norm in ("norm1", "norm2"):
            state[f"{p}{norm}.weight"] = 1 + r(n)
            state[f"{p}{norm}.bias"] = r(n)
        state[f"{p}feed_forward.0.weight"] = r(expansion * n, n)
        state[f"{p}feed_forward.0.bias"] = r(expansion * n)
        state[f"{p}feed_forward.2.weight"] = r(n, expansion * n)
        state[f"{p}feed_forward.2.bias"] = r(n)
    state["classifier.weight"] = r(2, n)
    state["classifier.bias"] = r(2)
    return state


def bert_state(n=16, vocab=30, layers=2, intermed=24, sq=0.3, mask_type="circular", seed=0):
    """A random state dict with the keys and shapes of cramming's ScriptableLMForPreTraining (bert-c5)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.3
    words = r(vocab, n)
    state = {"encoder.p": torch.tensor(1.0), "encoder.embedding.word_embedding.weight": words,
             "encoder.embedding.pos_embedding.scale_factor": torch.tensor([0.7]),
             "encoder.embedding.norm.weight": 1 + r(n), "encoder.embedding.norm.bias": r(n)}
    for i in range(layers):
        p = f"encoder.layers.{i}."
        state[f"{p}alpha"] = torch.tensor(1.0)
        for norm in ("norm1", "norm2"):
            state[f"{p}{norm}.weight"] = 1 + r(n)
            state[f"{p}{norm}.bias"] = r(n)
        a = f"{p}attn.self_attention."
        state[f"{a}output_projection.weight"] = r(n, n)
        state[f"{a}output_projection.bias"] = r(n)
        for proj in ("query", "key", "value"):
            state[f"{a}head.{proj}.weight"] = r(n, n)
        state[f"{a}head.locality_mask.locality_mask"] = query_buffer(n, sq, mask_type)
        state[f"{p}attn.dense.weight"] = r(n, n)
        state[f"{p}ffn.dense_in.weight"] = r(intermed, n)
        state[f"{p}ffn.dense_out.weight"] = r(n, intermed // 2)
    state["encoder.final_norm.weight"] = 1 + r(n)
    state["encoder.final_norm.bias"] = r(n)
    state["prediction_head.weight"] = r(n, n)
    state["decoder.weight"] = words  # tied to the word embedding, saved under both names
    return state


def _layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _attention(x, state, prefix, n, sq, sr, learned, bias, mask_type="circular"):
    """One Topoformer attention: returns q, k, v, the head output and the output projection."""
    lin = lambda name, z: z @ state[f"{prefix}{name}.weight"].T + (
        state[f"{prefix}{name}.bias"] if bias and f"{prefix}{name}.bias" in state else 0)
    q, k, v = lin("head.query", x), lin("head.key", x), lin("head.value", x)
    pooled = q
    if sq != -1:
        m = query_buffer(n, sq, mask_type)
        if learned:
            m = m * state[f"{prefix}head.locality_mask.locality_weight"]
        pooled = q @ m
    probs = torch.softmax(pooled @ k.transpose(-1, -2) / math.sqrt(n), dim=-1)
    head = probs @ v
    w = state[f"{prefix}output_projection.weight"]
    if sr != -1:
        mask = torch.ones(n, n) if mask_type == "full" else circular(n, sr)
        w = torch.abs(w * mask.T)
    out = head @ w.T + state[f"{prefix}output_projection.bias"]
    return {"head.query": q, "head.key": k, "head.value": v, "head": head, "output_projection": out}


def classifier_forward(state, ids, n, sq, sr, learned=False, layers=1):
    """Logits (B, 2) and each block's hooked values."""
    x = state["encoder.word_embedding.weight"][ids] + state["encoder.position_embedding.weight"][
        torch.arange(ids.shape[1])]
    taps = {}
    for i in range(layers):
        p = f"encoder.layers.{i}."
        parts = _attention(x, state, f"{p}attention.", n, sq, sr, learned, bias=True)
        taps.update({f"{p}attention.{k}": v for k, v in parts.items()})
        h = _layer_norm(parts["output_projection"] + x, state[f"{p}norm1.weight"], state[f"{p}norm1.bias"], 1e-5)
        ff = torch.relu(h @ state[f"{p}feed_forward.0.weight"].T + state[f"{p}feed_forward.0.bias"])
        ff = ff @ state[f"{p}feed_forward.2.weight"].T + state[f"{p}feed_forward.2.bias"]
        x = _layer_norm(ff + h, state[f"{p}norm2.weight"], state[f"{p}norm2.bias"], 1e-5)
    logits = torch.tanh(x.mean(1)) @ state["classifier.weight"].T + state["classifier.bias"]
    return logits, taps


def bert_forward(state, ids, n, sq, sr, layers=2, mask_type="circular", eps=1e-12):
    """MLM logits (B, T, vocab) and each layer's hooked values."""
    t = ids.shape[1]
    position = torch.arange(t, dtype=torch.float32)[:, None]
    pe = torch.zeros(t, n)
    div = torch.exp(torch.arange(0, n, 2).float() * (-math.log(10000.0) / n))
    pe[:, 0::2], pe[:, 1::2] = torch.sin(position * div), torch.cos(position * div)
    x = state["encoder.embedding.word_embedding.weight"][ids] + state["encoder.embedding.pos_embedding.scale_factor"] * pe
    x = _layer_norm(x, state["encoder.embedding.norm.weight"], state["encoder.embedding.norm.bias"], eps)
    taps = {}
    for i in range(layers):
        p = f"encoder.layers.{i}."
        h = _layer_norm(x, state[f"{p}norm1.weight"], state[f"{p}norm1.bias"], eps)
        parts = _attention(h, state, f"{p}attn.self_attention.", n, sq, sr, False, bias=False, mask_type=mask_type)
        taps.update({f"{p}attn.self_attention.{k}": v for k, v in parts.items()})
        x = x + parts["output_projection"] @ state[f"{p}attn.dense.weight"].T
        h = _layer_norm(x, state[f"{p}norm2.weight"], state[f"{p}norm2.bias"], eps)
        inner, gate = (h @ state[f"{p}ffn.dense_in.weight"].T).chunk(2, dim=-1)
        gelu = 0.5 * gate * (1 + torch.erf(gate / math.sqrt(2)))
        x = x + (gelu * inner) @ state[f"{p}ffn.dense_out.weight"].T
    x = _layer_norm(x, state["encoder.final_norm.weight"], state["encoder.final_norm.bias"], eps)
    return (x @ state["prediction_head.weight"].T) @ state["decoder.weight"].T, taps
