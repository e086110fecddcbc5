"""Topoformer (``topoformer``): Transformers made topographic by spatial querying and reweighting.

Binhuraib, Tuckute & Blauch (Re-Align 2024; arXiv 2510.18745). Each layer's
``hidden_size`` units sit on a ``sqrt(hidden) x sqrt(hidden)`` grid that wraps
around (a torus). Spatial querying pools each query over a disc of width ``sq``
(the fraction of the sheet); spatial reweighting makes the output projection a
locally connected layer of width ``sr``. Width -1 is the non-topographic
control. The networks themselves are in :mod:`toposcope.models.topoformer_nn`.

Specs:

- ``topoformer/tiny`` and ``topoformer/tiny-control``: a 1-layer classifier
  and its non-topographic twin shipped with toposcope, trained by
  ``scripts/train_topoformer.py`` on offline text.
- ``topoformer/classifier``: the reference's 1-layer ``TransformerClassifier``
  (``config=`` its ``model`` settings: ``hidden_size``, ``sq``, ``sr``, ...).
- ``topoformer/bert``: the reference BERT (cramming ``bert-c5``; ``config=`` the
  ``model_config.json`` its training saves beside ``model.pth``).

``checkpoint=`` is a state dict laid out as the reference saves it (loaded
strictly) or a folder with the weights, the config and the tokenizer. Without
one, the weights are random (``seed``). Hooked layers, per block ``i`` (each a
torus sheet of ``hidden_size`` units): ``query``, ``key``, ``value`` (the
projections, before spatial querying, as the reference's visualisations hook
them), ``head`` (the attention output) and ``output_projection``.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_option
from toposcope.models.checkpoints import load_weights, read_checkpoint, unwrap_state_dict
from toposcope.models.subject import Subject, TopoLayer, file_sha256, module_sha256
from toposcope.models.topoformer_nn import locality_distances, locality_mask, modules
from toposcope.sheet import grid_sheet, square_side, torus_sheet

__all__ = [
    "HOOKS",
    "SHIPPED",
    "TopoformerConfig",
    "layer_names",
    "load_topoformer",
    "topoformer_config",
    "topoformer_model",
]

VARIANTS = ("classifier", "bert")
MASK_TYPES = ("circular", "full", "gaussian")
#: Hookable modules of block i, in forward order (relative to the block's attention module).
HOOKS = ("head.query", "head.key", "head.value", "head", "output_projection")
#: Models shipped in the package (``toposcope/data/topoformer/<name>/``).
SHIPPED = ("tiny", "tiny-control")
CONFIG_HINT = ("pass config= with the model's settings (a dict, or the JSON / YAML file the reference "
               "training wrote: its model section, or cramming's model_config.json)")


@dataclass(frozen=True)
class TopoformerConfig:
    """Everything that shapes a Topoformer (reference names in brackets).

    Parameters
    ----------
    variant : {"classifier", "bert"}
    hidden_size : int
        Units per layer; a square (``hidden_size``).
    sq, sr : float
        Widths of spatial querying and reweighting: the fraction of the sheet
        each unit reaches; -1 for none (the control).
    mask_type : {"circular", "full", "gaussian"}
    learned_spatial_querying, local_querying : bool
        A learned weight per query unit; or locally connected q, k, v instead of
        spatial querying (the two exclude each other).
    wrap : bool
        Whether the sheet wraps around (True in the reference).
    qkv_bias, relu : bool
    num_layers : int
        ``num_hidden_layers`` (classifier) or ``num_transformer_layers`` (BERT).
    vocab_size, max_length : int
        ``src_vocab_size`` / ``embedding.vocab_size``; position embeddings
        (``max_length`` / ``embedding.max_seq_length``).
    forward_expansion, pooling, num_classes
        Classifier: FFN width factor, ``"AVERAGE"`` or ``"CLASSIFICATION"``
        (``pooling_mechanism``), and its 2 classes.
    intermed_size, norm_eps, pad_token_id, use_bias, decoder_bias
        BERT (cramming ``bert-c5``).
    dropout, hidden_dropout, attention_dropout : float
        Only in training mode.
    """

    variant: str = "classifier"
    hidden_size: int = 400
    sq: float = 0.1
    sr: float = 0.3
    mask_type: str = "circular"
    learned_spatial_querying: bool = False
    local_querying: bool = False
    wrap: bool = True
    qkv_bias: bool = True
    relu: bool = False
    num_layers: int = 1
    vocab_size: int = 30522
    max_length: int = 256
    forward_expansion: int = 4
    pooling: str = "AVERAGE"
    num_classes: int = 2
    intermed_size: int = 3072
    norm_eps: float = 1e-12
    pad_token_id: int = 0
    use_bias: bool = False
    decoder_bias: bool = False
    dropout: float = 0.0
    hidden_dropout: float = 0.0
    attention_dropout: float = 0.0

    def __post_init__(self) -> None:
        check_option("variant", self.variant, VARIANTS)
        check_option("mask_type", self.mask_type, MASK_TYPES)
        check_option("pooling", self.pooling, ("AVERAGE", "CLASSIFICATION"))
        square_side(self.hidden_size, what="hidden_size")
        for name in ("num_layers", "vocab_size", "max_length", "forward_expansion", "num_classes",
                     "intermed_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ToposcopeError(f"Topoformer {name} must be a positive integer, got {value!r}")
        for name in ("sq", "sr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value == -1 or 0 < value <= 1):
                raise ToposcopeError(
                    f"Topoformer width {name} must be in (0, 1] (a fraction of the sheet) or -1 (none), got {value!r}"
                )
        if self.local_querying and self.learned_spatial_querying:
            raise ToposcopeError("local_querying and learned_spatial_querying exclude each other; set one to False")
        if self.mask_type == "full" and (self.sq, self.sr) != (1, 1) and -1 not in (self.sq, self.sr):
            raise ToposcopeError(f"mask_type='full' connects every unit, so sq and sr must be 1, got "
                                 f"sq={self.sq}, sr={self.sr}")

    @property
    def side(self) -> int:
        """The side of each layer's square sheet."""
        return math.isqrt(self.hidden_size)

    @property
    def topographic(self) -> bool:
        """False for the non-topographic control (both widths -1)."""
        return not (self.sq == -1 and self.sr == -1)


