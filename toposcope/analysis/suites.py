"""Selectivity maps of test suites, as Topoformer draws them: signed -log10 p and t per unit.

Topoformer (``cookbook/visualizations.py``, ``calculate_p_values``) tests every
unit of a layer between the two conditions of a suite with
``scipy.stats.ttest_ind(target, reference)`` (Student's t, pooled variance) and
maps ``-log10(p) * sign(t)``. :func:`suite_maps` returns that map and the t-map,
streamed over the stimuli:

.. math:: t = \\frac{\\bar x_c - \\bar x_o}{s_p \\sqrt{1/n_c + 1/n_o}}, \\qquad
   s_p^2 = \\frac{(n_c - 1) s_c^2 + (n_o - 1) s_o^2}{n_c + n_o - 2}

with two-sided p from Student's t with ``n_c + n_o - 2`` degrees of freedom,
taken in log space so that tiny p (large t) stay finite. ``test="paired"`` is
the alternative for suites whose items come in both conditions
(``scipy.stats.ttest_rel``: t of the per-item differences, ``n - 1`` degrees of
freedom). A unit that does not vary over the stimuli gets t = 0 and p = 1
and is counted (the reference would give NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option
from toposcope.analysis._responses import block_rows, check_responses, stimulus_blocks
from toposcope.analysis.selectivity import as_contrast

__all__ = ["TESTS", "suite_maps"]

TESTS = ("independent", "paired")


def _contrast(contrast: Any) -> Any:
    # A Suite (toposcope.stimuli.suites) carries its contrast; anything else as selectivity takes it.
    return as_contrast(getattr(contrast, "contrast", contrast))


def _masks(responses: xr.DataArray, contrast: Any) -> tuple[np.ndarray, np.ndarray]:
    label = contrast.label
    if label not in responses.coords or responses[label].dims != ("stimulus",):
        raise ToposcopeError(
            f"suite {contrast.name!r} compares values of stimulus label {label!r}, which the responses lack; "
            "extract the suite's own stimuli (their labels become stimulus coords)"
        )
    values = np.asarray(responses[label].values).astype(str)
    target = np.isin(values, contrast.target)
    reference = np.isin(values, contrast.reference) if contrast.reference is not None else ~target
    for name, mask, wanted in (("target", target, contrast.target), ("reference", reference, contrast.reference)):
        if mask.sum() < 2:
            raise ToposcopeError(
                f"suite {contrast.name!r} has {int(mask.sum())} stimuli in its {name} {wanted} but a t-test needs "
                f"at least 2; its {label} values are {sorted(set(values))}"
            )
    return target, reference


def _sums(responses: xr.DataArray, masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per mask: count, sum and sum of squares around a shift (the first stimulus) of every unit."""
    n_units = int(responses.sizes["unit"])
    sums, squares = np.zeros((len(masks), n_units)), np.zeros((len(masks), n_units))
    shift = None
    for rows, block in stimulus_blocks(responses, block_rows(n_units)):
        block = block.astype(np.float64, copy=False)
        if shift is None:
            shift = block[0].copy()
        block = block - shift
        for k, mask in enumerate(masks):
            part = block[mask[rows]]
            sums[k] += part.sum(0)
            squares[k] += np.einsum("ij,ij->j", part, part)
    counts = np.asarray([m.sum() for m in masks], dtype=np.float64)
    return counts, sums, squares


def _log_sf(t: np.ndarray, df: float) -> np.ndarray:
    """log P(T > t) of Student's t, finite however large t is.

    scipy's ``logsf`` underflows to -inf beyond about 1e-308; there the
    identity ``sf = I_x(df/2, 1/2) / 2`` with ``x = df / (df + t^2)`` and
    ``I_x(a, b) = x^a (1-x)^b 2F1(a+b, 1; a+1; x) / (a B(a, b))`` is taken in log space.
    """
    from scipy import special, stats

    out = stats.t.logsf(t, df)
    deep = ~np.isfinite(out) | (out < -700)
    if deep.any():
        a, b = df / 2.0, 0.5
        x = df / (df + t[deep] ** 2)
        out[deep] = (np.log(0.5) + a * np.log(x) + b * np.log1p(-x) - np.log(a) - special.betaln(a, b)
                     + np.log(special.hyp2f1(a + b, 1.0, a + 1.0, x)))
    return out


def _two_sided(t: np.ndarray, df: float) -> tuple[np.ndarray, np.ndarray]:
    """p and -log10 p of a two-sided t-test, in log space (p below 1e-308 keeps its -log10)."""
    log_p = np.minimum(np.log(2.0) + _log_sf(np.abs(t), df), 0.0)
    return np.exp(log_p), -log_p / np.log(10.0)


