"""Score a language Subject on Brain-Score language benchmarks (``brainscore-language``).

The Subject becomes Brain-Score's own ``HuggingfaceSubject``, given the
Subject's model (in eval mode) and tokenizer objects, so Brain-Score's context
handling (each sentence read after the earlier ones of its passage), its
truncation and its last-token readout are used as they are. Two small
differences from a plain Hugging Face model: the forward call goes through the
Subject (nanoGPT-style models take ``model(input_ids)``), and layers are found
by module name in the Subject's model. The region map is explicit:
``{"language_system": "transformer.h.5.mlp.c_fc"}``; a benchmark that records a
region nobody mapped fails in one line.

Only neural benchmarks apply (Pereira2018, Blank2014, Fedorenko2016,
Tuckute2024): behavioural ones need next-word logits, which toposcope's
Subjects (the bare transformers) do not compute.

**Localized units** (``units=``): as TopoLM and the brain-score/language
localizer work score a model's language-selective units rather than whole
layers, a mask over the units of the mapped layers (a
:func:`toposcope.analysis.localizer.localize` result, its FDR or top-k
``selective`` units, or a mask per layer) restricts the neuroids the benchmark
sees. Brain-Score's own mechanism does the restricting: the subject is a
``HuggingfaceSubject`` with ``use_localizer`` on and its ``language_mask`` set
to the given mask (instead of the mask Brain-Score would compute from its own
Fedorenko 2010 localizer run), so ``digest_text`` drops the other neuroids
exactly as it does for Brain-Score's localized models.

Environment: brainscore-language 2.3.0 needs scikit-learn>=1.6, transformers<5,
numpy<2 and xarray<2022.6, so it gets its own environment (``toposcope
brainscore --setup language``); the measurements behind that choice are in
:mod:`toposcope.brain.brainscore_vision`. For
``Pereira2018.243sentences-linear-shuffle`` offline, the first file Brain-Score
asks for is ``f8434b4022f5b2c862f0ff2854d5b3f5f2a7fb96/assy_Pereira2018_language.nc``
under ``BRAINIO_HOME``; the ceiling files follow once it is there.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError
from toposcope.brain import _brainscore as common

__all__ = [
    "REGIONS",
    "artificial_subject",
    "known_benchmarks",
    "load_benchmark",
    "model_identifier",
    "score",
    "unit_masks",
]

#: Recording targets Brain-Score language benchmarks ask for.
REGIONS = ("language_system", "language_system_left_hemisphere", "language_system_right_hemisphere")

model_identifier = common.model_identifier


def known_benchmarks() -> list[str]:
    """Identifiers of the installed brainscore-language benchmarks, sorted."""
    return common.known_benchmarks("language")


def load_benchmark(name: str, *, offline: bool = False) -> Any:
    """A brainscore-language benchmark by identifier, e.g. ``"Pereira2018.243sentences-linear-shuffle"``."""
    return common.load_benchmark("language", name, offline=offline)


def _subject_class() -> type:
    """``HuggingfaceSubject`` that runs a toposcope Subject (defined on first use: Brain-Score is optional)."""
    import torch
    from brainscore_language.model_helpers.huggingface import HuggingfaceSubject

    class SubjectForward(torch.nn.Module):
        """The Subject's forward call behind the ``model(**tokens, use_cache=...)`` Brain-Score makes."""

        def __init__(self, subject: Any) -> None:
            super().__init__()
            self.model = subject.model
            self._forward = subject.forward

        def forward(self, use_cache: Any = None, **inputs: Any) -> Any:
            # use_cache only matters for Brain-Score's behavioural tasks, which need logits we lack
            if self._forward is not None:
                return self._forward(self.model, inputs)
            return self.model(**inputs)

    class ToposcopeSubject(HuggingfaceSubject):
        """A toposcope Subject as a Brain-Score ``ArtificialSubject`` (neural recordings only)."""

        def __init__(self, subject: Any, region_layers: Mapping[str, Any], identifier: str,
                     masks: Mapping[str, np.ndarray] | None = None) -> None:
            self.subject = subject
            self.unit_masks = dict(masks or {})
            # A context longer than the model's window must lose its oldest tokens, never the
            # sentence being read (Brain-Score loads its own tokenizers this way); a copy keeps
            # the Subject's tokenizer as it was for toposcope's own extraction.
            tokenizer = copy.deepcopy(subject.tokenizer)
            tokenizer.truncation_side = "left"
            # use_localizer=False here: Brain-Score would run its own localizer; the mask is ours (below).
            super().__init__(model_id=identifier, region_layer_mapping=dict(region_layers),
                             model=SubjectForward(subject).eval(), tokenizer=tokenizer)

        def start_neural_recording(self, recording_target: str, recording_type: str) -> None:
            if recording_target not in self.region_layer_mapping:
                raise ToposcopeError(common.unmapped_region_message(
                    recording_target, self.region_layer_mapping, self.subject.name))
            super().start_neural_recording(recording_target, recording_type)
            if self.unit_masks:
                # Brain-Score's localizer path: digest_text keeps the neuroids where language_mask is
                # True, the recorded layers' units concatenated in the order they are recorded.
                self.use_localizer = True
                self.language_mask = np.concatenate([
                    self.unit_masks[layer] for target, _ in self.neural_recordings
                    for layer in _layer_list(self.region_layer_mapping[target])])

        def start_behavioral_task(self, task: str) -> None:
            raise ToposcopeError(
                f"behavioural task {task!r} needs next-word logits, which {self.subject.name} does not "
                "compute; score it on a neural benchmark (Pereira2018, Blank2014, Fedorenko2016, Tuckute2024)"
            )

        def _get_layer(self, layer_name: str) -> Any:
            return self.subject.model.get_submodule(layer_name)

    return ToposcopeSubject


