"""How the papers draw models: one colour family per architecture, shaded by tau; baselines hollow.

TopoNets' Figs. 2 and 3 colour each architecture with its own hue (ResNet-18 red,
ViT-b/32 green, ResNet-50 blue; NanoGPT red, GPT-Neo green), light for a small
TopoLoss strength tau and dark for a large one, label topographic points
``tau = X`` and baselines by the architecture's name, and split vision from
language models. :func:`model_styles` derives all of that from a run's
provenance, so every figure draws a model the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from toposcope.figures._run import Run, is_baseline, model_options

__all__ = ["FAMILY_NAMES", "ModelStyle", "model_styles"]

#: Display names of the model specs the papers show.
FAMILY_NAMES = {
    "toponets/resnet18": "ResNet-18",
    "toponets/resnet50": "ResNet-50",
    "toponets/vit_b_32": "ViT-b32",
    "toponets/nanogpt": "NanoGPT",
    "hf:EleutherAI/gpt-neo-125m": "GPT-Neo-125M",
    "tdann/resnet18": "TDANN",
    "topolm": "TopoLM",
    "demo/topo": "demo CNN",
    "demo/baseline": "demo CNN",
}
#: The papers' hues: ResNet-18 red, ViT-b32 green, ResNet-50 blue; NanoGPT red, GPT-Neo green.
PAPER_CMAPS = {"ResNet-18": "Reds", "ViT-b32": "Greens", "ResNet-50": "Blues", "NanoGPT": "Reds",
               "GPT-Neo-125M": "Greens", "TDANN": "Greys"}
#: Colour maps for other architectures, the first not yet taken in their modality.
FAMILY_CMAPS = ("Reds", "Greens", "Blues", "Purples", "Oranges", "YlOrBr", "Greys")
#: Specs of language models (anything else with no recorded modality is drawn as vision).
LANGUAGE_SPECS = ("toponets/nanogpt", "hf:", "topolm", "demo_lm")


@dataclass(frozen=True)
class ModelStyle:
    """How one model is drawn.

    Attributes
    ----------
    family : str
        Architecture display name (models of one family share a hue and a trend line).
    label : str
        Point label: ``"tau = 10"`` for a topographic model with a tau,
        ``"FAMILY (baseline)"`` for a baseline, ``"FAMILY (topographic)"`` for the
        one topographic model of a family without a tau, else the model's recipe name.
    color : tuple of float
        RGBA face colour (black edge for baselines, which are drawn hollow).
    topographic : bool
    tau : float or None
    modality : {"vision", "language"}
    """

    family: str
    label: str
    color: tuple[float, float, float, float]
    topographic: bool
    tau: float | None
    modality: str


def _tau(options: dict[str, str]) -> float | None:
    try:
        return float(options["tau"])
    except (KeyError, ValueError):
        return None


def _modality(attrs: dict[str, Any]) -> str:
    if attrs.get("modality") in ("vision", "language"):
        return str(attrs["modality"])
    spec = str(attrs.get("model", ""))
    return "language" if spec.startswith(LANGUAGE_SPECS) else "vision"


def _tau_label(tau: float) -> str:
    return f"\u03c4 = {tau:g}"


def model_styles(run: Run, models: list[str] | None = None) -> dict[str, ModelStyle]:
    """The style of each model of a run (all of them by default), in the given order.

    Within a family, topographic models are shaded by the rank of their tau
    (lightest = smallest); models without a tau by their order.
    """
    from matplotlib import colormaps

    models = list(run.models if models is None else models)
    families: dict[str, list[str]] = {}
    for model in models:
        spec = str(run.attrs[model].get("model", model))
        families.setdefault(FAMILY_NAMES.get(spec, spec), []).append(model)
    styles = {}
    taken: dict[str, set[str]] = {}  # modality -> colour maps in use (vision and language panels are apart)
    for family, members in sorted(families.items(), key=lambda item: item[0] not in PAPER_CMAPS):
        used = taken.setdefault(_modality(run.attrs[members[0]]), set())
        name = PAPER_CMAPS.get(family)
        if name is None or name in used:
            free = [c for c in FAMILY_CMAPS if c not in used]
            name = free[0] if free else FAMILY_CMAPS[len(used) % len(FAMILY_CMAPS)]
        used.add(name)
        cmap = colormaps[name]
        topographic = [m for m in members if not is_baseline(m, run.attrs[m])]
        taus = {m: _tau(model_options(run.attrs[m])) for m in members}
        order = sorted(topographic, key=lambda m: (taus[m] is None, taus[m] or 0.0, topographic.index(m)))
        shades = dict(zip(order, np.linspace(0.35, 0.9, len(order)) if len(order) > 1 else [0.65]))
        for model in members:
            tau = taus[model]
            if model in shades:
                color = tuple(float(c) for c in cmap(shades[model]))
                # Named like the family's baseline, so one model has one name in every figure.
                untagged = [m for m in topographic if taus[m] is None]
                label = (_tau_label(tau) if tau is not None
                         else f"{family} (topographic)" if len(untagged) == 1 else model)
            else:
                color, label = (1.0, 1.0, 1.0, 0.0), f"{family} (baseline)"
            styles[model] = ModelStyle(family, label, color, model in shades, tau, _modality(run.attrs[model]))
    return {model: styles[model] for model in models}
