"""The released TopoNets (Deb, Deb & Murty, ICLR 2025): ``toponets/<name>`` -> Subject.

Four architectures, each rebuilt so the released checkpoints load key for key:

==========  =====================================  ==========================================
name        architecture                           checkpoint file (Hugging Face ``murtylab/``)
==========  =====================================  ==========================================
resnet18    torchvision ResNet-18 + BlurPool       ``topo-resnet18-imagenet/all_topo_tau_{tau}.pt``
resnet50    torchvision ResNet-50 + BlurPool       ``topo-resnet50-imagenet/all_topo_tau_{tau}.pt``
vit_b_32    torchvision ViT-B/32                   ``topo-vit-b-32-imagenet/tau_{tau}.pt``
nanogpt     nanoGPT GPT-2 small, no biases         ``topo-nanogpt-fineweb10B/tau_{tau}.pt``
==========  =====================================  ==========================================

The ResNet files are plain state dicts; the ViT file is a torchvision training
checkpoint whose weights sit under ``model``; the NanoGPT file is a nanoGPT
``train.py`` checkpoint (``model`` with ``_orig_mod.`` prefixes, ``model_args``).

Topographic layers, each on the TopoLoss grid of its output channels / features:

* ResNets: every convolution on the residual path of every block (``conv1``,
  ``conv2`` and, in Bottlenecks, ``conv3``): 16 layers in ResNet-18, 48 in
  ResNet-50. Where a conv is wrapped in a :class:`BlurPoolConv2d` the hook sits
  on the wrapper (``layer2.0.conv1``), whose output is the conv's output, and
  ``TopoLayer.weight`` names the inner weight (``layer2.0.conv1.conv.weight``).
  The 1x1 ``downsample.0`` shortcut convs are not listed by default: they belong
  to the identity path rather than to a block's feature maps, and the release
  does not document TopoLoss on them. Pass ``layers=[...]`` to hook them (or the
  stem ``conv1``) as well.
* ViT-B/32: the MLP output linear ``encoder.layers.encoder_layer_N.mlp.3`` of
  each of the 12 blocks (768 features, pooled over tokens).
* NanoGPT: the MLP input linear ``transformer.h.N.mlp.c_fc`` of each block
  (``4 * n_embd`` features, one response per token).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, check_file, check_option
from toposcope.models import hub
from toposcope.models.blurpool import BlurPoolConv2d, apply_blurpool
from toposcope.models.checkpoints import load_weights, read_checkpoint, unwrap_state_dict
from toposcope.models.nanogpt import GPT, RELEASED_ARGS, GPTConfig, gpt2_tokenizer
from toposcope.models.subject import Subject, file_sha256, from_module
from toposcope.models.transforms import imagenet_transform

__all__ = [
    "RANDOM",
    "RELEASES",
    "build_nanogpt",
    "build_resnet",
    "build_vit_b_32",
    "default_layers",
    "load_toponet",
    "normalise_tau",
]

#: ``checkpoint=RANDOM`` builds the architecture with (seeded) random weights.
RANDOM = "none"
#: Canonical label of the baseline (no TopoLoss) runs; files are ``tau_0.0.pt``.
BASELINE = "0.0"


@dataclass(frozen=True)
class Release:
    """Where a TopoNets model's checkpoints live and which taus were released."""

    repo: str
    pattern: str  # file name with a ``{tau}`` field, tau written as a float ("10.0")
    taus: tuple[str, ...]
    default: str | None  # the tau used when none is given (None: the user must choose)
    modality: str

    def filename(self, tau: str) -> str:
        return self.pattern.format(tau=tau)


RELEASES: dict[str, Release] = {
    "resnet18": Release("murtylab/topo-resnet18-imagenet", "all_topo_tau_{tau}.pt",
                        ("0.5", "1.0", "5.0", "10.0", "20.0", "50.0"), None, "vision"),
    "resnet50": Release("murtylab/topo-resnet50-imagenet", "all_topo_tau_{tau}.pt",
                        ("30.0",), "30.0", "vision"),
    "vit_b_32": Release("murtylab/topo-vit-b-32-imagenet", "tau_{tau}.pt",
                        ("10.0", BASELINE), "10.0", "vision"),
    "nanogpt": Release("murtylab/topo-nanogpt-fineweb10B", "tau_{tau}.pt",
                       ("0.5", "1.0", "3.0", "50.0", BASELINE), None, "language"),
}


