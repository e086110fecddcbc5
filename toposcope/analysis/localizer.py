"""The language localizer on a model's units (Fedorenko et al. 2010, as TopoLM reads it out).

For each unit, Welch's t between the responses to the target condition
(``sentences``) and the reference condition (``nonwords``), its two-sided p
(Welch-Satterthwaite degrees of freedom), Benjamini-Hochberg FDR across all
units of all layers together (:func:`scipy.stats.false_discovery_control`, as
TopoLM's ``localize.py``), and the language-selective mask: FDR-adjusted
``p < alpha`` with ``t > 0``, or the ``top_k`` fraction of units with the
largest t. Optionally each stimulus's response map is first smoothed on the
sheet with a Gaussian (TopoLM's readout, FWHM 2 mm on its 28 x 28 sheets), per
layer. The spatial clustering of each layer's t-map is Moran's I
(:func:`toposcope.analysis.spatial_stats.morans_i`).

Welch's t itself comes from :func:`toposcope.analysis.selectivity.welch_t`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.analysis.selectivity import Contrast, as_contrast, welch_t

__all__ = ["LANGUAGE_CONTRASTS", "fdr", "localize", "smooth_responses", "welch_test"]

#: TopoLM's contrasts, by name. Fedorenko sets use ``category``; Moseley and
#: Elli sets carry ``word_class`` and ``concreteness`` labels.
LANGUAGE_CONTRASTS: dict[str, Contrast] = {
    "sentences_vs_nonwords": Contrast("sentences_vs_nonwords", ("sentences",), ("nonwords",)),
    "sentences_vs_words": Contrast("sentences_vs_words", ("sentences",), ("words",)),
    "sentences_vs_jabberwocky": Contrast("sentences_vs_jabberwocky", ("sentences",), ("jabberwocky",)),
    "words_vs_nonwords": Contrast("words_vs_nonwords", ("words",), ("nonwords",)),
    "jabberwocky_vs_nonwords": Contrast("jabberwocky_vs_nonwords", ("jabberwocky",), ("nonwords",)),
    "jabberwocky_vs_words": Contrast("jabberwocky_vs_words", ("jabberwocky",), ("words",)),
    "nouns_vs_verbs": Contrast("nouns_vs_verbs", ("noun",), ("verb",), label="word_class"),
    "abstract_vs_concrete": Contrast("abstract_vs_concrete", ("abstract",), ("concrete",), label="concreteness"),
}


def _as_responses(responses: Any) -> xr.DataArray:
    """One (stimulus, unit) array; a layer -> responses mapping is concatenated along unit."""
    if isinstance(responses, Mapping):
        if not responses:
            raise ToposcopeError("no layers given; pass the dict that toposcope.extract returns")
        responses = xr.concat(list(responses.values()), dim="unit", coords="minimal", compat="override")
    if not isinstance(responses, xr.DataArray) or set(responses.dims) != {"stimulus", "unit"}:
        raise ToposcopeError("responses must be an xr.DataArray with dims ('stimulus', 'unit') or a dict of them")
    return responses.transpose("stimulus", "unit")


def _contrast(spec: Any) -> Contrast:
    if isinstance(spec, str) and spec in LANGUAGE_CONTRASTS:
        return LANGUAGE_CONTRASTS[spec]
    return as_contrast(spec)


def smooth_responses(responses: xr.DataArray, fwhm: float = 2.0) -> xr.DataArray:
    """Each stimulus's response map smoothed on the sheet, layer by layer.

    Unit ``i`` becomes ``sum_j g(d_ij) r_j`` with ``g(d) = exp(-d^2 / 2 sigma^2) /
    (2 pi sigma^2)`` and ``sigma = fwhm / sqrt(8 ln 2)`` in sheet units, over
    the units ``j`` of the same layer (TopoLM's ``NeuronSmoothing``, evaluated
    at the units' own positions instead of a 1 mm grid).

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        With unit coords ``x``, ``y`` (and ``layer``, if several layers).
    fwhm : float
        Full width at half maximum, in sheet units (grid steps or mm).

    Returns
    -------
    xr.DataArray, dims (stimulus, unit), float32, coords kept
    """
    responses = _as_responses(responses)
    if not np.isfinite(fwhm) or fwhm <= 0:
        raise ToposcopeError(f"fwhm must be a positive number of sheet units, got {fwhm!r}")
    missing = [c for c in ("x", "y") if c not in responses.coords]
    if missing:
        raise ToposcopeError(f"smoothing needs unit coords x and y (missing {missing}); keep the responses' coords")
    sigma = fwhm / np.sqrt(8 * np.log(2))
    layers = np.asarray(responses["layer"].values).astype(str) if "layer" in responses.coords else np.zeros(
        responses.sizes["unit"], dtype=str)
    xy = np.stack([responses["x"].values, responses["y"].values], axis=1).astype(np.float64)
    data = np.asarray(responses.values, dtype=np.float64)
    out = np.empty_like(data)
    for layer in dict.fromkeys(layers.tolist()):
        index = np.flatnonzero(layers == layer)
        d2 = ((xy[index, None, :] - xy[None, index, :]) ** 2).sum(-1)
        kernel = np.exp(-d2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)
        out[:, index] = data[:, index] @ kernel
    result = responses.copy(data=out.astype(np.float32))
    result.attrs = {**responses.attrs, "smoothing_fwhm": float(fwhm)}
    return result


def welch_test(responses: xr.DataArray, contrast: Any = "sentences_vs_nonwords") -> xr.Dataset:
    """Welch's t, its degrees of freedom and two-sided p for every unit.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        Stimulus coords hold the contrast's label (``category`` by default).
    contrast : str, dict or Contrast
        A name from :data:`LANGUAGE_CONTRASTS` or anything
        :func:`~toposcope.analysis.selectivity.as_contrast` takes.

    Returns
    -------
    xr.Dataset
        ``t``, ``df``, ``p`` per unit (unit coords kept). Units whose two
        variances are both zero get ``t = 0`` and ``p = 1``.
    """
    from scipy import stats

    responses = _as_responses(responses)
    contrast = _contrast(contrast)
    t = welch_t(responses, contrast.target, contrast.reference, contrast.label)
    labels = np.asarray(responses[contrast.label].values).astype(str)
    reference = contrast.reference or tuple(v for v in dict.fromkeys(labels.tolist()) if v not in contrast.target)
    data = np.asarray(responses.values, dtype=np.float64)
    groups = [data[np.isin(labels, contrast.target)], data[np.isin(labels, reference)]]
    # Welch-Satterthwaite: df = (v1 + v2)^2 / (v1^2 / (n1 - 1) + v2^2 / (n2 - 1)), v = s^2 / n.
    v = [g.var(axis=0, ddof=1) / len(g) for g in groups]
    denominator = v[0] ** 2 / (len(groups[0]) - 1) + v[1] ** 2 / (len(groups[1]) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(denominator > 0, (v[0] + v[1]) ** 2 / np.where(denominator > 0, denominator, 1.0), np.nan)
    t_values = np.asarray(t.values, dtype=np.float64)
    p = np.where(np.isfinite(df), 2 * stats.t.sf(np.abs(t_values), np.where(np.isfinite(df), df, 1.0)), 1.0)
    coords = {k: v.variable for k, v in t.coords.items() if v.dims == ("unit",)}
    return xr.Dataset({"t": ("unit", t_values), "df": ("unit", df), "p": ("unit", p)}, coords=coords,
                      attrs={"contrast": contrast.name, "label": contrast.label, "target": "+".join(contrast.target),
                             "reference": "+".join(reference), "n_target": len(groups[0]),
                             "n_reference": len(groups[1])})


def fdr(p: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (:func:`scipy.stats.false_discovery_control`), same shape."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p, dtype=np.float64)
    if not np.all((p >= 0) & (p <= 1)):
        raise ToposcopeError("p-values must lie in [0, 1] (no NaN); check the test that made them")
    return false_discovery_control(p.ravel(), method="bh").reshape(p.shape)


def localize(
    responses: Any,
    contrast: Any = "sentences_vs_nonwords",
    *,
    fwhm: float | None = None,
    alpha: float = 0.05,
    top_k: float | None = None,
    adjacency: str = "queen",
    permutations: int = 0,
    seed: int = 0,
) -> xr.Dataset:
    """Language-selective units: Welch t, FDR, the mask, and Moran's I of each layer's t-map.

    Parameters
    ----------
    responses : xr.DataArray (stimulus, unit) or dict of layer -> DataArray
        Units of all layers; FDR runs across all of them together.
    contrast : str, dict or Contrast
        Default ``sentences_vs_nonwords``.
    fwhm : float, optional
        Smooth each stimulus's map on the sheet first (:func:`smooth_responses`).
    alpha : float
        FDR level of the mask.
    top_k : float, optional
        Instead of FDR, mark this fraction (0, 1] of all units with the largest t.
    adjacency : str
        Neighbourhoods for Moran's I (``"queen"`` for grid sheets; ``"knn"`` for scattered ones).
    permutations : int
        Permutations for Moran's I p-value (0: none).
    seed : int

    Returns
    -------
    xr.Dataset
        Per unit: ``t``, ``df``, ``p``, ``p_fdr``, ``selective`` (bool). Per layer
        (dim ``layers``, the layer names): ``fraction_selective``, ``morans_i`` and
        ``morans_p`` (NaN without permutations).
    """
    from toposcope.analysis.spatial_stats import morans_i

    responses = _as_responses(responses)
    if fwhm is not None:
        responses = smooth_responses(responses, fwhm)
    if not 0 < alpha < 1:
        raise ToposcopeError(f"alpha must lie in (0, 1), got {alpha!r}")
    result = welch_test(responses, contrast)
    result["p_fdr"] = ("unit", fdr(result["p"].values))
    t = result["t"].values
    if top_k is not None:
        if not 0 < top_k <= 1:
            raise ToposcopeError(f"top_k is a fraction of units in (0, 1], got {top_k!r}")
        count = max(1, round(top_k * t.size))
        selective = np.zeros(t.size, dtype=bool)
        selective[np.argsort(-t, kind="stable")[:count]] = True
    else:
        selective = (result["p_fdr"].values < alpha) & (t > 0)
    result["selective"] = ("unit", selective)
    layers = np.asarray(result["layer"].values).astype(str) if "layer" in result.coords else np.full(t.size, "")
    names = list(dict.fromkeys(layers.tolist()))
    fraction, moran, moran_p = [], [], []
    for name in names:
        inside = layers == name
        fraction.append(float(selective[inside].mean()))
        tmap = result["t"].isel(unit=np.flatnonzero(inside))
        if np.ptp(tmap.values) == 0 or "x" not in tmap.coords:
            moran.append(np.nan)
            moran_p.append(np.nan)
            continue
        stat = morans_i(tmap, adjacency, permutations=permutations, seed=seed)
        moran.append(float(stat["I"]))
        moran_p.append(float(stat["p"]))
    # The per-layer dim is "layers": "layer" is already the unit coord naming each unit's layer.
    result = result.assign_coords(layers=names)
    result["fraction_selective"] = ("layers", fraction)
    result["morans_i"] = ("layers", moran)
    result["morans_p"] = ("layers", moran_p)
    result.attrs.update({k: v for k, v in responses.attrs.items() if isinstance(v, (str, int, float))})
    result.attrs.update({"alpha": alpha, "mask": "top_k" if top_k is not None else "fdr_bh",
                         "top_k": -1.0 if top_k is None else float(top_k),
                         "smoothing_fwhm": -1.0 if fwhm is None else float(fwhm), "adjacency": adjacency,
                         "n_selective": int(selective.sum())})
    return result
