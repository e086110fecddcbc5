"""Category selectivity t-maps (TopoNets eq. 2) and orientation tuning.

For each unit and contrast, Welch's t between the responses to the target
categories (c) and to the reference categories (o)::

    t = (mu_c - mu_o) / sqrt(s_c**2 / N_c + s_o**2 / N_o)

with unbiased variances (``ddof=1``), equal to
``scipy.stats.ttest_ind(target, reference, equal_var=False).statistic``. Units
whose two variances are both zero get ``t = 0`` and are counted.

:func:`tmaps` reads the responses once: per stimulus group (every distinct
combination of the labels the contrasts use) it accumulates the count, the sum
and the sum of squares of every unit, then combines groups into each
contrast's target and reference. So five domain contrasts cost one pass, not
five, and dask- or file-backed responses are streamed block by block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, close_matches
from toposcope.analysis._responses import block_rows, stimulus_blocks
from toposcope.analysis.patches import SELECTIVE_T

__all__ = [
    "CONTRASTS",
    "DOMAINS",
    "Contrast",
    "as_contrast",
    "default_contrasts",
    "orientation_tuning",
    "preferred_category",
    "tmaps",
    "tmaps_by_layer",
    "welch_t",
]

#: fLOC domains (Stigliani et al. 2015) and their two categories each.
DOMAINS: dict[str, tuple[str, str]] = {
    "faces": ("adult", "child"),
    "bodies": ("body", "limb"),
    "places": ("house", "corridor"),
    "characters": ("word", "number"),
    "objects": ("car", "instrument"),
}

#: Relative size below which a variance term counts as zero: the sums are taken
#: around the first stimulus, so real variances sit near the mean square and only
#: rounding noise of constant units falls below this.
ZERO_VARIANCE_RTOL = 1e-10


@dataclass(frozen=True)
class Contrast:
    """Target categories against reference categories of one stimulus label.

    Parameters
    ----------
    name : str
        Name on the ``contrast`` dim (``"faces"``).
    target : tuple of str
        Label values pooled as the target (``("adult", "child")``).
    reference : tuple of str or None
        Label values pooled as the reference; ``None`` = every other value present.
    label : str
        The stimulus coord the values refer to (``"category"``, ``"size"``, ...).
    """

    name: str
    target: tuple[str, ...]
    reference: tuple[str, ...] | None = None
    label: str = "category"

    def __post_init__(self) -> None:
        for field_name in ("target", "reference"):
            value = getattr(self, field_name)
            if value is None:
                continue
            value = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
            if not value:
                raise ToposcopeError(f"contrast {self.name!r} has an empty {field_name}; name at least one value")
            object.__setattr__(self, field_name, value)
        overlap = set(self.target) & set(self.reference or ())
        if overlap:
            raise ToposcopeError(
                f"contrast {self.name!r} has {sorted(overlap)} in both target and reference; keep them apart"
            )


#: Named contrasts: the five fLOC domains (each vs all other categories), Konkle
#: real-world size and animacy.
CONTRASTS: dict[str, Contrast] = {
    **{name: Contrast(name, members) for name, members in DOMAINS.items()},
    "big_vs_small": Contrast("big_vs_small", ("big",), ("small",), label="size"),
    # TopoNets Fig. 5A draws size as small - big (red = small).
    "small_vs_big": Contrast("small_vs_big", ("small",), ("big",), label="size"),
    "animate_vs_inanimate": Contrast("animate_vs_inanimate", ("animate",), ("inanimate",), label="animacy"),
}


def as_contrast(spec: Any) -> Contrast:
    """A Contrast from a name, ``"a+b vs c+d"``, ``"a+b"`` (vs the rest), a dict or a Contrast.

    Examples
    --------
    >>> as_contrast("faces").target
    ('adult', 'child')
    >>> as_contrast("house vs corridor").reference
    ('corridor',)
    """
    if isinstance(spec, Contrast):
        return spec
    if isinstance(spec, Mapping):
        try:
            return Contrast(**spec)
        except TypeError as error:
            raise ToposcopeError(
                f"contrast {dict(spec)!r} is not name/target/reference/label: {error}"
            ) from None
    if not isinstance(spec, str) or not spec.strip():
        raise ToposcopeError(f"a contrast is a name, 'a+b vs c', a dict or a Contrast, got {spec!r}")
    spec = spec.strip()
    if spec in CONTRASTS:
        return CONTRASTS[spec]
    target, sep, reference = spec.partition(" vs ")
    split = [v.strip() for v in target.split("+") if v.strip()]
    ref = [v.strip() for v in reference.split("+") if v.strip()] if sep else None
    return Contrast(spec, tuple(split), tuple(ref) if ref is not None else None)


def default_contrasts(responses: xr.DataArray) -> list[Contrast]:
    """The contrasts the stimulus labels support.

    fLOC domains whose categories are present; ``big_vs_small`` when a ``size``
    coord holds big and small; ``animate_vs_inanimate`` likewise for ``animacy``;
    otherwise each category against the rest.
    """
    def values(label: str) -> set[str]:
        if label not in responses.coords:
            return set()
        return set(np.asarray(responses[label].values).astype(str).tolist())

    present = values("category")
    chosen = [CONTRASTS[d] for d, members in DOMAINS.items() if set(members) <= present]
    for name in ("big_vs_small", "animate_vs_inanimate"):
        contrast = CONTRASTS[name]
        if set(contrast.target) | set(contrast.reference or ()) <= values(contrast.label):
            chosen.append(contrast)
    if not chosen:
        chosen = [Contrast(c, (c,)) for c in sorted(present) if c]
    if not chosen or (len(chosen) == 1 and chosen[0].reference is None and len(present) < 2):
        raise ToposcopeError(
            "the stimuli have fewer than two categories, so there is nothing to contrast; "
            "label the stimuli (category, size, animacy) or pass contrasts=[...]"
        )
    return chosen


# --------------------------------------------------------------------------- the pass
def _check_responses(responses: Any) -> xr.DataArray:
    if not isinstance(responses, xr.DataArray):
        raise ToposcopeError(
            f"responses must be an xr.DataArray with dims ('stimulus', 'unit'), got {type(responses).__name__}"
        )
    if set(responses.dims) != {"stimulus", "unit"}:
        raise ToposcopeError(f"responses must have dims ('stimulus', 'unit'), got {responses.dims}")
    if responses.dtype.kind not in "fiu":
        raise ToposcopeError(f"responses must hold numbers, got dtype {responses.dtype}")
    return responses.transpose("stimulus", "unit")


def _label_values(responses: xr.DataArray, label: str, contrast: str) -> np.ndarray:
    if label not in responses.coords or responses[label].dims != ("stimulus",):
        have = [c for c in responses.coords if responses[c].dims == ("stimulus",)]
        raise ToposcopeError(
            f"contrast {contrast!r} needs stimulus label {label!r}, which the responses do not have; "
            f"they have: {', '.join(map(repr, have)) or 'none'}"
        )
    return np.asarray(responses[label].values).astype(str)


def _resolve(contrasts: Sequence[Contrast], labels: dict[str, np.ndarray]) -> list[tuple[Contrast, tuple[str, ...]]]:
    """Each contrast with its reference spelled out; unknown values list what the stimuli have."""
    resolved = []
    for contrast in contrasts:
        present = list(dict.fromkeys(labels[contrast.label].tolist()))
        for value in (*contrast.target, *(contrast.reference or ())):
            if value not in present:
                near = close_matches(value, present)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ToposcopeError(
                    f"contrast {contrast.name!r} names {contrast.label} {value!r}{hint}, which the stimuli do "
                    f"not have; they have: {', '.join(map(repr, present))}"
                )
        reference = contrast.reference or tuple(v for v in present if v not in contrast.target)
        if not reference:
            raise ToposcopeError(
                f"contrast {contrast.name!r} leaves no reference: every {contrast.label} is in its target"
            )
        resolved.append((contrast, reference))
    return resolved


def _group_sums(
    responses: xr.DataArray, groups: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-group count, sum and sum of squares of every unit, in one pass.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
    groups : ndarray of int, shape (n_stimuli,)
        Group index of each stimulus, in ``[0, n_groups)``.

    Returns
    -------
    counts : ndarray, shape (n_groups,)
    sums, squares : ndarray, shape (n_groups, n_units), float64
        Of the responses minus ``shift``.
    shift : ndarray, shape (n_units,)
        The first stimulus's responses; subtracting it keeps the sums of squares
        free of cancellation when means are large, and makes constant units exactly 0.
    """
    n_units = int(responses.sizes["unit"])
    sums = np.zeros((n_groups, n_units))
    squares = np.zeros((n_groups, n_units))
    shift = None
    # Two float64 copies of a block are alive at once (shifted and squared).
    for rows, block in stimulus_blocks(responses, block_rows(n_units, budget=32 << 20)):
        block = block.astype(np.float64)
        if shift is None:
            shift = block[0].copy()
        block -= shift
        onehot = np.zeros((n_groups, len(block)))
        onehot[groups[rows], np.arange(len(block))] = 1.0
        sums += onehot @ block
        np.multiply(block, block, out=block)
        squares += onehot @ block
    counts = np.bincount(groups, minlength=n_groups).astype(np.float64)
    return counts, sums, squares, shift


