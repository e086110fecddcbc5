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
from collections.abc import Mapping, Sequence
from typing import Any

from toposcope._validation import ToposcopeError
from toposcope.brain import _brainscore as common

__all__ = [
    "REGIONS",
    "artificial_subject",
    "known_benchmarks",
    "load_benchmark",
    "model_identifier",
    "score",
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

        def __init__(self, subject: Any, region_layers: Mapping[str, Any], identifier: str) -> None:
            self.subject = subject
            # A context longer than the model's window must lose its oldest tokens, never the
            # sentence being read (Brain-Score loads its own tokenizers this way); a copy keeps
            # the Subject's tokenizer as it was for toposcope's own extraction.
            tokenizer = copy.deepcopy(subject.tokenizer)
            tokenizer.truncation_side = "left"
            super().__init__(model_id=identifier, region_layer_mapping=dict(region_layers),
                             model=SubjectForward(subject).eval(), tokenizer=tokenizer)

        def start_neural_recording(self, recording_target: str, recording_type: str) -> None:
            if recording_target not in self.region_layer_mapping:
                raise ToposcopeError(common.unmapped_region_message(
                    recording_target, self.region_layer_mapping, self.subject.name))
            super().start_neural_recording(recording_target, recording_type)

        def start_behavioral_task(self, task: str) -> None:
            raise ToposcopeError(
                f"behavioural task {task!r} needs next-word logits, which {self.subject.name} does not "
                "compute; score it on a neural benchmark (Pereira2018, Blank2014, Fedorenko2016, Tuckute2024)"
            )

        def _get_layer(self, layer_name: str) -> Any:
            return self.subject.model.get_submodule(layer_name)

    return ToposcopeSubject


def artificial_subject(subject: Any, region_layers: Mapping[str, str | Sequence[str]], *,
                       identifier: str | None = None) -> Any:
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
    subject.model.eval()
    return _subject_class()(subject, regions, identifier or model_identifier(subject))


def score(subject: Any, benchmark: str | Any, region_layers: Mapping[str, str | Sequence[str]], *,
          offline: bool = False) -> Any:
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

    Returns
    -------
    xr.Dataset
        Scalars ``score`` (ceiling-normalised, clipped to [0, 1] by Brain-Score),
        ``raw`` and ``ceiling``, with provenance attrs.
    """
    common.require("language")
    name = benchmark if isinstance(benchmark, str) else getattr(benchmark, "identifier", repr(benchmark))
    model = artificial_subject(subject, region_layers)
    if isinstance(benchmark, str):
        benchmark = load_benchmark(benchmark, offline=offline)
    with common.scoring_environment(), common.brainio_files(offline=offline, what=f"benchmark {name!r}"):
        result = benchmark(model)
    return common.score_dataset(result, subject, name, model.region_layer_mapping, model.identifier(),
                                "language")
