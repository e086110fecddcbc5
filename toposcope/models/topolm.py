"""TopoLM (``topolm``): the topographic GPT-2 of Rathi et al. with its unit positions.

Facts this adapter rests on (epflneuroailab/topolm, ``models/``):

- ``model.py``: a nanoGPT-style GPT. Parameters ``transformer.wte``, ``transformer.wpe``,
  ``transformer.h.{i}.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}``,
  an optional ``transformer.h.{i}.attn_proj`` Linear, ``transformer.ln_f`` and a
  ``lm_head`` tied to ``wte``; LayerNorm biases only when ``bias=True``. With
  ``head_loss=True`` the attention output projection is replaced by a parameter-free
  reshape that tiles heads on the sheet.
- Each block ``i`` feeds two activations, ``layer.{i}.attn`` and ``layer.{i}.mlp``,
  each of ``n_embed`` units (784 = 28 x 28 in the paper), to the spatial loss.
  With ``with_resid=True`` (the default) they are the residual stream after the
  attention sub-block and after the MLP sub-block (the block output); with
  ``with_resid=False`` they are the attention output (after ``attn_proj``) and
  the MLP output, before being added to the stream. The model here exposes
  those activations as parameter-free modules named ``layer.{i}.attn`` and
  ``layer.{i}.mlp``, so the layer names equal the positions files' names.
- ``train.py`` saves ``{"model": state_dict, "optimizer", "model_args", "iter_num",
  "best_val_loss", "config"}``; ``model_args`` holds ``n_layer``, ``n_head``,
  ``n_embed``, ``block_size``, ``bias``, ``vocab_size``, ``head_loss``, ``attn_proj``
  and ``with_resid``. Keys may carry torch.compile's ``_orig_mod.`` prefix.
- ``positions.py`` / ``init_pos.py``: one pickled ``LayerPositions`` per layer
  (``layer.{i}.attn.pkl``, ``layer.{i}.mlp.pkl``), read by
  :mod:`toposcope.position_files`.
- Text is GPT-2 BPE (``tiktoken.get_encoding("gpt2")``, the same ids as the
  Hugging Face ``gpt2`` tokenizer), with no special tokens added.

Attention is causal and padding goes on the right, so padded batches give every
real token exactly the activations it has alone; the attention mask is not needed.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, check_bool
from toposcope.models.checkpoints import load_weights, read_checkpoint, unwrap_state_dict
from toposcope.models.subject import Subject, file_sha256, from_module
from toposcope.sheet import load_positions, positions_files

__all__ = [
    "TopoLMConfig",
    "gpt2_tokenizer",
    "layer_names",
    "load_topolm",
    "topolm_config",
    "topolm_model",
    "topolm_sheets",
]

WEIGHTS_HINT = (
    "pass checkpoint=PATH to a TopoLM ckpt-*.pt (the trained models are linked from "
    "the README of github.com/epflneuroailab/topolm)"
)
POSITIONS_HINT = (
    "pass positions=DIR, the folder of layer.{i}.attn.pkl and layer.{i}.mlp.pkl files the model "
    "was trained with (models/gpt2-positions/... in github.com/epflneuroailab/topolm)"
)
_LAYER = re.compile(r"^layer\.(\d+)\.(attn|mlp)$")
_BLOCK_KEY = re.compile(r"^transformer\.h\.(\d+)\.")


@dataclass(frozen=True)
class TopoLMConfig:
    """Architecture of a TopoLM GPT (the fields of TopoLM's ``GPTConfig`` that shape it)."""

    n_layer: int
    n_head: int
    n_embed: int
    block_size: int
    vocab_size: int
    bias: bool = True
    head_loss: bool = False
    attn_proj: bool = False
    with_resid: bool = True


def layer_names(n_layer: int) -> list[str]:
    """``layer.{i}.attn`` and ``layer.{i}.mlp`` for each block, in forward order."""
    return [f"layer.{i}.{part}" for i in range(n_layer) for part in ("attn", "mlp")]


# --------------------------------------------------------------------------- the network
@functools.lru_cache(maxsize=1)
def _modules():
    """Build the torch classes on first use, so importing this module stays light."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class TileHeads(nn.Module):
        """Lay each head's features out as a square tile, heads on a square grid.

        Input and output (B, T, C) with C = n_head * head_size; both n_head and
        head_size must be squares (TopoLM's ``head_loss`` variant).
        """

        def __init__(self, n_head: int, n_embed: int) -> None:
            super().__init__()
            self.grid = math.isqrt(n_head)
            self.tile = math.isqrt(n_embed // n_head)

        def forward(self, x):
            B, T, C = x.shape
            tiles = x.reshape(B, T, self.grid, self.grid, self.tile, self.tile)
            # (head row, head col, row in tile, col in tile) -> rows of the whole sheet first
            return tiles.permute(0, 1, 2, 4, 3, 5).reshape(B, T, C)

    class Attention(nn.Module):
        """Causal multi-head self-attention with fused q, k, v projection."""

        def __init__(self, config: TopoLMConfig) -> None:
            super().__init__()
            self.n_head = config.n_head
            self.c_attn = nn.Linear(config.n_embed, 3 * config.n_embed, bias=config.bias)
            self.c_proj = (TileHeads(config.n_head, config.n_embed) if config.head_loss
                           else nn.Linear(config.n_embed, config.n_embed, bias=config.bias))

        def forward(self, x):
            B, T, C = x.shape
            heads = [t.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                     for t in self.c_attn(x).split(C, dim=2)]
            y = F.scaled_dot_product_attention(*heads, is_causal=True)
            return self.c_proj(y.transpose(1, 2).reshape(B, T, C))

    class MLP(nn.Module):
        def __init__(self, config: TopoLMConfig) -> None:
            super().__init__()
            self.c_fc = nn.Linear(config.n_embed, 4 * config.n_embed, bias=config.bias)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * config.n_embed, config.n_embed, bias=config.bias)

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(nn.Module):
        def __init__(self, config: TopoLMConfig) -> None:
            super().__init__()
            self.with_resid = config.with_resid
            self.ln_1 = nn.LayerNorm(config.n_embed, bias=config.bias)
            self.attn = Attention(config)
            self.ln_2 = nn.LayerNorm(config.n_embed, bias=config.bias)
            self.mlp = MLP(config)
            self.attn_proj = (nn.Linear(config.n_embed, config.n_embed, bias=config.bias)
                              if config.attn_proj else nn.Identity())

        def forward(self, x, taps):
            attended = self.attn_proj(self.attn(self.ln_1(x)))
            if self.with_resid:
                # The spatial loss saw the residual stream after each sub-block.
                x = taps["attn"](x + attended)
                return taps["mlp"](x + self.mlp(self.ln_2(x)))
            x = x + taps["attn"](attended)
            return x + taps["mlp"](self.mlp(self.ln_2(x)))

    class Model(nn.Module):
        """TopoLM's GPT with its spatially laid-out activations as ``layer.{i}.{attn,mlp}``."""

        def __init__(self, config: TopoLMConfig) -> None:
            super().__init__()
            self.config = config
            self.transformer = nn.ModuleDict({
                "wte": nn.Embedding(config.vocab_size, config.n_embed),
                "wpe": nn.Embedding(config.block_size, config.n_embed),
                "h": nn.ModuleList(Block(config) for _ in range(config.n_layer)),
                "ln_f": nn.LayerNorm(config.n_embed, bias=config.bias),
            })
            self.lm_head = nn.Linear(config.n_embed, config.vocab_size, bias=False)
            self.lm_head.weight = self.transformer.wte.weight  # tied, as in GPT-2
            # Parameter-free taps, so hooks and unit coords use TopoLM's layer names.
            self.layer = nn.ModuleList(
                nn.ModuleDict({"attn": nn.Identity(), "mlp": nn.Identity()})
                for _ in range(config.n_layer)
            )

        def forward(self, input_ids, attention_mask=None, logits: bool = True):
            """Logits (B, T, vocab_size), or final hidden states (B, T, n_embed) with ``logits=False``.

            ``attention_mask`` is accepted for tokenizer-style calls and ignored:
            with causal attention, right padding never reaches real tokens.
            """
            T = input_ids.shape[1]
            if T > self.config.block_size:
                raise ToposcopeError(
                    f"input has {T} tokens but TopoLM's block_size is {self.config.block_size}; "
                    "split long texts"
                )
            positions = torch.arange(T, device=input_ids.device)
            x = self.transformer.wte(input_ids) + self.transformer.wpe(positions)
            for block, taps in zip(self.transformer.h, self.layer):
                x = block(x, taps)
            x = self.transformer.ln_f(x)
            return self.lm_head(x) if logits else x

    return Model


def topolm_model(config: TopoLMConfig) -> Any:
    """An untrained TopoLM GPT (a ``torch.nn.Module``) for ``config``."""
    if config.n_embed % config.n_head:
        raise ToposcopeError(
            f"n_embed {config.n_embed} is not divisible by n_head {config.n_head}; check n_head"
        )
    if config.head_loss:
        head_size = config.n_embed // config.n_head
        if math.isqrt(config.n_head) ** 2 != config.n_head or math.isqrt(head_size) ** 2 != head_size:
            raise ToposcopeError(
                f"head_loss needs square n_head and head size, got {config.n_head} heads of "
                f"{head_size}; check the checkpoint's model_args"
            )
    return _modules()(config)


# --------------------------------------------------------------------------- configuration

def _as_int(name: str, value: Any) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number < 1 or isinstance(value, bool):
        raise ToposcopeError(f"{name} must be a positive integer, got {value!r}")
    return number


def topolm_config(
    state: dict[str, Any], model_args: Any = None, source: str = "checkpoint", *,
    n_head: Any = None, with_resid: Any = None,
) -> TopoLMConfig:
    """The architecture of a TopoLM state dict.

    Shapes come from the tensors; ``n_head`` and ``with_resid`` (which no
    tensor records) from the arguments, else the checkpoint's ``model_args``,
    else ``with_resid=True`` as in TopoLM's ``GPTConfig``.

    Parameters
    ----------
    state : dict of str to Tensor
        TopoLM GPT weights, prefixes removed.
    model_args : dict, optional
        The checkpoint's ``model_args``.
    """
    if "transformer.wte.weight" not in state or "transformer.wpe.weight" not in state:
        keys = ", ".join(list(state)[:3])
        raise ToposcopeError(
            f"checkpoint {source!r} is not a TopoLM GPT (no transformer.wte / transformer.wpe; "
            f"it has {keys}, ...); {WEIGHTS_HINT}"
        )
    args = dict(model_args) if isinstance(model_args, dict) else {}
    vocab_size, n_embed = state["transformer.wte.weight"].shape
    blocks = {int(m.group(1)) for key in state if (m := _BLOCK_KEY.match(key))}
    if n_head is None:
        n_head = args.get("n_head")
    if n_head is None:
        raise ToposcopeError(
            f"checkpoint {source!r} has no model_args with n_head; pass n_head=N (16 in TopoLM's "
            "train_gpt2.yaml)"
        )
    if with_resid is None:
        with_resid = args.get("with_resid", True)
    return TopoLMConfig(
        n_layer=max(blocks) + 1 if blocks else 0,
        n_head=_as_int("n_head", n_head),
        n_embed=int(n_embed),
        block_size=int(state["transformer.wpe.weight"].shape[0]),
        vocab_size=int(vocab_size),
        bias="transformer.ln_f.bias" in state,
        head_loss="transformer.h.0.attn.c_proj.weight" not in state,
        attn_proj="transformer.h.0.attn_proj.weight" in state,
        with_resid=check_bool("with_resid", with_resid),
    )


def _state_and_args(content: Any) -> tuple[dict[str, Any], Any]:
    model_args = content.get("model_args") if isinstance(content, dict) else None
    state = unwrap_state_dict(content)
    # Very old nanoGPT checkpoints carry a causal-mask buffer TopoLM's attention does not use.
    state = {k: v for k, v in state.items() if not re.fullmatch(r"transformer\.h\.\d+\.attn\.bias", k)
             or getattr(v, "ndim", 0) != 4}
    return state, model_args


# --------------------------------------------------------------------------- tokenizer
def gpt2_tokenizer(tokenizer: Any = None, max_length: int | None = None) -> Any:
    """The GPT-2 BPE tokenizer: a given object, a local folder, or the hub's ``gpt2``.

    Padding goes on the right (see the module notes) with the end-of-text token.
    """
    if tokenizer is not None and not isinstance(tokenizer, (str, Path)):
        loaded = tokenizer
    else:
        from transformers import GPT2TokenizerFast

        source = str(Path(tokenizer).expanduser()) if tokenizer is not None else "gpt2"
        if tokenizer is not None and not Path(source).is_dir():
            raise ToposcopeError(
                f"tokenizer {source!r} is not a folder; give a folder with the GPT-2 tokenizer files "
                "(vocab.json and merges.txt, or tokenizer.json)"
            )
        try:
            loaded = GPT2TokenizerFast.from_pretrained(source)
        except (OSError, ValueError) as error:
            where = "the Hugging Face hub (offline?)" if tokenizer is None else repr(source)
            raise ToposcopeError(
                f"cannot load the GPT-2 tokenizer from {where} ({type(error).__name__}); "
                "save it once with GPT2TokenizerFast.from_pretrained('gpt2').save_pretrained(DIR) "
                "and pass tokenizer=DIR"
            ) from None
    loaded.padding_side = "right"
    if getattr(loaded, "pad_token", None) is None:
        loaded.pad_token = loaded.eos_token
    if max_length is not None:
        loaded.model_max_length = max_length
    return loaded


# --------------------------------------------------------------------------- positions
def topolm_sheets(folder: str | Path, config: TopoLMConfig) -> dict[str, Any]:
    """Read a TopoLM positions folder for a model of ``config``, checking names and sizes.

    Returns
    -------
    dict of str to CorticalSheet
        ``layer.{i}.attn`` / ``layer.{i}.mlp`` in forward order, each with
        ``config.n_embed`` units; a file for another model is an error.
    """
    files = positions_files(folder)
    expected = layer_names(config.n_layer)
    sheets = {}
    for stem, path in files.items():
        match = _LAYER.match(stem)
        if match is None or int(match.group(1)) >= config.n_layer:
            raise ToposcopeError(
                f"positions file {path.name!r} names layer {stem!r}, which this TopoLM "
                f"({config.n_layer} blocks) does not have; expected {expected[0]} ... {expected[-1]}"
            )
        sheets[stem] = load_positions(path, n_units=config.n_embed).with_name(stem)
    return {name: sheets[name] for name in expected if name in sheets}


def _tokenizer_name(tokenizer: Any) -> str | None:
    if tokenizer is None or isinstance(tokenizer, (str, Path)):
        return None if tokenizer is None else str(tokenizer)
    return str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)


def _hidden_states(model: Any, inputs: Any) -> Any:
    """Forward for extraction: the hooks need no logits, so skip the vocabulary projection."""
    return model(inputs["input_ids"], logits=False)


def load_topolm(
    rest: str = "",
    *,
    checkpoint: str | Path | None = None,
    positions: str | Path | None = None,
    tokenizer: Any = None,
    n_head: int | str | None = None,
    with_resid: bool | str | None = None,
    trust_checkpoint: bool = False,
) -> Subject:
    """A trained TopoLM as a Subject, one topographic layer per positions file.

    Parameters
    ----------
    rest : str
        What follows ``topolm:`` in a spec; if given, the checkpoint path.
    checkpoint : path
        A TopoLM training checkpoint (``ckpt-*.pt``) or a bare state dict of its GPT.
    positions : path
        Folder of ``layer.{i}.attn.pkl`` / ``layer.{i}.mlp.pkl`` files; every file
        becomes a layer, and each must hold ``n_embed`` units.
    tokenizer : path or tokenizer, optional
        A folder with the GPT-2 tokenizer, or a tokenizer object; by default the
        hub's ``gpt2`` (from the local cache when present).
    n_head : int, optional
        Attention heads, for checkpoints without ``model_args``.
    with_resid : bool, optional
        Override the checkpoint's ``with_resid`` (see the module notes).
    trust_checkpoint : bool
        Unpickle a checkpoint that holds more than tensors (e.g. a whole pickled
        ``nn.Module``), which can run code from the file; recorded in provenance.

    Returns
    -------
    Subject
        Modality ``"language"``; layers ``layer.{i}.attn`` / ``layer.{i}.mlp`` with
        responses of shape (n_texts, n_embed) and ``x``, ``y`` from the files
        (lattice steps, ``units="grid"``).
    """
    if rest:
        if checkpoint is not None and str(checkpoint) != rest:
            raise ToposcopeError(f"give the checkpoint once: topolm:{rest} or checkpoint=, not both")
        checkpoint = rest
    if checkpoint is None:
        raise ToposcopeError(f"topolm has no built-in weights; {WEIGHTS_HINT}")
    if positions is None:
        raise ToposcopeError(f"topolm needs its unit positions; {POSITIONS_HINT}")
    content = read_checkpoint(checkpoint, hint=WEIGHTS_HINT, trust=trust_checkpoint)
    state, model_args = _state_and_args(content)
    config = topolm_config(state, model_args, str(checkpoint), n_head=n_head, with_resid=with_resid)
    model = load_weights(topolm_model(config), state, str(checkpoint), "TopoLM GPT")
    sheets = topolm_sheets(positions, config)
    subject = from_module(
        model, list(sheets), layout="channel", modality="language",
        tokenizer=gpt2_tokenizer(tokenizer, max_length=config.block_size),
        positions=sheets, name="topolm", identity=file_sha256(checkpoint),
        options={"checkpoint": str(checkpoint), "positions": str(positions),
                 "tokenizer": _tokenizer_name(tokenizer),
                 "with_resid": config.with_resid, "trust_checkpoint": trust_checkpoint or None},
    )
    subject.forward = _hidden_states
    return subject
