"""TopoLM's seed-grown clusters on the sheet and each cluster's response profile over conditions.

TopoLM (Rathi et al. 2025; ``eval/clustering.py``) grows a cluster from a seed
unit of a layer's t-map: the candidates are the seed's queen neighbours (the
8 surrounding grid positions); the candidate with the largest t joins while its
t is at least ``threshold``, and its own neighbours become candidates. The
result is the seed plus every unit reachable from it through neighbours with
``t >= threshold`` (the connected super-threshold region around the seed;
:func:`grow_cluster` implements the greedy procedure itself).
:func:`seed_clusters` repeats this on what is left, each time from the largest
remaining t, and keeps clusters of at least ``min_size`` units (TopoLM's
``by-cluster.py`` keeps >= 25 of 784). :func:`cluster_profiles` is each
cluster's mean absolute response per condition (sentences, words, Jabberwocky,
non-words: TopoLM's S / W / J / N bars), with the spread over stimuli.

:func:`clusters_by_layer` does all of it for a model's responses: Welch t of a
contrast per unit (:func:`toposcope.analysis.localizer.welch_test`), the
clusters of each layer's t-map, and their profiles over every condition of the
stimulus set (Fedorenko's S / W / J / N).

Pure functions on maps and responses with ``x``, ``y`` unit coords on a grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option

__all__ = ["CONNECTIVITY", "DEFAULT_THRESHOLD", "cluster_profiles", "clusters_by_layer", "grow_cluster",
           "seed_clusters"]

#: TopoLM's threshold on Welch t (eval/cluster_gpt2.yaml).
DEFAULT_THRESHOLD = 2.0

#: Neighbour offsets on the grid: queen (8, TopoLM's clustering.py) or rook (4, its by-cluster.py).
CONNECTIVITY = {
    "queen": ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)),
    "rook": ((-1, 0), (0, -1), (0, 1), (1, 0)),
}


def _grid(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer grid indices of sheet positions (spacing = the smallest step between distinct values)."""
    def index(values: np.ndarray) -> np.ndarray:
        distinct = np.unique(values)
        step = np.diff(distinct).min() if distinct.size > 1 else 1.0
        return np.rint((values - distinct[0]) / step).astype(np.int64)

    gx, gy = index(np.asarray(x, dtype=np.float64)), index(np.asarray(y, dtype=np.float64))
    if len(set(zip(gx.tolist(), gy.tolist()))) != gx.size:
        raise ToposcopeError("two units share a grid position; clusters need units on a grid (one per position)")
    return gx, gy


def _neighbours(gx: np.ndarray, gy: np.ndarray, connectivity: str) -> list[list[int]]:
    where = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(gx, gy))}
    offsets = CONNECTIVITY[check_option("connectivity", connectivity, CONNECTIVITY)]
    return [[where[(int(a) + dx, int(b) + dy)] for dx, dy in offsets if (int(a) + dx, int(b) + dy) in where]
            for a, b in zip(gx, gy)]


def _map(values: Any) -> xr.DataArray:
    if not isinstance(values, xr.DataArray) or values.dims != ("unit",) or not {"x", "y"} <= set(values.coords):
        raise ToposcopeError("the map must be an xr.DataArray over 'unit' with x, y coords (one layer's t-map)")
    if "layer" in values.coords and len(set(np.asarray(values["layer"].values).tolist())) > 1:
        raise ToposcopeError("the map holds several layers; give one layer's units (.where(layer == NAME))")
    if not np.isfinite(values.values).all():
        raise ToposcopeError("the map holds NaN or infinite values")
    return values


def grow_cluster(values: Any, seed: int, threshold: float, connectivity: str = "queen") -> np.ndarray:
    """One cluster grown from ``seed`` as TopoLM grows it.

    Parameters
    ----------
    values : xr.DataArray, dims (unit,)
        One layer's map (a t-map), with ``x``, ``y`` grid coords.
    seed : int
        Position (along ``unit``) of the seed unit.
    threshold : float
        A neighbour joins while its value is at least this.
    connectivity : {"queen", "rook"}

    Returns
    -------
    ndarray of bool, shape (n_units,)
    """
    values = _map(values)
    t = np.asarray(values.values, dtype=np.float64)
    if not 0 <= int(seed) < t.size:
        raise ToposcopeError(f"seed {seed} is not a unit of the map (it has {t.size})")
    neighbours = _neighbours(*_grid(values["x"].values, values["y"].values), connectivity)
    return _grow(t, int(seed), float(threshold), neighbours)


def _grow(t: np.ndarray, seed: int, threshold: float, neighbours: list[list[int]],
          allowed: np.ndarray | None = None) -> np.ndarray:
    inside = np.zeros(t.size, dtype=bool)
    inside[seed] = True
    candidates = {j for j in neighbours[seed] if allowed is None or allowed[j]}
    while candidates:
        best = max(candidates, key=lambda j: (t[j], -j))  # ties: the lower index, deterministically
        if t[best] < threshold:
            break
        inside[best] = True
        candidates.discard(best)
        candidates.update(j for j in neighbours[best] if not inside[j] and (allowed is None or allowed[j]))
    return inside