def tmaps(
    responses: xr.DataArray, contrasts: Iterable[Any] | Any | None = None
) -> xr.DataArray:
    """Welch t of every unit for every contrast, from one pass over the responses.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        numpy- or dask-backed; stimulus coords hold the labels the contrasts use.
    contrasts : contrast or iterable of contrasts, optional
        Names from :data:`CONTRASTS` (``"faces"``, ``"big_vs_small"``), strings
        ``"a+b vs c+d"`` / ``"a+b"`` (target vs all other categories), dicts or
        :class:`Contrast`; by default :func:`default_contrasts`.

    Returns
    -------
    xr.DataArray, dims (contrast, unit), float32
        Named ``t``; unit coords of the responses kept; contrast coords ``label``,
        ``target``, ``reference`` (``+``-joined), ``n_target``, ``n_reference`` and
        ``n_zero_variance`` (units set to 0). Attrs: the responses' provenance,
        ``statistic``, and ``n_zero_variance`` (units with t set to 0 in any contrast).
    """
    responses = _check_responses(responses)
    if contrasts is None:
        chosen = default_contrasts(responses)
    elif isinstance(contrasts, (str, Contrast, Mapping)) or not isinstance(contrasts, Iterable):
        chosen = [as_contrast(contrasts)]
    else:
        chosen = [as_contrast(c) for c in contrasts]
    if not chosen:
        raise ToposcopeError("contrasts is empty; name at least one (e.g. 'faces')")
    names = [c.name for c in chosen]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ToposcopeError(f"contrast names must be unique; {duplicated} appear more than once")
    used = list(dict.fromkeys(c.label for c in chosen))
    labels = {label: _label_values(responses, label, next(c.name for c in chosen if c.label == label))
              for label in used}
    resolved = _resolve(chosen, labels)

    # One group per distinct combination of the labels used: the finest partition
    # that every contrast's target and reference are unions of.
    codes = np.zeros(int(responses.sizes["stimulus"]), dtype=np.int64)
    uniques = {}
    for label in used:
        uniques[label], inverse = np.unique(labels[label], return_inverse=True)
        codes = codes * len(uniques[label]) + inverse.ravel()
    combos, first, groups = np.unique(codes, return_index=True, return_inverse=True)
    groups = groups.ravel()
    group_value = {label: labels[label][first] for label in used}
    counts, sums, squares, _ = _group_sums(responses, groups, len(combos))
    if not (np.isfinite(sums).all() and np.isfinite(squares).all()):
        bad = int((~np.isfinite(sums).all(0)).sum())
        raise ToposcopeError(
            f"responses contain NaN or inf in {bad} units; drop those units or stimuli first"
        )

    target = np.stack([np.isin(group_value[c.label], c.target) for c, _ in resolved]).astype(np.float64)
    reference = np.stack([np.isin(group_value[c.label], ref) for c, ref in resolved]).astype(np.float64)
    t, zero, n_t, n_r = _welch_from_sums(target, reference, counts, sums, squares, names)

    coords: dict[str, Any] = {"contrast": names}
    coords.update({name: coord.variable for name, coord in responses.coords.items() if coord.dims == ("unit",)})
    coords.update({
        "label": ("contrast", [c.label for c, _ in resolved]),
        "target": ("contrast", ["+".join(c.target) for c, _ in resolved]),
        "reference": ("contrast", ["+".join(ref) for _, ref in resolved]),
        "n_target": ("contrast", n_t.astype(np.int64)),
        "n_reference": ("contrast", n_r.astype(np.int64)),
        "n_zero_variance": ("contrast", zero.sum(1).astype(np.int64)),
    })
    attrs = {k: v for k, v in responses.attrs.items() if isinstance(v, (str, int, float, np.number))}
    attrs.update({
        "statistic": "welch_t",
        "definition": "t = (mu_c - mu_o) / sqrt(s_c^2/N_c + s_o^2/N_o) (TopoNets eq. 2); ddof=1",
        "n_zero_variance": int(zero.any(0).sum()),
        "n_stimuli": int(responses.sizes["stimulus"]),
    })
    return xr.DataArray(t.astype(np.float32), dims=("contrast", "unit"), coords=coords, name="t", attrs=attrs)