def _layer_list(layers: str | Sequence[str]) -> list[str]:
    return [layers] if isinstance(layers, str) else list(layers)


def unit_masks(subject: Any, region_layers: Mapping[str, str | Sequence[str]], units: Any) -> dict[str, np.ndarray]:
    """One boolean mask per mapped layer, shape ``(n_units,)``, from a localizer result or per-layer masks.

    Parameters
    ----------
    subject : Subject
    region_layers : dict of str to str or list of str
        The region map; every layer in it needs a mask.
    units : xr.Dataset or mapping of str to array-like
        A :func:`toposcope.analysis.localizer.localize` result (its ``selective``
        units with their ``layer`` coord: the FDR mask, or the ``top_k``
        fraction when localized with ``top_k``), or layer name -> boolean mask
        of shape ``(n_units,)`` or integer unit indices.

    Returns
    -------
    dict of str to ndarray of bool, shape (n_units,)

    Raises
    ------
    ToposcopeError
        If a mapped layer has no mask, a mask's length is not the layer's unit
        count, or a mask selects no unit.
    """
    import xarray as xr

    if isinstance(units, xr.Dataset):
        if "selective" not in units or "layer" not in units["selective"].coords:
            raise ToposcopeError("units must be a localizer result (toposcope.analysis.localizer.localize: "
                                 "'selective' with a 'layer' coord) or a dict of layer -> mask")
        layer_of = np.asarray(units["layer"].values).astype(str)
        selective = np.asarray(units["selective"].values, dtype=bool)
        given = {name: selective[layer_of == name] for name in dict.fromkeys(layer_of.tolist())}
    elif isinstance(units, Mapping):
        given = {str(name): np.asarray(mask) for name, mask in units.items()}
    else:
        raise ToposcopeError(f"units must be a localizer result or a dict of layer -> mask, got {type(units).__name__}")
    masks: dict[str, np.ndarray] = {}
    for region, layers in region_layers.items():
        for layer in _layer_list(layers):
            if layer not in given:
                raise ToposcopeError(f"units have no mask for layer {layer!r} (region {region!r}); they cover "
                                     f"{', '.join(given) or 'no layer'}: localize that layer too")
            mask = given[layer]
            n_units = subject.layers[layer].n_units if layer in subject.layers else None
            if mask.dtype != bool:
                if mask.ndim != 1 or not np.issubdtype(mask.dtype, np.integer) or n_units is None:
                    raise ToposcopeError(f"the mask of layer {layer!r} must be booleans (one per unit) or unit "
                                         "indices of a topographic layer")
                if mask.size and (mask.min() < 0 or mask.max() >= n_units):
                    raise ToposcopeError(f"unit indices of layer {layer!r} must lie in [0, {n_units}), got "
                                         f"{mask.min()} .. {mask.max()}")
                indices, mask = mask, np.zeros(n_units, dtype=bool)
                mask[indices] = True
            if mask.ndim != 1 or (n_units is not None and mask.size != n_units):
                raise ToposcopeError(f"the mask of layer {layer!r} has {mask.size} entries, but the layer has "
                                     f"{n_units} units; localize this model's layer")
            if not mask.any():
                raise ToposcopeError(f"the mask of layer {layer!r} selects no unit; localize with top_k=FRACTION "
                                     "or a larger alpha")
            masks[layer] = mask
    return masks


