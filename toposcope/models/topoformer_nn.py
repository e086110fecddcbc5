"""Topoformer's networks, module for module and key for key as the reference code builds them.

The reference (``TahaBinhuraib/topoformer``, and its BERT in ``TahaBinhuraib/cramming_local``):

- ``constraints.py`` ``Constraints(n, width, wrap)``: the units of an ``n``-wide
  layer sit at ``np.indices((s, s)).reshape(2, n).T / s`` (``s = sqrt(n)``);
  per-axis distances ``|a - b|``, wrapped to ``1 - d`` where ``d > 0.5``;
  ``distances = sqrt(dx^2 + dy^2)``. ``circular()`` keeps ``distances <= sqrt(width / pi)``
  (a disc holding the fraction ``width`` of the unit square); ``full()`` (width 1)
  keeps everything; ``gaussian()`` samples a Bernoulli mask.
- ``custom_layers.py`` ``LocalityMask`` (spatial querying): a buffer
  ``locality_mask``, the mask as floats divided by its Frobenius norm, and,
  with learned spatial querying, a parameter ``locality_weight`` (n,); queries
  become ``q @ (locality_mask * locality_weight)``. Width -1 or local querying
  leave queries as they are (the buffer is still registered when local querying
  is off: NaN for width -1, ``0 / 0`` of an empty mask).
- ``LocallyConnected`` (spatial reweighting): an ``nn.Linear`` whose forward
  first sets ``weight = |weight * mask^T|`` with ``mask`` from ``Constraints(in_features,
  width, wrap)``; the mask is a plain attribute, not in the state dict. Width -1:
  a plain ``nn.Linear``.
- ``attention.py`` ``AttentionHead``: one head as wide as the layer;
  ``query``, ``key``, ``value`` are ``nn.Linear`` (``LocallyConnected`` of width
  ``sq`` with local querying), then relu (optional), spatial querying of the
  queries, ``softmax(q k^T / sqrt(n)) v``, relu (optional). ``AttentionOutput``
  (the classifier) and cramming's ``TopoAttention`` (the BERT) add the output
  projection, a ``LocallyConnected`` of width ``sr``, then relu (optional).
- ``transformer_classifier.py``: word + learned position embeddings, post-norm
  blocks ``x = norm1(attn(e) + e)``, ``out = norm2(ff(x) + x)`` with ``ff =
  Linear, ReLU, Linear``, mean (or first-token) pooling, ``tanh`` and a 2-way
  ``Linear``. Its padding mask never reaches the attention.
- cramming's ``ScriptableLMForPreTraining`` with the ``bert-c5`` settings:
  embeddings (word, scaled sinusoidal positions, LayerNorm), pre-norm layers
  ``h += attn.dense(self_attention(norm1(h)))``, ``h += ffn(norm2(h))`` with a
  GELU-gated FFN and no biases, a final LayerNorm, a ``prediction_head`` Linear
  and a ``decoder`` tied to the word embedding. Attention masks are refused
  (``assert mask is None``).

Differences that do not change the function: activations stay batch-first
(cramming transposes to sequence-first and back); in eval mode the
locally connected weight is masked on the fly instead of being overwritten
(training overwrites it exactly as the reference does); and an optional
``attention_mask`` hides padding keys, so a padded batch gives each text what
it gives alone (the reference runs one unpadded text at a time).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["locality_distances", "locality_mask", "modules"]


def locality_distances(n_units: int, wrap: bool = True) -> np.ndarray:
    """``Constraints(n_units, ., wrap).distances``: unit-to-unit distances in fractions of the side.

    Returns
    -------
    ndarray, shape (n_units, n_units), float64
    """
    side = math.isqrt(n_units)
    if side * side != n_units:
        raise ToposcopeError(
            f"Topoformer lays a layer of {n_units} units on a square grid, but {n_units} is not a square; "
            "use a square hidden size (e.g. 400 = 20 x 20 or 784 = 28 x 28)"
        )
    coords = np.indices((side, side)).reshape(2, n_units).T / side
    dx = np.abs(coords[:, None, 0] - coords[None, :, 0])
    dy = np.abs(coords[:, None, 1] - coords[None, :, 1])
    if wrap:
        dx[dx > 0.5] = 1 - dx[dx > 0.5]
        dy[dy > 0.5] = 1 - dy[dy > 0.5]
    return (dx**2 + dy**2) ** (1 / 2)


def locality_mask(n_units: int, width: float, mask_type: str = "circular", wrap: bool = True) -> np.ndarray:
    """The reference's connection mask of a layer (``getattr(Constraints(n, width, wrap), mask_type)()``).

    Parameters
    ----------
    n_units : int
        A square.
    width : float
        The fraction of the sheet a unit connects to (``sq`` or ``sr``); -1 gives
        the reference's empty mask (its NaN radius compares False everywhere).
    mask_type : {"circular", "full", "gaussian"}
        ``"gaussian"`` draws from torch's random state (seed it first).

    Returns
    -------
    ndarray of float64, shape (n_units, n_units)
        1 where unit ``j`` (column) is connected to unit ``i`` (row).
    """
    distances = locality_distances(n_units, wrap)
    if mask_type == "circular":
        if width < 0:
            return np.zeros_like(distances)  # sqrt(-1 / pi) is NaN: nothing is within it
        return (distances <= np.sqrt(width / np.pi)).astype(np.float64)
    if mask_type == "full":
        if width != 1:
            raise ToposcopeError(f"mask_type='full' connects every unit, so its width must be 1, got {width!r}")
        return np.ones_like(distances)
    if mask_type == "gaussian":
        import torch

        logits = torch.distributions.Normal(torch.tensor([0.0]), float(width)).log_prob(
            torch.as_tensor(distances, dtype=torch.float32))
        density = torch.exp(logits) / (1 + torch.exp(logits))
        return torch.bernoulli(density / density.max()).double().numpy()
    raise ToposcopeError(f"unknown mask_type {mask_type!r}; allowed: 'circular', 'full', 'gaussian'")


@functools.lru_cache(maxsize=1)
def modules() -> Any:
    """The torch classes, built on first use so that importing this module stays light."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class LocalityMask(nn.Module):
        """Spatial querying: each query unit pools the queries of its neighbourhood."""

        def __init__(self, n_units: int, width: float, *, wrap: bool, local_querying: bool, learned: bool,
                     mask_type: str, normalize: bool = True) -> None:
            super().__init__()
            self.width = width
            self.local_querying = local_querying
            self.learned = learned
            if not local_querying:
                mask = torch.as_tensor(locality_mask(n_units, width, mask_type, wrap), dtype=torch.float32)
                if normalize:
                    mask = mask / torch.norm(mask)  # 0 / 0 = NaN for width -1, as the reference
                self.register_buffer("locality_mask", mask)
                if learned:
                    self.locality_weight = nn.Parameter(torch.randn(n_units))

        def forward(self, queries):
            if self.width == -1 or self.local_querying:
                return queries
            mask = self.locality_mask * self.locality_weight if self.learned else self.locality_mask
            return torch.matmul(queries, mask)

    class LocallyConnected(nn.Linear):
        """Spatial reweighting: a Linear whose weights are |w| inside a disc of the sheet, 0 outside."""

        def __init__(self, n_in: int, n_out: int, width: float, *, wrap: bool, mask_type: str,
                     bias: bool = True) -> None:
            super().__init__(n_in, n_out, bias=bias)
            self.width = width
            if width != -1:
                if mask_type == "gaussian":
                    raise ToposcopeError(
                        "mask_type='gaussian' draws the locally connected layers' masks at random and the "
                        "reference does not save them, so no checkpoint can be reproduced; use 'circular'"
                    )
                self.weight.data = torch.abs(self.weight.data) * 10
                mask = torch.as_tensor(locality_mask(n_in, width, mask_type, wrap), dtype=torch.float32)
                # Not in the state dict, as in the reference (a plain attribute there).
                self.register_buffer("constraint", mask, persistent=False)
            else:
                self.constraint = None

        def forward(self, x):
            if self.constraint is None:
                return F.linear(x, self.weight, self.bias)
            if self.training:
                # The reference's training step: overwrite the weight with its masked magnitude.
                self.weight.data = torch.abs(self.weight.data * self.constraint.transpose(0, 1))
                return F.linear(x, self.weight, self.bias)
            return F.linear(x, torch.abs(self.weight * self.constraint.transpose(0, 1)), self.bias)

    class AttentionHead(nn.Module):
        """One head as wide as the layer; returns ``(attention_output, attention_probs)``."""

        def __init__(self, config: Any) -> None:
            super().__init__()
            n = config.hidden_size
            self.n_units = n
            self.relu = config.relu
            if config.local_querying:
                self.query, self.key, self.value = (
                    LocallyConnected(n, n, config.sq, wrap=config.wrap, mask_type=config.mask_type)
                    for _ in range(3))
            else:
                self.query, self.key, self.value = (nn.Linear(n, n, bias=config.qkv_bias) for _ in range(3))
            self.dropout = nn.Dropout(config.attention_dropout)
            self.locality_mask = LocalityMask(
                n, config.sq, wrap=config.wrap, local_querying=config.local_querying,
                learned=config.learned_spatial_querying, mask_type=config.mask_type)

        def forward(self, x, attention_mask=None):
            query, key, value = self.query(x), self.key(x), self.value(x)
            if self.relu:
                query, key, value = F.relu(query), F.relu(key), F.relu(value)
            query = self.locality_mask(query)
            scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.n_units)
            if attention_mask is not None:
                # Padding keys get no weight: each text attends as it would alone.
                hidden = attention_mask[:, None, :] == 0
                scores = scores.masked_fill(hidden, torch.finfo(scores.dtype).min)
            probs = self.dropout(F.softmax(scores, dim=-1))
            output = torch.matmul(probs, value)
            if self.relu:
                output = F.relu(output)
            return output, probs

    class TopoAttention(nn.Module):
        """The head and the spatially reweighted output projection (``AttentionOutput`` / ``TopoAttention``)."""

        def __init__(self, config: Any, output_dropout: float, head_first: bool = False) -> None:
            super().__init__()
            n = config.hidden_size
            # Registered in the reference's order (the state dict's key order): the classifier's
            # AttentionOutput makes the head first, cramming's TopoAttention the projection.
            if head_first:
                self.head = AttentionHead(config)
            self.output_projection = LocallyConnected(n, n, config.sr, wrap=config.wrap, mask_type=config.mask_type)
            if not head_first:
                self.head = AttentionHead(config)
            self.output_dropout = nn.Dropout(output_dropout)
            self.relu = config.relu

        def forward(self, x, attention_mask=None):
            output, _ = self.head(x, attention_mask)
            output = self.output_dropout(self.output_projection(output))
            return F.relu(output) if self.relu else output

    # ------------------------------------------------------------------ the 1-layer classifier
    class ClassifierBlock(nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            n = config.hidden_size
            self.attention = TopoAttention(config, config.hidden_dropout, head_first=True)
            self.norm1 = nn.LayerNorm(n)
            self.norm2 = nn.LayerNorm(n)
            self.dropout1 = nn.Dropout(config.dropout)
            self.dropout2 = nn.Dropout(config.dropout)
            self.feed_forward = nn.Sequential(
                nn.Linear(n, config.forward_expansion * n), nn.ReLU(), nn.Linear(config.forward_expansion * n, n))

        def forward(self, embeddings, attention_mask=None):
            x = self.dropout1(self.norm1(self.attention(embeddings, attention_mask) + embeddings))
            return self.dropout2(self.norm2(self.feed_forward(x) + x))

    class ClassifierEncoder(nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.word_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
            self.position_embedding = nn.Embedding(config.max_length, config.hidden_size)
            self.layers = nn.ModuleList([ClassifierBlock(config) for _ in range(config.num_layers)])
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, input_ids, attention_mask=None):
            positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
            out = self.dropout(self.word_embedding(input_ids) + self.position_embedding(positions))
            for layer in self.layers:
                out = layer(out, attention_mask)
            return out

    class TopoformerClassifier(nn.Module):
        """``TransformerClassifier``: returns logits (B, num_classes)."""

        def __init__(self, config: Any) -> None:
            super().__init__()
            self.config = config
            self.encoder = ClassifierEncoder(config)
            self.classifier = nn.Linear(config.hidden_size, config.num_classes)
            self.act = nn.Tanh()

        def forward(self, input_ids, attention_mask=None):
            states = self.encoder(input_ids, attention_mask)
            if self.config.pooling == "CLASSIFICATION":
                pooled = states[:, 0, :]
            elif attention_mask is None:
                pooled = states.mean(dim=1)
            else:
                weights = attention_mask.to(states.dtype)[:, :, None]
                pooled = (states * weights).sum(1) / weights.sum(1)
            return self.classifier(self.act(pooled))

    # ------------------------------------------------------------------ the BERT (cramming bert-c5)
    class ScaledSinusoidal(nn.Module):
        def __init__(self, n: int, max_length: int) -> None:
            super().__init__()
            pe = torch.zeros(max_length, n)
            position = torch.arange(0, max_length, dtype=torch.float).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, n, 2).float() * (-math.log(10000.0) / n))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe.unsqueeze(0), persistent=False)
            self.scale_factor = nn.Parameter(torch.tensor([1.0 / n**0.5]))

        def forward(self, input_ids):
            return self.scale_factor * self.pe[:, : input_ids.shape[1], :]

    class Embedding(nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.word_embedding = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
            self.pos_embedding = ScaledSinusoidal(config.hidden_size, config.max_length)
            self.dropout = nn.Dropout(config.dropout)
            self.norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps)

        def forward(self, input_ids):
            return self.dropout(self.norm(self.word_embedding(input_ids) + self.pos_embedding(input_ids)))

    class AttentionComponent(nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.self_attention = TopoAttention(config, 0.0)  # cramming's TopoAttention has no dropout
            self.dense = nn.Linear(config.hidden_size, config.hidden_size, bias=config.use_bias)

        def forward(self, states, attention_mask=None):
            return self.dense(self.self_attention(states, attention_mask))

    class GatedFFN(nn.Module):
        """cramming's FFNComponent with ``nonlin: GELUglu``: ``dense_out(gelu(gate) * x)``."""

        def __init__(self, config: Any) -> None:
            super().__init__()
            self.dense_in = nn.Linear(config.hidden_size, config.intermed_size, bias=config.use_bias)
            self.dense_out = nn.Linear(config.intermed_size // 2, config.hidden_size, bias=config.use_bias)

        def forward(self, states):
            x, gate = self.dense_in(states).chunk(2, dim=-1)
            return self.dense_out(F.gelu(gate) * x)

    class BertLayer(nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.dropout = nn.Dropout(config.dropout)
            self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.norm_eps)
            self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.norm_eps)
            self.attn = AttentionComponent(config)
            self.ffn = GatedFFN(config)
            self.register_buffer("alpha", torch.tensor(1.0))

        def forward(self, states, attention_mask=None):
            states = states + self.dropout(self.attn(self.norm1(states), attention_mask))
            return states + self.dropout(self.ffn(self.norm2(states)))

    class BertEncoder(nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.embedding = Embedding(config)
            self.input_projection = nn.Identity()
            self.layers = nn.ModuleList([BertLayer(config) for _ in range(config.num_layers)])
            self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps)
            self.register_buffer("p", torch.tensor(1.0))

        def forward(self, input_ids, attention_mask=None):
            states = self.embedding(input_ids)
            for layer in self.layers:
                states = layer(states, attention_mask)
            return self.final_norm(states)

    class TopoformerBert(nn.Module):
        """cramming's ``ScriptableLMForPreTraining`` (bert-c5): returns MLM logits (B, T, vocab)."""

        def __init__(self, config: Any) -> None:
            super().__init__()
            self.config = config
            self.encoder = BertEncoder(config)
            self.prediction_head = nn.Linear(config.hidden_size, config.hidden_size, bias=config.use_bias)
            self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=config.decoder_bias)
            self.decoder.weight = self.encoder.embedding.word_embedding.weight
            self._init_weights()

        def _init_weights(self) -> None:
            # cramming's _init_module ("normal", std 0.02) on every Linear (the locally connected
            # ones included), Embedding (padding row 0) and LayerNorm.
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    module.weight.data.normal_(0.0, 0.02)
                    if module.bias is not None:
                        module.bias.data.zero_()
                elif isinstance(module, nn.Embedding):
                    module.weight.data.normal_(0.0, 0.02)
                    if module.padding_idx is not None:
                        module.weight.data[module.padding_idx].zero_()
                elif isinstance(module, nn.LayerNorm):
                    module.bias.data.zero_()
                    module.weight.data.fill_(1.0)

        def forward(self, input_ids, attention_mask=None, logits: bool = True):
            states = self.encoder(input_ids, attention_mask)
            return self.decoder(self.prediction_head(states)) if logits else states

    return {"classifier": TopoformerClassifier, "bert": TopoformerBert,
            "LocalityMask": LocalityMask, "LocallyConnected": LocallyConnected}
