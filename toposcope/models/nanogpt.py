"""A GPT-2 style decoder with nanoGPT's parameter names, for the TopoNets NanoGPT checkpoints.

The released checkpoints come from nanoGPT's ``train.py``: a dict with ``model``
(a state dict, keys prefixed ``_orig_mod.`` by ``torch.compile``) and
``model_args`` (the config below). This module rebuilds the same network so that
those state dicts load key for key::

    transformer.wte / wpe            token and position embeddings
    transformer.h.N.ln_1, ln_2       LayerNorm (bias optional)
    transformer.h.N.attn.c_attn      Linear(n_embd, 3 n_embd): q, k, v
    transformer.h.N.attn.c_proj      Linear(n_embd, n_embd)
    transformer.h.N.mlp.c_fc         Linear(n_embd, 4 n_embd)   (the topographic layer)
    transformer.h.N.mlp.c_proj       Linear(4 n_embd, n_embd)
    transformer.ln_f, lm_head        final norm; lm_head.weight is wte.weight (tied)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from toposcope._validation import ToposcopeError

__all__ = ["GPT", "RELEASED_ARGS", "GPTConfig", "gpt2_tokenizer"]

#: ``model_args`` of the released TopoNets NanoGPTs (GPT-2 small, no biases).
RELEASED_ARGS = {
    "n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024,
    "vocab_size": 50304, "bias": False, "dropout": 0.0,
}


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a nanoGPT model; field names follow nanoGPT's ``model_args``."""

    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2's 50257 padded up to a multiple of 64
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = False

    @classmethod
    def from_args(cls, model_args: Mapping[str, Any]) -> GPTConfig:
        """A config from a checkpoint's ``model_args``; keys nanoGPT never set are ignored."""
        if not isinstance(model_args, Mapping):
            raise ToposcopeError(
                f"nanoGPT model_args must be a dict, got {type(model_args).__name__}"
            )
        known = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in model_args.items() if k in known and v is not None})
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ToposcopeError(f"nanoGPT model_args {name} must be a positive integer, got {value!r}")
        if config.n_embd % config.n_head:
            raise ToposcopeError(
                f"nanoGPT model_args n_embd={config.n_embd} is not divisible by n_head={config.n_head}"
            )
        return config


class LayerNorm(nn.Module):
    """LayerNorm over the last axis with an optional bias (nanoGPT's, eps 1e-5)."""

    def __init__(self, size: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention; (B, T, C) -> (B, T, C)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        heads = self.c_attn(x).split(width, dim=2)
        # (B, T, C) -> (B, heads, T, C / heads) for q, k and v
        q, k, v = (h.view(batch, tokens, self.n_head, -1).transpose(1, 2) for h in heads)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        y = y.transpose(1, 2).reshape(batch, tokens, width)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """c_fc (C -> 4C), exact GELU, c_proj (4C -> C)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The nanoGPT language model.

    Parameters
    ----------
    config : GPTConfig

    Notes
    -----
    ``forward(idx)`` takes token ids of shape (B, T) with ``T <= block_size`` and
    returns ``(logits, loss)``; without targets only the last position's logits,
    shape (B, 1, vocab_size), are computed (as nanoGPT does at inference), which
    keeps a 50k-word projection of every token out of memory during extraction.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "wpe": nn.Embedding(config.block_size, config.n_embd),
                "drop": nn.Dropout(config.dropout),
                "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                "ln_f": LayerNorm(config.n_embd, bias=config.bias),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.tie_weights()
        self.apply(self._init_weights)
        # GPT-2's scaled init of the projections that write into the residual stream
        for name, parameter in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def tie_weights(self) -> None:
        """Share one (vocab_size, n_embd) matrix between ``transformer.wte`` and ``lm_head`` (GPT-2)."""
        self.transformer.wte.weight = self.lm_head.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (and cross-entropy loss when ``targets`` (B, T) are given) for ids (B, T)."""
        tokens = idx.shape[1]
        if tokens > self.config.block_size:
            raise ToposcopeError(
                f"a sequence of {tokens} tokens is longer than the model's block size "
                f"{self.config.block_size}; split long texts"
            )
        positions = torch.arange(tokens, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(positions))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, -1:, :]), None
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)
        return logits, loss


# --------------------------------------------------------------------------- tokenizer
TOKENIZER_HINT = (
    "pass tokenizer=DIR, a local folder with the GPT-2 tokenizer files "
    "(tokenizer.json, or vocab.json and merges.txt)"
)


def gpt2_tokenizer(tokenizer: Any = None, block_size: int = 1024) -> Any:
    """The GPT-2 BPE tokenizer (or ``tokenizer``), set up for a causal model without masks.

    Parameters
    ----------
    tokenizer : str, path or tokenizer object, optional
        A local folder, or a Hugging Face id (``"gpt2"`` by default) whose files are
        taken from the Hugging Face cache or downloaded once; or a ready tokenizer.
    block_size : int
        The model's context length; longer texts are then rejected before the forward pass.

    Returns
    -------
    tokenizer
        With a pad token (eos when it had none) and right-side padding.
    """
    if tokenizer is None or isinstance(tokenizer, (str, Path)):
        tokenizer = _load_gpt2_tokenizer(str(tokenizer or "gpt2"))
    if getattr(tokenizer, "pad_token", None) is None:
        if getattr(tokenizer, "eos_token", None) is None:
            raise ToposcopeError("the tokenizer has neither a pad nor an eos token; give it a pad_token")
        tokenizer.pad_token = tokenizer.eos_token
    # nanoGPT takes no attention mask: padding must come after the real tokens, which
    # causal attention then never lets them see.
    tokenizer.padding_side = "right"
    if getattr(tokenizer, "model_max_length", block_size) > block_size:
        tokenizer.model_max_length = block_size
    return tokenizer


def _load_gpt2_tokenizer(source: str) -> Any:
    """GPT2TokenizerFast from a folder or a Hub id, never an empty one.

    Recent transformers return an empty tokenizer (instead of raising) when the
    files are missing, and retry the network for minutes when offline; so Hub
    files are fetched through :func:`toposcope.models.hub.download` (cache first,
    one clear error) and every result is checked for a vocabulary.
    """
    from transformers import GPT2TokenizerFast

    folder = Path(source).expanduser()
    if not folder.is_dir():
        from toposcope.models import hub

        folder = hub.download(source, "tokenizer.json", hint=TOKENIZER_HINT).parent
    try:
        tokenizer = GPT2TokenizerFast.from_pretrained(str(folder), local_files_only=True)
    except Exception as error:  # noqa: BLE001 - unreadable files become one line
        raise ToposcopeError(
            f"cannot read the GPT-2 tokenizer in {source!r} ({type(error).__name__}); {TOKENIZER_HINT}"
        ) from None
    if len(tokenizer.get_vocab()) <= 1:
        raise ToposcopeError(f"no GPT-2 tokenizer files in {source!r}; {TOKENIZER_HINT}")
    return tokenizer
