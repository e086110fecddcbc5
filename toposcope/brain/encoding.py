"""Naturalistic encoding models: word features of a model's units -> story-listening fMRI.

:func:`encoding_model` runs the published pipeline (Huth-lab / LeBel et al.
2023; the choices LITcoder showed matter) on a :class:`~toposcope.brain.story_fmri.StoryData`
and per-story word-level features:

1. per story: features at the TRs (:func:`~toposcope.analysis.encoding.downsample`,
   Lanczos by default), trimmed, z-scored, delayed 1-4 TRs; controls (word rate,
   a constant) beside them; responses trimmed alike, motion regressed out if
   asked, z-scored;
2. ridge with each voxel's penalty chosen by cross-validation over whole
   training stories (:func:`~toposcope.analysis.encoding_ridge.fit_ridge`, himalaya);
3. held-out stories: r per voxel, a block-permutation p-value and FDR
   significance;
4. the sheet read-back, when the units have sheet positions: per voxel, the
   share of its weight energy in each window of the sheet, how well the units
   of each window alone predict it, and the variance only that window's units
   explain (r^2 of the full model minus r^2 without them; both refitted at the
   voxel's penalty on the training stories, scored on the test stories).

The result is an ``xr.Dataset`` over voxels with the choices in its attrs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_positive_int, check_seed
from toposcope.analysis import encoding as align
from toposcope.analysis import encoding_ceiling as ceiling
from toposcope.analysis import encoding_ridge as ridge
from toposcope.analysis import encoding_sheet as sheet
from toposcope.brain.story_fmri import StoryData

__all__ = ["CONFOUNDS", "CONTROLS", "SPLITS", "encoding_model", "story_design_matrices"]

CONTROLS = ("word_rate", "constant")
CONFOUNDS = ("report", "regress")
SPLITS = ("story", "random")


def _feature_arrays(data: StoryData, features: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    only_features = [s for s in features if s not in data.scans]
    only_data = [s for s in data.scans if s not in features]
    if only_features:
        raise ToposcopeError(f"features given for story {only_features[0]!r}, which has no responses; "
                             "drop it or add its responses")
    if only_data:
        raise ToposcopeError(f"story {only_data[0]!r} has responses but no features; extract them for every story")
    arrays, unit_coords, width = {}, {}, None
    for name in data.scans:
        value = features[name]
        if isinstance(value, xr.DataArray):
            if not unit_coords:
                unit_coords = {k: v.variable for k, v in value.coords.items() if v.dims == ("unit",)}
            dim = [d for d in value.dims if d != "unit"]
            value = value.transpose(*dim, "unit").values if "unit" in value.dims else value.values
        array = np.asarray(value, dtype=np.float64)
        if array.ndim != 2 or array.shape[0] != len(data.scans[name].words):
            raise ToposcopeError(f"features of story {name!r} have shape {array.shape}; expected one row per word "
                                 f"({len(data.scans[name].words)} words)")
        if width is not None and array.shape[1] != width:
            raise ToposcopeError(f"features of story {name!r} have {array.shape[1]} units, others {width}")
        if not np.isfinite(array).all():
            raise ToposcopeError(f"features of story {name!r} hold NaN or inf")
        width = array.shape[1]
        arrays[name] = array
    return arrays, unit_coords


def story_design_matrices(data: StoryData, features: Mapping[str, Any], *, method: str = "lanczos",
                          delays: Sequence[int] = align.DEFAULT_DELAYS, trim: tuple[int, int] = (0, 0),
                          controls: Sequence[str] = ("word_rate",), confounds: str = "report",
                          **options: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """Per story: the design (features then controls) and the responses, ready to fit.

    Returns
    -------
    designs : dict of str to ndarray, shape (n_trs_kept, n_delays * n_units + n_controls)
    responses : dict of str to ndarray, shape (n_trs_kept, n_voxels), z-scored
    n_units : int
    """
    check_option("confounds", confounds, CONFOUNDS)
    for control in controls:
        check_option("control", control, CONTROLS)
    arrays, _ = _feature_arrays(data, features)
    designs, responses = {}, {}
    for name, scan in data.scans.items():
        times = scan.words.times
        try:
            x = align.story_design(arrays[name], times, scan.tr_times, method=method, trim_trs=tuple(trim),
                                   delays=delays, **options)
            blocks = [x]
            if "word_rate" in controls:
                blocks.append(align.story_design(np.ones((len(times), 1)), times, scan.tr_times, method=method,
                                                 trim_trs=tuple(trim), delays=delays, **options))
            if "constant" in controls:
                blocks.append(np.ones((x.shape[0], 1)))
            y = align.trim(scan.responses, *trim)
            if confounds == "regress" and scan.confounds is not None:
                y = align.regress_confounds(y, align.trim(scan.confounds, *trim))
        except ToposcopeError as error:
            raise ToposcopeError(f"story {name!r}: {error}") from None
        designs[name] = np.hstack(blocks)
        responses[name] = align.zscore(y)
    return designs, responses, next(iter(arrays.values())).shape[1]


def _split(stories: list[str], test: Sequence[str] | str | None) -> tuple[list[str], list[str]]:
    if len(stories) < 2:
        raise ToposcopeError(f"one story only ({stories[0]!r}): nothing to hold out for testing; give at least 3 "
                             "stories (2 to fit with cross-validation, 1 to test)")
    chosen = [stories[-1]] if test is None else ([test] if isinstance(test, str) else list(test))
    unknown = [s for s in chosen if s not in stories]
    if unknown:
        raise ToposcopeError(f"test story {unknown[0]!r} is not in the data ({', '.join(stories)})")
    train = [s for s in stories if s not in chosen]
    if not train:
        raise ToposcopeError("every story is a test story; leave some to fit the model")
    if len(train) < 2:
        raise ToposcopeError(f"only one training story ({train[0]!r}) is left after holding out "
                             f"{', '.join(chosen)}; penalties are chosen across stories, so give at least 2")
    return train, chosen


def encoding_model(
    data: StoryData,
    features: Mapping[str, Any],
    *,
    test: Sequence[str] | str | None = None,
    method: str = "lanczos",
    delays: Sequence[int] = align.DEFAULT_DELAYS,
    trim: tuple[int, int] = (0, 0),
    alphas: Sequence[float] = ridge.DEFAULT_ALPHAS,
    n_folds: int | None = None,
    controls: Sequence[str] = ("word_rate",),
    confounds: str = "report",
    split: str = "story",
    banded: bool = False,
    backend: str = "numpy",
    permutations: int = 1000,
    block: int = 10,
    q: float = 0.05,
    windows: int | None = 4,
    keep_weights: bool = True,
    seed: int = 0,
    **options: Any,
) -> xr.Dataset:
    """Fit and test an encoding model from word features to every voxel.

    Parameters
    ----------
    data : StoryData
        Stories with timed words and responses (:mod:`toposcope.brain.story_fmri`).
    features : dict of str to array or xr.DataArray, shape (n_words, n_units)
        Per story, one row per word (e.g. :func:`toposcope.workflows.encoding.word_features`).
        DataArrays with unit coords ``x``/``y`` give the sheet read-back.
    test : str or list of str, optional
        Held-out stories; the last story by default.
    method : {"lanczos", "sinc", "average"}
        Words -> TRs (:mod:`toposcope.analysis.encoding`).
    delays : sequence of int
        FIR delays in TRs.
    trim : (int, int)
        TRs dropped at the start and end of every story.
    alphas : sequence of float
        Penalties searched per voxel.
    n_folds : int, optional
        Cross-validation folds over training stories (one per story by default).
    controls : subset of {"word_rate", "constant"}
        Control features beside the units.
    confounds : {"report", "regress"}
        Head motion (when the data have it): only reported (mean absolute
        motion in the attrs), or regressed out of the responses first.
    split : {"story", "random"}
        ``"random"`` holds out random TRs and cross-validates over random TRs
        too: a leaky split, for showing how much it inflates r.
    banded : bool
        Banded ridge (himalaya's random search over feature-space weights): the
        units and the controls each get their own penalty per voxel, and
        ``band_share`` (band, voxel) says how much each space was weighted.
    backend : {"numpy", "torch", "torch_cuda"}
    permutations, block : int
        Block-permutation test of each voxel's test r; ``permutations=0`` skips it.
    q : float
        False-discovery rate of ``significant``.
    windows : int or None
        Sheet windows per side for the read-back (None: none).
    keep_weights : bool
        Keep ``weights`` (delay, unit, voxel) in the result.
    seed : int
        Seeds the permutations and a random split.
    **options
        Passed to the interpolation (``window``, ``cutoff_mult``).

    Returns
    -------
    xr.Dataset, dim voxel (and unit, delay, window)
        ``r`` (held-out correlation), ``r_train``, ``alpha``, ``cv_score``,
        ``p`` and ``significant`` (with permutations); ``noise_ceiling``
        (``CC_max`` of the test stories' repeats,
        :func:`~toposcope.analysis.encoding_ceiling.noise_ceiling`) and ``r_norm``
        (``r / noise_ceiling``) when every test story was heard several times; with sheet positions
        ``window_energy``, ``window_r`` and ``window_unique`` (window, voxel:
        the r^2 lost when the window's units are left out, the variance only
        they explain) and window coords ``window_x``, ``window_y``; ``weights`` (delay, unit, voxel). Attrs:
        every choice above, train/test stories, ``median_r``.
    """
    check_option("split", split, SPLITS)
    check_seed(seed)
    if windows is not None:
        check_positive_int("windows", windows)
    stories = data.stories
    arrays, unit_coords = _feature_arrays(data, features)
    designs, responses, n_units = story_design_matrices(data, arrays, method=method, delays=delays, trim=trim,
                                                        controls=controls, confounds=confounds, **options)
    n_delays = len(tuple(delays))
    if split == "story":
        train, held = _split(stories, test)
        x_train = np.vstack([designs[s] for s in train])
        y_train = np.vstack([responses[s] for s in train])
        groups = np.concatenate([np.full(len(designs[s]), s) for s in train])
        x_test = np.vstack([designs[s] for s in held])
        y_test = np.vstack([responses[s] for s in held])
        if banded:
            if not controls:
                raise ToposcopeError("banded ridge needs a second feature space: give controls=('word_rate',) "
                                     "or banded=False")
            split_at = n_delays * n_units
            fit, shares = ridge.fit_banded_ridge([x_train[:, :split_at], x_train[:, split_at:]], y_train, groups,
                                                 alphas=alphas, n_folds=n_folds, backend=backend, seed=seed)
        else:
            fit = ridge.fit_ridge(x_train, y_train, groups, alphas=alphas, n_folds=n_folds, backend=backend)
    elif banded:
        raise ToposcopeError("banded ridge chooses its penalties across stories; use split='story'")
    else:
        x_all = np.vstack([designs[s] for s in stories])
        y_all = np.vstack([responses[s] for s in stories])
        folds = ridge.random_folds(len(x_all), 5, seed)
        rest, test_rows = folds[0]
        train, held = stories, stories
        x_train, y_train, x_test, y_test = x_all[rest], y_all[rest], x_all[test_rows], y_all[test_rows]
        fit = ridge.fit_ridge(x_train, y_train, folds=ridge.random_folds(len(rest), 5, seed + 1), alphas=alphas,
                              backend=backend)
    predicted = fit.predict(x_test)
    r = ridge.paired_r(predicted, y_test)
    n_voxels = y_train.shape[1]
    data_vars: dict[str, Any] = {
        "r": ("voxel", r.astype(np.float32)),
        "r_train": ("voxel", ridge.paired_r(fit.predict(x_train), y_train).astype(np.float32)),
        "alpha": ("voxel", fit.alphas.astype(np.float32)),
        "cv_score": ("voxel", fit.cv_score.astype(np.float32)),
    }
    if banded:
        data_vars["band_share"] = (("band", "voxel"), shares.astype(np.float32))
    if permutations:
        p = ridge.block_permutation_p(predicted, y_test, block=block, n_permutations=permutations, seed=seed)
        data_vars["p"] = ("voxel", p.astype(np.float32))
        data_vars["significant"] = ("voxel", ridge.fdr(p, q).astype(np.int8))  # 0/1: netCDF has no bool
    weights = fit.coefs[: n_delays * n_units].reshape(n_delays, n_units, n_voxels)
    coords: dict[str, Any] = {k: ("voxel", np.asarray(v)) for k, v in data.voxel_coords.items()}
    coords["delay"] = ("delay", np.asarray(tuple(delays), dtype=np.int64))
    if banded:
        coords["band"] = ("band", np.asarray(["units", "controls"], dtype=object))
    if keep_weights:
        data_vars["weights"] = (("delay", "unit", "voxel"), weights.astype(np.float32))
        coords.update({k: v for k, v in unit_coords.items()})
    if windows and "x" in unit_coords and "y" in unit_coords:
        labels, cx, cy = sheet.sheet_windows(unit_coords["x"].values, unit_coords["y"].values, windows)
        n_windows = windows * windows
        data_vars["window_energy"] = (("window", "voxel"), sheet.window_energy(weights, labels, n_windows)
                                      .astype(np.float32))
        window_r = np.full((n_windows, n_voxels), np.nan)
        window_unique = np.full((n_windows, n_voxels), np.nan)
        controls_columns = np.arange(n_delays * n_units, x_train.shape[1])
        for w in range(n_windows):
            units = np.flatnonzero(labels == w)
            if units.size == 0:
                continue
            inside = sheet.window_columns(units, n_units, n_delays)
            outside = np.setdiff1d(np.arange(n_delays * n_units), inside)
            # the window's units alone (with the controls), at each voxel's penalty
            columns = np.concatenate([inside, controls_columns])
            coefs = ridge.ridge_at(x_train[:, columns], y_train, fit.alphas, backend=backend)
            window_r[w] = ridge.paired_r(x_test[:, columns] @ coefs, y_test)
            # every unit but the window's: what the window adds that no other unit gives
            columns = np.concatenate([outside, controls_columns])
            coefs = ridge.ridge_at(x_train[:, columns], y_train, fit.alphas, backend=backend)
            without = ridge.paired_r(x_test[:, columns] @ coefs, y_test)
            window_unique[w] = r ** 2 - without ** 2
        data_vars["window_r"] = (("window", "voxel"), window_r.astype(np.float32))
        data_vars["window_unique"] = (("window", "voxel"), window_unique.astype(np.float32))
        data_vars["window_units"] = ("window", np.bincount(labels, minlength=n_windows))
        coords.update(window_x=("window", cx), window_y=("window", cy))
    motion = [s.confounds for s in data.scans.values() if s.confounds is not None]
    attrs = {
        **{k: v for k, v in data.attrs.items() if v is not None},
        "analysis": "encoding model (ridge, cross-validated over stories)",
        "method": method, "delays": list(map(int, delays)), "trim": list(map(int, trim)),
        "alphas": [float(a) for a in alphas], "controls": list(controls), "confounds": confounds,
        "split": split, "banded": int(banded), "backend": backend, "n_folds": int(fit.folds), "seed": int(seed),
        "permutations": int(permutations), "block": int(block), "q": float(q),
        "train_stories": list(train), "test_stories": list(held), "n_units": int(n_units),
        "n_train_trs": len(x_train), "n_test_trs": len(x_test), "n_voxels": int(n_voxels),
        "median_r": float(np.median(r)), "windows": int(windows or 0),
        **{f"interpolation_{k}": v for k, v in options.items()},
    }
    if motion:
        attrs["mean_abs_motion"] = float(np.mean([np.abs(m).mean() for m in motion]))
    repeats = _test_repeats(data, held, trim) if split == "story" else None
    if repeats is not None:
        cc_max = ceiling.noise_ceiling(repeats)
        data_vars["noise_ceiling"] = ("voxel", cc_max.astype(np.float32))
        data_vars["r_norm"] = ("voxel", ceiling.normalized_r(r, cc_max).astype(np.float32))
        attrs["n_repeats"] = int(repeats.shape[0])
        attrs["median_noise_ceiling"] = float(np.median(cc_max))
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _test_repeats(data: StoryData, held: Sequence[str], trim: tuple[int, int]) -> np.ndarray | None:
    """The test stories' repeats, trimmed, each repeat centred per story, stories end to end; None
    unless every test story was heard the same number (>= 2) of times."""
    scans = [data.scans[s] for s in held]
    counts = {0 if scan.repeats is None else scan.repeats.shape[0] for scan in scans}
    if len(counts) != 1 or counts.pop() < 2:
        return None
    parts = []
    for scan in scans:
        kept = np.stack([align.trim(one, *trim) for one in scan.repeats]).astype(np.float64)
        parts.append(kept - kept.mean(axis=1, keepdims=True))  # stories' offsets are no shared signal
    return np.concatenate(parts, axis=1)
