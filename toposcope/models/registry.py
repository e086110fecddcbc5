"""Model specs a user can type, mapped lazily to the adapter that builds them.

A spec is ``family/name`` (``toponets/resnet18``, ``demo/topo``), ``family:arg``
(``hf:gpt2``, ``torchvision:resnet18``, ``file:model.pt``) or a bare family
(``tdann``, ``topolm``). Adapters are imported only when used so that
``toposcope --help`` stays fast.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any

from toposcope._validation import ToposcopeError, close_matches
from toposcope.models.transforms import PREPROCESS_KEYS

__all__ = ["FAMILIES", "known_specs", "load_model", "parse_spec"]


@dataclass(frozen=True)
class Family:
    """A model family: where its builder lives and the specs it accepts."""

    module: str
    function: str
    examples: tuple[str, ...]
    summary: str


FAMILIES: dict[str, Family] = {
    "toponets": Family(
        "toposcope.models.toponets",
        "load_toponet",
        ("toponets/resnet18", "toponets/resnet50", "toponets/vit_b_32", "toponets/nanogpt"),
        "released TopoNets checkpoints (tau=..., checkpoint=PATH)",
    ),
    "demo": Family(
        "toposcope.models.demo",
        "load_demo",
        ("demo/topo", "demo/baseline"),
        "small models shipped with toposcope, trained on the UCI digits",
    ),
    "demo_lm": Family(
        "toposcope.models.demo_lm",
        "load_demo_lm",
        ("demo_lm",),
        "a tiny TopoLoss-trained GPT-2 shipped with toposcope, trained on synthetic grammatical text",
    ),
    "hf": Family(
        "toposcope.models.hf",
        "load_hf",
        ("hf:EleutherAI/gpt-neo-125m", "hf:gpt2", "hf:DIR"),
        "transformers language models; MLP input layers on a TopoLoss grid",
    ),
    "tdann": Family(
        "toposcope.models.tdann",
        "load_tdann",
        ("tdann",),
        "TDANN ResNet-18 with its per-layer positions (checkpoint=PATH, positions=DIR)",
    ),
    "topolm": Family(
        "toposcope.models.topolm",
        "load_topolm",
        ("topolm",),
        "TopoLM GPT-2 with its per-layer positions (checkpoint=PATH, positions=DIR)",
    ),
    "topoformer": Family(
        "toposcope.models.topoformer",
        "load_topoformer",
        ("topoformer/tiny", "topoformer/tiny-control", "topoformer/classifier", "topoformer/bert"),
        "Topoformer (spatial querying and reweighting on torus sheets): shipped tiny models, or the "
        "reference classifier / BERT (config=..., checkpoint=PATH)",
    ),
    "torchvision": Family(
        "toposcope.models.generic",
        "load_torchvision",
        ("torchvision:resnet18", "torchvision:alexnet"),
        "any torchvision architecture (layers=..., checkpoint=PATH, weights=...)",
    ),
    "file": Family(
        "toposcope.models.generic",
        "load_file",
        ("file:model.pt",),
        "a saved model or state dict (arch=..., layers=...)",
    ),
}

#: Load options that the command line offers as flags of their own (the rest go through -O KEY=VALUE).
CLI_FLAGS = ("tau", "checkpoint", "positions", "arch", "layout", "seed", "trust_checkpoint", *PREPROCESS_KEYS)

_SPEC = re.compile(r"^(?P<family>[a-z_]+)(?:(?P<sep>[/:])(?P<rest>.+))?$")


def known_specs() -> list[str]:
    """Example specs of every family, for help and error messages."""
    return [spec for family in FAMILIES.values() for spec in family.examples]


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a spec into ``(family, rest)``; raise listing the known specs if unknown."""
    if not isinstance(spec, str) or not spec.strip():
        raise ToposcopeError(f"model spec must be a non-empty string, got {spec!r}")
    match = _SPEC.match(spec.strip())
    family = match.group("family") if match else ""
    if family not in FAMILIES:
        near = close_matches(spec, known_specs(), n=2)
        hint = f" (did you mean {' or '.join(map(repr, near))}?)" if near else ""
        raise ToposcopeError(
            f"unknown model spec {spec!r}{hint}; known: {', '.join(known_specs())}"
        )
    return family, (match.group("rest") or "")