# --------------------------------------------------------------------------- tau
def _tau_label(tau: Any) -> str | None:
    """``10``, ``"10"``, ``10.0`` -> ``"10.0"``; ``"baseline"``, ``0`` -> ``"0.0"``; else None."""
    if isinstance(tau, bool):
        return None
    if isinstance(tau, str):
        text = tau.strip().lower()
        if text == "baseline":
            return BASELINE
        try:
            value = float(text)
        except ValueError:
            return None
    elif isinstance(tau, numbers.Real):
        value = float(tau)
    else:
        return None
    if not math.isfinite(value):
        return None
    return BASELINE if value == 0 else repr(value)


def _shown(label: str) -> str:
    return "baseline" if label == BASELINE else f"{float(label):g}"


def _released(name: str) -> Release:
    return RELEASES[check_option("TopoNets model", name, RELEASES, hint="write e.g. toponets/resnet18")]


def normalise_tau(name: str, tau: Any) -> str | None:
    """The canonical label (``"10.0"``, ``"0.0"`` for baseline) of a released tau.

    Parameters
    ----------
    name : str
        A key of :data:`RELEASES`.
    tau : float, int, str or None
        ``10``, ``"10"``, ``"0.5"``, ``"baseline"``; None gives the model's default
        (None too when several taus were released and none is the default).
    """
    release = _released(name)
    if tau is None:
        return release.default
    label = _tau_label(tau)
    if label not in release.taus:
        raise ToposcopeError(
            f"unknown tau {tau!r} for toponets/{name}; released: "
            f"{', '.join(_shown(t) for t in release.taus)}"
        )
    return label


# --------------------------------------------------------------------------- architectures
def build_resnet(name: str) -> Any:
    """An untrained torchvision ResNet (``"resnet18"`` / ``"resnet50"``) with TopoNets' BlurPool."""
    import torchvision

    check_option("TopoNets ResNet", name, ("resnet18", "resnet50"))
    model = getattr(torchvision.models, name)(weights=None)
    apply_blurpool(model)
    return model


def build_vit_b_32() -> Any:
    """An untrained torchvision ViT-B/32 (224 x 224 input, 7 x 7 patches + class token)."""
    import torchvision

    return torchvision.models.vit_b_32(weights=None)


def build_nanogpt(model_args: Mapping[str, Any] | None = None) -> GPT:
    """An untrained nanoGPT from ``model_args`` (the released GPT-2 small config by default)."""
    return GPT(GPTConfig.from_args(RELEASED_ARGS if model_args is None else model_args))


def default_layers(name: str, model: Any) -> list[str]:
    """Module names of the topographic layers of TopoNets model ``name`` (see module docs)."""
    if name in ("resnet18", "resnet50"):
        return [
            f"{stage}.{index}.{conv}"
            for stage in ("layer1", "layer2", "layer3", "layer4")
            for index, block in enumerate(getattr(model, stage))
            for conv in ("conv1", "conv2", "conv3")
            if hasattr(block, conv)
        ]
    if name == "vit_b_32":
        return [f"encoder.layers.{block}.mlp.3" for block, _ in model.encoder.layers.named_children()]
    return [f"transformer.h.{index}.mlp.c_fc" for index in range(len(model.transformer.h))]


def _architecture(name: str, model_args: Mapping[str, Any] | None = None) -> Any:
    if name == "nanogpt":
        return build_nanogpt(model_args)
    return build_vit_b_32() if name == "vit_b_32" else build_resnet(name)