def suite_maps(responses: Any, contrast: Any, *, test: str = "independent", item: str = "item") -> xr.Dataset:
    """The selectivity map of a suite on one layer: t and signed -log10 p of every unit.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        Responses to the suite's stimuli, whose stimulus coords hold its labels.
    contrast : Suite, contrast name, ``"a vs b"``, dict or Contrast
        The conditions compared (target minus reference); a
        :class:`~toposcope.stimuli.suites.Suite` brings its own.
    test : {"independent", "paired"}
        Student's t between the conditions (Topoformer's ``ttest_ind``), or the
        paired t of each item's difference (items from stimulus coord ``item``).
    item : str
        The stimulus coord naming items, for ``test="paired"``.

    Returns
    -------
    xr.Dataset
        ``t``, ``signed_log10_p`` (``-log10(p) * sign(t)``, Topoformer's map) and
        ``p`` over dim ``unit``, unit coords kept. Attrs: ``suite``, ``label``,
        ``target``, ``reference``, ``test``, ``df``, ``n_target``, ``n_reference``
        (items for a paired test), ``n_constant_units``, and the layer.
    """
    check_option("test", test, TESTS)
    chosen = _contrast(contrast)
    checked = check_responses(responses, min_stimuli=4, what="responses")
    responses = checked.responses
    target, reference = _masks(responses, chosen)
    if test == "independent":
        counts, sums, squares = _sums(responses, [target, reference])
        means = sums / counts[:, None]
        ss = np.maximum(squares - counts[:, None] * means**2, 0.0)
        df = float(counts.sum() - 2)
        pooled = ss.sum(0) / df
        scale = np.sqrt(pooled * (1 / counts[0] + 1 / counts[1]))
        difference = means[0] - means[1]
        n_target, n_reference = int(counts[0]), int(counts[1])
    else:
        difference, scale, df, n_target = _paired(responses, chosen, target, reference, item)
        n_reference = n_target
    # A unit constant over the stimuli has no test (t = 0, p = 1, counted); one that varies only
    # between the conditions has an infinite t and p = 0, as scipy gives.
    constant = ~checked.varying
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(constant, 0.0, difference / np.where(constant, 1.0, scale))
    p, minus_log_p = _two_sided(t, df)
    p = np.where(constant, 1.0, p)
    signed = np.where(constant, 0.0, minus_log_p * np.sign(t))
    unit_coords = {name: coord.variable for name, coord in responses.coords.items() if coord.dims == ("unit",)}
    attrs = {
        **{k: v for k, v in checked.attrs().items() if k == "layer"},
        "suite": chosen.name, "label": chosen.label, "target": "+".join(chosen.target),
        "reference": "+".join(chosen.reference) if chosen.reference is not None else "rest",
        "test": test, "df": df, "n_target": n_target, "n_reference": n_reference,
        "n_constant_units": int(constant.sum()),
        "definition": "signed_log10_p = -log10(p) * sign(t), two-sided Student's t "
                      + ("(scipy.stats.ttest_ind, pooled variance)" if test == "independent"
                         else "of per-item differences (scipy.stats.ttest_rel)"),
    }
    return xr.Dataset(
        {"t": ("unit", t.astype(np.float32)), "signed_log10_p": ("unit", signed.astype(np.float32)),
         "p": ("unit", p)},
        coords=unit_coords, attrs=attrs,
    )


def _paired(responses: xr.DataArray, contrast: Any, target: np.ndarray, reference: np.ndarray,
            item: str) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Mean difference, its standard error and df over items that have one stimulus in each condition."""
    if item not in responses.coords or responses[item].dims != ("stimulus",):
        raise ToposcopeError(f"a paired test needs stimulus coord {item!r} naming each sentence's item; "
                             "give the suite an item column or use test='independent'")
    items = np.asarray(responses[item].values).astype(str)
    first = {}
    for mask, side in ((target, 0), (reference, 1)):
        for index in np.flatnonzero(mask):
            key = (items[index], side)
            if key in first:
                raise ToposcopeError(f"item {items[index]!r} has several stimuli in one condition of suite "
                                     f"{contrast.name!r}; a paired test needs one per condition")
            first[key] = index
    shared = sorted({i for i, s in first if s == 0} & {i for i, s in first if s == 1})
    unpaired = len({i for i, _ in first}) - len(shared)
    if unpaired or len(shared) < 2:
        raise ToposcopeError(f"suite {contrast.name!r}: {unpaired} items lack a sentence in one condition "
                             f"({len(shared)} complete pairs); a paired test needs every item in both")
    a = np.asarray(responses.isel(stimulus=[first[(i, 0)] for i in shared]).values, dtype=np.float64)
    b = np.asarray(responses.isel(stimulus=[first[(i, 1)] for i in shared]).values, dtype=np.float64)
    d = a - b
    n = len(shared)
    return d.mean(0), d.std(0, ddof=1) / np.sqrt(n), float(n - 1), n