def seed_clusters(values: Any, threshold: float, *, min_size: int = 1, connectivity: str = "queen",
                  max_clusters: int | None = None) -> xr.DataArray:
    """Every seed-grown cluster of one layer's map, largest seed first.

    Each round seeds at the largest value among units not yet in a cluster
    (and at least ``threshold``), grows it with :func:`grow_cluster` over the
    remaining units, and removes it; clusters smaller than ``min_size`` are
    dropped (their units stay out of later clusters).

    Parameters
    ----------
    values : xr.DataArray, dims (unit,)
        One layer's t-map with ``x``, ``y`` grid coords.
    threshold : float
    min_size : int
        Smallest cluster kept (TopoLM's by-cluster analysis: 25 units of 784).
    connectivity : {"queen", "rook"}
    max_clusters : int, optional
        Stop after this many kept clusters.

    Returns
    -------
    xr.DataArray, dims (cluster, unit), bool
        One row per kept cluster, unit coords kept; coords ``size`` and
        ``seed_unit`` (the seed's position) and ``seed_value`` on ``cluster``;
        attrs ``threshold``, ``min_size``, ``connectivity``.
    """
    values = _map(values)
    t = np.asarray(values.values, dtype=np.float64)
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 1:
        raise ToposcopeError(f"min_size must be a positive integer, got {min_size!r}")
    neighbours = _neighbours(*_grid(values["x"].values, values["y"].values), connectivity)
    free = np.ones(t.size, dtype=bool)
    rows, seeds = [], []
    while free.any() and (max_clusters is None or len(rows) < max_clusters):
        candidates = np.flatnonzero(free)
        seed = int(candidates[np.argmax(t[candidates])])
        if t[seed] < threshold:
            break
        cluster = _grow(t, seed, float(threshold), neighbours, allowed=free)
        free &= ~cluster
        if cluster.sum() >= min_size:
            rows.append(cluster)
            seeds.append(seed)
    data = np.asarray(rows, dtype=bool).reshape(len(rows), t.size)
    unit_coords = {name: coord for name, coord in values.coords.items() if coord.dims == ("unit",)}
    return xr.DataArray(
        data, dims=("cluster", "unit"),
        coords={**unit_coords, "cluster": np.arange(len(rows)), "size": ("cluster", data.sum(1).astype(np.int64)),
                "seed_unit": ("cluster", np.asarray(seeds, dtype=np.int64)),
                "seed_value": ("cluster", t[np.asarray(seeds, dtype=np.int64)] if seeds else np.zeros(0))},
        name="clusters",
        attrs={"threshold": float(threshold), "min_size": int(min_size), "connectivity": connectivity,
               "method": "TopoLM seed-grown clusters (eval/clustering.py)"},
    )


def cluster_profiles(responses: Any, clusters: xr.DataArray, *, condition: str = "category",
                     absolute: bool = True) -> xr.Dataset:
    """Each cluster's mean response per condition (TopoLM's per-cluster S / W / J / N profiles).

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        The units the clusters were grown on (same unit order), with the
        condition label as a stimulus coord.
    clusters : xr.DataArray, dims (cluster, unit), bool
        From :func:`seed_clusters`.
    condition : str
        Stimulus coord naming each stimulus's condition.
    absolute : bool
        Average absolute responses, as TopoLM does.

    Returns
    -------
    xr.Dataset
        ``profile`` (mean over stimuli of the cluster's mean unit response),
        ``sem`` (over stimuli) and ``per_stimulus`` (cluster, stimulus) over
        ``cluster`` x ``condition`` (conditions in order of first appearance).
    """
    if not isinstance(responses, xr.DataArray) or set(responses.dims) != {"stimulus", "unit"}:
        raise ToposcopeError("responses must be an xr.DataArray with dims ('stimulus', 'unit')")
    if not isinstance(clusters, xr.DataArray) or clusters.dims != ("cluster", "unit"):
        raise ToposcopeError("clusters must be the (cluster, unit) array of seed_clusters")
    if responses.sizes["unit"] != clusters.sizes["unit"]:
        raise ToposcopeError(f"responses hold {responses.sizes['unit']} units but the clusters "
                             f"{clusters.sizes['unit']}; use the layer the clusters were grown on")
    if condition not in responses.coords:
        raise ToposcopeError(f"responses have no stimulus coord {condition!r}; "
                             f"they have {sorted(c for c in responses.coords if 'stimulus' in responses[c].dims)}")
    r = np.asarray(responses.transpose("stimulus", "unit").values, dtype=np.float64)
    r = np.abs(r) if absolute else r
    masks = np.asarray(clusters.values, dtype=bool)
    per_stimulus = (r @ masks.T.astype(np.float64)) / np.maximum(masks.sum(1), 1)  # (stimulus, cluster)
    labels = np.asarray(responses[condition].values).astype(str)
    names = list(dict.fromkeys(labels.tolist()))
    profile = np.stack([per_stimulus[labels == n].mean(0) for n in names], axis=1)
    sem = np.stack([per_stimulus[labels == n].std(0, ddof=1) / np.sqrt(max(1, (labels == n).sum()))
                    if (labels == n).sum() > 1 else np.full(masks.shape[0], np.nan) for n in names], axis=1)
    coords = {"cluster": clusters["cluster"].values, "condition": np.asarray(names, dtype=object)}
    extra = {c: ("cluster", clusters[c].values) for c in ("size", "seed_unit", "seed_value") if c in clusters.coords}
    return xr.Dataset(
        {"profile": (("cluster", "condition"), profile), "sem": (("cluster", "condition"), sem),
         "per_stimulus": (("cluster", "stimulus"), per_stimulus.T)},
        coords={**coords, **extra, condition: ("stimulus", labels)},
        attrs={"absolute": int(absolute), "condition_label": condition},
    )