def tmaps_by_layer(
    responses: Mapping[str, xr.DataArray], contrasts: Iterable[Any] | Any | None = None
) -> xr.DataArray:
    """:func:`tmaps` of several layers, concatenated along ``unit``.

    Parameters
    ----------
    responses : dict of str to xr.DataArray
        Layer name -> responses (dims (stimulus, unit)) to the same stimuli, as
        returned by ``toposcope.extract``.
    contrasts
        As in :func:`tmaps`; the same for every layer.

    Returns
    -------
    xr.DataArray, dims (contrast, unit), float32
        Unit coords common to all layers (``layer``, ``x``, ``y``, ...); attrs of
        the first layer, with ``layer`` replaced by ``layers``.
    """
    if not responses:
        raise ToposcopeError("no layers given; pass {layer name: responses}")
    maps = []
    for name, array in responses.items():
        one = tmaps(array, contrasts)
        if "layer" not in one.coords:
            one = one.assign_coords(layer=("unit", np.full(one.sizes["unit"], name, dtype=object)))
        maps.append(one)
    common = set.intersection(*(
        {c for c in m.coords if m[c].dims == ("unit",)} for m in maps
    ))
    maps = [m.drop_vars([c for c in m.coords if m[c].dims == ("unit",) and c not in common]) for m in maps]
    out = xr.concat(maps, dim="unit", coords="minimal", compat="override", combine_attrs="override")
    attrs = {k: v for k, v in maps[0].attrs.items() if k not in ("layer", "n_zero_variance")}
    attrs["layers"] = ", ".join(responses)
    attrs["n_zero_variance"] = int(sum(m.attrs["n_zero_variance"] for m in maps))
    out.attrs = attrs
    out["n_zero_variance"] = ("contrast", np.sum([m["n_zero_variance"].values for m in maps], axis=0))
    return out


