"""Any torchvision architecture (``torchvision:<arch>``) or saved model (``file:<path>``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, close_matches
from toposcope.models.checkpoints import load_weights, read_checkpoint, unwrap_state_dict
from toposcope.models.subject import Subject, candidate_layers, file_sha256, from_module
from toposcope.models.transforms import imagenet_transform

__all__ = ["load_file", "load_torchvision", "torchvision_model"]


def torchvision_model(arch: str, seed: int = 0) -> Any:
    """An untrained torchvision model ``arch``, initialised from ``seed``; unknown names list close ones."""
    import torch
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if arch not in names:
        near = close_matches(arch, names)
        hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
        raise ToposcopeError(f"unknown torchvision architecture {arch!r}{hint}; see torchvision.models.list_models()")
    # Seeded without touching the caller's random state, so the same arch and seed is the same network.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torchvision.models.get_model(arch, weights=None)


def _as_list(layers: Iterable[str] | str | None) -> list[str] | None:
    if layers is None:
        return None
    if isinstance(layers, str):
        return [name for name in layers.split(",") if name]
    return list(layers)


def load_torchvision(
    arch: str,
    *,
    checkpoint: str | Path | None = None,
    weights: str | None = None,
    layers: Iterable[str] | str | None = None,
    layout: str = "channel",
    pool: str = "mean",
    positions: dict | None = None,
    seed: int = 0,
    trust_checkpoint: bool = False,
) -> Subject:
    """A torchvision architecture as a Subject.

    Parameters
    ----------
    arch : str
        A name from ``torchvision.models.list_models()`` (``"resnet18"``).
    checkpoint : path, optional
        A state dict for ``arch`` (wrappers and ``module.`` prefixes are removed).
    weights : str, optional
        torchvision weights name (``"DEFAULT"``); downloads, so it needs a network.
    layers : list of str or comma-separated str, optional
        Modules to hook; every Conv2d and Linear by default.
    layout, pool, positions
        As in :func:`toposcope.models.from_module`.
    seed : int
        Seed of random initial weights (recorded in provenance when they are random).
    trust_checkpoint : bool
        Unpickle a checkpoint that holds more than tensors; see :func:`toposcope.load_model`.
    """
    if checkpoint is not None and weights is not None:
        raise ToposcopeError("give checkpoint= or weights=, not both")
    transform = imagenet_transform()
    if weights is not None:
        model, identity = _with_torchvision_weights(arch, weights), f"torchvision:{arch}:{weights}"
        transform = _weights_transform(arch, weights)
    elif checkpoint is not None:
        model = torchvision_model(arch)
        load_weights(model, unwrap_state_dict(read_checkpoint(checkpoint, trust=trust_checkpoint)),
                     str(checkpoint), arch)
        identity = file_sha256(checkpoint)
    else:
        model, identity = torchvision_model(arch, seed=seed), None
        warnings.warn(f"torchvision:{arch} has random weights (seed {seed}); "
                      "pass checkpoint=PATH or weights=DEFAULT", stacklevel=2)
    random_weights = checkpoint is None and weights is None
    chosen = _as_list(layers) or candidate_layers(model)
    return from_module(model, chosen, layout=layout, pool=pool, transform=transform,
                       positions=positions, name=f"torchvision:{arch}", identity=identity,
                       options={"checkpoint": checkpoint, "weights": weights, "layout": layout, "pool": pool,
                                "seed": seed if random_weights else None,
                                "trust_checkpoint": trust_checkpoint or None})


def _weights_transform(arch: str, weights: str) -> Any:
    """The preprocessing the weights were trained with (their resize, crop, interpolation, mean, std)."""
    import torchvision

    return torchvision.models.get_model_weights(arch)[weights.split(".")[-1]].transforms()


def _with_torchvision_weights(arch: str, weights: str) -> Any:
    import torchvision

    torchvision_model(arch)  # validates the name
    try:
        return torchvision.models.get_model(arch, weights=weights)
    except (OSError, RuntimeError) as error:
        raise ToposcopeError(
            f"cannot download torchvision weights {weights!r} for {arch} ({error.__class__.__name__}); "
            "offline? download them elsewhere and pass checkpoint=PATH"
        ) from None
    except (KeyError, ValueError) as error:
        raise ToposcopeError(f"unknown weights {weights!r} for {arch}: {error}") from None


def load_file(
    path: str,
    *,
    arch: str | None = None,
    layers: Iterable[str] | str | None = None,
    layout: str = "channel",
    pool: str = "mean",
    positions: dict | None = None,
    trust_checkpoint: bool = False,
) -> Subject:
    """A saved model as a Subject: a state dict with ``arch=``, or (trusted) a pickled ``nn.Module``.

    Parameters
    ----------
    path : str
        The checkpoint file.
    arch : str, optional
        torchvision architecture for a state dict.
    layers : list of str or comma-separated str, optional
        Modules to hook; every Conv2d and Linear by default.
    trust_checkpoint : bool
        Unpickle a checkpoint that holds more than tensors (a whole pickled ``nn.Module``
        needs it), which can run code from the file; recorded in provenance.
    """
    from torch import nn

    content = read_checkpoint(path, trust=trust_checkpoint)
    if isinstance(content, nn.Module):
        model, name = content, f"file:{Path(path).name}"
    elif arch is None:
        raise ToposcopeError(f"{path!r} holds a state dict; say which architecture with arch=NAME (e.g. arch=resnet18)")
    else:
        model, name = torchvision_model(arch), f"file:{Path(path).name}"
        load_weights(model, unwrap_state_dict(content), path, arch)
    chosen = _as_list(layers) or candidate_layers(model)
    return from_module(model, chosen, layout=layout, pool=pool, transform=imagenet_transform(),
                       positions=positions, name=name, identity=file_sha256(path),
                       options={"checkpoint": path, "arch": arch, "layout": layout, "pool": pool,
                                "trust_checkpoint": trust_checkpoint or None})