def load_model(spec: Any, **options: Any):
    """Load a model as a :class:`~toposcope.models.subject.Subject`.

    Parameters
    ----------
    spec : str or torch.nn.Module
        A spec (see :func:`known_specs`) or the user's own module; for a module,
        ``layers=[...]`` names the topographic layers and the remaining options go
        to :func:`~toposcope.models.subject.from_module`.
    **options
        Family options, e.g. ``tau=10``, ``checkpoint="file.pt"``, ``layers=[...]``;
        for every family ``seed=0`` (random initialisations) and
        ``trust_checkpoint=False`` (refuse checkpoints that hold more than tensors);
        for vision models ``preprocess="imagenet" | "inception" | "clip" | "none"``
        and overrides ``resize``, ``crop``, ``interpolation``, ``mean``, ``std``,
        ``grayscale`` (see :mod:`toposcope.models.transforms`).

    Returns
    -------
    Subject
        Its model in eval mode.
    """
    if not isinstance(spec, str):
        from toposcope.models.subject import from_module

        if "layers" not in options:
            raise ToposcopeError(
                "a module needs layers=[...] naming its topographic layers "
                "(see model.named_modules())"
            )
        subject = from_module(spec, options.pop("layers"), **options)
    else:
        family, rest = parse_spec(spec)
        entry = FAMILIES[family]
        builder = getattr(importlib.import_module(entry.module), entry.function)
        chosen = {key: options.pop(key) for key in PREPROCESS_KEYS if key in options}
        subject = builder(rest, **_checked_common(builder, options, spec))
        if chosen:
            _preprocess(subject, chosen)
    # Responses are an inference-time measurement: BatchNorm on running statistics, no dropout.
    subject.model.eval()
    return subject


def _preprocess(subject: Any, chosen: dict[str, Any]) -> None:
    """Replace a vision subject's preprocessing by the user's choice, recorded in its options."""
    from toposcope.models.transforms import build_transform, describe, preprocessing

    if subject.modality != "vision":
        names = sorted(chosen)
        raise ToposcopeError(f"{', '.join(names)} set image preprocessing, but {subject.name!r} is a "
                             f"{subject.modality} model; drop them",
                             cli=f"{', '.join('--' + n for n in names)} set image preprocessing, but "
                                 f"{subject.name!r} is a {subject.modality} model; drop them")
    settings = preprocessing(chosen)
    crop = settings["crop"]
    fixed = any(layer.layout == "channel_space" for layer in subject.layers.values())
    if fixed and crop is not None and (3, crop, crop) != tuple(subject.input_shape):
        # A channel x space sheet places every spatial position: its positions fix the input size.
        raise ToposcopeError(f"{subject.name!r} lays units out per spatial position for "
                             f"{subject.input_shape[1]}x{subject.input_shape[2]} inputs; keep crop="
                             f"{subject.input_shape[1]}")
    subject.transform = build_transform(settings)
    if crop is not None:
        subject.input_shape = (3, crop, crop)
    subject.options["preprocess"] = describe(settings)


def _checked_common(builder: Any, options: dict[str, Any], spec: str) -> dict[str, Any]:
    """``options`` with ``seed`` and ``trust_checkpoint`` checked, kept only where ``builder`` uses them.

    Any other option the family does not take is one line listing those it does.

    Every family accepts both so that one command line or recipe can name them for
    any model: ``seed`` matters only where weights are random, ``trust_checkpoint``
    only where a family unpickles a checkpoint (transformers models load their own
    safe formats).
    """
    from toposcope._validation import check_bool, check_seed

    options = dict(options)
    if "seed" in options:
        seed = options["seed"]
        # The command line's -O seed=3 arrives as text.
        options["seed"] = check_seed(int(seed) if isinstance(seed, str) and seed.strip().isdigit() else seed)
    if "trust_checkpoint" in options:
        options["trust_checkpoint"] = check_bool("trust_checkpoint", options["trust_checkpoint"])
    accepted = inspect.signature(builder).parameters
    for key in ("seed", "trust_checkpoint"):
        if key in options and key not in accepted:
            del options[key]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        known = [name for name, p in accepted.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        for key in options:
            if key not in accepted:
                near = close_matches(key, known, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                flags = [f"--{n.replace('_', '-')}" if n in CLI_FLAGS else f"-O {n}=..." for n in known]
                raise ToposcopeError(
                    f"model {spec!r} takes no option {key!r}{hint}; it takes: {', '.join(known)}",
                    cli=f"model {spec!r} takes no option {key!r}{hint}; it takes: {', '.join(flags)}",
                )
    return options
