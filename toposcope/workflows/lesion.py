"""Lesion a unit set and measure what it costs, against random unit sets of the same size.

TopoLM-style question: does silencing the language-selective units (the
localizer's mask) hurt the model more than silencing as many random units of
the same layers? :func:`lesion_effect` measures every measure (perplexity on
texts, minimal-pair accuracy, ...) on the intact model, with the unit set
lesioned (:func:`toposcope.surgery.lesion.lesioned`), and with ``n_random``
random sets (per layer the same count, drawn uniformly, seeded), and reports
the change, its z-score against the random changes and a permutation p.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_positive_int, check_seed

__all__ = ["competence_measure", "lesion_effect", "perplexity_measure", "unit_means"]


def perplexity_measure(texts: Any, *, batch_size: int = 16, device: str = "cpu") -> Callable[[Any], float]:
    """``f(subject) -> perplexity`` on texts (:func:`toposcope.surgery.performance.perplexity`); lower is better."""
    from toposcope.surgery.performance import perplexity
    from toposcope.workflows.competence import lm_logits

    cache: dict[int, Any] = {}

    def measure(subject: Any) -> float:
        key = id(subject)
        if key not in cache:
            cache[key] = perplexity(texts, subject.tokenizer, logits=lm_logits(subject), batch_size=batch_size,
                                    device=device)
        return cache[key](subject.model)

    measure.name = "perplexity"  # type: ignore[attr-defined]
    measure.higher_is_better = False  # type: ignore[attr-defined]
    return measure


def competence_measure(pairs: Any, *, bos: str = "auto", batch_size: int = 64,
                       device: str = "cpu") -> Callable[[Any], float]:
    """``f(subject) -> overall minimal-pair accuracy`` (:func:`toposcope.workflows.competence.score_pairs`)."""
    from toposcope.stimuli.minimal_pairs import load_pairs
    from toposcope.workflows.competence import score_competence

    loaded = load_pairs(pairs)

    def measure(subject: Any) -> float:
        return float(score_competence(subject, loaded, bos=bos, batch_size=batch_size,
                                      device=device)["accuracy_overall"])

    measure.name = "minimal_pair_accuracy"  # type: ignore[attr-defined]
    measure.higher_is_better = True  # type: ignore[attr-defined]
    return measure


def unit_means(subject: Any, texts: Sequence[str], layers: Sequence[str] | None = None, *,
               batch_size: int = 32) -> dict[str, np.ndarray]:
    """Each unit's mean response over texts (mean over each text's tokens, then over texts), per layer.

    The values ``mode="mean"`` lesions clamp units to.
    """
    from toposcope import extract

    responses = extract(subject, list(texts), layers, batch_size=batch_size, text_mode="mean", cache=False,
                        progress=False)
    return {name: np.asarray(r.mean("stimulus").values, dtype=np.float64) for name, r in responses.items()}


def lesion_effect(subject: Any, units: Any, measures: Mapping[str, Callable[[Any], float]], *, n_random: int = 20,
                  seed: int = 0, mode: str = "zero", means: Mapping[str, Any] | None = None,
                  progress: bool = False) -> Any:
    """The change each measure suffers when ``units`` are lesioned, against random unit sets of the same size.

    Parameters
    ----------
    subject : Subject
    units : mask or mapping
        See :func:`toposcope.surgery.lesion.unit_sets` (e.g. ``localize(...)["selective"]``).
    measures : mapping of name to callable
        ``f(subject) -> float`` (:func:`perplexity_measure`, :func:`competence_measure`).
    n_random : int
        Random unit sets drawn (per layer as many units as ``units`` has there).
    seed : int
        Seeds the random sets (``numpy.random.default_rng(seed)``).
    mode : {"zero", "mean"}
    means : mapping, optional
        Per-unit values for ``mode="mean"`` (:func:`unit_means`).

    Returns
    -------
    xr.Dataset
        Over ``measure``: ``intact``, ``lesioned``, ``change`` (lesioned - intact),
        ``random_mean`` and ``random_sd`` (of the random changes), ``z``
        (``(change - random_mean) / random_sd``) and ``p`` (two-sided
        permutation p, ``(1 + #|random - mean| >= |change - mean|) / (1 + n_random)``);
        ``random_change`` over (``measure``, ``draw``); ``n_units`` over ``layer``.
        attrs ``mode``, ``seed``, ``n_random``, the model's provenance.
    """
    import xarray as xr

    from toposcope.io import provenance
    from toposcope.surgery.lesion import lesioned, random_like, unit_sets

    check_positive_int("n_random", n_random)
    seed = check_seed(seed)
    if not measures:
        raise ToposcopeError("no measures given; pass measures={'perplexity': perplexity_measure(texts), ...}")
    sets = unit_sets(subject, units)
    if not sets:
        raise ToposcopeError("the lesion holds no unit; give a non-empty unit set")
    names = list(measures)
    intact = np.asarray([float(measures[n](subject)) for n in names])
    with lesioned(subject, sets, mode=mode, means=means):
        hit = np.asarray([float(measures[n](subject)) for n in names])
    rng = np.random.default_rng(seed)
    random_change = np.empty((len(names), n_random))
    draws = range(n_random)
    if progress:
        from tqdm.auto import tqdm

        draws = tqdm(draws, desc="random lesions", unit="set")
    for draw in draws:
        with lesioned(subject, random_like(subject, sets, rng), mode=mode, means=means):
            random_change[:, draw] = [float(measures[n](subject)) for n in names]
    random_change -= intact[:, None]
    change = hit - intact
    mean, sd = random_change.mean(1), random_change.std(1, ddof=1) if n_random > 1 else np.full(len(names), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (change - mean) / sd
    extreme = (np.abs(random_change - mean[:, None]) >= np.abs(change - mean)[:, None] - 1e-12).sum(1)
    return xr.Dataset(
        {"intact": ("measure", intact), "lesioned": ("measure", hit), "change": ("measure", change),
         "random_mean": ("measure", mean), "random_sd": ("measure", sd), "z": ("measure", z),
         "p": ("measure", (1 + extreme) / (1 + n_random)),
         "random_change": (("measure", "draw"), random_change),
         "n_units": ("layer", np.asarray([len(i) for i in sets.values()], dtype=np.int64))},
        coords={"measure": np.asarray(names, dtype=object), "draw": np.arange(n_random),
                "layer": np.asarray(list(sets), dtype=object)},
        attrs=provenance(**subject.provenance(), mode=mode, seed=seed, n_random=n_random,
                         random_sets="per layer as many units, uniform without replacement"),
    )