def _build(name: str, path: Path | None, source: str, seed: int = 0, trust: bool = False) -> Any:
    """The architecture, with the weights at ``path`` (random weights from ``seed`` when None)."""
    import torch

    if path is None:
        # Seeded so random-weight subjects (and their cache keys) are reproducible.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _architecture(name)
    content = read_checkpoint(path, trust=trust)
    if name == "nanogpt":
        model_args, state = _nanogpt_parts(content, source)
    else:
        model_args, state = None, unwrap_state_dict(content)
    return load_weights(_allocated(name, model_args), state, source, f"toponets/{name}")


def _allocated(name: str, model_args: Mapping[str, Any] | None) -> Any:
    """The architecture in uninitialised memory, for a strict load to overwrite every tensor.

    Skips the random initialisation (seconds for ViT-B/32); falls back to a normal
    build if the architecture holds buffers that a state dict would not fill.
    """
    import torch

    with torch.device("meta"):
        model = _architecture(name, model_args)
    model = model.to_empty(device="cpu")
    if set(dict(model.named_buffers())) - set(model.state_dict()):
        return _architecture(name, model_args)
    if isinstance(model, GPT):
        model.tie_weights()  # to_empty gave the tied pair two separate tensors
    return model


def _nanogpt_parts(content: Any, source: str) -> tuple[Mapping[str, Any] | None, dict]:
    """``(model_args, state_dict)`` of a nanoGPT checkpoint; raw state dicts get the released args."""
    if isinstance(content, Mapping) and "model_args" in content:
        if not isinstance(content.get("model"), Mapping):
            raise ToposcopeError(
                f"checkpoint {source!r} has model_args but no 'model' state dict; "
                "save it as nanoGPT's train.py does: {'model': state_dict, 'model_args': ...}"
            )
        return content["model_args"], unwrap_state_dict(content["model"])
    return None, unwrap_state_dict(content)


# --------------------------------------------------------------------------- entry point
def _nanogpt_forward(model: Any, inputs: Mapping[str, Any]) -> Any:
    """nanoGPT's call signature: ``model(input_ids)``; the attention mask is not used."""
    return model(inputs["input_ids"])


def _as_list(layers: Iterable[str] | str | None) -> list[str] | None:
    if layers is None:
        return None
    if isinstance(layers, str):
        return [name.strip() for name in layers.split(",") if name.strip()]
    return list(layers)