def clusters_by_layer(responses: Any, contrast: Any = "sentences_vs_nonwords", *,
                      threshold: float = DEFAULT_THRESHOLD, min_size: int = 1, connectivity: str = "queen",
                      condition: str = "category", fwhm: float | None = None) -> xr.Dataset:
    """Seed-grown clusters of each layer's t-map and every cluster's response profile over conditions.

    Parameters
    ----------
    responses : xr.DataArray (stimulus, unit) or dict of layer -> DataArray
        Responses of one or more layers to a stimulus set whose ``condition``
        labels include the contrast's (TopoLM: Fedorenko's sentences, words,
        Jabberwocky and non-words).
    contrast : str, dict or Contrast
        The t-map (:data:`toposcope.analysis.localizer.LANGUAGE_CONTRASTS`).
    threshold, min_size, connectivity
        As in :func:`seed_clusters` (TopoLM: t >= 2, queen neighbours).
    condition : str
        Stimulus coord of the profile's conditions.
    fwhm : float, optional
        Smooth each stimulus's map on the sheet first (TopoLM's readout).

    Returns
    -------
    xr.Dataset
        ``t`` over ``unit``; ``member`` (cluster, unit) bool; ``profile`` and
        ``sem`` over (cluster, condition); cluster coords ``cluster_layer``,
        ``size``, ``seed_unit`` (position along ``unit``) and ``seed_value``;
        attrs the settings.
    """
    from toposcope.analysis.localizer import _as_responses, smooth_responses, welch_test

    responses = _as_responses(responses)
    if fwhm is not None:
        responses = smooth_responses(responses, fwhm)
    t = welch_test(responses, contrast)["t"]
    layers = np.asarray(t["layer"].values).astype(str) if "layer" in t.coords else np.full(t.sizes["unit"], "")
    members, profiles, sems, owner, sizes, seeds, seed_values = [], [], [], [], [], [], []
    names: list[str] | None = None
    for layer in dict.fromkeys(layers.tolist()):
        inside = np.flatnonzero(layers == layer)
        clusters = seed_clusters(t.isel(unit=inside), threshold, min_size=min_size, connectivity=connectivity)
        if clusters.sizes["cluster"] == 0:
            continue
        profile = cluster_profiles(responses.isel(unit=inside), clusters, condition=condition)
        names = names or profile["condition"].values.tolist()
        for row in range(clusters.sizes["cluster"]):
            full = np.zeros(t.sizes["unit"], dtype=bool)
            full[inside] = clusters.values[row]
            members.append(full)
            owner.append(layer)
            sizes.append(int(clusters["size"][row]))
            seeds.append(int(inside[int(clusters["seed_unit"][row])]))
            seed_values.append(float(clusters["seed_value"][row]))
        profiles.append(profile["profile"].sel(condition=names).values)
        sems.append(profile["sem"].sel(condition=names).values)
    names = names or list(dict.fromkeys(np.asarray(responses[condition].values).astype(str).tolist()))
    n = len(members)
    unit_coords = {k: v for k, v in t.coords.items() if v.dims == ("unit",)}
    return xr.Dataset(
        {"t": t.reset_coords(drop=True).assign_coords(unit_coords),
         "member": (("cluster", "unit"), np.asarray(members, dtype=bool).reshape(n, t.sizes["unit"])),
         "profile": (("cluster", "condition"), np.concatenate(profiles) if profiles else np.zeros((0, len(names)))),
         "sem": (("cluster", "condition"), np.concatenate(sems) if sems else np.zeros((0, len(names))))},
        coords={"cluster": np.arange(n), "condition": np.asarray(names, dtype=object),
                "cluster_layer": ("cluster", np.asarray(owner, dtype=object)),
                "size": ("cluster", np.asarray(sizes, dtype=np.int64)),
                "seed_unit": ("cluster", np.asarray(seeds, dtype=np.int64)),
                "seed_value": ("cluster", np.asarray(seed_values, dtype=np.float64))},
        attrs={"contrast": str(getattr(contrast, "name", contrast)), "threshold": float(threshold),
               "min_size": int(min_size), "connectivity": connectivity,
               "smoothing_fwhm": -1.0 if fwhm is None else float(fwhm),
               "method": "TopoLM seed-grown clusters (eval/clustering.py), mean |response| per condition"},
    )