# --------------------------------------------------------------------------- configs
_CLASSIFIER_KEYS = {"num_hidden_layers": "num_layers", "src_vocab_size": "vocab_size",
                    "pooling_mechanism": "pooling", "hidden_dropout_prob": "hidden_dropout",
                    "attention_probs_dropout_prob": "attention_dropout"}
_IGNORED = {"num_attention_heads", "model_version", "patch_size", "initializer_range", "tokenizer", "seed",
            "architectures", "norm", "norm_scheme", "nonlin", "tie_weights", "sparse_prediction", "loss",
            "z_loss_factor", "gradient_checkpointing", "layer_fusion", "init", "ffn_layer_frequency",
            "deepnorm_scaling", "skip_head_transform", "layer_drop_theta", "final_norm",
            "recurrent_layers", "layer_macro_type", "num_labels", "classification_head", "hidden_dropout_prob",
            "embedding", "attention", "num_transformer_layers", "intermed_size", "norm_eps", "use_bias",
            "decoder_bias", "variant"}
#: cramming settings the BERT here reproduces; another value is refused, naming it.
_BERT_FIXED = {"norm": "LayerNorm", "norm_scheme": "pre", "nonlin": "GELUglu", "tie_weights": True,
               "skip_head_transform": True, "final_norm": True, "layer_macro_type": "transformer",
               "ffn_layer_frequency": 1, "deepnorm_scaling": False, "layer_drop_theta": None,
               "recurrent_layers": None}
_BERT_EMBEDDING_FIXED = {"pos_embedding": "scaled-sinusoidal", "normalization": True}
_BERT_ATTENTION_FIXED = {"type": "topoformer", "num_attention_heads": 1, "skip_output_projection": False,
                         "causal_attention": False, "rotary_embedding": False}


def _read_config_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ToposcopeError(f"config {str(path)!r} is not valid JSON ({error.msg}, line {error.lineno})") from None


def _check_fixed(section: Mapping[str, Any], fixed: Mapping[str, Any], prefix: str) -> None:
    for key, wanted in fixed.items():
        if key in section and section[key] != wanted:
            raise ToposcopeError(
                f"the Topoformer BERT here is cramming's bert-c5 ({prefix}{key}={wanted!r}), but the config has "
                f"{prefix}{key}={section[key]!r}; that variant is not supported"
            )


