"""Score a vision Subject on Brain-Score vision benchmarks (``brainscore-vision``).

The Subject's model is handed to Brain-Score as it is: a ``PytorchWrapper``
(Brain-Score's own hooks, batching and activation cache) inside a
``ModelCommitment`` whose region-to-layer map is explicit, so nothing scores
layers on public benchmarks to choose one. Activations are Brain-Score's
standard ones, each hooked output flattened (channel x space for a conv layer),
so scores compare with the Brain-Score leaderboard.

Environment
-----------
brainscore-vision 2.4.2 (through brainscore-core 2.5.0) pins numpy<2,
xarray<2022.6, pandas<3, scikit-learn<1.6 and importlib-metadata<5, and pulls
jupyter, opencv and boto3; brainscore-language 2.3.0 needs scikit-learn>=1.6
and transformers<5, so the two never share an environment. Measured on Python
3.11 with torch 2.14.1 (2 cores): installed beside the core, the vision extra
resolves to numpy 1.26.4, xarray 2022.3.0, pandas 2.3.3 and scikit-learn 1.5.2,
the language extra to transformers 4.57.6 and the same numpy / xarray.
toposcope's own suite then passes but for one test on the vision pins (old
xarray drops coords in ``assign_coords`` with a DataArray) and two on the
language pins (that one, and loading a hub model from the cache offline).
Installed into the main environment the extras would thus take numpy 2,
xarray 2026 and pandas 3 away from every other analysis, and a user could
still have only one of them. So each integration gets its own environment:
``toposcope brainscore --setup vision`` (or ``language``) creates it under
``$TOPOSCOPE_ENVS`` (default ``~/.cache/toposcope/envs``; 6.8 GB and 3 min for
vision, 6.3 GB and 2.5 min for language, mostly the CUDA torch wheels, with a
cold pip cache), and ``toposcope brainscore`` hands each run to it. The extra
``toposcope[brainscore-vision]`` is what that environment installs, and stays
usable directly for anyone who accepts the older pins.

Offline, Brain-Score reads each data file from ``$BRAINIO_HOME/<sha1>/<file>``
(default ``~/.brainio``); a missing file is named in one line (see
:func:`toposcope.brain._brainscore.brainio_files`). For
``MajajHong2015public.IT-pls`` those are
``13d28ca0ce88ee550b54db3004374ae19096e9b9/assy_dicarlo_MajajHong2015_public.nc``,
``5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af/stimulus_hvm-public.csv`` and
``8aa44e038d7b551efa8077467622f9d48d72e473/stimulus_hvm-public.zip``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toposcope._validation import ToposcopeError, check_positive_int
from toposcope.brain import _brainscore as common

__all__ = ["brain_model", "known_benchmarks", "load_benchmark", "model_identifier", "score"]

#: Visual angle Brain-Score assumes for a model's input unless told otherwise.
VISUAL_DEGREES = 8

model_identifier = common.model_identifier


def known_benchmarks() -> list[str]:
    """Identifiers of the installed brainscore-vision benchmarks, sorted."""
    return common.known_benchmarks("vision")


def load_benchmark(name: str, *, offline: bool = False) -> Any:
    """A brainscore-vision benchmark by identifier, e.g. ``"MajajHong2015public.IT-pls"``.

    Parameters
    ----------
    name : str
        A registered identifier (:func:`known_benchmarks`).
    offline : bool
        Never try to download: missing data files are named in the error.
    """
    return common.load_benchmark("vision", name, offline=offline)


class _Preprocess:
    """Image paths -> float32 array (batch, *input_shape) through the Subject's transform."""

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def __call__(self, paths: Sequence[str]) -> Any:
        import numpy as np

        from toposcope.stimuli import open_image

        return np.stack([np.asarray(self.transform(open_image(path)), dtype=np.float32) for path in paths])

    def __repr__(self) -> str:
        return f"_Preprocess({self.transform!r})"