def _units_description(units: Any, masks: Mapping[str, np.ndarray]) -> str:
    """What restricted the neuroids, for the result's provenance."""
    counts = "; ".join(f"{layer}: {int(m.sum())} of {m.size} units" for layer, m in masks.items())
    attrs = getattr(units, "attrs", {})
    if attrs.get("mask") == "top_k":
        how = f"localizer top_k {attrs.get('top_k')}"
    elif attrs.get("mask") == "fdr_bh":
        how = f"localizer FDR (Benjamini-Hochberg) alpha {attrs.get('alpha')}"
    else:
        how = "given unit masks"
    return f"{how} ({counts})"


def artificial_subject(subject: Any, region_layers: Mapping[str, str | Sequence[str]], *,
                       identifier: str | None = None, units: Any = None) -> Any:
    """The Subject as a Brain-Score ``ArtificialSubject`` (a ``HuggingfaceSubject``).

    Parameters
    ----------
    subject : Subject
        A language Subject (model and tokenizer); put in eval mode.
    region_layers : dict of str to str or list of str
        Recording target (:data:`REGIONS`, usually ``"language_system"``) ->
        module name(s) whose last-token outputs are its neuroids.
    identifier : str, optional
        By default :func:`model_identifier` (name, weights sha256, tokenizer hash).
    units : xr.Dataset or mapping, optional
        Record only these units of the mapped layers (:func:`unit_masks`), through
        Brain-Score's ``use_localizer`` / ``language_mask``.

    Returns
    -------
    brainscore_language.model_helpers.huggingface.HuggingfaceSubject
    """
    common.require("language")
    if subject.modality != "language":
        raise ToposcopeError(
            f"{subject.name} is a {subject.modality} model; score it with "
            "toposcope.brain.brainscore_vision (e.g. --benchmark MajajHong2015public.IT-pls)"
        )
    if subject.tokenizer is None or not getattr(subject.tokenizer, "is_fast", False):
        raise ToposcopeError(
            f"{subject.name} needs a fast (Rust) Hugging Face tokenizer for Brain-Score, "
            f"got {type(subject.tokenizer).__name__}; load it with tokenizer=... (a PreTrainedTokenizerFast)"
        )
    regions = common.check_region_layers(subject, region_layers)
    masks = unit_masks(subject, regions, units) if units is not None else None
    if identifier is None:
        identifier = model_identifier(subject)
        if masks:
            # Brain-Score caches activations under the identifier: a masked subject must not share it.
            digest = hashlib.sha256(b"".join(np.packbits(m).tobytes() for m in masks.values())).hexdigest()
            identifier = f"{identifier}-units{digest[:8]}"
    subject.model.eval()
    return _subject_class()(subject, regions, identifier, masks)


def score(subject: Any, benchmark: str | Any, region_layers: Mapping[str, str | Sequence[str]], *,
          offline: bool = False, units: Any = None) -> Any:
    """Score a language Subject on one Brain-Score language benchmark.

    Parameters
    ----------
    subject : Subject
        A language Subject.
    benchmark : str or Benchmark
        An identifier such as ``"Pereira2018.243sentences-linear-shuffle"``, or a
        benchmark object built on your own assembly.
    region_layers : dict of str to str or list of str
        Recording target -> layer(s), e.g. ``{"language_system": "h.1.mlp.c_fc"}``.
    offline : bool
        Never download; missing data files are named in one line.
    units : xr.Dataset or mapping, optional
        Score only the localized units of the mapped layers: a
        :func:`toposcope.analysis.localizer.localize` result (FDR or ``top_k``
        mask) or layer -> mask (:func:`unit_masks`).

    Returns
    -------
    xr.Dataset
        Scalars ``score`` (ceiling-normalised, clipped to [0, 1] by Brain-Score),
        ``raw`` and ``ceiling``, with provenance attrs (``units`` says which
        units were scored when masked).
    """
    common.require("language")
    name = benchmark if isinstance(benchmark, str) else getattr(benchmark, "identifier", repr(benchmark))
    model = artificial_subject(subject, region_layers, units=units)
    if isinstance(benchmark, str):
        benchmark = load_benchmark(benchmark, offline=offline)
    with common.scoring_environment(), common.brainio_files(offline=offline, what=f"benchmark {name!r}"):
        result = benchmark(model)
    dataset = common.score_dataset(result, subject, name, model.region_layer_mapping, model.identifier(),
                                   "language")
    dataset.attrs["units"] = _units_description(units, model.unit_masks) if model.unit_masks else "all units"
    return dataset