def topoformer_config(source: Any = None, **overrides: Any) -> TopoformerConfig:
    """A :class:`TopoformerConfig` from the reference's settings.

    Parameters
    ----------
    source : dict, path, TopoformerConfig or None
        The classifier's ``model`` settings (``TextModelConfig``: ``hidden_size``,
        ``num_hidden_layers``, ``sq``, ``sr``, ``src_vocab_size``, ...; a hydra
        file with a ``model:`` section works too), cramming's ``model_config.json``
        / arch YAML for the BERT (``num_transformer_layers``, ``embedding``,
        ``attention``, ...), or this module's own field names. ``None``: the defaults.
    **overrides
        Field values that replace the source's (``sq=0.3``).

    Raises
    ------
    ToposcopeError
        Unknown keys, values out of range, a BERT setting this adapter does not build.
    """
    if isinstance(source, TopoformerConfig):
        settings: dict[str, Any] = asdict(source)
    elif source is None:
        settings = {}
    else:
        if isinstance(source, (str, Path)):
            path = Path(source).expanduser()
            if path.is_dir():
                path = next((path / n for n in ("model_config.json", "config.json") if (path / n).is_file()), path)
            if not path.is_file():
                raise ToposcopeError(f"Topoformer config {str(source)!r} does not exist; {CONFIG_HINT}")
            source = _read_config_file(path)
        if not isinstance(source, Mapping):
            raise ToposcopeError(f"Topoformer config must be a mapping, got {type(source).__name__}; {CONFIG_HINT}")
        source = dict(source.get("model", source)) if isinstance(source.get("model"), Mapping) else dict(source)
        settings = _from_reference(source)
    known = {f.name for f in fields(TopoformerConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ToposcopeError(f"unknown Topoformer setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
    settings.update(overrides)
    return TopoformerConfig(**settings)


def _from_reference(source: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in fields(TopoformerConfig)}
    if "variant" in source and set(source) <= known:
        return dict(source)  # this module's own names (a config.json written by config_dict)
    bert = "num_transformer_layers" in source or isinstance(source.get("attention"), Mapping)
    out: dict[str, Any] = {"variant": "bert" if bert else "classifier"}
    if bert:
        _check_fixed(source, _BERT_FIXED, "")
        embedding = dict(source.get("embedding") or {})
        attention = dict(source.get("attention") or {})
        _check_fixed(embedding, _BERT_EMBEDDING_FIXED, "embedding.")
        _check_fixed(attention, _BERT_ATTENTION_FIXED, "attention.")
        hidden = source.get("hidden_size", TopoformerConfig.hidden_size)
        if embedding.get("embedding_dim", hidden) != hidden:
            raise ToposcopeError("the Topoformer BERT here needs embedding.embedding_dim == hidden_size")
        out.update(hidden_size=hidden, num_layers=source.get("num_transformer_layers", 16), qkv_bias=False,
                   max_length=128, intermed_size=source.get("intermed_size", 3072))
        for key, target in (("norm_eps", "norm_eps"), ("use_bias", "use_bias"), ("decoder_bias", "decoder_bias"),
                            ("hidden_dropout_prob", "dropout")):
            if key in source:
                out[target] = source[key]
        for key, target in (("vocab_size", "vocab_size"), ("max_seq_length", "max_length"),
                            ("pad_token_id", "pad_token_id")):
            if embedding.get(key) is not None:
                out[target] = embedding[key]
        for key in ("sq", "sr", "mask_type", "learned_spatial_querying", "local_querying", "qkv_bias", "relu",
                    "wrap"):
            if key in attention:
                out[key] = attention[key]
        if "dropout_prob" in attention:
            out["attention_dropout"] = attention["dropout_prob"]
        for key, value in source.items():
            if key not in _IGNORED and key not in known and key not in ("hidden_size",):
                raise ToposcopeError(f"unknown Topoformer BERT setting {key!r} in the config")
        return out
    if source.get("model_version", "v2") != "v2":
        raise ToposcopeError(
            f"Topoformer classifier model_version {source['model_version']!r} is not supported "
            "(the reference's v3 block does not build); use 'v2'"
        )
    for key, value in source.items():
        target = _CLASSIFIER_KEYS.get(key, key)
        if target in known:
            out[target] = value
        elif key not in _IGNORED:
            raise ToposcopeError(f"unknown Topoformer classifier setting {key!r} in the config; {CONFIG_HINT}")
    return out


# --------------------------------------------------------------------------- the model
def topoformer_model(config: TopoformerConfig, seed: int = 0) -> Any:
    """A Topoformer with random weights drawn from ``seed`` (the caller's random state untouched), in eval mode."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = modules()[config.variant](config)
    return model.eval()


def block_prefix(config: TopoformerConfig, block: int) -> str:
    """Module name of block ``block``'s attention (the parent of the hooked modules)."""
    if config.variant == "bert":
        return f"encoder.layers.{block}.attn.self_attention"
    return f"encoder.layers.{block}.attention"


def layer_names(config: TopoformerConfig) -> list[str]:
    """The hookable layers, block by block in forward order (query, key, value, head, output_projection)."""
    return [f"{block_prefix(config, i)}.{hook}" for i in range(config.num_layers) for hook in HOOKS]


def _sheet(config: TopoformerConfig, name: str) -> Any:
    # The reference's grids always wrap; wrap=False keeps the same grid, flat.
    return torus_sheet(config.hidden_size, name=name) if config.wrap else grid_sheet(config.hidden_size, name=name)


# --------------------------------------------------------------------------- checks of a state dict
_BLOCK = re.compile(r"^encoder\.layers\.(\d+)\.")


def check_layout(state: Mapping[str, Any], config: TopoformerConfig, source: str) -> None:
    """Name the first way ``state`` disagrees with ``config``: variant, hidden size, depth, querying, mask.

    Raises
    ------
    ToposcopeError
        One line naming the mismatch and the setting that fits the checkpoint.
    """
    is_bert = any(".attn.self_attention." in k for k in state)
    is_classifier = any(".attention.head." in k for k in state)
    if is_bert != (config.variant == "bert") and (is_bert or is_classifier):
        found = "bert" if is_bert else "classifier"
        raise ToposcopeError(f"checkpoint {source!r} is a Topoformer {found}, but the config builds the "
                             f"{config.variant}; load it as topoformer/{found}")
    query = next((v for k, v in state.items() if k.endswith("head.query.weight")), None)
    if query is not None and next(iter(query.shape)) != config.hidden_size:
        n = int(query.shape[0])
        raise ToposcopeError(
            f"checkpoint {source!r} has hidden size {n} (a {math.isqrt(n)} x {math.isqrt(n)} sheet) but the config "
            f"says {config.hidden_size} ({config.side} x {config.side}); use hidden_size={n}"
        )
    blocks = {int(m.group(1)) for m in map(_BLOCK.match, state) if m}
    if blocks and len(blocks) != config.num_layers:
        raise ToposcopeError(f"checkpoint {source!r} has {len(blocks)} layers but the config says "
                             f"{config.num_layers}; use num_layers={len(blocks)}")
    prefix = block_prefix(config, 0) + ".head.locality_mask."
    has_mask = prefix + "locality_mask" in state
    if has_mask == config.local_querying:
        raise ToposcopeError(
            f"checkpoint {source!r} {'has' if has_mask else 'has no'} spatial-querying mask "
            f"({prefix}locality_mask), but the config says local_querying={config.local_querying}; "
            f"use local_querying={not has_mask}"
        )
    has_weight = prefix + "locality_weight" in state
    if has_mask and has_weight != config.learned_spatial_querying:
        raise ToposcopeError(
            f"checkpoint {source!r} {'has' if has_weight else 'has no'} learned spatial-querying weights "
            f"({prefix}locality_weight), but the config says learned_spatial_querying="
            f"{config.learned_spatial_querying}; use learned_spatial_querying={has_weight}"
        )


def check_query_masks(model: Any, state: Mapping[str, Any], config: TopoformerConfig, source: str) -> None:
    """The loaded spatial-querying masks must be the config's (``sq``, ``mask_type``, ``wrap``).

    The masks are the only record of a width in a state dict (the locally
    connected layers keep theirs out of it), so a checkpoint of another ``sq``
    or mask type shows here. Gaussian masks are random draws and are not compared.
    """
    if config.local_querying or config.mask_type == "gaussian":
        return
    import torch

    built = modules()["LocalityMask"](config.hidden_size, config.sq, wrap=config.wrap, local_querying=False,
                                      learned=False, mask_type=config.mask_type).locality_mask
    for block in range(config.num_layers):
        key = f"{block_prefix(config, block)}.head.locality_mask.locality_mask"
        loaded = state[key].detach().to(torch.float32)
        if torch.allclose(loaded, built, rtol=1e-5, atol=1e-7, equal_nan=True):
            continue
        raise ToposcopeError(
            f"checkpoint {source!r} was trained with another spatial-querying mask: in layer {block} "
            f"{_describe_mask(loaded.numpy(), config)}, but the config's {_describe_config(config)}"
        )


def _describe_config(config: TopoformerConfig) -> str:
    if config.sq == -1:
        return "sq=-1 (no spatial querying) keeps none"
    if config.mask_type == "full":
        return "mask_type='full' keeps every unit"
    keep = int(locality_mask(config.hidden_size, config.sq, config.mask_type, config.wrap)[0].sum())
    return f"sq={config.sq:g} ({config.mask_type}) keeps {keep}"


def _describe_mask(mask: np.ndarray, config: TopoformerConfig) -> str:
    """What a loaded locality-mask buffer is, and the setting that rebuilds it."""
    n = mask.shape[0]
    if np.isnan(mask).all():
        return "it is the non-topographic control's (NaN: width -1); use sq=-1"
    support = mask != 0
    if support.all():
        return "it pools every unit ('full'); use mask_type='full', sq=1"
    counts = support.sum(1)
    if len(np.unique(counts)) > 1 or not config.wrap:
        return f"it keeps {counts.min()} to {counts.max()} of {n} units per query (not a wrapped circular mask)"
    keep = int(counts[0])
    distances, per_distance = np.unique(locality_distances(n, True)[0], return_counts=True)
    # k units within the radius: r lies between the k-th and the next distinct distance.
    inside = np.cumsum(per_distance)
    at = int(np.searchsorted(inside, keep))
    if at >= len(distances) or inside[at] != keep:
        return f"it keeps {keep} of {n} units per query (not a circular mask)"
    low = np.pi * distances[at] ** 2
    high = np.pi * distances[at + 1] ** 2 if at + 1 < len(distances) else 1.0
    return (f"it keeps {keep} of {n} units per query (circular, sq between {low:.4g} and {high:.4g}); "
            f"use sq={float(np.round((low + high) / 2, 4)):g}")


# --------------------------------------------------------------------------- loading
def data_dir(name: str = "") -> Path:
    """The package folder of the shipped Topoformers (``toposcope/data/topoformer/<name>``)."""
    return Path(str(resources.files("toposcope") / "data" / "topoformer")) / name


def _tokenizer(tokenizer: Any, folder: Path | None) -> Any:
    """A transformers tokenizer from an object, a tokenizer.json file, or a folder."""
    if tokenizer is not None and not isinstance(tokenizer, (str, Path)):
        return tokenizer
    path = Path(tokenizer).expanduser() if tokenizer is not None else folder
    if path is None:
        return None
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if path.is_file() and path.suffix == ".json":
        return PreTrainedTokenizerFast(tokenizer_file=str(path))
    if path.is_dir() and (path / "tokenizer.json").is_file():
        if (path / "tokenizer_config.json").is_file():
            return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        return PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"))
    if tokenizer is not None:
        raise ToposcopeError(f"tokenizer {str(tokenizer)!r} is neither a tokenizer.json file nor a folder with one")
    return None


def _weights_in(folder: Path) -> Path:
    for name in ("model.safetensors", "model.pth", "model.pt", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    raise ToposcopeError(f"checkpoint folder {str(folder)!r} holds no model.safetensors or model.pth; "
                         "pass checkpoint= the weights file itself")


def _forward(model: Any, inputs: Any) -> Any:
    mask = inputs.get("attention_mask")
    if model.config.variant == "bert":
        return model(inputs["input_ids"], mask, logits=False)
    return model(inputs["input_ids"], mask)


def load_topoformer(
    rest: str = "",
    *,
    checkpoint: str | Path | None = None,
    config: Any = None,
    tokenizer: Any = None,
    layers: Iterable[str] | str | None = None,
    sq: float | None = None,
    sr: float | None = None,
    mask_type: str | None = None,
    seed: int = 0,
    trust_checkpoint: bool = False,
) -> Subject:
    """A Topoformer as a Subject.

    Parameters
    ----------
    rest : str
        ``"tiny"`` / ``"tiny-control"`` (shipped), ``"classifier"`` or ``"bert"``
        (``""`` reads the variant from the config).
    checkpoint : path, optional
        A state dict (``.pt``, ``.pth``, ``.safetensors``) laid out as the reference
        saves it, or a folder with ``model.pth`` / ``model.safetensors``, its
        config (``model_config.json`` / ``config.json``) and tokenizer files.
    config : dict or path, optional
        The model's settings (see :func:`topoformer_config`); read from the
        checkpoint folder when absent.
    tokenizer : path or tokenizer, optional
        A ``tokenizer.json``, a folder, or a transformers tokenizer; read from
        the checkpoint folder when absent.
    layers : list of str or comma-separated str, optional
        Modules to hook; all of :func:`layer_names` by default.
    sq, sr, mask_type : optional
        Override the config's widths and mask type.
    seed : int
        Seed of random weights (no checkpoint).
    trust_checkpoint : bool
        Unpickle a checkpoint that holds more than tensors; see :func:`toposcope.load_model`.

    Returns
    -------
    Subject
        Language modality; one torus sheet of ``hidden_size`` units per hooked layer.
    """
    name = rest.strip("/")
    check_option("Topoformer model", name, ("", *VARIANTS, *SHIPPED),
                 hint="e.g. topoformer/tiny, topoformer/classifier with config=...")
    folder = None
    if name in SHIPPED:
        if checkpoint is not None:
            raise ToposcopeError(f"topoformer/{name} is the shipped model; for your own weights use "
                                 "topoformer/classifier with checkpoint=PATH")
        folder = data_dir(name)
        if not (folder / "config.json").is_file():
            raise ToposcopeError(f"the shipped Topoformer {name!r} is missing from {str(folder)!r}; reinstall "
                                 "toposcope or run scripts/train_topoformer.py")
    elif checkpoint is not None and Path(checkpoint).expanduser().is_dir():
        folder = Path(checkpoint).expanduser()
    if config is None and folder is None and (checkpoint is not None or name == ""):
        raise ToposcopeError(f"a Topoformer needs its settings; {CONFIG_HINT}",
                             cli=f"a Topoformer needs its settings; {CONFIG_HINT.replace('config=', '-O config=')}")
    source = config if config is not None else folder
    overrides = {k: v for k, v in (("sq", sq), ("sr", sr), ("mask_type", mask_type)) if v is not None}
    if name in VARIANTS:
        overrides["variant"] = name
    settings = topoformer_config(source, **overrides)
    if name in VARIANTS and source is not None:
        reread = topoformer_config(source)
        if reread.variant != name:
            raise ToposcopeError(f"the config describes a Topoformer {reread.variant}, not a {name}; "
                                 f"load it as topoformer/{reread.variant}")

    tok = _tokenizer(tokenizer, folder)
    if tok is None:
        raise ToposcopeError("a Topoformer needs its tokenizer: pass tokenizer= a tokenizer.json or a folder "
                             "(the one the model was trained with)",
                             cli="a Topoformer needs its tokenizer: pass -O tokenizer=PATH (a tokenizer.json or a "
                                 "folder: the one the model was trained with)")
    model = topoformer_model(settings, seed=seed)
    weights = _weights_in(folder) if folder is not None else (Path(checkpoint) if checkpoint is not None else None)
    if weights is not None:
        source_name = str(checkpoint if checkpoint is not None else f"topoformer/{name}")
        state = unwrap_state_dict(read_checkpoint(weights, trust=trust_checkpoint))
        check_layout(state, settings, source_name)
        load_weights(model, state, source_name, f"a Topoformer {settings.variant} ({_describe_config(settings)})")
        check_query_masks(model, state, settings, source_name)
        identity = file_sha256(weights)
    else:
        warnings.warn(f"topoformer/{name or settings.variant} has random weights (seed {seed}); "
                      "pass checkpoint=PATH", stacklevel=2)
        identity = module_sha256(model)
    names = layer_names(settings)
    if layers is not None:
        from toposcope._validation import check_layers

        chosen = [n for n in (layers.split(",") if isinstance(layers, str) else layers) if n]
        names = check_layers(chosen, names, spec=f"topoformer/{name}")
    parameters = dict(model.named_parameters())
    topo_layers = {
        n: TopoLayer(name=n, sheet=_sheet(settings, n), weight=f"{n}.weight" if f"{n}.weight" in parameters else None)
        for n in names
    }
    return Subject(
        model=model, layers=topo_layers, modality="language", name=f"topoformer/{name or settings.variant}",
        identity=identity, tokenizer=tok, forward=_forward,
        options={"checkpoint": None if checkpoint is None else str(checkpoint),
                 "config": None if config is None or not isinstance(config, (str, Path)) else str(config),
                 "sq": settings.sq, "sr": settings.sr, "mask_type": settings.mask_type,
                 "seed": seed if weights is None else None, "trust_checkpoint": trust_checkpoint or None},
    )


def config_dict(config: TopoformerConfig) -> dict[str, Any]:
    """The config as plain JSON values (for ``config.json`` beside shipped weights)."""
    return asdict(config)


def with_widths(config: TopoformerConfig, sq: float, sr: float) -> TopoformerConfig:
    """The same architecture with other widths (``-1, -1``: the non-topographic twin)."""
    return replace(config, sq=sq, sr=sr)