def _welch_from_sums(
    target: np.ndarray, reference: np.ndarray, counts: np.ndarray, sums: np.ndarray,
    squares: np.ndarray, names: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Welch t of every contrast from group sums; membership matrices (n_contrasts, n_groups)."""
    n_t, n_r = target @ counts, reference @ counts
    small = [n for n, a, b in zip(names, n_t, n_r) if min(a, b) < 2]
    if small:
        raise ToposcopeError(
            f"contrast {small[0]!r} has fewer than 2 stimuli on one side; a variance needs at least 2 per side"
        )

    def moments(member: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        total, sq = member @ sums, member @ squares
        mean = total / n[:, None]
        variance = np.maximum(sq - total * mean, 0.0) / (n[:, None] - 1)
        return mean, variance, sq / n[:, None]

    mean_t, var_t, msq_t = moments(target, n_t)
    mean_r, var_r, msq_r = moments(reference, n_r)
    se2 = var_t / n_t[:, None] + var_r / n_r[:, None]
    scale = (msq_t + msq_r) / np.minimum(n_t, n_r)[:, None]
    zero = se2 <= ZERO_VARIANCE_RTOL * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(zero, 0.0, (mean_t - mean_r) / np.sqrt(np.where(zero, 1.0, se2)))
    return t, zero, n_t, n_r


def welch_t(
    responses: xr.DataArray, target: str | Sequence[str], reference: str | Sequence[str] | None = None,
    label: str = "category",
) -> xr.DataArray:
    """One contrast's t-map: ``tmaps(responses, [Contrast(...)])`` without the contrast dim.

    Returns
    -------
    xr.DataArray, dims (unit,), float32
    """
    name = "+".join([target] if isinstance(target, str) else target)
    contrast = Contrast(name, target, reference, label)
    return tmaps(responses, [contrast]).isel(contrast=0, drop=True)


# --------------------------------------------------------------------------- category labels
def _winners(t: np.ndarray, threshold: float) -> np.ndarray:
    """Row of each column's largest value when above ``threshold``, else -1; NaN never wins.

    Parameters
    ----------
    t : ndarray, shape (n_contrasts, n_units)

    Returns
    -------
    ndarray of int8, shape (n_units,)
    """
    filled = np.where(np.isfinite(t), t, -np.inf)
    best = np.argmax(filled, axis=0)  # a tie goes to the first contrast
    passed = filled[best, np.arange(t.shape[1])] > threshold
    return np.where(passed, best, -1).astype(np.int8)


def preferred_category(tmaps: xr.DataArray, threshold: float = SELECTIVE_T) -> xr.DataArray:
    """Winner-take-all category of every unit: the contrast of its largest t, when that t passes ``threshold``.

    TDANN's domain map (Margalit et al. 2024, Fig. 1; ``ITMap.make_selectivity_map``)
    colours the units with t above 10 for a category, drawing the categories
    one over the other, so a unit selective for two shows the last drawn. Here
    each unit gets one label, the order-free version: the contrast of its
    largest t (the first contrast on a tie) if that t exceeds ``threshold``.

    Parameters
    ----------
    tmaps : xr.DataArray, dims (contrast, unit)
        t-maps from :func:`tmaps` (NaN t never wins; a unit without finite t is unlabelled).
    threshold : float
        Strictly exceeded by a labelled unit's t (10 by default, TDANN's).

    Returns
    -------
    xr.DataArray, dims (unit,), int8
        Named ``preferred_category``: index into ``tmaps``' ``contrast`` of each
        unit's category, -1 for none. Unit coords kept, plus ``preferred_name``
        (the contrast's name, ``""`` for none). Attrs ``threshold``, ``contrasts``.
    """
    if not isinstance(tmaps, xr.DataArray) or set(tmaps.dims) != {"contrast", "unit"}:
        got = tmaps.dims if isinstance(tmaps, xr.DataArray) else type(tmaps).__name__
        raise ToposcopeError(
            f"tmaps must be an xr.DataArray with dims (contrast, unit), got {got}; "
            "for one map use tmap.expand_dims(contrast=[name])"
        )
    if tmaps.sizes["contrast"] == 0:
        raise ToposcopeError("tmaps holds no contrast; pass at least one t-map")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or np.isnan(threshold):
        raise ToposcopeError(f"threshold must be a number, got {threshold!r}")
    t = np.asarray(tmaps.transpose("contrast", "unit").values, dtype=np.float64)
    index = _winners(t, float(threshold))
    names = [str(c) for c in tmaps["contrast"].values]
    labels = np.asarray(names + [""], dtype=object)[index]  # index -1 picks the trailing ""
    coords = {name: coord.variable for name, coord in tmaps.coords.items() if coord.dims == ("unit",)}
    coords["preferred_name"] = ("unit", labels.astype(str))
    return xr.DataArray(index, dims="unit", coords=coords, name="preferred_category",
                        attrs={"threshold": float(threshold), "contrasts": names})


# --------------------------------------------------------------------------- orientation
def orientation_tuning(responses: xr.DataArray, label: str = "orientation") -> xr.Dataset:
    """Preferred orientation and orientation selectivity of every unit, from gratings.

    The mean response to each orientation (over spatial frequencies and phases)
    is shifted so its minimum over orientations is 0, then summed as vectors at
    twice the angle (orientation is 180-periodic)::

        R = sum_k r_k exp(2i theta_k);  preference = arg(R) / 2;  selectivity = |R| / sum_k r_k

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        Responses to :func:`toposcope.stimuli.gratings`; stimulus coord ``label``
        holds each grating's orientation in degrees.
    label : str
        The orientation coord.

    Returns
    -------
    xr.Dataset
        ``preferred_orientation`` (unit,) in degrees in [0, 180);
        ``orientation_selectivity`` (unit,) in [0, 1] (1 - circular variance; 0 for
        untuned units); ``tuning`` (orientation, unit): mean response per orientation.
        Unit coords kept.
    """
    responses = _check_responses(responses)
    if label not in responses.coords:
        _label_values(responses, label, "orientation tuning")
    try:
        angles = np.asarray(responses[label].values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ToposcopeError(f"stimulus coord {label!r} must hold orientations in degrees (numbers)") from None
    orientations, groups = np.unique(np.mod(angles, 180.0), return_inverse=True)
    if len(orientations) < 3:
        raise ToposcopeError(
            f"orientation tuning needs at least 3 orientations, the stimuli have {len(orientations)}; "
            "use gratings(orientations=8)"
        )
    counts, sums, _, shift = _group_sums(responses, groups.ravel(), len(orientations))
    tuning = sums / counts[:, None] + shift
    rectified = tuning - tuning.min(axis=0)
    phasor = np.exp(2j * np.deg2rad(orientations))[:, None]
    vector = (rectified * phasor).sum(0)
    total = rectified.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        selectivity = np.where(total > 0, np.abs(vector) / np.where(total > 0, total, 1.0), 0.0)
    preference = np.mod(np.rad2deg(np.angle(vector)) / 2.0, 180.0)
    unit_coords = {name: coord.variable for name, coord in responses.coords.items() if coord.dims == ("unit",)}
    return xr.Dataset(
        {
            "preferred_orientation": ("unit", preference.astype(np.float32), {"units": "degrees"}),
            "orientation_selectivity": ("unit", selectivity.astype(np.float32)),
            "tuning": (("orientation", "unit"), tuning.astype(np.float32)),
        },
        coords={"orientation": orientations, **unit_coords},
        attrs={"n_stimuli": int(responses.sizes["stimulus"]), "method": "vector sum at 2*theta"},
    )