def brain_model(
    subject: Any,
    region_layers: Mapping[str, str | Sequence[str]],
    *,
    visual_degrees: float = VISUAL_DEGREES,
    batch_size: int = 64,
    identifier: str | None = None,
) -> Any:
    """The Subject as a Brain-Score ``BrainModel`` (``ModelCommitment``).

    Parameters
    ----------
    subject : Subject
        A vision Subject from :func:`toposcope.load_model`; put in eval mode.
    region_layers : dict of str to str or list of str
        Brain region (``"V1"``, ``"V2"``, ``"V4"``, ``"IT"``) -> module name(s)
        whose flattened outputs are that region's neuroids.
    visual_degrees : float
        Visual angle the model's input spans; Brain-Score rescales each
        benchmark's images to it.
    batch_size : int
        Images per forward pass.
    identifier : str, optional
        Brain-Score model identifier; by default :func:`model_identifier`
        (name, weights sha256, preprocessing hash), under which Brain-Score
        caches activations.

    Returns
    -------
    brainscore_vision.model_helpers.brain_transformation.ModelCommitment
    """
    common.require("vision")
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper
    from brainscore_vision.model_helpers.brain_transformation import ModelCommitment

    if subject.modality != "vision":
        raise ToposcopeError(
            f"{subject.name} is a {subject.modality} model; score it with "
            "toposcope.brain.brainscore_language (e.g. --benchmark Pereira2018.243sentences-linear-shuffle)"
        )
    if subject.transform is None:
        raise ToposcopeError(f"{subject.name} has no image transform; load it with transform=...")
    check_positive_int("batch_size", batch_size)
    regions = common.check_region_layers(subject, region_layers)
    identifier = identifier or model_identifier(subject)
    subject.model.eval()
    wrapper = PytorchWrapper(
        model=subject.model, preprocessing=_Preprocess(subject.transform),
        identifier=identifier, batch_size=batch_size,
    )
    layers = list(dict.fromkeys(name for names in regions.values()
                                for name in ([names] if isinstance(names, str) else names)))
    return ModelCommitment(identifier=identifier, activations_model=wrapper, layers=layers,
                           region_layer_map=regions, visual_degrees=visual_degrees)


def score(
    subject: Any,
    benchmark: str | Any,
    region_layers: Mapping[str, str | Sequence[str]],
    *,
    offline: bool = False,
    visual_degrees: float = VISUAL_DEGREES,
    batch_size: int = 64,
) -> Any:
    """Score a vision Subject on one Brain-Score benchmark.

    Parameters
    ----------
    subject : Subject
        A vision Subject.
    benchmark : str or Benchmark
        An identifier such as ``"MajajHong2015public.IT-pls"``, or a benchmark
        object (e.g. a ``NeuralBenchmark`` built on your own assembly).
    region_layers : dict of str to str or list of str
        Region -> layer(s); the benchmark's region must be among them.
    offline : bool
        Never download; missing data files are named in one line.
    visual_degrees, batch_size
        As in :func:`brain_model`.

    Returns
    -------
    xr.Dataset
        Scalars ``score`` (ceiling-normalised), ``raw`` and ``ceiling`` (and
        ``error`` where the metric reports one), with provenance attrs.
    """
    common.require("vision")
    name = benchmark if isinstance(benchmark, str) else getattr(benchmark, "identifier", repr(benchmark))
    if isinstance(benchmark, str):
        benchmark = load_benchmark(benchmark, offline=offline)
    regions = common.check_region_layers(subject, region_layers)
    region = getattr(benchmark, "region", None)
    if isinstance(region, str) and region not in regions:
        raise ToposcopeError(common.unmapped_region_message(region, regions, subject.name, name))
    model = brain_model(subject, regions, visual_degrees=visual_degrees, batch_size=batch_size)
    with common.scoring_environment(), common.brainio_files(offline=offline, what=f"benchmark {name!r}"):
        result = benchmark(model)
    return common.score_dataset(result, subject, name, regions, model.identifier, "vision")
