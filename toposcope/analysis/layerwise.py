"""Smoothness and dimensionality of several layers, gathered into one Dataset each.

The per-layer analyses live in :mod:`~toposcope.analysis.smoothness` and
:mod:`~toposcope.analysis.dimensionality`; these functions run them on every
layer of an extraction (``{layer: responses}``, as :func:`toposcope.extract`
returns) and stack the results along a ``layer`` dim, so that one netCDF file
and one figure hold a whole model. Layers differ in size, so per-layer axes
(distance bins, eigen-components) are indexed by position, with the actual
distances / ranks as 2-D coordinates, and missing entries are NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.analysis import dimensionality, smoothness

__all__ = ["dimensionality_by_layer", "smoothness_by_layer"]

_CURVE_VARIABLES = ("correlation", "sem", "pairs", "chance", "chance_sem")
#: Per layer and kind: the score and its chance level (:func:`toposcope.analysis.smoothness.scores`).
#: Suffix of the result's variable -> variable of ``scores``.
_SCORE_PARTS = {"": "score", "_chance": "chance", "_chance_low": "chance_low", "_chance_high": "chance_high",
                "_corrected": "corrected", "_p": "p_value"}


def _layers(responses: Mapping[str, xr.DataArray]) -> list[str]:
    if not isinstance(responses, Mapping) or not responses:
        raise ToposcopeError(
            "responses must be a non-empty {layer: DataArray} mapping, as toposcope.extract returns"
        )
    return [str(name) for name in responses]


def _filled(curve: xr.Dataset, min_pairs: int) -> xr.Dataset:
    """The curve without its empty bins (and those under ``min_pairs`` pairs).

    A grid sheet only has distances 1, sqrt(2), 2, sqrt(5), ..., so equal bins
    leave some empty between grid distances. TDANN's score truncates a curve at
    its first empty bin (meant as the end of its distances on a continuous
    sheet); on a grid that would cut the curve after a bin or two, so the empty
    bins are dropped instead.
    """
    return curve.isel(bin=np.flatnonzero(curve["pairs"].values >= max(min_pairs, 1)))


def smoothness_by_layer(
    responses: Mapping[str, xr.DataArray],
    bins: int | Sequence[float] = smoothness.BINS,
    mode: str = "exact",
    *,
    seed: int = 0,
    min_pairs: int = smoothness.MIN_PAIRS,
    level: float = smoothness.CHANCE_LEVEL,
    **options: Any,
) -> xr.Dataset:
    """Correlation-vs-distance curve and smoothness scores of each layer.

    Parameters
    ----------
    responses : mapping of str to xr.DataArray, each dims (stimulus, unit)
        One entry per layer, with unit coords ``x`` and ``y``.
    bins, mode, seed, **options
        Passed to :func:`toposcope.analysis.smoothness.curve` for each layer
        (a bin count spans each layer's own sheet; ``n_shuffles`` sets the
        shuffled curves behind the chance level).
    min_pairs, level
        Passed to :func:`toposcope.analysis.smoothness.scores`: fewest pairs of
        a scored bin, central probability of the chance band.

    Returns
    -------
    xr.Dataset, dims (layer, bin) and (layer, shuffle, bin)
        ``correlation``, ``sem``, ``pairs``, ``chance``, ``chance_sem`` per
        layer and bin (``bin`` counts from 0), ``shuffled`` per layer, shuffle
        and bin; coords ``distance`` (bin centres), ``bin_lower``,
        ``bin_upper``, each (layer, bin). Per layer and kind (``toponets``,
        ``tdann``): ``score_<kind>`` (the raw score,
        :func:`~toposcope.analysis.smoothness.score`), ``score_<kind>_chance``
        (mean score of the shuffled curves), ``score_<kind>_chance_low`` and
        ``_chance_high`` (the chance band), ``score_<kind>_corrected`` (score
        minus chance) and ``score_<kind>_p`` (permutation p); TDANN's over
        the bins holding ``min_pairs`` pairs or more, since a grid sheet leaves
        bins between its discrete distances empty. Also ``n_units`` (varying
        units used), ``n_constant_units``. Attrs ``mode``, ``seed``,
        ``n_shuffles``, ``min_pairs``, ``level``, ``n_stimuli``, ``distance_units``.
    """
    names = _layers(responses)
    curves = [smoothness.curve(responses[name], bins, mode, seed=seed, **options) for name in names]
    n_bins = {c.sizes["bin"] for c in curves}
    if len(n_bins) != 1:  # cannot happen with a count or shared edges; guards future options
        raise ToposcopeError(f"layers got different numbers of bins {sorted(n_bins)}; give explicit edges")
    data: dict[str, Any] = {}
    for variable in _CURVE_VARIABLES:
        if all(variable in c for c in curves):
            data[variable] = (("layer", "bin"), np.stack([c[variable].values for c in curves]))
    if all("shuffled" in c for c in curves):
        data["shuffled"] = (("layer", "shuffle", "bin"), np.stack([c["shuffled"].values for c in curves]))
        for kind in smoothness.KINDS:
            scored = [smoothness.scores(c if kind == "toponets" else _filled(c, min_pairs), kind,
                                        min_pairs=min_pairs, level=level) for c in curves]
            for part, name in _SCORE_PARTS.items():
                data[f"score_{kind}{part}"] = ("layer", [float(s[name]) for s in scored])
    else:
        data["score_toponets"] = ("layer", [smoothness.score(c, "toponets", min_pairs=min_pairs) for c in curves])
        data["score_tdann"] = ("layer", [smoothness.score(_filled(c, min_pairs), "tdann", min_pairs=min_pairs)
                                         for c in curves])
    data["n_units"] = ("layer", [int(c.attrs["n_units"]) for c in curves])
    data["n_constant_units"] = ("layer", [int(c.attrs["n_constant_units"]) for c in curves])
    coords = {
        "layer": np.asarray(names, dtype=object),
        "bin": np.arange(curves[0].sizes["bin"]),
        "distance": (("layer", "bin"), np.stack([c["distance"].values for c in curves])),
        "bin_lower": (("layer", "bin"), np.stack([c["bin_lower"].values for c in curves])),
        "bin_upper": (("layer", "bin"), np.stack([c["bin_upper"].values for c in curves])),
    }
    if "shuffled" in data:
        coords["shuffle"] = np.arange(curves[0].sizes["shuffle"])
    first = curves[0].attrs
    attrs = {k: first[k] for k in ("mode", "seed", "n_stimuli", "sem_over", "sampling", "distance_units",
                                   "n_shuffles") if k in first}
    attrs.update(min_pairs=int(min_pairs), level=float(level))
    return xr.Dataset(data, coords=coords, attrs=attrs)


def dimensionality_by_layer(responses: Mapping[str, xr.DataArray], **options: Any) -> xr.Dataset:
    """Effective dimensionality and eigenspectrum of each layer.

    Parameters
    ----------
    responses : mapping of str to xr.DataArray, each dims (stimulus, unit)
    **options
        ``form``, ``precision``, ``memory`` of
        :func:`toposcope.analysis.dimensionality.effective_dimensionality`.

    Returns
    -------
    xr.Dataset, dims (layer, component)
        ``effective_dimensionality`` and ``decay_exponent`` (NaN with fewer than
        2 positive eigenvalues) per layer; ``eigenvalue`` (layer, component),
        largest first, NaN beyond a layer's ``min(n_stimuli, n_units)``
        components; ``component`` counts from 1; ``n_units`` (varying) and
        ``n_constant_units`` per layer. Attr ``n_stimuli``.
    """
    names = _layers(responses)
    spectra = [dimensionality.eigenspectrum(responses[name], **options) for name in names]
    values = [dimensionality.effective_dimensionality(responses[name], **options) for name in names]
    width = max(s.sizes["component"] for s in spectra)
    eigen = np.full((len(names), width), np.nan)
    for i, spectrum in enumerate(spectra):
        eigen[i, : spectrum.sizes["component"]] = spectrum.values
    data = {
        "effective_dimensionality": ("layer", np.asarray(values, dtype=np.float64)),
        "decay_exponent": ("layer", [float(s.attrs["decay_exponent"]) for s in spectra]),
        "eigenvalue": (("layer", "component"), eigen),
        "n_units": ("layer", [int(s.attrs["n_units"]) for s in spectra]),
        "n_constant_units": ("layer", [int(s.attrs["n_constant_units"]) for s in spectra]),
    }
    coords = {"layer": np.asarray(names, dtype=object), "component": np.arange(1, width + 1)}
    return xr.Dataset(data, coords=coords, attrs={"n_stimuli": int(spectra[0].attrs["n_stimuli"])})
