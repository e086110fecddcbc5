"""Test-suite maps of a model: each suite extracted on its own, then mapped layer by layer.

Suites hold different sentences, so each needs its own forward passes; this
runner extracts every suite (:func:`toposcope.extract`) and stacks its
:func:`~toposcope.analysis.suites.suite_maps` of every layer into one Dataset,
the data of Topoformer's suite figure (suites x layers of signed -log10 p maps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError

__all__ = ["suite_maps_by_layer"]


def suite_maps_by_layer(
    subject: Any,
    suites: Sequence[Any],
    *,
    layers: Iterable[str] | str | None = None,
    test: str = "independent",
    batch_size: int = 32,
    cache: Any = True,
    progress: bool = False,
) -> xr.Dataset:
    """Selectivity maps of every suite on every layer of ``subject``.

    Parameters
    ----------
    subject : Subject
        A language model (``toposcope.load_model``).
    suites : sequence of Suite
        From :mod:`toposcope.stimuli.suites` (e.g. ``grammar_suites()``).
    layers : optional
        Layers to map; all of the subject's by default.
    test : {"independent", "paired"}
        See :func:`~toposcope.analysis.suites.suite_maps`; a paired test needs
        every suite to be paired.
    batch_size, cache, progress
        As in :func:`toposcope.extract` (one row per text: the mean over its tokens).

    Returns
    -------
    xr.Dataset
        ``t``, ``signed_log10_p`` and ``p`` (suite, unit), the layers' units one
        after the other (unit coord ``layer``); suite coords ``target``,
        ``reference``, ``label``, ``n_target``, ``n_reference``, ``df``.
    """
    from toposcope import extract
    from toposcope.analysis.suites import suite_maps

    if not suites:
        raise ToposcopeError("no suites given; e.g. toposcope.stimuli.suites.grammar_suites()")
    names = [suite.name for suite in suites]
    if len(set(names)) < len(names):
        raise ToposcopeError(f"suite names must be unique, got {names}")
    per_suite = []
    for suite in suites:
        responses = extract(subject, suite.stimuli, layers, batch_size=batch_size, cache=cache, progress=progress)
        maps = [suite_maps(r, suite, test=test) for r in responses.values()]
        stacked = xr.concat(maps, dim="unit", coords="minimal", compat="override", combine_attrs="drop_conflicts")
        per_suite.append(stacked.assign_coords(
            suite=suite.name, target=suite.target, reference=suite.reference, label=suite.label,
            n_target=maps[0].attrs["n_target"], n_reference=maps[0].attrs["n_reference"], df=maps[0].attrs["df"]))
    out = xr.concat(per_suite, dim="suite", coords="different", compat="equals", combine_attrs="drop")
    out.attrs = {"test": test, "statistic": "Student's t; signed_log10_p = -log10(p) * sign(t)",
                 "n_constant_units": int(np.sum([m.attrs.get("n_constant_units", 0) for m in per_suite]))}
    return out