def load_toponet(
    name: str,
    *,
    tau: float | str | None = None,
    checkpoint: str | Path | None = None,
    pool: str = "mean",
    layout: str = "channel",
    layers: Iterable[str] | str | None = None,
    tokenizer: Any = None,
    seed: int = 0,
    trust_checkpoint: bool = False,
) -> Subject:
    """A released TopoNets model as a Subject.

    Parameters
    ----------
    name : {"resnet18", "resnet50", "vit_b_32", "nanogpt"}
        The part of the spec after ``toponets/``.
    tau : float, int or str, optional
        TopoLoss strength of the released checkpoint: resnet18 0.5, 1, 5, 10, 20, 50;
        resnet50 30; vit_b_32 10 or "baseline"; nanogpt 0.5, 1, 3, 50 or "baseline".
        Strings from the command line ("10", "0.5") are accepted.
    checkpoint : path or "none", optional
        A local checkpoint file in the released format (no network is used); the
        string ``"none"`` builds the architecture with seeded random weights (for
        listing layers and benchmarks). When omitted, the released file for
        ``tau`` is taken from the Hugging Face cache or downloaded.
    pool : {"mean", "max"}
        Reduction over space (ResNets) or tokens (ViT) of each unit's response.
    layout : {"channel", "channel_space"}
        ``channel_space`` (ResNets only) makes each channel x position a unit.
    layers : list of str or comma-separated str, optional
        Modules to hook instead of the default topographic layers.
    tokenizer : str, path or tokenizer, optional
        NanoGPT only: see :func:`toposcope.models.nanogpt.gpt2_tokenizer`.
    seed : int
        Seed of random initial weights (recorded in provenance when they are random).
    trust_checkpoint : bool
        Unpickle a checkpoint that holds more than tensors; see :func:`toposcope.load_model`.

    Returns
    -------
    Subject
        Named ``toponets/<name>``; identity is the checkpoint file's sha256.
    """
    release = _released(name)
    label = normalise_tau(name, tau)
    random_weights = isinstance(checkpoint, str) and checkpoint.strip().lower() == RANDOM
    if checkpoint is None and label is None:
        raise ToposcopeError(
            f"toponets/{name} needs tau=... (released: {', '.join(_shown(t) for t in release.taus)}); "
            "or pass checkpoint=PATH, or checkpoint='none' for random weights"
        )
    if release.modality == "language":
        if layout != "channel":
            raise ToposcopeError(f"toponets/{name} has no conv layers; use layout='channel'")
        # Before the (large) checkpoint is fetched and read, so a bad tokenizer= fails fast.
        tokenizer = _tokenizer_or_none(tokenizer)
    if random_weights:
        path, identity, source = None, None, "random weights"
        warnings.warn(f"toponets/{name} has random weights (checkpoint='none'); "
                      "omit checkpoint to use the released weights", stacklevel=2)
    elif checkpoint is not None:
        path = check_file("checkpoint", checkpoint, hint=f"give a toponets/{name} checkpoint file")
        identity, source = file_sha256(path), str(checkpoint)
    else:
        filename = release.filename(label)
        path = hub.download(release.repo, filename)
        identity = hub.known_sha256(release.repo, filename) or file_sha256(path)
        source = f"{release.repo}/{filename}"

    model = _build(name, path, source, seed=seed, trust=trust_checkpoint)
    options = {
        "tau": None if label is None else _shown(label),
        "checkpoint": RANDOM if random_weights else source,
        "pool": pool, "layout": layout,
        "seed": seed if random_weights else None,
        "trust_checkpoint": trust_checkpoint or None,
    }
    chosen = _as_list(layers) or default_layers(name, model)
    if release.modality == "language":
        return _language_subject(model, chosen, name, identity, options, tokenizer, pool)
    subject = from_module(model, chosen, layout=layout, pool=pool, transform=imagenet_transform(),
                          name=f"toponets/{name}", identity=identity, options=options)
    return _with_weight_names(subject)


def _tokenizer_or_none(tokenizer: Any) -> Any:
    """The GPT-2 tokenizer; None when none was given and the default cannot be had (offline).

    Listing layers and measuring TopoLoss encode no text, so only extraction asks
    for a tokenizer (and names ``tokenizer=`` then). One the user gave must load.
    """
    try:
        return gpt2_tokenizer(tokenizer)
    except ToposcopeError:
        if tokenizer is not None:
            raise
        return None


def _language_subject(model: GPT, layers: list[str], name: str, identity: str | None,
                      options: dict, tokenizer: Any, pool: str) -> Subject:
    if tokenizer is not None:
        tokenizer = gpt2_tokenizer(tokenizer, block_size=model.config.block_size)
        if len(tokenizer) > model.config.vocab_size:
            raise ToposcopeError(
                f"the tokenizer has {len(tokenizer)} tokens but toponets/{name} only "
                f"{model.config.vocab_size}; pass the GPT-2 tokenizer"
            )
    # Probe shapes with token ids (tokenizer=None): nanoGPT cannot take the encoding dict.
    subject = from_module(model, layers, pool=pool, modality="language", name=f"toponets/{name}",
                          identity=identity, options={**options, "layout": None})
    subject.tokenizer = tokenizer
    subject.forward = _nanogpt_forward
    return _with_weight_names(subject)


def _with_weight_names(subject: Subject) -> Subject:
    """Point each TopoLayer.weight at the tensor TopoLoss acted on (inside BlurPool wrappers)."""
    parameters = dict(subject.model.named_parameters())
    for layer_name, layer in subject.layers.items():
        module = subject.model.get_submodule(layer_name)
        inner = f"{layer_name}.conv.weight" if isinstance(module, BlurPoolConv2d) else f"{layer_name}.weight"
        subject.layers[layer_name] = replace(layer, weight=inner if inner in parameters else None)
    return subject
